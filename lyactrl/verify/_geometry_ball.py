"""Geometry of :class:`~lyactrl.Ball` for the branch and bound."""

from __future__ import annotations

import torch

from ..bounds.jets import EPS
from ..regions import Ball
from ._geometry import AbstractGeometry, point_distance2, register_geometry

__all__ = ["BallGeometry"]


class BallGeometry(AbstractGeometry):
    """Boxes straddling the sphere hold its boundary; radial projections give its points."""

    def may_intersect(self, region: Ball, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        dmin, _ = point_distance2(lo, hi, region.center)
        return dmin <= region.radius**2 * (1.0 + 4 * EPS)

    def boundary_pieces(self, region: Ball) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        empty = torch.zeros(0, region.n_states, dtype=torch.float64)
        return empty, empty.clone()

    def touches_boundary(self, region: Ball, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        _, dmax = point_distance2(lo, hi, region.center)
        return dmax >= region.radius**2 * (1 - 1e-12)

    def boundary_points(self, region: Ball, lo: torch.Tensor, hi: torch.Tensor):  # noqa: D102
        c = 0.5 * (lo + hi)
        cc = region.center.to(c)
        d = c - cc
        norm = d.norm(dim=1, keepdim=True)
        p = cc + region.radius * d / norm.clamp_min(1e-300)
        valid = ((p >= lo) & (p <= hi)).all(1) & (norm[:, 0] > 0)
        return p, valid


register_geometry(Ball, BallGeometry())
