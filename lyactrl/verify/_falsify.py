"""Falsification: multi-start projected gradient ascent on the residual."""

from __future__ import annotations

import dataclasses
import time

import torch

from .._api import checked_kwargs
from .._results import ResultMixin, Status
from .._tensors import as_positive, positive_int
from ..conditions import AbstractCondition
from ..regions import AbstractRegion
from ._counterexamples import RTOL, prove_counterexamples, verdict, violations
from ._inputs import check_condition_region

__all__ = ["Falsification", "falsify"]


@dataclasses.dataclass(frozen=True)
class Falsification(ResultMixin):
    """The result of :func:`falsify`.

    ``status`` is ``"falsified"`` when a counterexample was found and proved (re-evaluated
    directly inside the region with residual ``> rtol * scale``, and its residual enclosure
    strictly positive: ``counterexamples_proved``), otherwise ``"unknown"``: the search
    failing proves nothing, and a violation only at rounding level is not a counterexample.
    """

    status: Status
    method: str
    seconds: float
    message: str
    counterexamples: torch.Tensor
    counterexample_residuals: torch.Tensor
    counterexamples_proved: torch.Tensor
    worst_residual: float
    n_starts: int
    steps_taken: int
    region: str
    margin: float
    rtol: float

    def __str__(self) -> str:
        return (
            f"falsification: {self.status} ({self.counterexamples.shape[0]} counterexamples, "
            f"worst residual {self.worst_residual:.4g}, {self.n_starts} starts, "
            f"{self.steps_taken} steps)"
        )


def _residual_and_grad(
    condition: AbstractCondition, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        r, scale = condition.evaluate_with_scale(xr)
        (g,) = torch.autograd.grad(r.sum(), xr)
    return r.detach(), scale.detach(), g


@checked_kwargs
def falsify(
    condition: AbstractCondition,
    region: AbstractRegion,
    *,
    n_starts: int = 512,
    steps: int = 200,
    step_size: float | None = None,
    generator: torch.Generator | None = None,
    n_counterexamples: int = 10,
    margin: float | None = None,
    rtol: float = RTOL,
    stop_early: bool = True,
    dtype: torch.dtype = torch.float64,
) -> Falsification:
    """Search for states in ``region`` where ``condition.residual(x) > 0``, and prove them.

    Multi-start projected gradient ascent: ``n_starts`` uniform starts each take up to
    ``steps`` normalised-gradient steps (the step shrinks linearly from ``step_size`` to a
    twentieth of it), projected back onto the region; a step that would leave the region is
    not taken.

    Parameters
    ----------
    condition : AbstractCondition
        The condition to break.
    region : AbstractRegion
        Where to search.
    n_starts : int
        Number of starting points.
    steps : int
        Maximum ascent steps.
    step_size : float, optional
        Initial step length; 2 % of the diagonal of the region's bounding box by default.
    generator : torch.Generator, optional
        Source of randomness.
    n_counterexamples : int
        How many of the worst counterexamples to return.
    margin : float, optional
        Falsify ``condition.replace(margin=margin)``; the condition's own margin by default.
    rtol : float
        A state counts as a violation when its residual is ``> rtol * scale`` (see
        :data:`lyactrl.verify.RTOL`); it is a counterexample when that is proved.
    stop_early : bool
        Stop at the first step where counterexamples exist.
    dtype : torch.dtype
        Floating dtype of the search.

    Returns
    -------
    Falsification
        ``"falsified"`` with counterexamples, or ``"unknown"``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=2.1)
    >>> res = lyactrl.falsify(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]),
    ...                       generator=torch.Generator().manual_seed(0))
    >>> res.status
    'falsified'
    """
    start = time.perf_counter()
    check_condition_region(condition, region)
    if margin is not None:
        condition = condition.replace(margin=margin)
    positive_int(n_starts, "n_starts")
    positive_int(steps, "steps")
    rtol = as_positive(rtol, name="rtol", allow_zero=True)
    k_keep = positive_int(n_counterexamples, "n_counterexamples", allow_zero=True)
    box = region.bounding_box()
    diag = float((box.hi - box.lo).norm())
    step0 = 0.02 * diag if step_size is None else as_positive(step_size, name="step_size")
    x = region.sample(n_starts, generator=generator, dtype=dtype)
    best_x, taken = _ascend(condition, region, x, steps, step0, stop_early, rtol)
    # re-evaluate the candidates directly, then prove them
    inside = region.contains(best_x)
    r_final, bad = violations(condition, best_x, rtol)
    bad &= inside
    order = torch.argsort(r_final[bad], descending=True)[: max(k_keep, 4)]
    found = prove_counterexamples(condition, best_x[bad][order], r_final[bad][order], region)
    status, message = verdict(found, int(bad.sum())) if bool(bad.any()) else (Status.UNKNOWN, "")
    found = found.head(k_keep)
    worst = float(r_final[inside].max()) if bool(inside.any()) else -float("inf")
    return Falsification(
        status=status,
        method="falsify",
        seconds=time.perf_counter() - start,
        message=message or ("" if bool(bad.any()) else "no violation found (which proves nothing)"),
        counterexamples=found.states,
        counterexample_residuals=found.residuals,
        counterexamples_proved=found.proved,
        worst_residual=worst,
        n_starts=n_starts,
        steps_taken=taken,
        region=repr(region),
        margin=float(condition.margin),
        rtol=rtol,
    )


def _ascend(condition, region, x, steps: int, step0: float, stop_early: bool, rtol: float):
    """Projected normalised-gradient ascent from every start; the best state of each."""
    best_x = x.clone()
    best_r = torch.full((x.shape[0],), -float("inf"), dtype=x.dtype)
    taken = 0
    for k in range(steps + 1):
        r, scale, g = _residual_and_grad(condition, x)
        found = bool((r > rtol * scale).any())
        better = r > best_r
        best_r = torch.where(better, r, best_r)
        best_x = torch.where(better.unsqueeze(1), x, best_x)
        if (stop_early and found) or k == steps:
            break
        step = step0 * (1.0 - 0.95 * k / steps)
        gn = g.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        proposal = region.project(x + step * g / gn)
        ok = region.contains(proposal)
        x = torch.where(ok.unsqueeze(1), proposal, x)
        taken = k + 1
    return best_x, taken
