"""Geometry of :class:`~lyactrl.Box` for the branch and bound: faces as boundary pieces."""

from __future__ import annotations

import torch

from ..regions import Box
from ._geometry import AbstractGeometry, register_geometry

__all__ = ["BoxGeometry"]


class BoxGeometry(AbstractGeometry):
    """A box meets a box when the intervals overlap; its boundary is its ``2 n`` faces."""

    def may_intersect(self, region: Box, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return ((hi >= region.lo.to(lo)) & (lo <= region.hi.to(lo))).all(1)

    def boundary_pieces(self, region: Box) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        los, his = [], []
        for i in range(region.n_states):
            for side in (region.lo[i], region.hi[i]):
                lo, hi = region.lo.clone(), region.hi.clone()
                lo[i] = hi[i] = side
                los.append(lo)
                his.append(hi)
        return torch.stack(los).to(torch.float64), torch.stack(his).to(torch.float64)

    def touches_boundary(self, region: Box, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # the pieces of the faces (degenerate boxes on a face) and nothing else
        return ((lo == hi) & ((lo == region.lo.to(lo)) | (lo == region.hi.to(lo)))).any(1)

    def boundary_points(self, region: Box, lo: torch.Tensor, hi: torch.Tensor):  # noqa: D102
        # a centre of a piece of a face lies on the face
        c = 0.5 * (lo + hi)
        return c, self.touches_boundary(region, lo, hi) & self.may_intersect(region, lo, hi)


register_geometry(Box, BoxGeometry())
