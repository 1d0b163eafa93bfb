"""Polynomial Lyapunov functions by sum-of-squares programming (cvxpy).

For a polynomial system ``x' = f(x)`` (a :class:`~lyactrl.SymbolicSystem`), search
``V(x) = z(x)^T Q z(x)`` over the monomials ``z`` of degree 1 to ``degree / 2`` with

* ``V - epsilon ||x||^2`` SOS (``V`` positive definite with a quadratic margin);
* ``-(grad V . f) - rate V`` SOS (``- epsilon ||x||^2`` as well when ``rate = 0``), globally or,
  with ``domain``, on the region through the S-procedure;

and the largest level ``c`` with ``-(grad V . f) - rate V - s (c - V)`` SOS for an SOS
multiplier ``s``, i.e. the decrease condition on ``{V <= c}`` (bisection on ``c``).

The answers are **solver-accurate, not proofs**: an interior-point solver satisfies the
equality and semidefinite constraints up to its tolerances. Statuses are therefore
``"feasible"`` (the solver reported success and the Gram matrices and coefficient equations were
re-checked in numpy to about ``1e-6``), ``"infeasible"`` (the solver reported infeasibility) and
``"unknown"``. A sound certificate comes from passing ``result.V`` (a
:class:`~lyactrl.SymbolicCandidate`, which keeps the exact expression) to ``lyactrl.certify``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from .._api import checked_kwargs, optional_import
from .._errors import InvalidArgumentError, InvalidValueError
from .._results import ResultMixin, Status
from .._tensors import as_positive, to_numpy
from ..lyapunov import SymbolicCandidate
from ..regions import Ball, Box
from ..systems import SymbolicSystem
from ._polynomials import (
    MonomialIndex,
    coefficients_to_expr,
    gram_map,
    lie_derivative_map,
    monomials,
    multiply_map,
    poly_coefficients,
)
from ._solve import SolveOutcome, check_solver, solve_problem

__all__ = ["SOSResult", "sos_lyapunov"]

_CHECK_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class SOSResult(ResultMixin):
    """The result of :func:`sos_lyapunov`, :func:`sos_level` and :func:`sos_roa`.

    ``status`` is ``"feasible"`` (solver-accurate, re-checked in numpy to about ``1e-6``; not a
    proof: pass ``V`` to ``lyactrl.certify`` for one), ``"infeasible"`` (the solver reported
    the SOS program infeasible: no certificate of this degree) or ``"unknown"``. ``level`` is
    the certified level of ``{V <= level}`` (``nan`` when not computed).
    """

    status: Status
    method: str
    seconds: float
    V: SymbolicCandidate | None
    expression: str
    degree: int
    rate: float
    epsilon: float
    level: float
    solver: str
    solver_status: str
    min_gram_eigenvalue: float
    equality_residual: float
    n_solves: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-serialisable dict (``V`` as its expression string)."""
        out = super().to_dict()
        out["V"] = self.expression
        return out

    def __str__(self) -> str:
        lvl = "" if math.isnan(self.level) else f", level {self.level:.6g}"
        return f"SOS ({self.method}): {self.status}{lvl}; {self.message}"


