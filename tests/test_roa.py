"""max_certified_rate, region_of_attraction and the explicit exponential bound."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lyactrl
from lyactrl.verify import decay_bound, local_rate_limit, quadratic_bounds
from tests.reference_systems import closed_form_rate, random_hurwitz, reversed_van_der_pol

D = torch.float64


@settings(max_examples=8)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 3))
def test_max_rate_within_one_percent_below_closed_form(seed: int, n: int) -> None:
    A = random_hurwitz(np.random.default_rng(seed), n)
    P, best = closed_form_rate(A)
    sys, V = lyactrl.LinearSystem(A), lyactrl.Quadratic(P)
    res = lyactrl.max_certified_rate(sys, V, lyactrl.Box([-1.0] * n, [1.0] * n))
    assert res.status == "certified"
    assert 0.99 * best <= res.rate <= best
    assert res.upper >= best * (1 - 1e-9)
    assert res.certificate is not None and res.certificate.status == "certified"
    assert res.certificate.rate == res.rate
    assert local_rate_limit(sys, V) == pytest.approx(best, rel=1e-9)
    json.dumps(res.to_dict())


def test_roa_known_answer_linear() -> None:
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    V = lyactrl.Quadratic(torch.eye(2, dtype=D))
    # V = |x|^2 decreases at rate 2 everywhere: the level is min of V on the boundary = 1
    roa = lyactrl.region_of_attraction(sys, V, lyactrl.Box([-1.0, -1.0], [2.0, 1.0]), rate=1.0)
    assert roa.status == "certified"
    assert 1.0 * (1 - 2e-3) <= roa.level < 1.0
    assert roa.level_upper == pytest.approx(1.0)
    ball = lyactrl.region_of_attraction(sys, V, lyactrl.Ball([0.0, 0.0], 2.0), rate=1.0)
    assert ball.status == "certified" and 4.0 * (1 - 2e-3) <= ball.level < 4.0
    assert roa.decay_bound.c == pytest.approx(1.0) and roa.decay_bound.alpha == 0.5


def test_roa_van_der_pol() -> None:
    vdp = reversed_van_der_pol()
    V = lyactrl.Quadratic.from_linearization(vdp)
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    roa = lyactrl.region_of_attraction(vdp, V, domain)
    assert roa.status == "certified" and roa.level > 1.0
    assert roa.level <= roa.level_upper <= roa.level * (1 + 2e-3)
    assert roa.rate == pytest.approx(
        lyactrl.verify.DEFAULT_RATE_FRACTION * local_rate_limit(vdp, V)
    )
    # cross-checks: the certifier agrees on the set, samples agree, boundary is above the level
    cert = lyactrl.certify(lyactrl.ExponentialStability(vdp, V, roa.rate), roa.region)
    assert cert.status == "certified"
    pts = domain.sample(20_000, generator=torch.Generator().manual_seed(0))
    inside = pts[V(pts) <= roa.level]
    cond = lyactrl.ExponentialStability(vdp, V, roa.rate)
    assert bool((cond.residual(inside) <= 0).all())
    # just above the level the set is no longer certifiable (a violating point or the boundary)
    bigger = lyactrl.Sublevel(V, roa.level_upper * 1.01, within=domain)
    assert lyactrl.certify(cond, bigger, max_boxes=20_000).status != "certified"
    # the explicit bound holds along a simulated trajectory from inside the set
    x0 = inside[inside.norm(dim=1).argmax()].unsqueeze(0)
    t = torch.linspace(0, 10, 101, dtype=D)
    traj = lyactrl.simulate(vdp, x0, t)
    dec = roa.decay_bound
    norms = traj.x[0].norm(dim=-1)  # (batch, T, n) -> (T,)
    bound = dec.c * torch.exp(-dec.alpha * t) * x0.norm()
    assert bool((norms.reshape(-1) <= bound.reshape(-1) * (1 + 1e-6)).all())


def test_decay_bounds_for_a_non_quadratic_candidate() -> None:
    V = lyactrl.SymbolicCandidate("x1**2 + x2**2 + x1**4", "x1, x2", x_eq=[0.0, 0.0])
    region = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    lam1, lam2 = quadratic_bounds(V, region)
    # true: V / |x|^2 in [1, 2] on the box (max at x = (+-1, 0))
    assert 0.9 <= lam1 <= 1.0 and 2.0 <= lam2 <= 2.1
    d = decay_bound(V, 0.5, region)
    assert d.c == pytest.approx(math.sqrt(lam2 / lam1), rel=1e-9) and d.alpha == 0.25
    q = decay_bound(lyactrl.Quadratic(torch.diag(torch.tensor([1.0, 9.0], dtype=D))), 1.0)
    assert q.c == pytest.approx(3.0) and q.lambda_1 <= 1.0 and q.lambda_2 >= 9.0


def test_bad_input_and_budget() -> None:
    vdp = reversed_van_der_pol()
    V = lyactrl.Quadratic.from_linearization(vdp)
    S = lyactrl.Sublevel(V, 1.0, within=lyactrl.Box([-1.0, -1.0], [1.0, 1.0]))
    with pytest.raises(lyactrl.InvalidArgumentError):
        lyactrl.region_of_attraction(vdp, V, S)
    B = lyactrl.SymbolicCandidate("x1**2 + x2**2 - 1", "x1, x2")
    with pytest.raises(lyactrl.InvalidArgumentError, match="x_eq"):
        lyactrl.region_of_attraction(vdp, B, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]))
    with pytest.raises(lyactrl.InvalidValueError, match="x_eq"):
        lyactrl.region_of_attraction(vdp, V, lyactrl.Box([1.0, 1.0], [2.0, 2.0]), rate=0.1)
    res = lyactrl.region_of_attraction(
        vdp, V, lyactrl.Box([-2.5, -3.5], [2.5, 3.5]), max_boxes=1, time_limit=10.0
    )
    assert res.status in ("certified", "unknown")
    if res.status == "certified":  # a tiny budget may still certify a small level
        assert res.level < 2.1
    zero = lyactrl.max_certified_rate(vdp, V, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), time_limit=0.0)
    assert zero.status == "unknown" and zero.rate == 0.0


def test_decay_bound_on_a_set_too_small_to_sample():
    # a certified level can be tiny (a poor V); the decay constants must not fail on it
    V = lyactrl.NeuralLyapunov(2, hidden=(8, 8), generator=torch.Generator().manual_seed(0))
    tiny = lyactrl.Sublevel(V, 1e-12, within=lyactrl.Box([-2.0, -2.0], [2.0, 2.0]))
    bound = lyactrl.verify.decay_bound(V, 0.1, tiny)
    assert bound.c >= 1.0 and bound.alpha == 0.05


def test_rate_level_front_is_pareto_and_each_point_recertifies() -> None:
    vdp = reversed_van_der_pol()
    V = lyactrl.Quadratic.from_linearization(vdp)
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    front = lyactrl.rate_level_front(vdp, V, domain, fractions=(0.05, 0.3, 0.6, 0.9))
    assert front.status == "certified" and len(front.rates) >= 3
    assert front.local_limit == pytest.approx(local_rate_limit(vdp, V))
    # larger rate, smaller level: no point dominates another
    assert all(a < b for a, b in zip(front.rates, front.rates[1:], strict=False))
    assert all(a > b for a, b in zip(front.levels, front.levels[1:], strict=False))
    for rate, res in zip(front.rates, front.regions, strict=True):
        cert = lyactrl.certify(lyactrl.ExponentialStability(vdp, V, rate), res.region)
        assert cert.status == "certified"
    with pytest.raises(lyactrl.InvalidValueError, match="fractions"):
        lyactrl.rate_level_front(vdp, V, domain, fractions=(0.5, 1.5))


def test_max_rate_is_falsified_at_once_when_no_rate_can_work() -> None:
    # on [-1, 1]^2 the quadratic V of the reversed Van der Pol increases somewhere: no rate > 0
    vdp = reversed_van_der_pol()
    V = lyactrl.Quadratic.from_linearization(vdp)
    res = lyactrl.max_certified_rate(vdp, V, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]))
    assert res.status == "falsified" and res.rate == 0.0 and res.iterations < 10
    lie = lyactrl.ExponentialStability(vdp, V, 1e-300).residual(res.counterexamples)
    assert res.counterexamples.shape == (1, 2) and float(lie[0]) > 0  # every rate fails there
