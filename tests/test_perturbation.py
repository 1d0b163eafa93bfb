"""Perturbation bounds against simulations with the worst-case disturbance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lyactrl
from lyactrl import InvalidArgumentError, InvalidValueError
from lyactrl.robust import (
    disturbance_bound,
    quadratic_iss,
    simulate_worst_case,
    ultimate_bound,
)

T = torch.linspace(0.0, 12.0, 241, dtype=torch.float64)
X0 = torch.tensor([[1.0, 1.0], [-2.0, 0.5], [0.3, -0.1], [1e-3, 0.0]], dtype=torch.float64)


def _run(A: np.ndarray, delta: float) -> tuple:
    sys = lyactrl.LinearSystem(A)
    V = lyactrl.Quadratic.from_linearization(sys)
    rate = lyactrl.best_quadratic_rate(A, V.P)
    iss = quadratic_iss(V, rate=rate, delta=delta)
    tr = simulate_worst_case(sys, V, X0, T, delta=delta)
    v = V(tr.x.reshape(-1, 2)).reshape(X0.shape[0], -1).numpy()
    vb = iss.value_bound(V(X0).numpy()[:, None], T.numpy()[None, :])
    return V, rate, iss, tr, v, vb


def test_closed_forms() -> None:
    assert disturbance_bound(2.0, 0.0, rate=1.0, delta=1.0, grad_bound=3.0) == pytest.approx(2.0)
    assert disturbance_bound(2.0, 1e3, rate=1.0, delta=1.0, grad_bound=3.0) == pytest.approx(3.0)
    assert ultimate_bound(rate=4.0, delta=1.0, grad_bound=2.0) == 0.5
    # the bound solves V' = -kappa V + G delta exactly
    t, h = np.linspace(0.1, 3, 7), 1e-6
    vb = disturbance_bound(1.0, t, rate=2.0, delta=0.5, grad_bound=1.0)
    dv = (disturbance_bound(1.0, t + h, rate=2.0, delta=0.5, grad_bound=1.0) - vb) / h
    assert np.allclose(dv, -2.0 * vb + 0.5, atol=1e-5)


@pytest.mark.parametrize("delta", [0.05, 0.5, 2.0])
def test_scalar_multiple_of_identity_is_tight(delta: float) -> None:
    """A = -a I, P = I/(2a): the bound is attained by the worst-case disturbance."""
    A = -1.5 * np.eye(2)
    _, rate, iss, tr, v, vb = _run(A, delta)
    assert rate == pytest.approx(3.0)
    assert np.all(v <= vb * (1 + 1e-6) + 1e-12)
    assert np.allclose(v[:3], vb[:3], rtol=1e-4)
    assert iss.ultimate_radius == pytest.approx(delta / 1.5, rel=1e-9)
    assert float(tr.x[0, -1].norm()) == pytest.approx(iss.ultimate_radius, rel=1e-4)


@pytest.mark.parametrize("delta", [0.1, 1.0])
def test_nonnormal_system_bound_holds_and_is_tight_within_factor_two(delta: float) -> None:
    """For A = [[-1, 2], [0, -3]] the V bound is within a factor 1.6 of the worst case
    (the state bound within 2.5), at every time after the transient."""
    A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    _, _, iss, tr, v, vb = _run(A, delta)
    assert np.all(v <= vb * (1 + 1e-6) + 1e-12)
    assert np.all(vb[:3, -1] / v[:3, -1] <= 1.6)
    r_sim = tr.x[:3, -1].norm(dim=-1).numpy()
    assert np.all(r_sim <= iss.ultimate_radius) and np.all(iss.ultimate_radius / r_sim <= 2.5)
    sb = iss.state_bound(X0.norm(dim=-1).numpy()[:, None], T.numpy()[None, :])
    assert np.all(tr.x.norm(dim=-1).numpy() <= sb * (1 + 1e-6))


def test_robust_level_is_invariant_below_the_max_disturbance() -> None:
    A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    sys = lyactrl.LinearSystem(A)
    V = lyactrl.Quadratic.from_linearization(sys)
    rate = lyactrl.best_quadratic_rate(A, V.P)
    level = 0.5
    dmax = quadratic_iss(V, rate=rate, delta=0.0, level=level).max_disturbance
    assert dmax == pytest.approx(
        rate * math.sqrt(level) / (2 * math.sqrt(np.linalg.eigvalsh(V.P.numpy())[-1]))
    )
    ok = quadratic_iss(V, rate=rate, delta=0.99 * dmax, level=level)
    assert ok.robust_level == level and ok.ultimate_level <= level
    assert quadratic_iss(V, rate=rate, delta=1.01 * dmax, level=level).robust_level is None
    # start on the boundary of {V <= level}, in many directions: never leaves it
    ang = torch.linspace(0, 2 * math.pi, 16, dtype=torch.float64)
    d = torch.stack([ang.cos(), ang.sin()], -1)
    x0 = d * torch.sqrt(level / V(d)).unsqueeze(-1)
    tr = simulate_worst_case(sys, V, x0, T[:80], delta=0.99 * dmax)
    assert float(V(tr.x.reshape(-1, 2)).max()) <= level * (1 + 1e-6)


def test_misuse() -> None:
    V = lyactrl.Quadratic(np.eye(2))
    with pytest.raises(InvalidValueError, match="rate"):
        quadratic_iss(V, rate=0.0, delta=1.0)
    with pytest.raises(InvalidValueError, match="delta"):
        disturbance_bound(1.0, 1.0, rate=1.0, delta=-1.0, grad_bound=1.0)
    with pytest.raises(InvalidArgumentError, match="Quadratic"):
        quadratic_iss(lyactrl.SquaredError([0.0, 0.0]), rate=1.0, delta=1.0)


def test_certified_level_of_a_nonlinear_system_is_robustly_invariant() -> None:
    """Pendulum x1' = x2, x2' = -sin x1 - x2: certify the rate on {V <= 1} with
    ``lyactrl.certify``; under the worst-case disturbance of size 0.95 max_disturbance the
    level set stays invariant and the finite-time bound holds."""
    sys = lyactrl.SymbolicSystem(["x2", "-sin(x1) - x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(sys)
    level, rate = 1.0, 0.4
    r = math.sqrt(level / np.linalg.eigvalsh(V.P.numpy())[0]) + 0.01
    region = lyactrl.Sublevel(V, level, within=lyactrl.Box([-r, -r], [r, r]))
    cert = lyactrl.certify(lyactrl.ExponentialStability(sys, V, rate), region, time_limit=30)
    assert cert.status == "certified"
    delta = 0.95 * quadratic_iss(V, rate=rate, delta=0.0, level=level).max_disturbance
    iss = quadratic_iss(V, rate=rate, delta=delta, level=level)
    assert iss.robust_level == level
    ang = torch.linspace(0, 2 * math.pi, 16, dtype=torch.float64)
    d = torch.stack([ang.cos(), ang.sin()], -1)
    x0 = d * torch.sqrt(level / V(d)).unsqueeze(-1)
    t = torch.linspace(0, 30, 301, dtype=torch.float64)
    tr = simulate_worst_case(sys, V, x0, t, delta=delta)
    v = V(tr.x.reshape(-1, 2)).reshape(16, -1).numpy()
    assert v.max() <= level * (1 + 1e-9)
    assert np.all(v <= iss.value_bound(V(x0).numpy()[:, None], t.numpy()[None, :]) * (1 + 1e-6))