class _Setup:
    """The polynomial data of a system in coordinates centred at the equilibrium."""

    def __init__(self, system: Any, solver: str, scale: Any = None) -> None:
        if not isinstance(system, SymbolicSystem):
            raise InvalidArgumentError(
                f"system: expected a polynomial SymbolicSystem, received {type(system).__name__}"
            )
        if system.n_inputs:
            raise InvalidArgumentError(
                f"system: expected an autonomous system, received one with {system.n_inputs} "
                "inputs; substitute the feedback law into the expressions"
            )
        self.solver = check_solver(solver)
        self.sp = optional_import("sympy")
        self.cp = optional_import("cvxpy")
        self.states = system.states
        self.n = system.n_states
        self.x_eq = to_numpy(system.x_eq).astype(np.float64)
        # internal coordinates y = (x - x_eq) / scale keep the monomials well scaled
        self.scale = np.ones(self.n) if scale is None else np.asarray(scale, dtype=np.float64)
        self.field = [
            self.coefficients(e / float(d), f"exprs[{i}]")
            for i, (e, d) in enumerate(zip(system.exprs, self.scale, strict=True))
        ]
        self.field_degree = max((sum(m) for fk in self.field for m in fk), default=1)

    def coefficients(self, expr: Any, name: str) -> dict[tuple[int, ...], float]:
        """Coefficients of ``expr`` (original coordinates) in the internal coordinates."""
        shift = {
            s: float(d) * s + float(e)
            for s, e, d in zip(self.states, self.x_eq, self.scale, strict=True)
            if e != 0 or d != 1
        }
        return poly_coefficients(
            self.sp, expr.xreplace(shift) if shift else expr, self.states, name
        )

    def vector(self, poly: dict[tuple[int, ...], float], index: MonomialIndex) -> np.ndarray:
        out = np.zeros(index.size)
        for m, c in poly.items():
            out[index.row(m)] = c
        return out

    def squared_norm(self, index: MonomialIndex) -> np.ndarray:
        d2 = self.scale**2
        return self.vector(
            {tuple(2 * (i == k) for i in range(self.n)): float(d2[k]) for k in range(self.n)}, index
        )

    def gram(self, basis: list[tuple[int, ...]], index: MonomialIndex) -> tuple[Any, Any]:
        N = len(basis)
        G = self.cp.Variable((N, N), symmetric=True)
        return G, gram_map(basis, index) @ self.cp.vec(G, order="F")

    def region_polys(self, domain: Any) -> list[dict[tuple[int, ...], float]]:
        """Polynomials ``g_j >= 0`` describing ``domain`` (a Box or a Ball)."""
        sp, xs = self.sp, self.states
        if isinstance(domain, Box):
            lo, hi = domain.lo.tolist(), domain.hi.tolist()
            exprs = [(x - a) * (b - x) for x, a, b in zip(xs, lo, hi, strict=True)]
        elif isinstance(domain, Ball):
            c = domain.center.tolist()
            exprs = [domain.radius**2 - sum((x - ci) ** 2 for x, ci in zip(xs, c, strict=True))]
        else:
            raise InvalidArgumentError(
                f"domain: expected a Box or a Ball (or None), received {type(domain).__name__}"
            )
        if domain.n_states != self.n:
            raise InvalidValueError(
                f"domain: expected a region on {self.n} states, received one on {domain.n_states}"
            )
        return [self.coefficients(sp.expand(e), "domain") for e in exprs]

    def candidate(self, coefs: np.ndarray, index: MonomialIndex) -> SymbolicCandidate:
        sp = self.sp
        expr = coefficients_to_expr(sp, coefs, index, self.states)
        back = {
            s: (s - float(e)) / float(d)
            for s, e, d in zip(self.states, self.x_eq, self.scale, strict=True)
            if e != 0 or d != 1
        }
        if back:
            expr = expr.xreplace(back)
        return SymbolicCandidate(expr, self.states, x_eq=self.x_eq)

    def solve(self, problem: Any) -> SolveOutcome:
        """Solve with the chosen solver (see :func:`~lyactrl.sdp.solve_problem`)."""
        return solve_problem(problem, self.solver)


def _min_eig(*mats: Any) -> float:
    vals = []
    for M in mats:
        A = np.asarray(M, dtype=np.float64)
        vals.append(float(np.linalg.eigvalsh(0.5 * (A + A.T))[0]) / max(1.0, np.abs(A).max()))
    return min(vals)


def _check_degree(degree: Any) -> int:
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 2 or degree % 2:
        raise InvalidValueError(f"degree: expected an even int >= 2, received {degree!r}")
    return degree


def _result(status: Status, method: str, start: float, **kw: Any) -> SOSResult:
    V = kw.pop("V", None)
    fields = {
        "V": V,
        "expression": "" if V is None else str(V.expr),
        "level": float("nan"),
        "solver_status": "",
        "min_gram_eigenvalue": float("nan"),
        "equality_residual": float("nan"),
        "n_solves": 1,
        **kw,
    }
    return SOSResult(status=status, method=method, seconds=time.perf_counter() - start, **fields)


