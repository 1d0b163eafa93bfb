"""The invariance premise of a sublevel set, proved with the branch-and-bound engine.

``S = {x in W : V(x) <= c}`` is forward invariant under a flow along which ``V`` does not
increase on ``S`` only if no trajectory can leave ``S`` through the boundary of ``W``: the
premise is ``V > c`` on the boundary of ``W``. It is proved here by sound bounds, never
assumed.
"""

from __future__ import annotations

import torch

from ..bounds.jets import candidate_jets, mean_value_bounds
from ..lyapunov import AbstractCandidate
from ..regions import AbstractRegion
from ._branch_and_bound import Budget, Frontier, branch_and_bound
from ._geometry import geometry_of

__all__ = ["boundary_premise"]

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
