"""Results shared by every layer: one status vocabulary, one field set, ``to_dict`` for JSON.

Every result lyactrl returns is a frozen dataclass with at least the fields ``status`` (a
:class:`Status`), ``method`` (the function or algorithm that produced it), ``seconds`` (wall
time) and ``message`` (why the status is what it is; empty when there is nothing to add).
Counterexamples are spelled ``counterexamples`` (a ``(k, n)`` tensor) everywhere, and a
threshold on a residual is spelled ``margin`` (``residual <= -margin`` is what is checked).
The rules each status follows are written out in ``docs/soundness.md``.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "Status",
    "STATUSES",
    "VERDICTS",
    "EXIT_BAD_INPUT",
    "exit_code",
    "jsonable",
    "ResultMixin",
]


class Status(str, enum.Enum):
    """What a result promises. A member compares equal to its string value.

    Verdicts of a check (see ``docs/soundness.md``):

    - ``certified``: proved for every state of the region by sound bounds (or by an exact
      re-verification); the floating-point margin is included in the bounds;
    - ``falsified``: a state of the region whose residual *enclosure* is strictly positive, so
      the violation is proved, not a rounding artefact;
    - ``holds_on_samples``: no violation among random samples; a statistical statement with a
      stated confidence, never a proof;
    - ``unknown``: neither proved nor refuted (budget spent, a premise not proved, a violation
      only at rounding level, or an operation outside the certifier's vocabulary).

    Solver statuses (``feasible``: solver-accurate, re-checked numerically, not a proof;
    ``infeasible``: the solver reported infeasibility), measurement statuses (``estimated``:
    an empirical figure from simulation or an attack, not a bound) and training statuses
    (``completed``, ``stopped_early``, ``diverged``).
    """

    CERTIFIED = "certified"
    FALSIFIED = "falsified"
    HOLDS_ON_SAMPLES = "holds_on_samples"
    UNKNOWN = "unknown"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    ESTIMATED = "estimated"
    COMPLETED = "completed"
    STOPPED_EARLY = "stopped_early"
    DIVERGED = "diverged"

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return repr(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def of(cls, value: Status | str) -> Status:
        """The member for ``value`` (a member or its string); ``ValueError`` for anything else."""
        return cls(value)


#: Every status, as strings.
STATUSES = tuple(s.value for s in Status)

#: The statuses a check of a condition can end with.
VERDICTS = (Status.CERTIFIED, Status.FALSIFIED, Status.HOLDS_ON_SAMPLES, Status.UNKNOWN)

_EXIT_CODES = {
    Status.CERTIFIED: 0,
    Status.HOLDS_ON_SAMPLES: 0,
    Status.FEASIBLE: 0,
    Status.ESTIMATED: 0,
    Status.COMPLETED: 0,
    Status.STOPPED_EARLY: 0,
    Status.FALSIFIED: 1,
    Status.INFEASIBLE: 1,
    Status.DIVERGED: 1,
    Status.UNKNOWN: 2,
}

#: Exit code of the command line for bad input (any :class:`~lyactrl.LyactrlError`).
EXIT_BAD_INPUT = 3


def exit_code(status: Status | str) -> int:
    """The command line's exit code for a status: 0 holds, 1 refuted, 2 unknown.

    Examples
    --------
    >>> from lyactrl._results import exit_code
    >>> exit_code("certified"), exit_code("falsified"), exit_code("unknown")
    (0, 1, 2)
    """
    return _EXIT_CODES[Status.of(status)]


def jsonable(value: Any) -> Any:
    """Convert tensors, arrays, results and nested containers into JSON values."""
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, ResultMixin):
        return value.to_dict()
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, np.integer)):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


class ResultMixin:
    """``to_dict`` for the frozen dataclasses that hold results; nested results included."""

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-serialisable dict (nested results as dicts)."""
        return {
            f.name: jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }
