"""Property tests on random stable linear systems against exact closed forms.

For ``x' = A x`` and ``V = x^T P x`` (``A``, ``P`` the float64 matrices lyactrl is given, read
exactly by mpmath at 50 digits):

* the best rate is ``kappa* = lambda_min(P^-1 Q)`` with ``Q = -(A^T P + P A)``: ``certify``
  never certifies above it, ``max_certified_rate`` never exceeds it;
* on a domain where the decrease holds everywhere, the largest certified level is ``min V``
  on the domain's boundary (a box: ``min_i min(lo_i^2, hi_i^2) / (P^-1)_ii``; a ball of
  radius ``r``: ``r^2 lambda_min(P)``): ``region_of_attraction`` never exceeds it.

Each property is paired with the converse a fair engine meets well inside the bound, so that
the bounds are not met vacuously.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from _oracles import DIGITS, assert_falsified_soundly
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_systems import random_hurwitz, random_spd
from scipy.linalg import solve_continuous_lyapunov

import lyactrl

BUDGET = {"max_boxes": 5_000, "time_limit": 10.0}


def _system(seed: int, n: int):
    rng = np.random.default_rng(seed)
    A = random_hurwitz(rng, n, margin=0.3)
    P = solve_continuous_lyapunov(A.T, -random_spd(rng, n))
    P = 0.5 * (P + P.T)  # exactly symmetric
    lo = -rng.uniform(0.5, 2.0, n)
    hi = rng.uniform(0.5, 2.0, n)
    return A, P, lo, hi


def _mp(M: np.ndarray) -> mpmath.matrix:
    return mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in np.atleast_2d(M)])


def _exact_best_rate(A: np.ndarray, P: np.ndarray) -> mpmath.mpf:
    """``lambda_min(L^-1 Q L^-T)`` with ``P = L L^T``, at 50 digits."""
    with mpmath.workdps(DIGITS):
        Am, Pm = _mp(A), _mp(P)
        Q = -(Am.T * Pm + Pm * Am)
        Li = mpmath.inverse(mpmath.cholesky(Pm))
        M = Li * Q * Li.T
        M = (M + M.T) / 2
        return min(mpmath.eigsy(M, eigvals_only=True))


def _exact_boundary_level(P: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> mpmath.mpf:
    """``min V`` on the boundary of the box ``[lo, hi]``, at 50 digits: on the face
    ``x_i = h`` it is ``h^2 / (P^-1)_ii``."""
    with mpmath.workdps(DIGITS):
        Pi = mpmath.inverse(_mp(P))
        return min(mpmath.mpf(float(min(-lo[i], hi[i]))) ** 2 / Pi[i, i] for i in range(P.shape[0]))


def _residual_mp(A: np.ndarray, P: np.ndarray, rate: float):
    def at(x):
        with mpmath.workdps(DIGITS):
            Am, Pm, xm = _mp(A), _mp(P), mpmath.matrix([mpmath.mpf(float(v)) for v in x])
            return (xm.T * (Am.T * Pm + Pm * Am + mpmath.mpf(rate) * Pm) * xm)[0]

    return at


def _condition(A, P, rate):
    return lyactrl.ExponentialStability(
        lyactrl.LinearSystem(A.tolist()), lyactrl.Quadratic(P), rate
    )


seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, 3)


@settings(max_examples=25)
@given(seed=seeds, n=dims, excess=st.floats(1e-6, 1.0))
def test_certify_never_certifies_above_the_best_rate(seed, n, excess):
    A, P, lo, hi = _system(seed, n)
    best = _exact_best_rate(A, P)
    assert best > 0
    rate = float(best) * (1 + excess)
    assert mpmath.mpf(rate) > best
    res = lyactrl.certify(_condition(A, P, rate), lyactrl.Box(lo, hi), **BUDGET)
    assert res.status in ("falsified", "unknown")
    if res.status == "falsified":
        assert_falsified_soundly(res, _residual_mp(A, P, rate))
    # the converse, well below the bound: certified
    below = lyactrl.certify(_condition(A, P, 0.9 * float(best)), lyactrl.Box(lo, hi), **BUDGET)
    assert below.status == "certified"


@settings(max_examples=20)
@given(seed=seeds, n=dims, ball=st.booleans())
def test_region_of_attraction_never_exceeds_min_V_on_the_boundary(seed, n, ball):
    A, P, lo, hi = _system(seed, n)
    rate = 0.5 * float(_exact_best_rate(A, P))  # the decrease holds everywhere
    if ball:  # min V on the sphere of radius r: r^2 lambda_min(P)
        r = float(hi[0])
        domain = lyactrl.Ball(np.zeros(n), r)
        with mpmath.workdps(DIGITS):
            closed = mpmath.mpf(r) ** 2 * min(mpmath.eigsy(_mp(P), eigvals_only=True))
    else:
        domain = lyactrl.Box(lo, hi)
        closed = _exact_boundary_level(P, lo, hi)
    res = lyactrl.region_of_attraction(_condition(A, P, rate), domain, **BUDGET)
    assert mpmath.mpf(res.level) < closed
    assert res.status == "certified" and res.level >= 0.5 * float(closed)
    if "budget" not in res.message:  # the search closed its gap: the level is the closed form
        assert res.level >= 0.99 * float(closed)
    assert res.level_upper >= res.level


@settings(max_examples=10)
@given(seed=seeds, n=st.integers(1, 2))
def test_max_certified_rate_never_exceeds_the_best_rate(seed, n):
    A, P, lo, hi = _system(seed, n)
    best = _exact_best_rate(A, P)
    res = lyactrl.max_certified_rate(
        _condition(A, P, 1.0), lyactrl.Box(lo, hi), max_boxes=2_000, time_limit=10.0, tol=1e-2
    )
    assert res.status == "certified"
    assert mpmath.mpf(res.rate) <= best
    assert res.rate >= 0.95 * float(best)
    assert res.certificate is not None and res.certificate.rate == pytest.approx(res.rate)
