"""Falsification: multi-start projected gradient ascent on the residual."""

from __future__ import annotations

import dataclasses
import time

import torch

from .._api import checked_kwargs
from .._tensors import as_positive, positive_int
from ..conditions import AbstractCondition
from ..regions import AbstractRegion
from ._inputs import check_condition_region
from .._results import ResultMixin

__all__ = ["Falsification", "falsify"]


@dataclasses.dataclass(frozen=True)
class Falsification(ResultMixin):
    """The result of :func:`falsify`.

    ``status`` is ``"falsified"`` when counterexamples were found (each re-evaluated directly:
    inside the region, residual > ``tolerance``), otherwise ``"unknown"``: the search failing
    proves nothing.
    """

    status: str
    method: str
    seconds: float
    counterexamples: torch.Tensor
    residuals: torch.Tensor
    worst_residual: float
    n_starts: int
    steps_taken: int
    region: str
    tolerance: float

    def __str__(self) -> str:
        return (
            f"falsification: {self.status} ({self.counterexamples.shape[0]} counterexamples, "
            f"worst residual {self.worst_residual:.4g}, {self.n_starts} starts, "
            f"{self.steps_taken} steps)"
        )


def _residual_and_grad(
    condition: AbstractCondition, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        r = condition.evaluate(xr)
        (g,) = torch.autograd.grad(r.sum(), xr)
    return r.detach(), g


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
    tolerance: float = 0.0,
    stop_early: bool = True,
    dtype: torch.dtype = torch.float64,
) -> Falsification:
    """Search for states in ``region`` where ``condition.residual(x) > tolerance``.

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
    tolerance : float
        A state counts as a counterexample when its residual is ``> tolerance``.
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
    positive_int(n_starts, "n_starts")
    positive_int(steps, "steps")
    box = region.bounding_box()
    diag = float((box.hi - box.lo).norm())
    step0 = 0.02 * diag if step_size is None else as_positive(step_size, name="step_size")
    x = region.sample(n_starts, generator=generator, dtype=dtype)
    best_x = x.clone()
    best_r = torch.full((n_starts,), -float("inf"), dtype=dtype)
    taken = 0
    for k in range(steps + 1):
        r, g = _residual_and_grad(condition, x)
        better = r > best_r
        best_r = torch.where(better, r, best_r)
        best_x = torch.where(better.unsqueeze(1), x, best_x)
        if (stop_early and bool((best_r > tolerance).any())) or k == steps:
            break
        step = step0 * (1.0 - 0.95 * k / steps)
        gn = g.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        proposal = region.project(x + step * g / gn)
        ok = region.contains(proposal)
        x = torch.where(ok.unsqueeze(1), proposal, x)
        taken = k + 1
    # Re-evaluate the candidates directly: only real counterexamples are returned.
    with torch.no_grad():
        inside = region.contains(best_x)
        r_final = condition.evaluate(best_x)
    bad = inside & (r_final > tolerance)
    cx, cr = best_x[bad], r_final[bad]
    order = torch.argsort(cr, descending=True)[: max(0, int(n_counterexamples))]
    cx, cr = cx[order], cr[order]
    worst = float(r_final[inside].max()) if bool(inside.any()) else -float("inf")
    return Falsification(
        status="falsified" if cx.shape[0] else "unknown",
        method="falsify",
        seconds=time.perf_counter() - start,
        counterexamples=cx,
        residuals=cr,
        worst_residual=worst,
        n_starts=n_starts,
        steps_taken=taken,
        region=repr(region),
        tolerance=float(tolerance),
    )
