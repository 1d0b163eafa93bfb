"""Sampled checks and falsification against closed-form answers."""

import math

import numpy as np
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st
from reference_systems import closed_form_rate, random_hurwitz, random_spd, random_unstable

import lyactrl
from lyactrl.verify import violation_probability_bound

seeds = st.integers(0, 2**31 - 1)


def _linear_case(seed, n):
    rng = np.random.default_rng(seed)
    A = random_hurwitz(rng, n)
    Q = random_spd(rng, n)
    P, best = closed_form_rate(A, Q)
    return lyactrl.LinearSystem(A), lyactrl.Quadratic(P), best


@given(seeds, st.integers(2, 4))
def test_rate_two_percent_below_best_holds_on_samples(seed, n):
    system, V, best = _linear_case(seed, n)
    cond = lyactrl.ExponentialStability(system, V, 0.98 * best)
    box = lyactrl.Box(-np.ones(n), np.ones(n))
    res = lyactrl.check_sampled(
        cond, box, n_samples=20_000, generator=torch.Generator().manual_seed(seed)
    )
    assert res.status == "holds_on_samples"
    assert res.n_violations == 0 and res.counterexamples.shape[0] == 0
    assert res.worst_residual <= 0


@given(seeds, st.integers(2, 4))
def test_rate_two_percent_above_best_is_falsified(seed, n):
    system, V, best = _linear_case(seed, n)
    cond = lyactrl.ExponentialStability(system, V, 1.02 * best)
    box = lyactrl.Box(-np.ones(n), np.ones(n))
    res = lyactrl.falsify(cond, box, n_starts=64, generator=torch.Generator().manual_seed(seed))
    assert res.status == "falsified"
    assert bool((cond.residual(res.counterexamples) > 0).all())
    assert bool(box.contains(res.counterexamples).all())


@given(seeds, st.integers(1, 3))
def test_unstable_system_any_quadratic_gets_counterexamples(seed, n):
    rng = np.random.default_rng(seed)
    system = lyactrl.LinearSystem(random_unstable(rng, n))
    V = lyactrl.Quadratic(random_spd(rng, n))
    cond = lyactrl.ExponentialStability(system, V, 1e-3)
    res = lyactrl.falsify(
        cond,
        lyactrl.Ball(np.zeros(n), 1.0),
        n_starts=64,
        generator=torch.Generator().manual_seed(seed),
    )
    assert res.status == "falsified"
    assert bool((cond.residual(res.counterexamples) > 0).all())


def test_falsify_without_counterexample_is_unknown_not_certified():
    system, V, best = _linear_case(0, 2)
    cond = lyactrl.ExponentialStability(system, V, 0.5 * best)
    res = lyactrl.falsify(
        cond, lyactrl.Box([-1, -1], [1, 1]), steps=20, generator=torch.Generator().manual_seed(0)
    )
    assert res.status == "unknown"
    assert res.counterexamples.shape == (0, 2)
    assert res.to_dict()["status"] == "unknown"


def test_falsify_stays_inside_ball_and_sublevel_regions():
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(vdp)
    cond = lyactrl.ExponentialStability(vdp, V, 0.3)
    for region in (
        lyactrl.Ball([0.0, 0.0], 2.0),
        lyactrl.Sublevel(V, 3.0, within=lyactrl.Box([-2.5, -3.5], [2.5, 3.5])),
    ):
        res = lyactrl.falsify(cond, region, generator=torch.Generator().manual_seed(1))
        assert res.status == "falsified"
        assert bool(region.contains(res.counterexamples).all())


def test_zero_violation_bound_is_about_log_inverse_delta_over_n():
    for n in (100, 10_000, 1_000_000):
        b = violation_probability_bound(0, n, 0.99)
        assert math.isclose(b, 1 - 0.01 ** (1 / n), rel_tol=1e-9)
        assert math.isclose(b, math.log(100) / n, rel_tol=0.03)


@given(st.integers(1, 500), st.integers(0, 500), st.floats(0.5, 0.999))
def test_clopper_pearson_matches_the_exact_binomial_tail(n, k, conf):
    k = min(k, n)
    b = violation_probability_bound(k, n, conf)
    assert k / n <= b <= 1.0
    if k < n:  # at the bound, seeing <= k violations has probability exactly 1 - conf
        assert math.isclose(scipy.stats.binom.cdf(k, n, b), 1 - conf, rel_tol=1e-6, abs_tol=1e-9)


class _Drift(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        return x * 0.0 - self.c


def _Threshold(p):
    """residual = -(1 - p) + x: > 0 exactly when x > 1 - p on [0, 1] (probability p)."""
    system = lyactrl.NeuralSystem(_Drift(1 - p), 1)
    return lyactrl.ExponentialStability(system, lyactrl.SymbolicCandidate("x1", "x1"), rate=1.0)


def test_probability_bound_covers_the_true_rate():
    cond, box = _Threshold(0.01), lyactrl.Box([0.0], [1.0])
    gen = torch.Generator().manual_seed(0)
    results = [
        lyactrl.check_sampled(cond, box, n_samples=500, generator=gen, confidence=0.9)
        for _ in range(200)
    ]
    covered = np.mean([r.violation_probability_bound >= 0.01 for r in results])
    assert covered >= 0.85  # nominal 0.9; binomial noise over 200 runs
    assert abs(np.mean([r.violation_rate for r in results]) - 0.01) < 0.003


def test_sampled_check_reports_real_worst_counterexamples():
    cond, box = _Threshold(0.2), lyactrl.Box([0.0], [1.0])
    res = lyactrl.check_sampled(
        cond,
        box,
        n_samples=5000,
        batch_size=777,
        n_counterexamples=5,
        generator=torch.Generator().manual_seed(3),
    )
    assert res.status == "falsified"
    assert res.counterexamples.shape == (5, 1)
    np.testing.assert_allclose(cond.residual(res.counterexamples), res.counterexample_residuals)
    assert math.isclose(float(res.counterexample_residuals[0]), res.worst_residual)
    assert abs(res.violation_rate - 0.2) < 0.03
    d = res.to_dict()
    assert d["method"] == "sampled" and "not a proof" in d["message"]


def test_sampled_check_is_reproducible_with_a_generator():
    cond, box = _Threshold(0.3), lyactrl.Box([0.0], [1.0])
    a = lyactrl.check_sampled(cond, box, n_samples=1000, generator=torch.Generator().manual_seed(5))
    b = lyactrl.check_sampled(cond, box, n_samples=1000, generator=torch.Generator().manual_seed(5))
    assert a.n_violations == b.n_violations and a.worst_residual == b.worst_residual


def test_neural_system_and_neural_candidate_checks_run():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
    ).double()
    sys = lyactrl.NeuralSystem(net, 2)
    V = lyactrl.NeuralLyapunov(2, hidden=(8, 8), generator=torch.Generator().manual_seed(0))
    cond = lyactrl.ExponentialStability(sys, V, 0.1)
    box = lyactrl.Box([-1, -1], [1, 1])
    res = lyactrl.check_sampled(
        cond, box, n_samples=2000, generator=torch.Generator().manual_seed(0)
    )
    x = box.sample(50, generator=torch.Generator().manual_seed(1))
    with torch.enable_grad():
        v, g = V.value_and_gradient(x)
    expected = (g * sys(x)).sum(1) + 0.1 * v
    torch.testing.assert_close(cond.residual(x).detach(), expected.detach())
    assert res.n_samples == 2000
