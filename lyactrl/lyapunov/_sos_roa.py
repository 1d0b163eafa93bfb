"""Enlarging a certified sublevel set by alternating SOS programs (V-s iteration).

Solver-accurate, not a proof (see :mod:`lyactrl.lyapunov._sos`).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, NotHurwitzError
from .._tensors import as_positive, positive_int, to_numpy
from ._polynomials import monomials, multiply_map
from ._sos import _CHECK_TOL, SOSResult, _check_degree, _result, _Setup
from ._sos_level import _Level, _level_result, _positivity_margin

__all__ = ["sos_roa"]

_FRONTIER = 0.02  # the V-step pulls V down on this share of samples, nearest outside the set


def _v_step(
    setup: _Setup,
    level: _Level,
    s_coefs: np.ndarray,
    frontier: np.ndarray,
    degree: int,
    epsilon: float,
) -> np.ndarray | None:
    """With ``s`` fixed, a ``V`` with level 1 and least mean value on ``frontier`` (rows are
    monomials evaluated at the sample points just outside the current set), or ``None``."""
    cp, n, index = setup.cp, setup.n, level.index
    Q, cV = setup.gram(monomials(n, 1, degree // 2), index)
    E = np.diag([1.0 if i < n else 0.0 for i in range(Q.shape[0])])
    s_poly = {m: float(c) for m, c in zip(index.monomials, s_coefs, strict=True) if c != 0.0}
    rate = level.rate
    p = -(level.L @ cV) - rate * cV - (epsilon if rate == 0 else 0.0) * level.sq
    p = p - (s_coefs - multiply_map(s_poly, index) @ cV)
    R, cR = setup.gram(monomials(n, 0, level.half), index)
    objective = cp.Minimize(cp.sum(frontier @ cV) / frontier.shape[0])
    problem = cp.Problem(objective, [Q - epsilon * E >> 0, R >> 0, p == cR])
    # V is only a proposal, re-certified by the next level step: an inaccurate solution will
    # do, and SCS (first order) is tried when the interior-point solver stalls
    for solver in dict.fromkeys([setup.solver, "scs"]):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                problem.solve(solver=solver.upper())
        except setup.cp.SolverError:
            continue
        if problem.status in ("optimal", "optimal_inaccurate") and cV.value is not None:
            return np.asarray(cV.value, dtype=np.float64)
    return None


@checked_kwargs
def sos_roa(
    system: Any,
    domain: Any,
    *,
    degree: int = 4,
    rate: float = 0.01,
    iterations: int = 8,
    epsilon: float = 1e-6,
    multiplier_degree: int | None = None,
    solver: str = "clarabel",
    rtol: float = 1e-3,
) -> SOSResult:
    """Enlarge a certified sublevel set ``{V <= c}`` by alternating SOS programs (V-s iteration).

    Start from the quadratic ``V`` of the linearisation; then repeat: (1) the largest level
    ``c`` and its multiplier ``s`` for the current ``V`` (:func:`sos_level`); (2) with ``s``
    fixed and ``V`` rescaled to ``V / c`` (still feasible), a new ``V`` of the given degree with
    level 1 that minimises the mean of ``V`` over the samples of ``domain`` just outside the
    current set (the 2 % with the smallest ``V / c > 1``), pulling the boundary of
    ``{V <= 1}`` outwards (this
    proposal may be solved inaccurately, with SCS as a fallback: only the
    level steps certify). The result is the ``V`` whose certified set covers the largest share
    of ``domain`` (on 4096 fixed uniform samples), with its level. Solver-accurate, not a
    proof (see :func:`sos_lyapunov`). A smaller ``rate`` gives a larger set: close to the
    boundary of the region of attraction trajectories converge slowly.

    Parameters
    ----------
    system : SymbolicSystem
        A polynomial system whose linearisation at ``x_eq`` is Hurwitz.
    domain : Box
        The box over which ``V`` is integrated (where the region of attraction is wanted).
    degree : int
        Even degree of ``V``.
    rate : float
        ``grad V . f + rate V <= 0`` on ``{V <= c}`` (``rate >= 0``; with ``0`` the margin is
        ``epsilon ||x - x_eq||^2``).
    iterations : int
        At most this many V-steps (fewer when three in a row bring no progress).
    multiplier_degree : int, optional
        Degree of the S-procedure multiplier ``s`` (``degree`` by default: on reversed Van der
        Pol a degree-6 ``V`` covers about 80 % of the simulated region with a quadratic ``s``
        and about 98 % with a sextic one).
    epsilon : float
        ``V >= epsilon ||x - x_eq||^2``.
    solver : {"clarabel", "scs"}
        The cvxpy SDP solver.
    rtol : float
        Relative width of each level bisection.

    Returns
    -------
    SOSResult
        ``V`` and ``level``: the estimate ``{V <= level}`` of the region of attraction.

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.SymbolicSystem(["-x + x**3"], "x")
    >>> res = lyactrl.sos_roa(sys, lyactrl.Box([-2.0], [2.0]), degree=2, iterations=1)
    >>> res.status, res.level > 0
    ('feasible', True)
    """
    from ..regions import Box  # lazy: regions sit above this layer
    from ._polynomials import evaluate_monomials
    from ._quadratic import Quadratic

    start = time.perf_counter()
    _Setup(system, solver)  # validates the system and the solver
    if not isinstance(domain, Box) or domain.n_states != system.n_states:
        raise InvalidArgumentError(
            f"domain: expected a Box on the system's {system.n_states} states, received {domain!r}"
        )
    x_eq = to_numpy(system.x_eq)
    lo, hi = domain.lo.numpy() - x_eq, domain.hi.numpy() - x_eq
    width = np.maximum(np.abs(lo), np.abs(hi))
    setup = _Setup(system, solver, scale=width)
    degree = _check_degree(degree)
    rate = as_positive(rate, name="rate", allow_zero=True)
    epsilon = as_positive(epsilon, name="epsilon")
    iterations = positive_int(iterations, "iterations") if iterations else 0
    rtol = as_positive(rtol, name="rtol")
    if multiplier_degree is None:
        multiplier_degree = degree
    multiplier_degree = int(_check_degree(multiplier_degree + 2) - 2)
    try:
        P = to_numpy(Quadratic.from_linearization(system).P)
    except NotHurwitzError as exc:
        return _result(
            "infeasible",
            "sos-roa",
            start,
            degree=degree,
            rate=rate,
            epsilon=epsilon,
            solver=solver,
            n_solves=0,
            message=str(exc),
        )
    n = setup.n
    vpoly: dict = {}
    for i in range(n):
        for j in range(n):
            m = tuple((k == i) + (k == j) for k in range(n))
            vpoly[m] = vpoly.get(m, 0.0) + float(P[i, j] * width[i] * width[j])
    grid = domain.sample(4096, generator=torch.Generator().manual_seed(0))
    inner = (grid.numpy() - x_eq) / width  # the samples in the internal coordinates
    best, extra, covered, stalled = None, 0, -1.0, 0
    for it in range(iterations + 1):
        level = _Level(setup, vpoly, degree, rate, epsilon, multiplier_degree)
        outcome = level.search(rtol, 60)
        if level.best is None:
            break
        V = setup.candidate(setup.vector(vpoly, level.index), level.index)
        extra += level.n_solves + 1
        share = float((V(grid) <= level.best[0]).double().mean())
        # a V-step may be solved inaccurately: V must be SOS-positive definite to count
        positive = _positivity_margin(setup, vpoly) > _CHECK_TOL * max(map(abs, vpoly.values()))
        if share > covered and positive:
            best = _level_result(level, outcome, "sos-roa", start, V, degree, extra)
            covered, stalled = share, 0
        else:
            stalled += 1  # keep the best V; give up after three steps without progress
            if stalled == 3:
                break
        if it == iterations or outcome == "unbounded":
            break
        # a multiplier away from the boundary: re-solve at 95 % of the level, so that V / c
        # with this s is strictly feasible for the V-step
        c = 0.95 * level.best[0]
        if level.feasible(c):
            s_coefs = np.asarray(level.cS.value, dtype=np.float64)
        else:
            c, s_coefs = level.best[0], level.best[3]
        phi = evaluate_monomials(inner, level.index)
        v_old = phi @ setup.vector(vpoly, level.index) / c
        outside = np.flatnonzero(v_old > 1.0)
        if outside.size == 0:
            break  # the set already holds every sample
        near = outside[np.argsort(v_old[outside])[: max(16, int(_FRONTIER * v_old.size))]]
        new = _v_step(setup, level, s_coefs, phi[near], degree, epsilon / max(c, 1.0))
        extra += 1
        if new is None:
            break
        vpoly = {m: float(v) for m, v in zip(level.index.monomials, new, strict=True) if v != 0.0}
    if best is None:
        return _result(
            "infeasible",
            "sos-roa",
            start,
            degree=degree,
            rate=rate,
            epsilon=epsilon,
            solver=solver,
            n_solves=extra,
            message="no level was certified for the linearisation's quadratic V",
        )
    return dataclasses.replace(best, seconds=time.perf_counter() - start, n_solves=extra)
