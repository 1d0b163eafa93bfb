"""The one place where lyactrl solves a cvxpy problem.

:func:`solve_problem` tries the solvers in order (by default the preferred order of
:data:`SOLVERS`: Clarabel, an interior-point method, then SCS, a first-order one), silences
cvxpy's "Solution may be inaccurate" warning, turns a ``SolverError`` into a status, and
normalises cvxpy's status strings to :class:`~lyactrl._results.Status`:

* ``feasible``: the solver reported ``optimal`` (or ``optimal_inaccurate`` when
  ``accept_inaccurate``) and every variable has a value -- solver-accurate, not a proof;
* ``infeasible``: the solver reported ``infeasible`` (a definite answer: no other solver is
  tried);
* ``unknown``: anything else (an inaccurate answer, unboundedness, a solver error, no solver
  installed); the next solver of the order is tried.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from .._api import checked_kwargs, choice, optional_import
from .._results import ResultMixin, Status

__all__ = ["SOLVERS", "SolveOutcome", "check_solver", "solve_problem"]

#: The cvxpy solvers lyactrl uses, in the preferred order.
SOLVERS = ("clarabel", "scs")
_ALIASES = {s.upper(): s for s in SOLVERS}


@dataclasses.dataclass(frozen=True)
class SolveOutcome(ResultMixin):
    """What :func:`solve_problem` found.

    ``method`` is the solver of the last attempt (the one whose answer the problem's variables
    hold), ``solver_status`` cvxpy's own status string (``"solver_error"`` when the solver
    raised, ``"not_installed"`` when no solver of the order is installed) and ``attempts``
    the number of solvers tried.
    """

    status: Status
    method: str
    seconds: float
    message: str
    solver_status: str
    attempts: int

    @property
    def solved(self) -> bool:
        """Whether the problem was solved (status ``feasible``)."""
        return self.status is Status.FEASIBLE


def check_solver(solver: Any, name: str = "solver") -> str:
    """The canonical name of one solver of :data:`SOLVERS` (upper case accepted).

    Parameters
    ----------
    solver : str
        A solver name (``"clarabel"``, ``"SCS"``); anything else raises
        :class:`~lyactrl.InvalidValueError`.
    name : str
        The argument's name in the error message.

    Returns
    -------
    str
        The canonical (lower-case) name.

    Examples
    --------
    >>> from lyactrl.sdp import check_solver
    >>> check_solver("SCS")
    'scs'
    """
    return choice(solver, name, SOLVERS, aliases=_ALIASES)


def _order(solvers: str | Sequence[str] | None) -> tuple[str, ...]:
    if solvers is None:
        return SOLVERS
    if isinstance(solvers, str):
        return (check_solver(solvers),)
    order = tuple(dict.fromkeys(check_solver(s, "solvers") for s in solvers))
    return order or SOLVERS


def _normalise(problem: Any, raw: str, accept_inaccurate: bool) -> Status:
    accepted = ("optimal", "optimal_inaccurate") if accept_inaccurate else ("optimal",)
    if raw in accepted and all(v.value is not None for v in problem.variables()):
        return Status.FEASIBLE
    if raw == "infeasible":
        return Status.INFEASIBLE
    return Status.UNKNOWN


def _attempt(cp: Any, problem: Any, solver: str, options: Mapping[str, Any]) -> tuple[str, str]:
    """Run one solver; ``(cvxpy status, message)``."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.solve(solver=solver.upper(), **options)
    except cp.SolverError as exc:
        return "solver_error", f"{solver} failed: {exc}"
    return str(problem.status), f"{solver} returned {problem.status!r}"


@checked_kwargs
def solve_problem(
    problem: Any,
    solvers: str | Sequence[str] | None = None,
    *,
    accept_inaccurate: bool = False,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> SolveOutcome:
    """Solve a cvxpy problem with the first solver of the order that answers.

    Parameters
    ----------
    problem : cvxpy.Problem
        The problem; its variables hold the answer of the last solver tried.
    solvers : str or sequence of str, optional
        One solver of :data:`SOLVERS`, or an order of them (solvers that are not installed are
        skipped). By default :data:`SOLVERS` (Clarabel, then SCS).
    accept_inaccurate : bool
        Count cvxpy's ``optimal_inaccurate`` as solved (for proposals that are re-checked).
    settings : mapping, optional
        Keyword arguments for ``problem.solve`` per solver name, e.g.
        ``{"scs": {"eps_abs": 1e-5}}``.

    Returns
    -------
    SolveOutcome
        ``status`` ``feasible`` / ``infeasible`` / ``unknown`` (see the module notes).

    Examples
    --------
    >>> import cvxpy as cp
    >>> from lyactrl.sdp import solve_problem
    >>> x = cp.Variable()
    >>> solve_problem(cp.Problem(cp.Minimize(x), [x >= 1])).status.value
    'feasible'
    >>> solve_problem(cp.Problem(cp.Minimize(x), [x >= 1, x <= 0])).status.value
    'infeasible'
    """
    cp = optional_import("cvxpy")
    start = time.perf_counter()
    installed = {s.lower() for s in cp.installed_solvers()}
    order = _order(solvers)
    status, used, raw, attempts = Status.UNKNOWN, order[0], "not_installed", 0
    notes = [f"{s} is not installed" for s in order if s not in installed]
    for solver in (s for s in order if s in installed):
        used, attempts = solver, attempts + 1
        raw, note = _attempt(cp, problem, solver, (settings or {}).get(solver, {}))
        notes.append(note)
        status = _normalise(problem, raw, accept_inaccurate)
        if status is not Status.UNKNOWN:
            break
    return SolveOutcome(
        status=status,
        method=used,
        seconds=time.perf_counter() - start,
        message="; ".join(notes),
        solver_status=raw,
        attempts=attempts,
    )
