"""The one branch-and-bound engine over boxes, used by every sound search of ``verify``.

A search proves ``u(x) <= target`` for every ``x`` of a region, for a function ``u`` given by
its sound box bounds (:class:`lyactrl.bounds.Bounds`). The engine owns:

- a queue of boxes (:class:`Frontier`), popped depth first or best first by a key;
- a region filter (the region's registered geometry: boxes that provably miss it are dropped);
- an exclusion box (the local certificate at the equilibrium: boxes inside it are done);
- tagged boxes (pieces of a boundary), which are never proved and always refined;
- a centre check on the boxes left undecided (a callback that can halt the search with a
  counterexample);
- a split rule (bisect along the largest gradient-times-width, or the largest relative width);
- a budget (boxes and seconds).

It returns the undecided boxes; the callers (:func:`~lyactrl.certify`,
:func:`~lyactrl.region_of_attraction`, the decay constants and the invariance premise of a
sublevel set) turn the outcome into their result.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import torch

from .._api import checked_kwargs, choice
from .._progress import progress_bar
from .._tensors import as_positive, positive_int
from ..bounds import Bounds
from ..regions import AbstractRegion
from ._geometry import inside_box, may_intersect

__all__ = ["Frontier", "Budget", "SearchOutcome", "SPLIT_RULES", "branch_and_bound", "split"]

#: How a box is bisected: along the largest gradient bound times width, or relative width.
SPLIT_RULES = ("gradient", "width")


@dataclasses.dataclass
class Frontier:
    """Boxes still to decide: corners ``(k, n)``, a key ``(k,)`` and a boundary tag ``(k,)``."""

    lo: torch.Tensor
    hi: torch.Tensor
    key: torch.Tensor
    tag: torch.Tensor

    @classmethod
    def of(cls, lo: torch.Tensor, hi: torch.Tensor, tag: torch.Tensor | None = None) -> Frontier:
        """A frontier of the boxes ``[lo, hi]`` with key ``-inf`` (tags ``False`` by default)."""
        k = lo.shape[0]
        key = torch.full((k,), -torch.inf, dtype=lo.dtype, device=lo.device)
        tag = torch.zeros(k, dtype=torch.bool, device=lo.device) if tag is None else tag
        return cls(lo, hi, key, tag)

    def __len__(self) -> int:
        return self.lo.shape[0]

    def select(self, mask: torch.Tensor) -> Frontier:
        """The boxes where ``mask`` holds."""
        return Frontier(self.lo[mask], self.hi[mask], self.key[mask], self.tag[mask])

    def extend(self, other: Frontier) -> Frontier:
        """Both sets of boxes."""
        return Frontier(
            torch.cat([self.lo, other.lo]),
            torch.cat([self.hi, other.hi]),
            torch.cat([self.key, other.key]),
            torch.cat([self.tag, other.tag]),
        )

    def pop(self, k: int, best_first: bool) -> tuple[Frontier, Frontier]:
        """``(taken, rest)``: the ``k`` smallest keys (best first) or the last ``k`` boxes."""
        mask = torch.zeros(len(self), dtype=torch.bool, device=self.lo.device)
        if best_first:
            mask[torch.topk(-self.key, k).indices] = True
        else:
            mask[len(self) - k :] = True
        return self.select(mask), self.select(~mask)


@dataclasses.dataclass(frozen=True)
class Budget:
    """At most ``max_boxes`` boxes bounded and ``time_limit`` seconds, ``batch_size`` a call.

    The clock starts when the budget is built (``start``); see :func:`branch_and_bound`.
    """

    max_boxes: int
    time_limit: float
    batch_size: int = 4096
    start: float = dataclasses.field(default_factory=time.perf_counter)

    @classmethod
    def checked(
        cls, max_boxes: Any, time_limit: Any, batch_size: Any = 4096, start: float | None = None
    ) -> Budget:
        """A budget from user arguments (validated: counts >= 0, seconds >= 0, batch >= 1)."""
        return cls(
            positive_int(max_boxes, "max_boxes", allow_zero=True),
            as_positive(time_limit, name="time_limit", allow_zero=True),
            positive_int(batch_size, "batch_size"),
            time.perf_counter() if start is None else start,
        )

    def spent(self, processed: int) -> bool:
        """Whether the budget is spent after ``processed`` boxes."""
        return processed >= self.max_boxes or time.perf_counter() - self.start > self.time_limit


@dataclasses.dataclass(frozen=True)
class SearchOutcome:
    """How a search ended: ``"proved"`` (no box left), ``"halted"`` (the centre check stopped
    it with ``halt``), ``"stopped"`` (the caller's stop rule) or ``"budget"``; ``frontier``
    holds the undecided boxes."""

    end: str
    frontier: Frontier
    processed: int
    halt: Any = None


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


def _score(rule: str, boxes: Frontier, g: torch.Tensor | None, scale: torch.Tensor) -> Any:
    width = boxes.hi - boxes.lo
    if rule == "width" or g is None:
        return width / scale
    gmax = torch.where(torch.isfinite(g), g, torch.zeros_like(g)).amax(1, keepdim=True)
    return width * (g + 1e-2 * gmax + 1e-300)


def _filter(
    boxes: Frontier, region: AbstractRegion | None, exclude: Any, select: Any, tag: Any
) -> Frontier:
    """Drop boxes that miss the region, fail ``select`` (untagged) or lie in ``exclude``."""
    if tag is not None:
        boxes.tag = tag(boxes.lo, boxes.hi)
    keep = torch.ones(len(boxes), dtype=torch.bool, device=boxes.lo.device)
    if region is not None:
        keep &= may_intersect(region, boxes.lo, boxes.hi)
    if select is not None:
        keep &= select(boxes.lo, boxes.hi) | boxes.tag
    if exclude is not None:
        keep &= ~(inside_box(boxes.lo, boxes.hi, exclude[0], exclude[1]) & ~boxes.tag)
    return boxes.select(keep)


@checked_kwargs
def branch_and_bound(
    frontier: Frontier,
    bound: Callable[[torch.Tensor, torch.Tensor], Bounds],
    *,
    budget: Budget,
    target: float = 0.0,
    region: AbstractRegion | None = None,
    exclude: tuple[torch.Tensor, torch.Tensor] | None = None,
    select: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    tag: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    check: Callable[[Frontier], Any] | None = None,
    key: Callable[[Frontier], torch.Tensor] | None = None,
    stop: Callable[[Frontier], bool] | None = None,
    prune: Callable[[Frontier], torch.Tensor] | None = None,
    best_first: bool = False,
    split_rule: str = "gradient",
    progress: bool | None = False,
    desc: str = "branch and bound",
) -> SearchOutcome:
    """Prove ``bound(lo, hi).upper <= target`` on every box of ``frontier`` meeting ``region``.

    Parameters
    ----------
    frontier : Frontier
        The boxes to start from (tagged boxes are boundary pieces: never proved).
    bound : callable
        Sound bounds of ``u`` on a batch of boxes.
    budget : Budget
        Boxes, seconds and batch size.
    target : float
        A box is proved when the upper bound of ``u`` on it is ``<= target``.
    region : AbstractRegion, optional
        Boxes that provably miss it are dropped (tagged boxes too).
    exclude : (lo, hi), optional
        A box already proved (the local certificate): untagged boxes inside it are dropped.
    select : callable, optional
        A further filter: a mask of the boxes to keep (tagged boxes are kept).
    tag : callable, optional
        Recomputes the tags of each batch (e.g. the boxes that hold a point of a boundary).
    check : callable, optional
        Called on the undecided boxes of each batch; a value other than ``None`` halts the
        search and is returned as ``halt`` (the centre check).
    key : callable, optional
        The key of each undecided box (its children inherit it); best-first pops small keys.
    stop, prune : callable, optional
        ``stop(frontier)`` ends the search early; ``prune(frontier)`` is a mask of boxes to drop.
    best_first : bool
        Pop the smallest keys first (else depth first, the newest boxes).
    split_rule : {"gradient", "width"}
        See :data:`SPLIT_RULES`.
    progress : bool or None
        A progress bar of the boxes bounded (``None``: when standard error is a terminal).
    desc : str
        The bar's label.

    Returns
    -------
    SearchOutcome

    Examples
    --------
    Prove ``x1 + x2 <= 2`` on the unit square, from bounds of the sum on each box:

    >>> import torch
    >>> from lyactrl.bounds import Bounds
    >>> from lyactrl.verify import Budget, Frontier, branch_and_bound
    >>> lo, hi = torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64)
    >>> def bound(lo, hi):
    ...     return Bounds(lo.sum(1), hi.sum(1), None)
    >>> out = branch_and_bound(
    ...     Frontier.of(lo, hi), bound, budget=Budget(max_boxes=100, time_limit=10.0), target=2.0
    ... )
    >>> out.end, len(out.frontier)
    ('proved', 0)
    """
    rules = _Rules(
        bound,
        target,
        region,
        exclude,
        select,
        tag,
        check,
        key,
        stop,
        prune,
        best_first,
        choice(split_rule, "split_rule", SPLIT_RULES),
    )
    with progress_bar(progress, desc=desc, total=budget.max_boxes, unit="box") as bar:
        return _run(frontier, rules, budget, bar)


@dataclasses.dataclass(frozen=True)
class _Rules:
    """The callbacks and options of one search (see :func:`branch_and_bound`)."""

    bound: Callable[[torch.Tensor, torch.Tensor], Bounds]
    target: float
    region: AbstractRegion | None
    exclude: tuple[torch.Tensor, torch.Tensor] | None
    select: Any
    tag: Any
    check: Any
    key: Any
    stop: Any
    prune: Any
    best_first: bool
    split_rule: str


def _run(frontier: Frontier, rules: _Rules, budget: Budget, bar: Any) -> SearchOutcome:
    scale = (frontier.hi - frontier.lo).amax(0).clamp_min(1e-300)
    processed = 0
    while len(frontier):
        if rules.stop is not None and rules.stop(frontier):
            return SearchOutcome("stopped", frontier, processed)
        if budget.spent(processed):
            return SearchOutcome("budget", frontier, processed)
        take = min(budget.batch_size, len(frontier), max(1, budget.max_boxes - processed))
        boxes, frontier = frontier.pop(take, rules.best_first)
        processed += take
        bar.update(take)
        bar.set_postfix(undecided=len(frontier), refresh=False)
        boxes = _filter(boxes, rules.region, rules.exclude, rules.select, rules.tag)
        if not len(boxes):
            continue
        undecided, g = _decide(boxes, rules.bound, rules.target)
        boxes, g = boxes.select(undecided), None if g is None else g[undecided]
        if not len(boxes):
            continue
        halt = rules.check(boxes) if rules.check is not None else None
        if halt is not None:
            return SearchOutcome("halted", frontier.extend(boxes), processed, halt)
        if rules.key is not None:
            boxes.key = rules.key(boxes)
        frontier = frontier.extend(_children(boxes, _score(rules.split_rule, boxes, g, scale)))
        if rules.prune is not None:
            frontier = frontier.select(~rules.prune(frontier))
    return SearchOutcome("proved", frontier, processed)


def _decide(
    boxes: Frontier, bound: Callable[[torch.Tensor, torch.Tensor], Bounds], target: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Undecided mask and gradient bounds (``inf`` on tagged boxes, which are not bounded)."""
    undecided = boxes.tag.clone()
    free = ~boxes.tag
    if not bool(free.any()):
        return undecided, None
    b = bound(boxes.lo[free], boxes.hi[free])
    undecided[free] = ~(b.upper <= target)
    if b.gradient_abs is None:
        return undecided, None
    g = torch.full_like(boxes.lo, torch.inf)
    g[free] = b.gradient_abs
    return undecided, g


def _children(boxes: Frontier, score: torch.Tensor) -> Frontier:
    lo, hi = split(boxes.lo, boxes.hi, score)
    return Frontier(lo, hi, torch.cat([boxes.key, boxes.key]), torch.cat([boxes.tag, boxes.tag]))