@checked_kwargs
def sos_lyapunov(
    system: Any,
    *,
    degree: int = 4,
    rate: float = 0.1,
    epsilon: float = 1e-3,
    domain: Any = None,
    solver: str = "clarabel",
) -> SOSResult:
    """Search a polynomial Lyapunov function by SOS programming.

    Parameters
    ----------
    system : SymbolicSystem
        A polynomial autonomous system; ``V`` is centred at ``system.x_eq``.
    degree : int
        Even degree of ``V`` (2 to 6 are practical for two or three states).
    rate : float
        The exponential rate ``kappa >= 0`` in ``grad V . f + kappa V <= 0``; with ``0`` the
        decrease margin is ``epsilon ||x - x_eq||^2`` instead.
    epsilon : float
        ``V >= epsilon ||x - x_eq||^2`` (and the decrease margin when ``rate = 0``).
    domain : Box or Ball, optional
        Require the decrease only on this region (S-procedure with SOS multipliers); globally
        by default.
    solver : {"clarabel", "scs"}
        The cvxpy SDP solver.

    Returns
    -------
    SOSResult
        ``V`` is a :class:`~lyactrl.SymbolicCandidate`; ``status`` is ``"feasible"``,
        ``"infeasible"`` or ``"unknown"`` -- solver-accurate, not a proof (see the module notes;
        ``lyactrl.certify`` gives a sound certificate for ``V``).

    Examples
    --------
    >>> import lyactrl
    >>> poly2 = lyactrl.SymbolicSystem(["-x**3 + y", "-x - y"], "x, y")
    >>> res = lyactrl.sos_lyapunov(poly2, degree=4, rate=0.1)
    >>> str(res.status), res.V.n_states
    ('feasible', 2)
    """
    start = time.perf_counter()
    setup = _Setup(system, solver)
    degree = _check_degree(degree)
    rate = as_positive(rate, name="rate", allow_zero=True)
    epsilon = as_positive(epsilon, name="epsilon")
    g_polys = [] if domain is None else setup.region_polys(domain)
    program = _Program(setup, degree, rate, epsilon, g_polys)
    outcome = setup.solve(program.problem)
    common = dict(
        degree=degree,
        rate=rate,
        epsilon=epsilon,
        solver=setup.solver,
        solver_status=outcome.solver_status,
    )
    method = "sos" if domain is None else "sos-s-procedure"
    if not outcome.solved:
        where = "globally" if domain is None else f"on {domain!r}"
        return _result(
            outcome.status, method, start, **common, message=_failure(outcome, degree, where)
        )
    return program.result(method, start, common)


def _failure(outcome: SolveOutcome, degree: int, where: str) -> str:
    if outcome.solver_status.startswith("infeasible"):
        return (
            f"the solver found no degree-{degree} SOS certificate {where} (status "
            f"{outcome.solver_status!r}); try a higher degree, a smaller rate or a smaller domain"
        )
    return f"no SOS certificate: {outcome.message}"


class _Program:
    """The SOS program of :func:`sos_lyapunov`: Gram matrices and coefficient equations."""

    def __init__(
        self, setup: _Setup, degree: int, rate: float, epsilon: float, g_polys: list[dict]
    ) -> None:
        cp, n = setup.cp, setup.n
        half = math.ceil((degree + setup.field_degree - 1) / 2)
        self.setup, self.index = setup, MonomialIndex(n, 2 * half)
        index = self.index
        Q, self.cV = setup.gram(monomials(n, 1, degree // 2), index)
        L = lie_derivative_map(setup.field, index, degree)
        E = np.diag([1.0 if i < n else 0.0 for i in range(Q.shape[0])])
        margin = (epsilon if rate == 0 else 0.0) * setup.squared_norm(index)
        p = -(L @ self.cV) - rate * self.cV - margin
        self.grams, constraints = [Q - epsilon * E], [Q - epsilon * E >> 0]
        for g in g_polys:
            S, cS = setup.gram(monomials(n, 0, half - 1), index)
            p = p - multiply_map(g, index) @ cS
            self.grams.append(S)
            constraints.append(S >> 0)
        R, self.cR = setup.gram(monomials(n, 0 if g_polys else 1, half), index)
        self.grams.append(R)
        self.p = p
        constraints += [R >> 0, p == self.cR]
        # V is scaled by trace(Q) = 1 (the conditions are homogeneous when rate > 0); a pure
        # feasibility problem lets the interior-point solver return a point away from the
        # boundary
        constraints.append(cp.trace(Q) == 1)
        self.problem = cp.Problem(cp.Minimize(0), constraints)

    def result(self, method: str, start: float, common: dict[str, Any]) -> SOSResult:
        """The solved program's ``V``, re-checked in numpy (Gram eigenvalues, equations)."""
        cVn = np.asarray(self.cV.value, dtype=np.float64)
        lam = _min_eig(*[G.value for G in self.grams])
        scale = max(1.0, float(np.abs(cVn).max()))
        resid = float(np.abs(self.p.value - self.cR.value).max()) / scale
        ok = lam >= -_CHECK_TOL and resid <= _CHECK_TOL
        return _result(
            Status.FEASIBLE if ok else Status.UNKNOWN,
            method,
            start,
            V=self.setup.candidate(cVn, self.index),
            min_gram_eigenvalue=lam,
            equality_residual=resid,
            **common,
            message=(
                "solver-accurate SOS certificate (not a proof; certify V for one)"
                if ok
                else f"the solution failed the numpy re-check (smallest scaled Gram eigenvalue "
                f"{lam:.3g}, equality residual {resid:.3g})"
            ),
        )
