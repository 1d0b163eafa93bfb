"""Geometry of :class:`~lyactrl.Band` for the branch and bound: ``V``'s sound bounds."""

from __future__ import annotations

import torch

from ..bounds import bound_candidate
from ..regions import Band
from ._geometry import AbstractGeometry, geometry_of, register_geometry

__all__ = ["BandGeometry"]


class BandGeometry(AbstractGeometry):
    """``{x in within : c1 <= V(x) <= c2}``: a box meets it only if it meets ``within`` and
    ``V``'s enclosure on it meets ``[c1, c2]``; a point is proved inside when ``V``'s
    enclosure at it lies in ``[c1, c2]``."""

    def may_intersect(self, region: Band, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        keep = geometry_of(region.within).may_intersect(region.within, lo, hi)
        if bool(keep.any()):
            idx = keep.nonzero().flatten()
            b = bound_candidate(region.V, lo[idx], hi[idx])
            keep[idx] = (b.lower <= region.c2) & (b.upper >= region.c1)
        return keep

    def proved_inside(self, region: Band, points: torch.Tensor) -> torch.Tensor:  # noqa: D102
        p = points.detach().to(torch.float64)
        keep = geometry_of(region.within).proved_inside(region.within, p)
        if bool(keep.any()):
            idx = keep.nonzero().flatten()
            b = bound_candidate(region.V, p[idx], p[idx])
            keep[idx] = (b.lower >= region.c1) & (b.upper <= region.c2)
        return keep

    def boundary_pieces(self, region: Band) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        return geometry_of(region.within).boundary_pieces(region.within)

    def touches_boundary(self, region: Band, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return geometry_of(region.within).touches_boundary(region.within, lo, hi)

    def boundary_points(self, region: Band, lo: torch.Tensor, hi: torch.Tensor):  # noqa: D102
        p, valid = geometry_of(region.within).boundary_points(region.within, lo, hi)
        return p, valid & region.contains(p)


register_geometry(Band, BandGeometry())
