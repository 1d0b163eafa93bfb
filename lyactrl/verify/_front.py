"""The trade-off between the certified rate and the certified region: a Pareto front."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

from .._api import checked_kwargs
from .._errors import InvalidValueError
from .._results import ResultMixin, Status
from ._rate import _local_limit, as_condition
from ._roa import RegionOfAttraction, region_of_attraction

__all__ = ["RateLevelFront", "rate_level_front"]


@dataclasses.dataclass(frozen=True)
class RateLevelFront(ResultMixin):
    """The result of :func:`rate_level_front`.

    ``rates[i]`` and ``levels[i]`` are certified together: the set ``{x in domain :
    V(x) <= levels[i]}`` is a region of attraction with exponential rate ``rates[i]`` (each
    point is a certified :class:`RegionOfAttraction` in ``regions``). Only the Pareto-optimal
    points are kept (no other point has both a larger rate and a larger level). ``status`` is
    ``certified`` when at least one point is.
    """

    status: Status
    method: str
    seconds: float
    message: str
    rates: list[float]
    levels: list[float]
    local_limit: float
    regions: list[RegionOfAttraction]

    def __str__(self) -> str:
        pts = ", ".join(f"({r:.4g}, {c:.4g})" for r, c in zip(self.rates, self.levels, strict=True))
        return f"rate-level front: {self.status}, (rate, level) = {pts}"


def _pareto(points: list[tuple[float, float, RegionOfAttraction]]) -> list[Any]:
    """Points not dominated by another (larger rate and larger level), by increasing rate."""
    keep = []
    for r, c, res in sorted(points, key=lambda p: p[0]):
        while keep and keep[-1][1] <= c:
            keep.pop()  # a point with a smaller rate and no larger level is dominated
        keep.append((r, c, res))
    return keep


@checked_kwargs
def rate_level_front(
    *args: Any,
    fractions: Sequence[float] = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9),
    time_limit: float = 60.0,
    max_boxes: int = 400_000,
    tol: float = 1e-3,
) -> RateLevelFront:
    """Certified regions of attraction across rates: the front of (rate, level) pairs.

    A larger rate promises faster decay (``alpha = rate / 2`` in the decay bound) but
    certifies a smaller sublevel set. For each fraction ``f`` of the local limit at ``x_eq``
    (:func:`local_rate_limit`, the largest rate the linearisation allows) this runs
    :func:`region_of_attraction` at rate ``f * limit`` and keeps the Pareto-optimal certified
    points, so an engineer can pick the rate the application needs.

    Parameters
    ----------
    *args
        ``(condition, domain)`` (its rate is replaced, its margin kept) or
        ``(system, V, domain)``.
    fractions : sequence of float
        Fractions of the local limit to try, each in (0, 1).
    time_limit : float
        Seconds for the whole front (shared evenly by the points).
    max_boxes : int
        Boxes of each region-of-attraction search.
    tol : float
        Relative tolerance of each level search.

    Returns
    -------
    RateLevelFront

    Examples
    --------
    >>> import lyactrl
    >>> vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    >>> V = lyactrl.Quadratic.from_linearization(vdp)
    >>> front = lyactrl.rate_level_front(vdp, V, lyactrl.Box([-2.5, -3.5], [2.5, 3.5]),
    ...                                  fractions=(0.1, 0.5))
    >>> front.status, front.levels[0] > front.levels[-1]
    ('certified', True)
    """
    start = time.perf_counter()
    cond, (domain,) = as_condition(args, None, "rate_level_front", n_rest=1, searches_rate=True)
    fr = [float(f) for f in fractions]
    if not fr or any(not 0.0 < f < 1.0 for f in fr):
        raise InvalidValueError(f"fractions: expected numbers in (0, 1), received {fractions!r}")
    limit = _local_limit(cond)
    if limit is None or not limit > 0:
        raise InvalidValueError(
            f"condition: the local rate limit at x_eq is {limit}: no rate > 0 is possible near "
            "the equilibrium, so there is no front"
        )
    points = []
    for f in sorted(fr):
        left = time_limit - (time.perf_counter() - start)
        res = region_of_attraction(
            cond.replace(rate=f * limit),
            domain,
            time_limit=max(0.0, left / max(1, len(fr))),
            max_boxes=max_boxes,
            tol=tol,
            progress=False,
        )
        if res.status == Status.CERTIFIED:
            points.append((f * limit, res.level, res))
    front = _pareto(points)
    return RateLevelFront(
        status=Status.CERTIFIED if front else Status.UNKNOWN,
        method="rate_level_front",
        seconds=time.perf_counter() - start,
        message="" if front else "no rate of the list gave a certified region of attraction",
        rates=[p[0] for p in front],
        levels=[p[1] for p in front],
        local_limit=float(limit) if math.isfinite(limit) else limit,
        regions=[p[2] for p in front],
    )
