"""Conditions: the residuals against hand computations, one residual on tensors and jets, the
margin rule and the equilibrium rule."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from reference_systems import random_hurwitz, random_spd

import lyactrl
from lyactrl.bounds.jets import Jet, residual_jet
from lyactrl.conditions import AbstractCondition
from lyactrl.conditions._base import check_pair

seeds = st.integers(0, 2**31 - 1)


@given(seeds, st.integers(1, 4), st.floats(0.01, 5.0))
def test_exponential_stability_residual_is_the_lyapunov_derivative(seed, n, rate):
    rng = np.random.default_rng(seed)
    A, P = random_hurwitz(rng, n), random_spd(rng, n)
    cond = lyactrl.ExponentialStability(lyactrl.LinearSystem(A), lyactrl.Quadratic(P), rate)
    x = rng.normal(size=(16, n))
    expected = np.einsum("bi,ij,bj->b", x, A.T @ P + P @ A + rate * P, x)
    np.testing.assert_allclose(cond.residual(x).numpy(), expected, rtol=1e-10, atol=1e-10)


def test_barrier_condition_residual_and_invariance():
    # x' = -x, B = ||x||^2 - 1: grad B . f = -2 ||x||^2, so residual = (rate - 2)||x||^2 - rate
    sys = lyactrl.LinearSystem(-np.eye(2))
    B = lyactrl.SymbolicCandidate("x1**2 + x2**2 - 1", "x1, x2")
    cond = lyactrl.BarrierCondition(sys, B, rate=0.5)
    x = torch.randn(10, 2, dtype=torch.float64)
    r2 = (x**2).sum(1)
    torch.testing.assert_close(cond.residual(x), -1.5 * r2 - 0.5)
    res = lyactrl.check_sampled(
        cond,
        lyactrl.Box([-3, -3], [3, 3]),
        n_samples=5000,
        generator=torch.Generator().manual_seed(0),
    )
    assert res.status == "holds_on_samples"


def test_barrier_condition_fails_for_an_expanding_flow():
    sys = lyactrl.LinearSystem(0.5 * np.eye(2))
    B = lyactrl.SymbolicCandidate("x1**2 + x2**2 - 1", "x1, x2")
    cond = lyactrl.BarrierCondition(sys, B, rate=0.1)
    res = lyactrl.falsify(
        cond, lyactrl.Ball([0.0, 0.0], 2.0), generator=torch.Generator().manual_seed(0)
    )
    assert res.status == "falsified"


def test_with_rate_keeps_system_and_candidate():
    cond = lyactrl.ExponentialStability(
        lyactrl.LinearSystem([[-1.0]]), lyactrl.Quadratic([[1.0]]), 1.0
    )
    other = cond.with_rate(1.5)
    assert other.system is cond.system and other.V is cond.V and other.rate == 1.5


# --- one residual for tensors and jets (AbstractCondition.combine) ------------------------------


class SquaredDecay(AbstractCondition):
    """A condition written only through ``combine``: ``dV + rate V^2 (+ margin)`` (``dV`` the
    change of V along the system); the rest (replace, evaluation, the margin rule) comes from
    the base class."""

    def __init__(self, system, V, rate, *, margin=0.0):
        self.x_eq = check_pair(system, V, "V")
        self.system, self.V, self.candidate = system, V, V
        self.rate, self.margin, self.n_states = float(rate), float(margin), system.n_states

    def combine(self, v, dv, d2):
        return self.with_margin(dv + v * v * self.rate, d2)


def _tanh_system() -> lyactrl.NeuralSystem:
    g = torch.Generator().manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return lyactrl.NeuralSystem(net.double(), 2)


def _conditions(margin: float) -> list[AbstractCondition]:
    pend = lyactrl.SymbolicSystem(["x2", "-sin(x1) - 0.5*x2"], "x1, x2")
    V = lyactrl.Quadratic([[1.5, 0.5], [0.5, 1.0]])
    Vs = lyactrl.SymbolicCandidate("x1**2 + x1*x2 + x2**4 + exp(x1) - 1 - x1", "x1, x2")
    B = lyactrl.SymbolicCandidate("x1**2 + cos(x2) - 1.5", "x1, x2")
    lin = lyactrl.LinearSystem([[-1.0, 2.0], [-0.5, -0.3]])
    return [
        lyactrl.ExponentialStability(pend, V, rate=0.3, margin=margin),
        lyactrl.ExponentialStability(lin, Vs, rate=0.7, margin=margin),
        lyactrl.ExponentialStability(_tanh_system(), V, rate=1.1, margin=margin),
        lyactrl.BarrierCondition(pend, B, rate=0.4, margin=margin),
        SquaredDecay(lin, V, rate=0.9, margin=margin),
        # discrete time: V(F(x)) - V(x), V chained on the map's image
        lyactrl.ExponentialStability(
            lyactrl.DiscreteSystem.discretize(pend, dt=0.1, method="rk4"), V, 0.3, margin=margin
        ),
        lyactrl.ExponentialStability(
            lyactrl.DiscreteSystem(_tanh_system()), Vs, rate=0.5, margin=margin
        ),
        SquaredDecay(lyactrl.DiscreteSystem(lin.A * 0.5), V, rate=0.9, margin=margin),
    ]


CONDITIONS = {m: _conditions(m) for m in (0.0, 0.25)}


def _points_in(lo: torch.Tensor, hi: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    u = torch.rand(lo.shape[0], k, lo.shape[1], generator=g, dtype=torch.float64)
    return lo[:, None] + (hi - lo)[:, None] * u


@pytest.mark.parametrize("margin", [0.0, 0.25])
@pytest.mark.parametrize("index", range(8))
@given(seed=seeds)
def test_combine_on_jets_encloses_combine_on_tensors(margin, index, seed):
    cond = CONDITIONS[margin][index]
    g = torch.Generator().manual_seed(seed)
    centre = 3 * torch.rand(6, 2, generator=g, dtype=torch.float64) - 1.5
    half = 0.4 * torch.rand(6, 2, generator=g, dtype=torch.float64)
    half[0] = 0.0  # one degenerate box: the jet at a point
    lo, hi = centre - half, centre + half
    jet = residual_jet(cond, Jet.variables(lo, hi, 1))
    x = _points_in(lo, hi, 16, g)  # (boxes, points, n)
    flat = x.reshape(-1, 2).requires_grad_(True)
    r, scale = cond.evaluate_with_scale(flat)
    (grad,) = torch.autograd.grad(r.sum(), flat)
    r, scale, grad = (
        r.detach().reshape(6, 16),
        scale.detach().reshape(6, 16),
        grad.reshape(6, 16, 2),
    )
    tol = 1e-12 * (1.0 + scale)  # the tensor value carries its own rounding
    assert bool((jet.v[0][:, None] - tol <= r).all() & (r <= jet.v[1][:, None] + tol).all())
    # the gradient enclosure contains autograd's gradient of the tensor residual
    gl, gh = jet.d[0][:, None], jet.d[1][:, None]
    gtol = 1e-9 * (1.0 + grad.abs())
    assert bool(((gl - gtol <= grad) & (grad <= gh + gtol)).all())
    # at a point the enclosure is tight: it is the value, up to rounding
    assert float(jet.v[1][0] - jet.v[0][0]) <= 1e-12 * (1.0 + float(scale[0].max()))


@pytest.mark.parametrize("margin", [0.0, 0.25])
@pytest.mark.parametrize("index", range(8))
@given(seed=seeds)
def test_scale_bounds_the_residual(margin, index, seed):
    cond = CONDITIONS[margin][index]
    x = 4 * torch.rand(64, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    r, scale = cond.evaluate_with_scale(x - 2)
    assert bool((scale >= r.abs()).all())
    torch.testing.assert_close(r, cond.residual(x - 2))


def test_scale_is_the_expression_on_absolute_values():
    cond = lyactrl.ExponentialStability(
        lyactrl.LinearSystem([[-1.0, 2.0], [0.0, -3.0]]), lyactrl.Quadratic(np.eye(2)), rate=0.5
    )
    x = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    # V = 2, grad V = (2, -2), f = (-3, 3): residual = -6 - 6 + 1, scale = 6 + 6 + 1
    r, scale = cond.evaluate_with_scale(x)
    assert r.tolist() == [-11.0] and scale.tolist() == [13.0]


# --- the margin rule ----------------------------------------------------------------------------
def _shifted() -> tuple[lyactrl.SymbolicSystem, lyactrl.Quadratic]:
    sys = lyactrl.SymbolicSystem(["-(x1 - 1) + x2 + 2", "-2*(x2 + 2)"], "x1, x2", x_eq=[1.0, -2.0])
    return sys, lyactrl.Quadratic([[2.0, 0.3], [0.3, 1.0]], x_eq=[1.0, -2.0])


@given(seeds, st.floats(0.0, 10.0))
def test_margin_adds_exactly_m_times_the_squared_distance_to_x_eq(seed, m):
    sys, V = _shifted()
    cond = lyactrl.ExponentialStability(sys, V, rate=0.8)
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    d2 = ((x - torch.tensor([1.0, -2.0], dtype=torch.float64)) ** 2).sum(1)
    with_m = cond.replace(margin=m)
    assert with_m.margin == m and with_m.rate == cond.rate
    torch.testing.assert_close(
        with_m.residual(x) - cond.residual(x), m * d2, rtol=1e-12, atol=1e-12
    )
    # the condition vanishes at x_eq with any margin (the local certificate needs it)
    assert with_m.residual(torch.tensor([[1.0, -2.0]])).tolist() == [0.0]
    torch.testing.assert_close(with_m.distance2(x), d2, rtol=0, atol=0)


@given(seeds, st.floats(0.0, 10.0))
def test_barrier_margin_adds_exactly_m(seed, m):
    sys = lyactrl.LinearSystem([[-1.0, 1.0], [-1.0, -1.0]])
    B = lyactrl.SymbolicCandidate("x1**2 + x2**2 - 1", "x1, x2")
    cond = lyactrl.BarrierCondition(sys, B, rate=0.5)
    assert cond.x_eq is None
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    diff = cond.replace(margin=m).residual(x) - cond.residual(x)
    torch.testing.assert_close(diff, torch.full_like(diff, m), rtol=1e-12, atol=1e-12)
    assert cond.distance2(x).tolist() == [0.0] * 32


def test_replace_keeps_system_and_candidate():
    sys, V = _shifted()
    cond = lyactrl.ExponentialStability(sys, V, rate=0.8, margin=0.1)
    B = lyactrl.SymbolicCandidate("x1**2 + x2**2 - 9", "x1, x2")
    bar = lyactrl.BarrierCondition(sys, B, rate=0.3, margin=0.2)
    sq = SquaredDecay(sys, V, 0.5, margin=0.3)  # replace is inherited from the base class
    for c, fn in ((cond, "V"), (bar, "B"), (sq, "V")):
        for other, rate, margin in (
            (c.replace(rate=2.0), 2.0, c.margin),
            (c.replace(margin=0.0), c.rate, 0.0),
            (c.replace(), c.rate, c.margin),
        ):
            assert type(other) is type(c) and other is not c
            assert other.system is c.system and getattr(other, fn) is getattr(c, fn)
            assert other.candidate is c.candidate
            assert (other.rate, other.margin) == (rate, margin)
            assert other.n_states == c.n_states
    assert torch.equal(cond.replace(rate=2.0).x_eq, cond.x_eq)
    with pytest.raises(lyactrl.UnknownArgumentError):
        cond.replace(V=V)


# --- the equilibrium rule -----------------------------------------------------------------------
def test_v_x_eq_must_match_the_declared_equilibrium():
    sys, _ = _shifted()
    with pytest.raises(lyactrl.InvalidValueError, match=r"V\.x_eq") as info:
        lyactrl.ExponentialStability(sys, lyactrl.Quadratic(np.eye(2), x_eq=[1.0, 0.0]), 1.0)
    assert "[1.0, -2.0]" in str(info.value) and "[1.0, 0.0]" in str(info.value)
    with pytest.raises(lyactrl.InvalidValueError, match="x_eq"):  # LinearSystem: x_eq = 0
        lyactrl.ExponentialStability(
            lyactrl.LinearSystem(-np.eye(2)), lyactrl.Quadratic(np.eye(2), x_eq=[0.0, 1e-6]), 1.0
        )
    near = lyactrl.Quadratic(np.eye(2), x_eq=[1.0 + 1e-12, -2.0])  # within rounding
    assert lyactrl.ExponentialStability(sys, near, 1.0).x_eq.tolist() == [1.0 + 1e-12, -2.0]


def test_neural_system_without_declared_x_eq_accepts_any_v_x_eq():
    net = torch.nn.Linear(2, 2).double()
    V = lyactrl.Quadratic(np.eye(2), x_eq=[0.3, -0.7])
    cond = lyactrl.ExponentialStability(lyactrl.NeuralSystem(net, 2), V, rate=1.0)
    assert cond.x_eq.tolist() == [0.3, -0.7]
    assert cond.replace(margin=1.0).residual([[0.3, -0.7]]).shape == (1,)
    declared = lyactrl.NeuralSystem(net, 2, x_eq=[0.0, 0.0])
    with pytest.raises(lyactrl.InvalidValueError, match=r"V\.x_eq"):
        lyactrl.ExponentialStability(declared, V, rate=1.0)
    same = lyactrl.NeuralSystem(net, 2, x_eq=[0.3, -0.7])
    assert lyactrl.ExponentialStability(same, V, rate=1.0).x_eq.tolist() == [0.3, -0.7]


def test_x_eq_box_bad_input_names_the_argument():
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    ok = (torch.full((2,), -1e-9, dtype=torch.float64), torch.full((2,), 1e-9, dtype=torch.float64))
    cond = lyactrl.ExponentialStability(sys, V, 1.0, x_eq_box=ok)
    kept = cond.replace(rate=0.5).x_eq_box  # replace keeps the box
    assert all(torch.equal(a, b) for a, b in zip(kept, cond.x_eq_box, strict=True))
    with pytest.raises(lyactrl.InvalidValueError, match="x_eq_box"):  # does not hold V.x_eq
        lyactrl.ExponentialStability(sys, V, 1.0, x_eq_box=(ok[0] + 1.0, ok[1] + 1.0))
    with pytest.raises(lyactrl.ShapeError, match="x_eq_box"):
        lyactrl.ExponentialStability(sys, V, 1.0, x_eq_box=(ok[0][:1], ok[1][:1]))
    W = lyactrl.SymbolicCandidate("x1**2 + x2**2", "x1, x2", x_eq=[0.0, 0.0])
    with pytest.raises(lyactrl.InvalidArgumentError, match="Quadratic"):
        lyactrl.ExponentialStability(sys, W, 1.0, x_eq_box=ok)

    class Unproved:
        status, lo, hi, message = "unknown", None, None, "Newton did not converge"

    with pytest.raises(lyactrl.InvalidValueError, match="certified"):
        lyactrl.ExponentialStability(sys, V, 1.0, x_eq_box=Unproved())
