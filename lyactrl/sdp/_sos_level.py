"""The S-procedure level of a fixed polynomial ``V``: the largest certified ``{V <= c}``.

Solver-accurate, not a proof (see :func:`lyactrl.sdp.sos_lyapunov`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._results import Status
from .._tensors import as_positive, positive_int
from ..lyapunov import SymbolicCandidate
from ._polynomials import MonomialIndex, lie_derivative_map, monomials, multiply_map
from ._sos import _CHECK_TOL, SOSResult, _check_degree, _min_eig, _result, _Setup

__all__ = ["sos_level"]


class _Level:
    """The S-procedure program for the level ``c`` of a fixed ``V`` (``c`` a parameter)."""

    def __init__(
        self,
        setup: _Setup,
        vpoly: dict,
        degree: int,
        rate: float,
        epsilon: float,
        multiplier_degree: int | None,
    ) -> None:
        cp, n = setup.cp, setup.n
        top = max(degree, max(sum(m) for m in vpoly))
        half = math.ceil((top + setup.field_degree - 1) / 2)
        ds = max(0, 2 * half - top) if multiplier_degree is None else multiplier_degree
        ds -= ds % 2
        half = max(half, math.ceil((ds + top) / 2))
        self.index = index = MonomialIndex(n, 2 * half)
        self.setup, self.rate, self.epsilon, self.half, self.top = setup, rate, epsilon, half, top
        self.L = lie_derivative_map(setup.field, index, top)
        self.sq = setup.squared_norm(index)
        cVn = setup.vector(vpoly, index)
        self.c = cp.Parameter(nonneg=True)
        self.S, cS = setup.gram(monomials(n, 0, ds // 2), index)
        self.cS = cS
        base = -(self.L @ cVn) - rate * cVn - (epsilon if rate == 0 else 0.0) * self.sq
        self.p = base - (self.c * cS - multiply_map(vpoly, index) @ cS)
        self.R, self.cR = setup.gram(monomials(n, 0, half), index)
        self.problem = cp.Problem(cp.Minimize(0), [self.S >> 0, self.R >> 0, self.p == self.cR])
        self.n_solves = 0
        self.best: tuple[float, float, float, np.ndarray] | None = None

    def feasible(self, c: float) -> bool:
        self.c.value = c
        self.n_solves += 1
        ok = self.setup.solve(self.problem).solved
        if ok and (self.best is None or c > self.best[0]):
            lam = _min_eig(self.S.value, self.R.value)
            scale = max(1.0, float(np.abs(self.cS.value).max()))
            resid = float(np.abs(self.p.value - self.cR.value).max()) / scale
            if lam < -_CHECK_TOL or resid > _CHECK_TOL:
                return False
            self.best = (c, lam, resid, np.asarray(self.cS.value, dtype=np.float64))
        return ok

    def search(self, rtol: float, max_solves: int) -> str:
        """Largest feasible ``c`` by doubling/halving from 1, then bisection."""
        lo, hi = 0.0, math.inf
        c = 1.0
        for _ in range(60):
            if self.feasible(c):
                lo = c
                if hi < math.inf:
                    break
                c *= 4.0
            else:
                hi = c
                if lo > 0:
                    break
                c /= 4.0
            if c > 1e12 or c < 1e-12:
                break
        if lo == 0.0:
            return "infeasible"
        if hi == math.inf:
            return "unbounded"
        while self.n_solves < max_solves and hi - lo > rtol * hi:
            mid = 0.5 * (lo + hi)
            if self.feasible(mid):
                lo = mid
            else:
                hi = mid
        return "ok"


def _poly_of(setup: _Setup, V: Any) -> dict:
    if not isinstance(V, SymbolicCandidate):
        raise InvalidArgumentError(
            f"V: expected a polynomial SymbolicCandidate, received {type(V).__name__}"
        )
    names = {s.name: s for s in setup.states}
    if sorted(s.name for s in V.states) != sorted(names):
        raise InvalidValueError(
            f"V: expected a function of the system's states {sorted(names)}, received one of "
            f"{sorted(s.name for s in V.states)}"
        )
    expr = V.expr.xreplace({s: names[s.name] for s in V.states})
    return setup.coefficients(expr, "V")


def _level_result(
    level: _Level, outcome: str, method: str, start: float, V: Any, degree: int, extra: int = 0
) -> SOSResult:
    common = dict(
        degree=degree,
        rate=level.rate,
        epsilon=level.epsilon,
        solver=level.setup.solver,
        n_solves=level.n_solves + extra,
    )
    if level.best is None:
        status = Status.INFEASIBLE if outcome == "infeasible" else Status.UNKNOWN
        return _result(
            status,
            method,
            start,
            V=V,
            message=(
                "no level c > 1e-12 was certified: the decrease condition fails arbitrarily close "
                "to the equilibrium at this rate, or the multiplier degree is too low"
            ),
            **common,
        )
    c, lam, resid, _ = level.best
    note = (
        "feasible for every level tried up to 1e12 (the condition may hold globally)"
        if outcome == "unbounded"
        else "largest level by bisection (rtol on c)"
    )
    return _result(
        Status.FEASIBLE,
        method,
        start,
        V=V,
        level=c,
        solver_status="optimal",
        min_gram_eigenvalue=lam,
        equality_residual=resid,
        message=f"solver-accurate S-procedure certificate on {{V <= "
        f"{c:.6g}}}; {note}; not a proof: certify V on the sublevel set for one",
        **common,
    )


@checked_kwargs
def sos_level(
    system: Any,
    V: Any,
    *,
    rate: float = 0.1,
    epsilon: float = 1e-3,
    multiplier_degree: int | None = None,
    solver: str = "clarabel",
    rtol: float = 1e-3,
    max_solves: int = 60,
) -> SOSResult:
    """Largest ``c`` such that ``grad V . f + rate V <= 0`` on ``{V <= c}``, by the S-procedure.

    For each trial ``c`` the program asks for SOS ``s`` with ``-(grad V . f) - rate V
    - s (c - V)`` SOS (``- epsilon ||x - x_eq||^2`` as well when ``rate = 0``); ``c`` is found by
    bisection. Solver-accurate, not a proof (see :func:`sos_lyapunov`).

    Parameters
    ----------
    system : SymbolicSystem
        A polynomial autonomous system.
    V : SymbolicCandidate
        A polynomial candidate in the system's states (e.g. ``sos_lyapunov(...).V``).
    rate, epsilon : float
        As in :func:`sos_lyapunov`.
    multiplier_degree : int, optional
        Degree of ``s`` (by default the largest that keeps the program's degree).
    solver : {"clarabel", "scs"}
        The cvxpy SDP solver.
    rtol : float
        Relative width at which the bisection stops.
    max_solves : int
        Budget of SDPs.

    Returns
    -------
    SOSResult
        With ``level``; ``V`` is the candidate passed in.

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.SymbolicSystem(["-x + x**3"], "x")
    >>> V = lyactrl.SymbolicCandidate("x**2", "x", x_eq=[0.0])
    >>> res = lyactrl.sos_level(sys, V, rate=0.5)
    >>> str(res.status), round(res.level, 2)   # 2 x (-x + x^3) + 0.5 x^2 <= 0 iff x^2 <= 0.75
    ('feasible', 0.75)
    """
    start = time.perf_counter()
    setup = _Setup(system, solver)
    rate = as_positive(rate, name="rate", allow_zero=True)
    epsilon = as_positive(epsilon, name="epsilon")
    vpoly = _poly_of(setup, V)
    if multiplier_degree is not None:
        multiplier_degree = int(_check_degree(multiplier_degree + 2) - 2)
    margin = _positivity_margin(setup, vpoly)
    deg = max(sum(m) for m in vpoly)
    if not margin > _CHECK_TOL * max(abs(c) for c in vpoly.values()):
        return _result(
            Status.UNKNOWN,
            "sos-level",
            start,
            V=V,
            degree=deg,
            rate=rate,
            epsilon=epsilon,
            solver=solver,
            message=f"V is not certified positive definite by SOS (largest "
            f"lambda with V - lambda ||x - x_eq||^2 SOS: {margin:.3g}); a level set of V "
            "proves nothing then",
        )
    level = _Level(setup, vpoly, deg, rate, epsilon, multiplier_degree)
    outcome = level.search(as_positive(rtol, name="rtol"), positive_int(max_solves, "max_solves"))
    return _level_result(level, outcome, "sos-level", start, V, deg)


def _positivity_margin(setup: _Setup, vpoly: dict) -> float:
    """Largest ``lambda`` with ``V - lambda ||x - x_eq||^2`` SOS (``nan`` if none is found)."""
    cp, n = setup.cp, setup.n
    top = max(sum(m) for m in vpoly)
    if top % 2 or any(sum(m) < 2 for m in vpoly):
        return float("nan")
    index = MonomialIndex(n, top)
    G, cG = setup.gram(monomials(n, 1, top // 2), index)
    lam = cp.Variable()
    bound = max(abs(c) for c in vpoly.values()) / float(np.min(setup.scale) ** 2)
    cons = [G >> 0, setup.vector(vpoly, index) - lam * setup.squared_norm(index) == cG]
    problem = cp.Problem(cp.Maximize(lam), [*cons, lam <= bound])
    if not setup.solve(problem).solved:
        return float("nan")
    return float(lam.value)
