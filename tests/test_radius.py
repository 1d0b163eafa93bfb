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
