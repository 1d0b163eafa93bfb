"""Conditions: the residuals against hand computations."""

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from reference_systems import random_hurwitz, random_spd

import lyactrl

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
