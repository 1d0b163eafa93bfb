"""Region geometry for the branch and bound, registered per region type.

The engine asks a region three questions about a batch of boxes: which may meet it (the
region filter), which may hold a point of its boundary, and which boxes cover its boundary
to begin with. Each region type answers them in one :class:`AbstractGeometry` registered with
:func:`register_geometry`, so a new region is one file (see ``_geometry_box.py``,
``_geometry_ball.py``, ``_geometry_sublevel.py`` for Sublevel and Band).
"""

from __future__ import annotations

import abc

import torch

from .._errors import InvalidArgumentError
from ..bounds.jets import EPS
from ..regions import AbstractRegion

__all__ = [
    "AbstractGeometry",
    "register_geometry",
    "geometry_of",
    "may_intersect",
    "proved_inside",
    "inside_box",
    "point_distance2",
]

_REGISTRY: dict[type, AbstractGeometry] = {}


class AbstractGeometry(abc.ABC):
    """What the branch and bound needs to know of one region type.

    Subclass it, answer its four questions for a region type and register an instance with
    :func:`register_geometry`; Box, Ball and Sublevel are registered on import.
    """

    @abc.abstractmethod
    def may_intersect(self, region: AbstractRegion, lo: torch.Tensor, hi: torch.Tensor):
        """Mask of boxes that may meet the region; a box left out provably does not."""

    @abc.abstractmethod
    def boundary_pieces(self, region: AbstractRegion) -> tuple[torch.Tensor, torch.Tensor]:
        """Extra boxes (possibly degenerate) to start a boundary search from, such as the
        faces of a box; ``(0, n)`` tensors when there are none."""

    @abc.abstractmethod
    def touches_boundary(self, region: AbstractRegion, lo: torch.Tensor, hi: torch.Tensor):
        """Mask of the boundary boxes: together they cover the region's boundary (the pieces
        and their children for a box; the boxes straddling the sphere for a ball)."""

    def proved_inside(self, region: AbstractRegion, points: torch.Tensor) -> torch.Tensor:
        """Mask of ``points`` ``(k, n)`` proved to lie in the region, for counterexamples.

        By default the region's own ``contains`` (exact comparisons for a box); a region whose
        membership is a function value (:class:`~lyactrl.Band`) proves it by that function's
        enclosure."""
        return region.contains(points)

    @abc.abstractmethod
    def boundary_points(self, region: AbstractRegion, lo: torch.Tensor, hi: torch.Tensor):
        """``(points, valid)``: a point of the region's boundary in each box where ``valid``."""


def register_geometry(region_type: type, geometry: AbstractGeometry) -> None:
    """Register the geometry of a region type (one call per region file).

    The branch and bound then accepts regions of exactly that type (subclasses need their own
    registration); registering a type again replaces its geometry. See
    ``lyactrl/verify/_geometry_box.py`` for a complete geometry.

    Parameters
    ----------
    region_type : type
        A subclass of :class:`~lyactrl.AbstractRegion`.
    geometry : AbstractGeometry
        The answers for regions of that type.
    """
    _REGISTRY[region_type] = geometry


def geometry_of(region: AbstractRegion) -> AbstractGeometry:
    """The registered geometry of ``region``'s exact type."""
    geometry = _REGISTRY.get(type(region))
    if geometry is None:
        names = ", ".join(sorted(t.__name__ for t in _REGISTRY))
        raise InvalidArgumentError(
            f"region: expected one of {names} for the branch and bound, received "
            f"{type(region).__name__}"
        )
    return geometry


def may_intersect(region: AbstractRegion, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Mask of boxes that may meet ``region``; a box left out provably does not."""
    return geometry_of(region).may_intersect(region, lo, hi)


def proved_inside(region: AbstractRegion, points: torch.Tensor) -> torch.Tensor:
    """Mask of ``points`` proved to lie in ``region`` (see :meth:`AbstractGeometry.proved_inside`;
    a region type without a registered geometry answers by its ``contains``)."""
    geometry = _REGISTRY.get(type(region))
    if geometry is None:
        return region.contains(points)
    return geometry.proved_inside(region, points)


def inside_box(
    lo: torch.Tensor, hi: torch.Tensor, blo: torch.Tensor, bhi: torch.Tensor
) -> torch.Tensor:
    """Mask of boxes ``[lo, hi]`` contained in the box ``[blo, bhi]``."""
    return ((lo >= blo) & (hi <= bhi)).all(1)


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
