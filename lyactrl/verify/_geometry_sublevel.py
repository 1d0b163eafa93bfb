"""Geometry of level sets (:class:`~lyactrl.Sublevel`, :class:`~lyactrl.Band`) for the branch
and bound: ``V``'s sound bounds."""

from __future__ import annotations

import math

import torch

from ..bounds import bound_candidate
from ..regions import Band, Sublevel
from ._geometry import AbstractGeometry, geometry_of, register_geometry

__all__ = ["LevelSetGeometry"]


def _levels(region: Sublevel | Band) -> tuple[float, float]:
    """``(c_lo, c_hi)`` with the set ``{x in within : c_lo <= V(x) <= c_hi}``."""
    if isinstance(region, Band):
        return region.c1, region.c2
    return -math.inf, region.c


class LevelSetGeometry(AbstractGeometry):
    """``{x in within : c_lo <= V(x) <= c_hi}`` (a sublevel set has ``c_lo = -inf``): a box
    meets it only if it meets ``within`` and ``V``'s enclosure on it meets ``[c_lo, c_hi]``;
    its boundary lies on ``within``'s or on a level set of ``V``; a point is proved inside when
    ``V``'s enclosure at it lies in ``[c_lo, c_hi]``."""

    def may_intersect(self, region, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        keep = geometry_of(region.within).may_intersect(region.within, lo, hi)
        if bool(keep.any()):
            c_lo, c_hi = _levels(region)
            idx = keep.nonzero().flatten()
            b = bound_candidate(region.V, lo[idx], hi[idx])
            meets = b.lower <= c_hi
            if c_lo > -math.inf:
                meets &= b.upper >= c_lo
            keep[idx] = meets
        return keep

    def proved_inside(self, region, points: torch.Tensor) -> torch.Tensor:  # noqa: D102
        p = points.detach().to(torch.float64)
        keep = geometry_of(region.within).proved_inside(region.within, p)
        if bool(keep.any()):
            c_lo, c_hi = _levels(region)
            idx = keep.nonzero().flatten()
            b = bound_candidate(region.V, p[idx], p[idx])
            inside = b.upper <= c_hi
            if c_lo > -math.inf:
                inside &= b.lower >= c_lo
            keep[idx] = inside
        return keep

    def boundary_pieces(self, region) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        return geometry_of(region.within).boundary_pieces(region.within)

    def touches_boundary(self, region, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return geometry_of(region.within).touches_boundary(region.within, lo, hi)

    def boundary_points(self, region, lo: torch.Tensor, hi: torch.Tensor):  # noqa: D102
        p, valid = geometry_of(region.within).boundary_points(region.within, lo, hi)
        return p, valid & region.contains(p)


register_geometry(Sublevel, LevelSetGeometry())
register_geometry(Band, LevelSetGeometry())
