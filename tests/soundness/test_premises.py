"""Soundness rule "every premise of a statement is proved" (docs/soundness.md), or the
statement is not made.

A region of attraction needs ``V > level`` on the domain's boundary, the decrease on the set
and ``V`` positive definite there; a :class:`lyactrl.Sublevel` region of ``certify`` is called
invariant (and given a decay bound) only when ``V > c`` on the boundary of ``within`` is
proved. Every ``certified`` answer here is re-checked by scipy simulation from dense points of
the certified set; the candidates and systems are restated in numpy for that.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from _oracles import assert_converges, assert_decay_bound, dense_grid, trajectories

import lyactrl

BUDGET = {"max_boxes": 20_000, "time_limit": 10.0}


def _quadratic_np(P: np.ndarray, x_eq: np.ndarray | None = None):
    e = np.zeros(P.shape[0]) if x_eq is None else x_eq
    return lambda x: np.einsum("bi,ij,bj->b", x - e, P, x - e)


def _points_of_set(V_np, level: float, lo, hi, n: int, within=None) -> np.ndarray:
    """Dense grid points of ``{x in [lo, hi] (and in within): V(x) <= level}``."""
    x = dense_grid(lo, hi, n)
    keep = V_np(x) <= level
    if within is not None:
        keep &= within(x)
    return x[keep]


# --- a candidate that is not positive definite --------------------------------------------
# x' = -x (x - 1)(x - 2): stable equilibria 0 and 2, unstable 1. V = x^2 (x - 1.5)(x - 2.5)
# is ~3.75 x^2 near 0 but V(2) = -1: every set {V <= level} with level > 0 contains the
# second equilibrium x = 2, whose trajectory never reaches x_eq = 0. The decrease
# grad V . f + rate V <= 0 does hold on the set near 2 (V < 0 and f(2) = 0), V > level on the
# domain's boundary too: only positive definiteness is missing.


def _pocket_1d():
    sys = lyactrl.SymbolicSystem(["-x*(x - 1)*(x - 2)"], "x")
    V = lyactrl.SymbolicCandidate("x**2*(x**2 - 4*x + 3.75)", "x", x_eq=[0.0])

    def f(x):
        return -x * (x - 1) * (x - 2)

    def V_np(x):
        return x[:, 0] ** 2 * (x[:, 0] ** 2 - 4 * x[:, 0] + 3.75)

    return sys, V, f, V_np, ([-1.0], [3.0])


def _pocket_2d():
    sys = lyactrl.SymbolicSystem(["-x1*(x1 - 1)*(x1 - 2)", "-x2"], "x1, x2")
    V = lyactrl.SymbolicCandidate(
        "x1**2*(x1**2 - 4*x1 + 3.75) + 2*x2**2", "x1, x2", x_eq=[0.0, 0.0]
    )

    def f(x):
        return np.stack([-x[0] * (x[0] - 1) * (x[0] - 2), -x[1]])

    def V_np(x):
        return x[:, 0] ** 2 * (x[:, 0] ** 2 - 4 * x[:, 0] + 3.75) + 2 * x[:, 1] ** 2

    return sys, V, f, V_np, ([-1.0, -1.0], [3.0, 1.0])


@pytest.mark.parametrize("make", [_pocket_1d, _pocket_2d], ids=["1d", "2d"])
def test_region_of_attraction_refuses_a_candidate_negative_at_a_second_equilibrium(make):
    sys, V, f, V_np, (lo, hi) = make()
    n = len(lo)
    cond = lyactrl.ExponentialStability(sys, V, rate=0.5)
    res = lyactrl.region_of_attraction(cond, lyactrl.Box(lo, hi), **BUDGET)
    # the decrease and the boundary premise hold on the small sets: the pocket is the trap
    assert res.level_upper > 0.1
    if res.status == "certified":
        pts = _points_of_set(V_np, res.level, lo, hi, 401 if n == 1 else 41)
        assert_converges(f, pts, np.zeros(n), 60.0)  # refutes it: x = 2 is in the set
    x2 = np.array([[2.0] + [0.0] * (n - 1)])
    assert V_np(x2)[0] < 0 and np.allclose(f(x2.T), 0)  # every level > 0 holds x = 2
    assert res.status != "certified" and res.region is None and res.decay_bound is None
    assert "positive definite" in res.message


def test_sublevel_with_a_pocket_is_invariant_but_gets_no_decay_bound():
    sys, V, f, V_np, (lo, hi) = _pocket_2d()
    c, within = 0.3, lyactrl.Box(lo, hi)
    cond = lyactrl.ExponentialStability(sys, V, rate=0.5)
    res = lyactrl.certify(cond, lyactrl.Sublevel(V, c, within=within), **BUDGET)
    pts = _points_of_set(V_np, c, lo, hi, 41)
    if res.status == "certified" and res.invariant:
        # invariance is a true claim: nothing leaves {V <= c} (V decreases along the flow)
        _, X = trajectories(f, pts, 20.0)
        vals = V_np(X.reshape(-1, 2)).reshape(X.shape[:2])
        assert (vals <= c * (1 + 1e-7) + 1e-9).all()
    if res.decay_bound is not None:  # would claim convergence to 0 from the pocket
        d = res.decay_bound
        assert_decay_bound(f, pts, np.zeros(2), d.c, d.alpha)
    assert res.decay_bound is None


# --- the decrease premise and the boundary premise, with closed forms --------------------
# x' = -x + x^3, V = x^2: grad V . f + rate V = x^2 (rate - 2 + 2 x^2) <= 0 iff
# x^2 <= (2 - rate) / 2; on [-h, h] the boundary premise asks level < h^2.


@pytest.mark.parametrize(("h", "rate"), [(2.0, 1.0), (0.6, 1.0), (2.0, 0.2)])
def test_region_of_attraction_of_the_cubic_respects_both_closed_forms(h, rate):
    sys = lyactrl.SymbolicSystem(["-x + x**3"], "x")
    V = lyactrl.Quadratic([[1.0]])
    res = lyactrl.region_of_attraction(sys, V, lyactrl.Box([-h], [h]), rate=rate, **BUDGET)
    closed = min((2.0 - rate) / 2.0, h * h)
    assert res.status == "certified"
    assert res.level < closed  # strictly: at the closed form a premise fails
    assert res.level > 0.98 * closed
    r = np.sqrt(res.level)
    pts = np.linspace(-r, r, 201)[:, None]

    def f(x):
        return -x + x**3

    assert_converges(f, pts, np.zeros(1), 40.0)
    d = res.decay_bound
    assert d is not None and d.alpha == pytest.approx(rate / 2)
    assert_decay_bound(f, pts, np.zeros(1), d.c, d.alpha)


# --- certify on a Sublevel: cut by the box, or strictly inside ---------------------------
# x' = [[-0.1, 1], [-1, -0.1]] x with V = |x|^2: grad V . f = -0.2 |x|^2, so the decrease
# with rate 0.15 holds everywhere; the disc |x|^2 <= c is cut by [-0.8, 0.8]^2 when c > 0.64.

A_ROT = np.array([[-0.1, 1.0], [-1.0, -0.1]])
WITHIN = ([-0.8, -0.8], [0.8, 0.8])


def _rotation():
    sys = lyactrl.LinearSystem(A_ROT.tolist())
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    return lyactrl.ExponentialStability(sys, V, rate=0.15), V


def _in_box(x):
    return (np.abs(x) <= 0.8).all(axis=-1)


def test_sublevel_cut_by_its_box_is_not_called_invariant():
    cond, V = _rotation()
    res = lyactrl.certify(cond, lyactrl.Sublevel(V, 1.0, within=lyactrl.Box(*WITHIN)), **BUDGET)
    assert res.status == "certified"  # the decrease holds on the set
    assert res.invariant is False and res.decay_bound is None
    assert "invariant" in res.message
    # and rightly so: a trajectory from the set leaves it (through the box's side)
    x0 = np.array([[0.8, 0.5]])
    assert x0[0] @ x0[0] <= 1.0 and _in_box(x0).all()
    _, X = trajectories(lambda x: A_ROT @ x, x0, 1.0)
    assert not _in_box(X[:, 0]).all()


@pytest.mark.parametrize("c", [0.5, 0.63])
def test_sublevel_strictly_inside_is_invariant_with_a_decay_bound(c):
    cond, V = _rotation()
    res = lyactrl.certify(cond, lyactrl.Sublevel(V, c, within=lyactrl.Box(*WITHIN)), **BUDGET)
    assert res.status == "certified" and res.invariant is True
    d = res.decay_bound
    assert d is not None and d.invariant and d.alpha == pytest.approx(0.075)
    pts = _points_of_set(lambda x: (x * x).sum(1), c, *WITHIN, 31)
    t, X = trajectories(lambda x: A_ROT @ x, pts, 20.0)
    assert ((X * X).sum(2) <= c * (1 + 1e-7)).all() and _in_box(X).all()  # stays in the set
    assert_decay_bound(lambda x: A_ROT @ x, pts, np.zeros(2), d.c, d.alpha)


# --- regions of attraction on boxes and balls, linear and nonlinear ----------------------

A_LIN = np.array([[-1.0, 2.0], [0.0, -1.5]])


def _linear():
    sys = lyactrl.LinearSystem(A_LIN.tolist())
    V = lyactrl.Quadratic.from_linearization(sys)
    return sys, V, (lambda x: A_LIN @ x), 0.3


def _van_der_pol():
    sys = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(sys)

    def f(x):
        return np.stack([-x[1], x[0] - (1 - x[0] ** 2) * x[1]])

    return sys, V, f, 0.1


DOMAINS = {
    "box": (lyactrl.Box([-2.5, -3.0], [2.5, 3.0]), lambda x: (np.abs(x) <= [2.5, 3.0]).all(1)),
    "ball": (lyactrl.Ball([0.0, 0.0], 2.2), lambda x: (x * x).sum(1) <= 2.2**2),
}


@pytest.mark.parametrize("domain", DOMAINS, ids=str)
@pytest.mark.parametrize("make", [_linear, _van_der_pol], ids=["linear", "van_der_pol"])
def test_certified_region_of_attraction_converges_with_its_decay_bound(make, domain):
    sys, V, f, rate = make()
    region, inside = DOMAINS[domain]
    res = lyactrl.region_of_attraction(lyactrl.ExponentialStability(sys, V, rate), region)
    assert res.status == "certified" and res.level > 0
    P = V.P.to(torch.float64).numpy()
    V_np = _quadratic_np(P)
    # the boundary premise against dense points of the domain's boundary
    box = region.bounding_box()
    lo, hi = box.lo.tolist(), box.hi.tolist()
    if domain == "box":
        grid = dense_grid(lo, hi, 201)
        edge = grid[(np.isclose(grid, lo) | np.isclose(grid, hi)).any(1)]
    else:
        th = np.linspace(0, 2 * np.pi, 4001)
        edge = 2.2 * np.stack([np.cos(th), np.sin(th)], 1)
    assert V_np(edge).min() > res.level
    if make is _linear:  # the boundary premise binds: the closed form of min V on the edge
        Pi = np.linalg.inv(P)
        h = np.array(hi)
        closed = (
            (h**2 / np.diag(Pi)).min() if domain == "box" else 2.2**2 * np.linalg.eigvalsh(P)[0]
        )
        assert 0.99 * closed < res.level < closed
    pts = _points_of_set(V_np, res.level, lo, hi, 41, within=inside)
    assert len(pts) > 50
    assert_converges(f, pts, np.zeros(2), 80.0)
    d = res.decay_bound
    assert d is not None and d.alpha == pytest.approx(rate / 2) and d.invariant
    _assert_constants(V_np(pts), pts, d)
    assert_decay_bound(f, pts, np.zeros(2), d.c, d.alpha)


def _assert_constants(v: np.ndarray, pts: np.ndarray, d) -> None:
    """``lambda_1 |x|^2 <= V(x) <= lambda_2 |x|^2`` pointwise (the decay bound's premise)."""
    n2 = (pts * pts).sum(1)
    assert d.lambda_1 > 0 and d.c == pytest.approx(np.sqrt(d.lambda_2 / d.lambda_1))
    assert (v >= d.lambda_1 * n2 * (1 - 1e-12)).all() and (v <= d.lambda_2 * n2 * (1 + 1e-12)).all()


def test_region_of_attraction_of_a_quartic_candidate_proves_its_constants():
    # V = x^T P x + 0.1 x1^4 - 0.2 x1^2 x2 is not quadratic: lambda_1, lambda_2 come from the
    # partition of the set; each premise is re-checked on dense points
    sys, Vq, f, rate = _van_der_pol()
    P = Vq.P.to(torch.float64).numpy()
    p11, p12, p22 = float(P[0, 0]), float(2 * P[0, 1]), float(P[1, 1])
    expr = f"{p11!r}*x1**2 + {p12!r}*x1*x2 + {p22!r}*x2**2 + 0.1*x1**4 - 0.2*x1**2*x2"
    V = lyactrl.SymbolicCandidate(expr, "x1, x2", x_eq=[0.0, 0.0])

    def V_np(x):
        q = _quadratic_np(P)(x)
        return q + 0.1 * x[:, 0] ** 4 - 0.2 * x[:, 0] ** 2 * x[:, 1]

    def grad_np(x):
        g = 2 * x @ P
        g[:, 0] += 0.4 * x[:, 0] ** 3 - 0.4 * x[:, 0] * x[:, 1]
        g[:, 1] -= 0.2 * x[:, 0] ** 2
        return g

    lo, hi = [-2.0, -2.5], [2.0, 2.5]
    res = lyactrl.region_of_attraction(
        lyactrl.ExponentialStability(sys, V, rate), lyactrl.Box(lo, hi), **BUDGET
    )
    assert res.status == "certified" and res.level > 0
    x = dense_grid(lo, hi, 201)
    edge = x[(np.isclose(x, lo) | np.isclose(x, hi)).any(1)]
    assert V_np(edge).min() > res.level
    pts = x[V_np(x) <= res.level]
    decrease = (grad_np(pts) * f(pts.T).T).sum(1) + rate * V_np(pts)
    assert decrease.max() <= 1e-12
    d = res.decay_bound
    assert d is not None
    _assert_constants(V_np(pts), pts, d)
    sub = pts[:: max(1, len(pts) // 300)]
    assert_converges(f, sub, np.zeros(2), 80.0)
    assert_decay_bound(f, sub, np.zeros(2), d.c, d.alpha)


def test_candidate_with_a_slope_at_x_eq_gets_no_decay_constants():
    # V = x + x^2 has V(0) = 0 but V < 0 on (-1, 0); along x' = -x the decrease
    # grad V . f + V = -x^2 holds everywhere: only positive definiteness fails
    sys = lyactrl.SymbolicSystem(["-x"], "x")
    V = lyactrl.SymbolicCandidate("x + x**2", "x", x_eq=[0.0])
    cond = lyactrl.ExponentialStability(sys, V, rate=1.0)
    res = lyactrl.region_of_attraction(cond, lyactrl.Box([-2.0], [2.0]), **BUDGET)
    if res.decay_bound is not None:  # its lambda_1 > 0 would be refuted at x = -0.5
        pts = np.linspace(-2.0, 2.0, 401)[:, None]
        v = pts[:, 0] + pts[:, 0] ** 2
        _assert_constants(v[v <= res.level], pts[v <= res.level], res.decay_bound)
    assert res.status != "certified" and res.decay_bound is None
    cert = lyactrl.certify(
        cond, lyactrl.Sublevel(V, 0.5, within=lyactrl.Box([-2.0], [2.0])), **BUDGET
    )
    assert cert.decay_bound is None


def test_the_simulation_oracle_refutes_a_set_that_is_too_large():
    # the check above can fail: {V <= 3 level} of Van der Pol reaches past the unstable limit
    # cycle, where trajectories escape
    sys, V, f, rate = _van_der_pol()
    res = lyactrl.region_of_attraction(
        lyactrl.ExponentialStability(sys, V, rate), DOMAINS["box"][0]
    )
    V_np = _quadratic_np(V.P.to(torch.float64).numpy())
    pts = _points_of_set(V_np, 3 * res.level, [-2.5, -3.0], [2.5, 3.0], 21)
    with pytest.raises(AssertionError):
        assert_converges(f, pts, np.zeros(2), 80.0)


def _ulps_around(v: mpmath.mpf) -> list[float]:
    f = float(v)
    return [math.nextafter(f, -math.inf), f, math.nextafter(f, math.inf), f * (1 + 1e-12)]


WITHINS = {
    # min |x|^2 on the boundary, exactly: the box [-0.7, 0.7]^2 (0.7 the float) and the ball
    # of radius 1 around (0.3, 0) (0.3 the float)
    "box": (lyactrl.Box([-0.7, -0.7], [0.7, 0.7]), lambda: mpmath.mpf(0.7) ** 2),
    "ball": (lyactrl.Ball([0.3, 0.0], 1.0), lambda: (1 - mpmath.mpf(0.3)) ** 2),
}


@pytest.mark.parametrize("within", WITHINS)
def test_invariance_premise_at_the_last_ulp(within):
    # levels one ulp either side of the exact min of V on the boundary: invariant only when
    # V > c on the whole boundary in exact arithmetic
    region, exact = WITHINS[within]
    cond, V = _rotation()
    with mpmath.workdps(50):
        m = exact()
        for c in _ulps_around(m):
            res = lyactrl.certify(cond, lyactrl.Sublevel(V, c, within=region), **BUDGET)
            assert res.status == "certified"
            if res.invariant:
                assert mpmath.mpf(c) < m, (c, res)
                assert res.decay_bound is not None
            else:
                assert res.decay_bound is None
