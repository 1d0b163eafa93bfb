"""Certified radii of a small LyaNet digits classifier: no attack succeeds inside them."""

from __future__ import annotations

import math

import pytest
import torch

from lyactrl import InvalidArgumentError, InvalidValueError
from lyactrl.robust import (
    certified_radius,
    classifier_sensitivity,
    pgd_attack,
    radius_from_rate,
)


@pytest.fixture
def trained(trained_digits):  # noqa: ANN001, ANN201
    """The session's trained digits classifier and 40 test images."""
    return trained_digits.model, trained_digits.x, trained_digits.y


def test_radius_from_rate_closed_forms() -> None:
    v0 = math.log(10.0)
    # multiplicative form: (kappa - ln(v0 / ln 2) / T) / sqrt(2)
    assert radius_from_rate(v0, 4.0, 1.0) >= (4.0 - math.log(v0 / math.log(2))) / math.sqrt(2)
    assert radius_from_rate(v0, 1.0, 1.0) == 0.0  # too slow to reach log 2 by T
    assert radius_from_rate(0.5, 0.0, 1.0) == math.inf  # already below log 2 with no decay needed


def test_sensitivity_bounds_the_change_of_the_vector_field(trained) -> None:  # noqa: ANN001
    model, x, _ = trained
    g = torch.Generator().manual_seed(1)
    for norm in ("2", "inf"):
        s = classifier_sensitivity(model, norm=norm)
        xp = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
        eta = 5 * torch.randn(x.shape[0], 10, generator=g)
        with torch.no_grad():
            df = model.dynamics(eta, model.context(xp)) - model.dynamics(eta, model.context(x))
        dx = (xp - x).flatten(1)
        size = dx.norm(dim=1) if norm == "2" else dx.abs().amax(1)
        assert bool((df.norm(dim=1) <= s.context_gain * size * (1 + 1e-5)).all())


def test_no_attack_succeeds_inside_the_certified_radius(trained) -> None:  # noqa: ANN001
    model, x, y = trained
    g = torch.Generator().manual_seed(2)

    def f(z: torch.Tensor) -> torch.Tensor:
        return model(z, method="rk4", steps=20)

    n_positive = 0
    for norm in ("2", "inf"):
        r = certified_radius(model, x, y, norm=norm, n_samples=128)
        assert set(r.premise) <= {"certified", "sampled", "none"}
        assert bool((r.radius[~r.correct] == 0).all())
        rad = torch.maximum(r.radius, r.radius_trajectory)
        pos = rad > 0
        n_positive += int(pos.sum())
        adv = pgd_attack(
            f, x[pos], y[pos], eps=rad[pos].float(), norm=norm, steps=10, restarts=2, generator=g
        )
        with torch.no_grad():
            assert torch.equal(f(adv).argmax(-1), y[pos])
        # the attack itself is strong enough to break many points at a visible radius
        big = pgd_attack(
            f, x, y, eps=0.3 if norm == "inf" else 2.0, norm=norm, steps=10, generator=g
        )
        with torch.no_grad():
            assert float((f(big).argmax(-1) == y).float().mean()) < 0.9
    assert n_positive >= 20


def test_misuse(trained) -> None:  # noqa: ANN001
    model, x, y = trained
    with pytest.raises(InvalidValueError, match="norm"):
        certified_radius(model, x[:2], y[:2], norm="1")
    with pytest.raises(InvalidValueError, match="region"):
        certified_radius(model, x[:2], y[:2], region="ball")
    with pytest.raises(InvalidArgumentError):
        certified_radius(model, x[:2], y[:2], bogus=1)


def _confident_vertex_model() -> torch.nn.Module:
    """Two classes, vertex dynamics whose context always points at class 0 (p_0 ~ 0.95)."""
    from lyactrl.train import build_classifier

    m = build_classifier((1, 2, 2), 2, seed=0, hidden=4, context_dim=2, dynamics_hidden=4)
    m = m.double().eval()
    m.horizon = 0.5
    d = m.dynamics
    with torch.no_grad():
        d.state_in.weight.zero_()
        d.context_in.weight.fill_(0.05)
        d.context_in.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        d.out.weight.zero_()
        d.out.weight[0, 0] = 3.0
        d.out.bias.zero_()
    return m


def test_certify_premise_proves_the_rate_and_the_radius_holds() -> None:
    model = _confident_vertex_model()
    x = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    y = torch.tensor([0])
    opts = {"region": "tube", "n_boxes": 4, "margins": (0.1,), "n_samples": 64}
    sampled = certified_radius(model, x, y, **opts)
    assert sampled.premise == ["sampled"] and sampled.status == "holds_on_samples"
    proved = certified_radius(model, x, y, certify_premise=True, time_limit=5.0, **opts)
    assert proved.premise == ["certified"] and proved.region == ["tube"]
    # the proved rate is at most the sampled one, and so is the radius recomputed from it
    assert 0 < float(proved.rate[0]) <= float(sampled.rate[0])
    assert 0 < float(proved.radius[0]) <= float(sampled.radius[0])
    # rates proved on the boxes of a proved tube: the radius is certified
    assert proved.status == "certified" and "proved rates" in proved.message
    assert 0 < proved.tube[0] == 0.1
    # independent check of the premise: -V'/V >= the chunk's rate near the trajectory during
    # each of the 4 chunks (the tube's boxes hold these points)
    eps = float(proved.radius[0])
    ctx = model.context(x).detach()
    times = torch.linspace(0, 0.5, 65, dtype=torch.float64)
    traj, _ = model.integrate(ctx, method="dopri5", times=times)
    V = model.potential_for(0)
    g = torch.Generator().manual_seed(3)
    for j, rate in enumerate(proved.rate_pieces[0]):
        on = traj[0][(times >= j * 0.125) & (times <= (j + 1) * 0.125)]
        pts = (on + 0.1 * (2 * torch.rand(20, *on.shape, generator=g) - 1)).reshape(-1, 2)
        v, grad = V.value_and_gradient(pts)
        with torch.no_grad():
            f = model.dynamics(pts, ctx.expand(pts.shape[0], -1))
        assert bool((-(grad * f).sum(-1) >= rate * v * (1 - 1e-9)).all())
    # independent check of the radius: inputs at distance eps in many directions keep the label
    d = torch.randn(256, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    xp = x + eps * (d / d.norm(dim=1, keepdim=True)).view(-1, 1, 2, 2)
    with torch.no_grad():
        assert bool((model(xp, method="dopri5").argmax(-1) == 0).all())
    adv = pgd_attack(
        lambda z: model(z, method="dopri5"),
        x,
        y,
        eps=eps,
        norm="2",
        steps=20,
        restarts=4,
        generator=torch.Generator().manual_seed(5),
    )
    with torch.no_grad():
        assert int(model(adv, method="dopri5").argmax(-1)) == 0


def test_certify_premise_on_the_invariant_region_is_never_claimed() -> None:
    """The invariant region holds an equilibrium where V > 0 = V': no rate > 0 holds there."""
    model = _confident_vertex_model()
    x = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    r = certified_radius(
        model, x, torch.tensor([0]), region="invariant", certify_premise=True, n_samples=64
    )
    assert r.premise != ["certified"] and r.status != "certified"
    assert float(r.rate[0]) <= 0.0 and float(r.radius[0]) == 0.0
