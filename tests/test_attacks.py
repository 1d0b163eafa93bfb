"""PGD in pixel space: closed-form success on linear models, constraints, misuse."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lyactrl import InvalidArgumentError, InvalidValueError, ShapeError
from lyactrl.robust import attack_accuracy, pgd_attack, square_attack


def _linear_model(w: torch.Tensor) -> nn.Module:
    """Two logits ``(0, w . x - 0.5 sum w)``: class 1 iff ``w . (x - 0.5) > 0``."""
    lin = nn.Linear(w.shape[0], 2)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([torch.zeros_like(w), w]))
        lin.bias.copy_(torch.tensor([0.0, -0.5 * float(w.sum())]))
    return nn.Sequential(nn.Flatten(), lin)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_pgd_breaks_exactly_the_breakable_points(norm: str) -> None:
    """For a linear classifier away from the pixel box, the minimal adversarial distance is
    margin / ||w||_1 (L-inf) or margin / ||w||_2 (L2)."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, generator=g)
    model = _linear_model(w)
    x = 0.5 + 0.02 * torch.randn(64, 6, generator=g)
    y = (x - 0.5) @ w > 0
    dual = w.abs().sum() if norm == "inf" else w.norm()
    dist = ((x - 0.5) @ w).abs() / dual
    eps = float(dist.median())
    adv = pgd_attack(model, x, y.long(), eps=eps, norm=norm, steps=20, generator=g)
    broken = model(adv).argmax(-1) != y.long()
    clear = (dist < 0.98 * eps) | (dist > 1.02 * eps)
    assert torch.equal(broken[clear], (dist < eps)[clear])


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_adversarial_stays_in_ball_and_pixel_box(norm: str) -> None:
    g = torch.Generator().manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = torch.rand(32, 1, 4, 4, generator=g)
    x[:4] = 0.0
    y = torch.randint(0, 3, (32,), generator=g)
    eps = 0.3 if norm == "inf" else 1.0
    adv = pgd_attack(model, x, y, eps=eps, norm=norm, steps=10, restarts=2, generator=g)
    d = (adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "inf" else d.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-6)
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0


def test_attack_through_an_ode_solver() -> None:
    from lyactrl.train import build_classifier

    model = build_classifier((1, 4, 4), 3, seed=0, hidden=8, context_dim=4, dynamics_hidden=8)
    model.eval()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(16, 1, 4, 4, generator=g)

    def f(z: torch.Tensor) -> torch.Tensor:
        return model(z, method="rk4", steps=4)

    with torch.no_grad():
        y = f(x).argmax(-1)
    adv = pgd_attack(f, x, y, eps=0.5, steps=10, generator=g)
    ce = torch.nn.functional.cross_entropy
    with torch.no_grad():  # the gradient through the solver increases the loss everywhere
        assert bool((ce(f(adv), y, reduction="none") > ce(f(x), y, reduction="none")).all())
    res = attack_accuracy(
        f,
        x,
        y,
        eps=0.5,
        steps=10,
        generator=torch.Generator().manual_seed(7),
        solver="rk4, 4 steps",
    )
    # the attacked accuracy is that of the same attack run by hand (same seed, one batch)
    again = pgd_attack(f, x, y, eps=0.5, steps=10, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert res.adversarial_accuracy == float((f(again).argmax(-1) == y).double().mean())
    assert res.clean_accuracy == 1.0
    assert res.solver == "rk4, 4 steps" and res.to_dict()["norm"] == "inf"
    assert (
        res.status == "estimated"
        and res.method == "pgd"
        and res.to_dict()["status"] == ("estimated")
    )


def test_zero_eps_gives_clean_accuracy() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    x = torch.rand(10, 4, generator=torch.Generator().manual_seed(3))
    y = torch.zeros(10, dtype=torch.long)
    r = attack_accuracy(model, x, y, eps=0.0)
    with torch.no_grad():
        clean = float((model(x).argmax(-1) == y).double().mean())
    assert r.clean_accuracy == r.adversarial_accuracy == clean
    assert r.status == "estimated" and r.seconds >= 0.0 and "not proved" in r.message


def test_misuse() -> None:
    model = nn.Linear(4, 2)
    x, y = torch.rand(3, 4), torch.zeros(3, dtype=torch.long)
    with pytest.raises(InvalidValueError, match="step_size"):
        pgd_attack(model, x, y, eps=0.3, steps=10, step_size=0.01)
    with pytest.raises(InvalidValueError, match=r"\[0, 1\]"):
        pgd_attack(model, x * 3 - 1, y, eps=0.1)
    with pytest.raises(InvalidValueError, match="norm"):
        pgd_attack(model, x, y, eps=0.1, norm=1)
    with pytest.raises(ShapeError, match="y"):
        pgd_attack(model, x, y[:2], eps=0.1)
    with pytest.raises(InvalidArgumentError, match="callable"):
        pgd_attack("model", x, y, eps=0.1)  # type: ignore[arg-type]


def test_attack_works_under_no_grad() -> None:
    g = torch.Generator().manual_seed(4)
    w = torch.randn(6, generator=g)
    model = _linear_model(w)
    x = 0.5 + 0.02 * torch.randn(16, 6, generator=g)
    y = ((x - 0.5) @ w > 0).long()
    with torch.no_grad():
        adv = pgd_attack(model, x, y, eps=0.2, steps=10, generator=g)
    assert bool((model(adv).argmax(-1) != y).all())


def test_square_attack_breaks_exactly_the_breakable_points_without_gradients() -> None:
    """The gradient-free search reaches the L-inf optimum of a linear model (a vertex of the
    ball) on 6 pixels, and never reports a break that is not one."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, generator=g)
    model = _linear_model(w)
    x = (0.5 + 0.02 * torch.randn(64, 6, generator=g)).view(64, 1, 2, 3)
    y = ((x.flatten(1) - 0.5) @ w > 0).long()
    dist = ((x.flatten(1) - 0.5) @ w).abs() / w.abs().sum()
    eps = float(dist.median())
    with torch.no_grad():
        adv = square_attack(model, x, y, eps=eps, iterations=300, generator=g)
        broken = model(adv).argmax(-1) != y
    assert float((adv - x).abs().max()) <= eps + 1e-6  # float32 rounding of x + eps
    clear = (dist < 0.98 * eps) | (dist > 1.02 * eps)
    assert torch.equal(broken[clear], (dist < eps)[clear])


def test_square_accuracy_matches_pgd_on_a_linear_model_and_refuses_l2() -> None:
    g = torch.Generator().manual_seed(3)
    w = torch.randn(16, generator=g)
    model = _linear_model(w)
    x = (0.5 + 0.05 * torch.randn(40, 16, generator=g)).view(40, 1, 4, 4)
    y = ((x.flatten(1) - 0.5) @ w > 0).long()
    kw = {"eps": 0.02, "generator": g}
    pgd = attack_accuracy(model, x, y, steps=20, **kw)
    sq = attack_accuracy(model, x, y, steps=500, attack="square", **kw)
    assert sq.method == "square" and "Square" in str(sq)
    assert abs(sq.adversarial_accuracy - pgd.adversarial_accuracy) <= 0.05
    with pytest.raises(InvalidValueError, match="norm"):
        attack_accuracy(model, x, y, eps=0.1, norm="2", attack="square")
    with pytest.raises(InvalidValueError, match="attack"):
        attack_accuracy(model, x, y, eps=0.1, attack="fgsm")
    with pytest.raises(ShapeError, match="x"):
        square_attack(model, x.flatten(1), y, eps=0.1)
