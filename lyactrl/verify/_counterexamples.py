"""The one falsification rule: a counterexample counts only when its violation is proved.

A state is a *proved* counterexample when the sound enclosure of the residual at that point
(:func:`lyactrl.bounds.proved_positive`) is strictly positive, and, where a region is given,
its membership is proved too (for a :class:`~lyactrl.Band`, ``V``'s enclosure at the point
lies inside ``[c1, c2]``). A residual that is positive
only within rounding (``exp(x) - 1`` near 0, a numerically shifted equilibrium) is not, and a
check that finds only such states answers ``unknown``, never ``falsified``.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from .._errors import UnsupportedOperationError
from .._results import Status
from ..bounds import proved_positive
from ..conditions import AbstractCondition
from ..regions import AbstractRegion
from ._geometry import proved_inside

__all__ = [
    "RTOL",
    "Counterexamples",
    "violations",
    "prove_counterexamples",
    "centre_counterexamples",
    "verdict",
]

#: The relative rounding tolerance of sampled checks and falsification: a state counts as a
#: violation when ``residual > rtol * scale``, with ``scale`` the residual's expression on the
#: absolute values of its terms (see ``AbstractCondition.evaluate_with_scale``). Residuals
#: below it are rounding noise of float64 evaluation (about ``1e-16`` relative per operation).
RTOL = 1e-9


@dataclasses.dataclass(frozen=True)
class Counterexamples:
    """States ``(k, n)`` with residual ``> 0`` (worst first), their residuals and which are
    proved; ``message`` says why none is proved when that is so."""

    states: torch.Tensor
    residuals: torch.Tensor
    proved: torch.Tensor
    message: str = ""

    @property
    def any_proved(self) -> bool:
        """Whether at least one violation is proved."""
        return bool(self.proved.any())

    def head(self, k: int) -> Counterexamples:
        """The ``k`` worst states (take the verdict from the whole set first)."""
        return Counterexamples(self.states[:k], self.residuals[:k], self.proved[:k], self.message)

    def only_proved(self) -> Counterexamples:
        """The proved states alone."""
        p = self.proved
        return Counterexamples(self.states[p], self.residuals[p], p[p], self.message)


def violations(
    condition: AbstractCondition, x: torch.Tensor, rtol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Residuals on ``x`` and the mask of violations beyond the relative tolerance."""
    with torch.no_grad():
        r, scale = condition.evaluate_with_scale(x)
    return r, r > rtol * scale


def verdict(found: Counterexamples, n_violations: int) -> tuple[Status, str]:
    """``(falsified, "")`` with a proved counterexample, else ``(unknown, why)``."""
    if found.any_proved:
        return Status.FALSIFIED, ""
    return Status.UNKNOWN, (
        f"{n_violations} violation(s) found but none is proved: {found.message}; not falsified"
    )


def prove_counterexamples(
    condition: AbstractCondition,
    states: torch.Tensor,
    residuals: torch.Tensor,
    region: AbstractRegion | None = None,
) -> Counterexamples:
    """Sort violating states worst first and prove each by its residual enclosure (and its
    membership of ``region``, when given, by :func:`~lyactrl.verify._geometry.proved_inside`)."""
    order = residuals.argsort(descending=True)
    states, residuals = states[order].detach(), residuals[order].detach()
    try:
        proved = proved_positive(condition, states)
        message = ""
        if region is not None and states.shape[0]:
            inside = proved_inside(region, states)
            if bool(proved.any()) and not bool((proved & inside).any()):
                message = (
                    "the violations found are proved, but none is proved to lie in the region "
                    "(its membership enclosure straddles the region's boundary)"
                )
            proved = proved & inside
    except UnsupportedOperationError as exc:
        proved = torch.zeros(states.shape[0], dtype=torch.bool)
        message = f"the violations cannot be proved: {exc}"
    if states.shape[0] and not bool(proved.any()) and not message:
        message = (
            f"the largest residual found, {float(residuals[0]):.3g}, is positive only within "
            "rounding (its enclosure contains 0)"
        )
    return Counterexamples(states, residuals, proved, message)


def centre_counterexamples(
    condition: AbstractCondition, region: AbstractRegion, lo: torch.Tensor, hi: torch.Tensor
) -> Counterexamples | None:
    """Box centres inside ``region`` whose residual is proved positive, or ``None``."""
    c = 0.5 * (lo + hi)
    with torch.no_grad():
        r = condition.evaluate(c)
    bad = (r > 0) & region.contains(c)
    if not bool(bad.any()):
        return None
    k = min(16, int(bad.sum()))
    idx = torch.where(bad, r, torch.full_like(r, -math.inf)).topk(k).indices
    found = prove_counterexamples(condition, c[idx], r[idx], region)
    return found.only_proved() if found.any_proved else None
