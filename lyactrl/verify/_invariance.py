"""The invariance premise of a sublevel set, proved with the branch-and-bound engine.

``S = {x in W : V(x) <= c}`` is forward invariant under a flow along which ``V`` does not
increase on ``S`` only if no trajectory can leave ``S`` through the boundary of ``W``: the
premise is ``V > c`` on the boundary of ``W``. It is proved here by sound bounds, never
assumed.

A map ``x+ = F(x)`` jumps instead of flowing: with ``V(F(x)) <= V(x)`` on ``S`` the image
``F(x)`` has ``V <= c`` but may land outside ``W``, in another part of ``{V <= c}``. So in
discrete time the premise also asks ``F(S) in W`` (the image premise). For a quadratic ``V``
it follows from the boundary premise: ``{V <= c}`` is an ellipsoid, connected, holding
``x_eq`` and missing the boundary of ``W``, hence inside ``W``, and ``F(x)`` lies in it.
Otherwise it is proved by bounding ``F`` on the boxes of ``S``.
"""

from __future__ import annotations

import torch

from ..bounds import Bounds
from ..bounds.jets import Jet, candidate_jets, mean_value_bounds, powi, system_jet
from ..conditions import AbstractCondition
from ..lyapunov import AbstractCandidate, Quadratic
from ..regions import AbstractRegion, Ball, Box, Sublevel
from ..systems import AbstractSystem
from ._branch_and_bound import Budget, Frontier, branch_and_bound
from ._geometry import geometry_of

__all__ = ["boundary_premise", "image_premise", "invariance_premise"]

# "upper bound <= -tiny" is "upper bound < 0": V > c strictly on the boundary
_STRICT = -5e-324


def boundary_premise(
    V: AbstractCandidate, c: float, within: AbstractRegion, *, max_boxes: int, time_limit: float
) -> tuple[bool, str]:
    """Prove ``V > c`` on the boundary of ``within``; ``(proved, message)``."""
    geometry = geometry_of(within)
    plo, phi = geometry.boundary_pieces(within)
    box = within.bounding_box()
    # the pieces cover their part of the boundary exactly; the rest lies in the boxes of the
    # bounding box that touch the boundary (the shell)
    pieces = Frontier.of(plo, phi)
    shell = Frontier.of(box.lo.to(torch.float64)[None], box.hi.to(torch.float64)[None])

    def bound(a: torch.Tensor, b: torch.Tensor):
        return mean_value_bounds(lambda x: (-candidate_jets(V, x)[0]) + float(c), a, b)

    def check(boxes: Frontier):
        p, valid = geometry.boundary_points(within, boxes.lo, boxes.hi)
        if not bool(valid.any()):
            return None
        with torch.no_grad():
            v = V.value(p[valid])
        return p[valid][v <= c] if bool((v <= c).any()) else None

    budget = Budget(max_boxes, time_limit)

    def shell_only(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return geometry.touches_boundary(within, a, b)

    for frontier, select in ((pieces, None), (shell, shell_only)):
        if not len(frontier):
            continue
        out = branch_and_bound(
            frontier,
            bound,
            budget=budget,
            target=_STRICT,
            region=within,
            select=select,
            check=check,
        )
        if out.end == "halted":
            x = out.halt[0].tolist()
            return False, f"V <= c = {c:.6g} at the boundary point {x} of {within!r}"
        if out.end != "proved":
            return False, f"V > c on the boundary of {within!r} not proved within the budget"
    return True, ""


def _outside(system: AbstractSystem, within: AbstractRegion):
    """A jet builder of ``g`` with ``g(x) <= 0`` iff ``F(x)`` lies in ``within`` (per
    component for a box: ``F_i - hi_i`` and ``lo_i - F_i``; ``|F - centre|^2 - r^2`` for a
    ball)."""
    if isinstance(within, Ball):
        centre, r2 = within.center.to(torch.float64), float(within.radius) ** 2

        def ball(x: Jet) -> Jet:
            y = system_jet(system, x)
            return Jet.stack([powi(y - y.constant(centre), 2).sum(1) - r2], dim=1)

        return ball
    box = within.bounding_box()
    lo, hi = box.lo.to(torch.float64), box.hi.to(torch.float64)

    def in_box(x: Jet) -> Jet:
        y = system_jet(system, x)
        n = y.v[0].shape[1]
        above = [y.select(i) - float(hi[i]) for i in range(n)]
        below = [float(lo[i]) - y.select(i) for i in range(n)]
        return Jet.stack(above + below, dim=1)

    return in_box


def image_premise(
    system: AbstractSystem,
    region: Sublevel,
    *,
    max_boxes: int,
    time_limit: float,
) -> tuple[bool, str]:
    """Prove ``F(x) in region.within`` for every ``x`` of the sublevel set (a map ``F``);
    ``(proved, message)``. Assumes the boundary premise (see the module notes)."""
    if isinstance(region.V, Quadratic):
        return True, ""
    within = region.within
    if not isinstance(within, (Box, Ball)):
        return False, f"the image premise is proved for a Box or Ball domain, not {within!r}"
    g = _outside(system, within)

    def bound(a: torch.Tensor, b: torch.Tensor) -> Bounds:
        out = mean_value_bounds(g, a, b)
        return Bounds(out.lower.amax(1), out.upper.amax(1), None)

    def check(boxes: Frontier):
        c = 0.5 * (boxes.lo + boxes.hi)
        c = c[region.contains(c)]
        if not c.shape[0]:
            return None
        with torch.no_grad():
            leaves = ~within.contains(system.vector_field(0.0, c))
        return c[leaves] if bool(leaves.any()) else None

    box = within.bounding_box()
    out = branch_and_bound(
        Frontier.of(box.lo.to(torch.float64)[None], box.hi.to(torch.float64)[None]),
        bound,
        budget=Budget(max_boxes, time_limit),
        region=region,
        check=check,
        split_rule="width",
    )
    if out.end == "halted":
        x = out.halt[0].tolist()
        return False, f"the map sends the point {x} of the set outside {within!r}"
    if out.end != "proved":
        return False, f"F(set) inside {within!r} (the image premise) not proved within the budget"
    return True, ""


def invariance_premise(
    condition: AbstractCondition, region: Sublevel, *, max_boxes: int, time_limit: float
) -> tuple[bool, str]:
    """The premises that make a sublevel set on which ``condition`` holds forward invariant:
    it is a set of the condition's own function, ``V > c`` on the boundary of its ``within``
    and, for a map, the image premise. ``(proved, message)``."""
    if region.V is not condition.candidate:
        return False, "the sublevel set is of another function than the condition's"
    ok, why = boundary_premise(
        region.V, region.c, region.within, max_boxes=max_boxes, time_limit=time_limit
    )
    if not ok or not condition.system.is_discrete:
        return ok, why
    return image_premise(condition.system, region, max_boxes=max_boxes, time_limit=time_limit)
