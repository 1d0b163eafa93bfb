"""The one cvxpy solve helper: normalised statuses, solver order, fallback, bad names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest

import lyactrl
from lyactrl._results import Status
from lyactrl.sdp import SOLVERS, check_solver, solve_problem

ROOT = Path(__file__).resolve().parents[2] / "lyactrl"


def _trace_sdp(upper: float | None = None) -> tuple[cp.Problem, cp.Variable]:
    """min trace(X) subject to X >= I (and X <= upper I): optimum 2 at X = I."""
    X = cp.Variable((2, 2), symmetric=True)
    cons = [X >> np.eye(2)]
    if upper is not None:
        cons.append(X << upper * np.eye(2))
    return cp.Problem(cp.Minimize(cp.trace(X)), cons), X


@pytest.mark.parametrize("solver", SOLVERS)
def test_feasible_sdp_is_solved_to_its_closed_form(solver: str) -> None:
    problem, X = _trace_sdp()
    out = solve_problem(problem, solver)
    assert out.status is Status.FEASIBLE and out.solved
    assert out.method == solver and out.solver_status == "optimal" and out.attempts == 1
    assert np.allclose(X.value, np.eye(2), atol=1e-3)
    json.dumps(out.to_dict())


def test_default_order_starts_with_clarabel() -> None:
    assert SOLVERS[0] == "clarabel"
    assert solve_problem(_trace_sdp()[0]).method == "clarabel"


def test_infeasible_sdp_is_infeasible_and_stops_the_order() -> None:
    out = solve_problem(_trace_sdp(upper=0.5)[0])  # I <= X <= 0.5 I is empty
    assert out.status is Status.INFEASIBLE and not out.solved
    assert out.solver_status == "infeasible" and out.attempts == 1


def test_unbounded_problem_is_unknown_after_every_solver() -> None:
    x = cp.Variable()
    out = solve_problem(cp.Problem(cp.Minimize(x), [x <= 0]))
    assert out.status is Status.UNKNOWN and out.attempts == len(SOLVERS)
    assert all(s in out.message for s in SOLVERS)


def test_a_failed_solver_falls_back_to_the_next() -> None:
    # SCS stopped after one iteration cannot reach an accurate optimum; Clarabel takes over
    problem, X = _trace_sdp()
    out = solve_problem(problem, ("scs", "clarabel"), settings={"scs": {"max_iters": 1}})
    assert out.status is Status.FEASIBLE and out.method == "clarabel" and out.attempts == 2
    assert "scs" in out.message and np.allclose(X.value, np.eye(2), atol=1e-3)


def test_solver_names_are_checked_against_the_registry() -> None:
    assert check_solver("CLARABEL") == "clarabel"
    with pytest.raises(lyactrl.InvalidValueError, match="solver.*mosek"):
        solve_problem(_trace_sdp()[0], "mosek")
    with pytest.raises(lyactrl.InvalidValueError, match="solvers"):
        solve_problem(_trace_sdp()[0], ("scs", "gurobi"))


def test_every_cvxpy_solve_goes_through_the_helper() -> None:
    calls = re.compile(r"\.solve\(\s*(\)|solver=|\*\*)")
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if p.name != "_solve.py" and calls.search(p.read_text())
    ]
    assert offenders == []
