"""Box bookkeeping shared by the branch-and-bound routines: region filters and splitting."""

from __future__ import annotations

import torch

from .._errors import InvalidArgumentError
from ..bounds import bound_candidate
from ..bounds._rounding import EPS
from ..regions import AbstractRegion, Ball, Box, Sublevel

__all__ = ["may_intersect", "split", "inside_box", "point_distance2"]


def point_distance2(
    lo: torch.Tensor, hi: torch.Tensor, p: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds of ``||x - p||^2`` over each box (rounding included)."""
    p = p.to(lo)
    near = torch.clamp(p, lo, hi) - p
    far = torch.maximum((hi - p).abs(), (p - lo).abs())
    n = lo.shape[1]
    dmin = (near * near).sum(1) * (1.0 - 4 * (n + 2) * EPS)
    dmax = (far * far).sum(1) * (1.0 + 4 * (n + 2) * EPS)
    return dmin, torch.nextafter(dmax, torch.full_like(dmax, float("inf")))


def may_intersect(region: AbstractRegion, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Mask of boxes that may meet ``region``; a box left out provably does not."""
    if isinstance(region, Box):
        return ((hi >= region.lo.to(lo)) & (lo <= region.hi.to(lo))).all(1)
    if isinstance(region, Ball):
        dmin, _ = point_distance2(lo, hi, region.center)
        return dmin <= region.radius**2 * (1.0 + 4 * EPS)
    if isinstance(region, Sublevel):
        keep = may_intersect(region.within, lo, hi)
        if bool(keep.any()):
            idx = keep.nonzero().flatten()
            b = bound_candidate(region.V, lo[idx], hi[idx])
            keep[idx] = b.lower <= region.c
        return keep
    raise InvalidArgumentError(
        f"region: expected a Box, Ball or Sublevel for certification, received "
        f"{type(region).__name__}"
    )


def inside_box(
    lo: torch.Tensor, hi: torch.Tensor, blo: torch.Tensor, bhi: torch.Tensor
) -> torch.Tensor:
    """Mask of boxes ``[lo, hi]`` contained in the box ``[blo, bhi]``."""
    return ((lo >= blo) & (hi <= bhi)).all(1)


def split(
    lo: torch.Tensor, hi: torch.Tensor, score: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bisect each box along the dimension with the largest ``score`` (width by default)."""
    width = hi - lo
    s = width if score is None else torch.where(torch.isfinite(score), score, width * 1e300)
    s = torch.where(width > 0, s, torch.full_like(s, -1.0))
    dim = s.argmax(1)
    rows = torch.arange(lo.shape[0], device=lo.device)
    mid = 0.5 * (lo[rows, dim] + hi[rows, dim])
    lo2, hi1 = lo.clone(), hi.clone()
    hi1[rows, dim] = mid
    lo2[rows, dim] = mid
    return torch.cat([lo, lo2]), torch.cat([hi1, hi])
