"""Enlarging a certified sublevel set by alternating SOS programs (V-s iteration).

Solver-accurate, not a proof (see :func:`lyactrl.sdp.sos_lyapunov`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, NotHurwitzError
from .._results import Status
from .._tensors import as_positive, positive_int, to_numpy
from ..lyapunov import Quadratic
from ..regions import Box
from ._polynomials import evaluate_monomials, monomials, multiply_map
from ._solve import SOLVERS, solve_problem
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
    # do, and the other solvers (SCS, first order) are tried when the chosen one stalls
    order = (setup.solver, *SOLVERS)
    if not solve_problem(problem, order, accept_inaccurate=True).solved:
        return None
    return np.asarray(cV.value, dtype=np.float64)


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
    >>> str(res.status), res.level > 0
    ('feasible', True)
    """
    start = time.perf_counter()
    setup = _roa_setup(system, domain, solver)
    degree = _check_degree(degree)
    run = _VsIteration(
        setup,
        domain,
        start,
        degree=degree,
        rate=as_positive(rate, name="rate", allow_zero=True),
        epsilon=as_positive(epsilon, name="epsilon"),
        multiplier_degree=degree if multiplier_degree is None else multiplier_degree,
        rtol=as_positive(rtol, name="rtol"),
    )
    iterations = positive_int(iterations, "iterations") if iterations else 0
    try:
        vpoly = _linearisation_poly(system, setup.scale)
    except NotHurwitzError as exc:
        return run.failure(str(exc))
    best = run.run(vpoly, iterations)
    if best is None:
        return run.failure("no level was certified for the linearisation's quadratic V")
    return dataclasses.replace(best, seconds=time.perf_counter() - start, n_solves=run.solves)


def _roa_setup(system: Any, domain: Any, solver: str) -> _Setup:
    """The setup in coordinates scaled by the half-widths of ``domain`` around ``x_eq``."""
    _Setup(system, solver)  # validates the system and the solver
    if not isinstance(domain, Box) or domain.n_states != system.n_states:
        raise InvalidArgumentError(
            f"domain: expected a Box on the system's {system.n_states} states, received {domain!r}"
        )
    x_eq = to_numpy(system.x_eq)
    lo, hi = domain.lo.numpy() - x_eq, domain.hi.numpy() - x_eq
    return _Setup(system, solver, scale=np.maximum(np.abs(lo), np.abs(hi)))


def _linearisation_poly(system: Any, width: np.ndarray) -> dict:
    """The linearisation's quadratic ``V`` in the internal (scaled) coordinates."""
    P = to_numpy(Quadratic.from_linearization(system).P)
    n = P.shape[0]
    vpoly: dict = {}
    for i in range(n):
        for j in range(n):
            m = tuple((k == i) + (k == j) for k in range(n))
            vpoly[m] = vpoly.get(m, 0.0) + float(P[i, j] * width[i] * width[j])
    return vpoly


class _VsIteration:
    """The alternation of level steps (:class:`_Level`) and V-steps (:func:`_v_step`)."""

    def __init__(
        self,
        setup: _Setup,
        domain: Any,
        start: float,
        *,
        degree: int,
        rate: float,
        epsilon: float,
        multiplier_degree: int,
        rtol: float,
    ) -> None:
        self.setup, self.start, self.degree = setup, start, degree
        self.rate, self.epsilon, self.rtol = rate, epsilon, rtol
        self.multiplier_degree = int(_check_degree(multiplier_degree + 2) - 2)
        self.grid = domain.sample(4096, generator=torch.Generator().manual_seed(0))
        # the samples in the internal coordinates
        self.inner = (self.grid.numpy() - setup.x_eq) / setup.scale
        self.solves = 0

    def failure(self, message: str) -> SOSResult:
        """An ``infeasible`` result: no certified level."""
        return _result(
            Status.INFEASIBLE,
            "sos-roa",
            self.start,
            degree=self.degree,
            rate=self.rate,
            epsilon=self.epsilon,
            solver=self.setup.solver,
            n_solves=self.solves,
            message=message,
        )

    def run(self, vpoly: dict, iterations: int) -> SOSResult | None:
        """The level result of the ``V`` whose certified set covers most samples."""
        setup = self.setup
        best, covered, stalled = None, -1.0, 0
        for it in range(iterations + 1):
            level = _Level(
                setup, vpoly, self.degree, self.rate, self.epsilon, self.multiplier_degree
            )
            outcome = level.search(self.rtol, 60)
            if level.best is None:
                break
            V = setup.candidate(setup.vector(vpoly, level.index), level.index)
            self.solves += level.n_solves + 1
            share = float((V(self.grid) <= level.best[0]).double().mean())
            # a V-step may be solved inaccurately: V must be SOS-positive definite to count
            margin = _positivity_margin(setup, vpoly)
            if share > covered and margin > _CHECK_TOL * max(map(abs, vpoly.values())):
                best = _level_result(level, outcome, "sos-roa", self.start, V, self.degree)
                covered, stalled = share, 0
            else:
                stalled += 1  # keep the best V; give up after three steps without progress
                if stalled == 3:
                    break
            if it == iterations or outcome == "unbounded":
                break
            vpoly = self.propose(level, vpoly)
            if vpoly is None:
                break
        return best

    def propose(self, level: _Level, vpoly: dict) -> dict | None:
        """The next ``V`` (coefficients), or ``None`` when there is none to try."""
        # a multiplier away from the boundary: re-solve at 95 % of the level, so that V / c
        # with this s is strictly feasible for the V-step
        c = 0.95 * level.best[0]
        if level.feasible(c):
            s_coefs = np.asarray(level.cS.value, dtype=np.float64)
        else:
            c, s_coefs = level.best[0], level.best[3]
        phi = evaluate_monomials(self.inner, level.index)
        v_old = phi @ self.setup.vector(vpoly, level.index) / c
        outside = np.flatnonzero(v_old > 1.0)
        if outside.size == 0:
            return None  # the set already holds every sample
        near = outside[np.argsort(v_old[outside])[: max(16, int(_FRONTIER * v_old.size))]]
        eps = self.epsilon / max(c, 1.0)
        new = _v_step(self.setup, level, s_coefs, phi[near], self.degree, eps)
        self.solves += 1
        if new is None:
            return None
        return {m: float(v) for m, v in zip(level.index.monomials, new, strict=True) if v != 0.0}
