"""Geometry of :class:`~lyactrl.Sublevel` for the branch and bound: ``V``'s sound bounds."""

from __future__ import annotations

import torch

from ..bounds import bound_candidate
from ..regions import Sublevel
from ._geometry import AbstractGeometry, geometry_of, register_geometry

__all__ = ["SublevelGeometry"]


class SublevelGeometry(AbstractGeometry):
    """``{x in within : V(x) <= c}``: a box meets it only if it meets ``within`` and ``V``'s
    lower bound on it is ``<= c``; its boundary lies on ``within``'s or on ``{V = c}``; a point
    is proved inside when ``V``'s upper bound at it is ``<= c``."""

    def may_intersect(self, region: Sublevel, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        keep = geometry_of(region.within).may_intersect(region.within, lo, hi)
        if bool(keep.any()):
            idx = keep.nonzero().flatten()
            b = bound_candidate(region.V, lo[idx], hi[idx])
            keep[idx] = b.lower <= region.c
        return keep

    def proved_inside(self, region: Sublevel, points: torch.Tensor) -> torch.Tensor:  # noqa: D102
        p = points.detach().to(torch.float64)
        keep = geometry_of(region.within).proved_inside(region.within, p)
        if bool(keep.any()):
            idx = keep.nonzero().flatten()
            keep[idx] = bound_candidate(region.V, p[idx], p[idx]).upper <= region.c
        return keep

    def boundary_pieces(self, region: Sublevel) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        return geometry_of(region.within).boundary_pieces(region.within)

    def touches_boundary(
        self, region: Sublevel, lo: torch.Tensor, hi: torch.Tensor
    ) -> torch.Tensor:  # noqa: D102
        return geometry_of(region.within).touches_boundary(region.within, lo, hi)

    def boundary_points(self, region: Sublevel, lo: torch.Tensor, hi: torch.Tensor):  # noqa: D102
        p, valid = geometry_of(region.within).boundary_points(region.within, lo, hi)
        return p, valid & region.contains(p)


register_geometry(Sublevel, SublevelGeometry())
