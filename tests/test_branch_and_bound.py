"""The branch-and-bound engine (``lyactrl/verify/_branch_and_bound.py``) on scalar functions
whose maximum is known in closed form.

The test function is ``u(x) = c - ||x - p||^2`` on the box ``[-1, 1]^n``: its maximum there is
``c - dist(p, box)^2``, reached at the projection of ``p`` on the box. It is bounded by
:func:`lyactrl.bounds.mean_value_bounds` of its jet builder.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lyactrl
from lyactrl.bounds.jets import Jet, mean_value_bounds, powi
from lyactrl.verify import Budget, Frontier, SearchOutcome, branch_and_bound
from lyactrl.verify._branch_and_bound import split

T = torch.float64


def bowl(c: float, p: torch.Tensor):
    """Sound bounds of ``u(x) = c - ||x - p||^2`` on boxes."""

    def jet(x: Jet) -> Jet:
        return (-powi(x - x.constant(p), 2).sum(1)) + c

    def bound(lo: torch.Tensor, hi: torch.Tensor):
        return mean_value_bounds(jet, lo, hi)

    return bound


def u_at(c: float, p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return c - ((x - p) ** 2).sum(-1)


def unit_box(n: int) -> Frontier:
    return Frontier.of(-torch.ones(1, n, dtype=T), torch.ones(1, n, dtype=T))


def true_max(c: float, p: torch.Tensor) -> tuple[float, torch.Tensor]:
    at = p.clamp(-1.0, 1.0)
    return c - float(((p - at) ** 2).sum()), at


def covers(frontier: Frontier, x: torch.Tensor) -> bool:
    return bool(((frontier.lo <= x) & (x <= frontier.hi)).all(1).any())


def centre_check(c: float, p: torch.Tensor, target: float):
    def check(boxes: Frontier):
        mid = 0.5 * (boxes.lo + boxes.hi)
        bad = u_at(c, p, mid) > target
        return mid[bad] if bool(bad.any()) else None

    return check


points = st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=3)


@given(points, st.floats(-1.0, 1.0), st.floats(0.05, 1.0))
def test_proved_when_the_maximum_is_below_the_target(p, c, gap):
    p = torch.tensor(p, dtype=T)
    top, _ = true_max(c, p)
    target = top + gap
    out = branch_and_bound(
        unit_box(p.numel()), bowl(c, p), budget=Budget(20_000, 10.0), target=target
    )
    assert isinstance(out, SearchOutcome)
    assert out.end == "proved" and len(out.frontier) == 0 and 0 < out.processed <= 20_000


@given(points, st.floats(-1.0, 1.0), st.floats(1e-6, 1.0))
def test_never_proved_when_the_maximum_is_above_the_target(p, c, excess):
    p = torch.tensor(p, dtype=T)
    top, argmax = true_max(c, p)
    target = top - excess
    out = branch_and_bound(
        unit_box(p.numel()), bowl(c, p), budget=Budget(300, 10.0, batch_size=64), target=target
    )
    assert out.end == "budget" and out.processed <= 300
    # soundness: the undecided boxes still hold every point above the target, the argmax
    assert covers(out.frontier, argmax)


@given(points, st.floats(-1.0, 1.0), st.floats(1e-3, 1.0))
def test_the_centre_check_halts_with_its_value(p, c, excess):
    p = torch.tensor(p, dtype=T)
    top, argmax = true_max(c, p)
    target = top - excess
    seen = []

    def check(boxes):
        v = centre_check(c, p, target)(boxes)
        seen.append(v)
        return v

    out = branch_and_bound(
        unit_box(p.numel()), bowl(c, p), budget=Budget(50_000, 10.0), target=target, check=check
    )
    assert out.end == "halted" and out.halt is seen[-1] and out.halt is not None
    assert all(v is None for v in seen[:-1])
    assert bool((u_at(c, p, out.halt) > target).all())
    assert covers(out.frontier, argmax)  # the halting batch is returned, undecided


def test_budget_of_boxes_stops_with_undecided_boxes():
    p = torch.zeros(2, dtype=T)
    out = branch_and_bound(
        unit_box(2), bowl(1.0, p), budget=Budget(10, math.inf, batch_size=3), target=0.0
    )
    assert out.end == "budget" and out.processed == 10 and len(out.frontier) > 0
    # a box is bounded at most once: the budget counts boxes, not calls
    out0 = branch_and_bound(unit_box(2), bowl(1.0, p), budget=Budget(0, math.inf), target=0.0)
    assert out0.end == "budget" and out0.processed == 0 and len(out0.frontier) == 1


def test_time_budget_stops_with_undecided_boxes():
    p = torch.zeros(2, dtype=T)
    slow_calls = []

    def slow(lo, hi):
        slow_calls.append(lo.shape[0])
        time.sleep(0.02)
        return bowl(1.0, p)(lo, hi)

    start = time.perf_counter()
    out = branch_and_bound(unit_box(2), slow, budget=Budget(10**9, 0.1, batch_size=1), target=0.0)
    took = time.perf_counter() - start
    assert out.end == "budget" and len(out.frontier) > 0
    assert 0.1 <= took < 3.0 and 1 <= len(slow_calls) <= 10
    spent = Budget(10**9, 0.0)
    assert branch_and_bound(unit_box(2), slow, budget=spent).processed == 0


def test_the_region_filter_drops_boxes_outside_a_ball():
    # u = ||x||^2 - 0.5 is <= 0 exactly on the ball of radius sqrt(0.5) ~ 0.707
    def jet(x):
        return powi(x, 2).sum(1) + (-0.5)

    bounded = []

    def bound(lo, hi):
        bounded.append((lo, hi))
        return mean_value_bounds(jet, lo, hi)

    ball = lyactrl.Ball([0.3, 0.0], 0.3)  # inside {u <= 0} up to a gap of 0.107
    out = branch_and_bound(unit_box(2), bound, budget=Budget(20_000, 10.0), region=ball)
    assert out.end == "proved"
    for lo, hi in bounded[1:]:  # the first box is the whole box
        near = torch.clamp(ball.center.to(T), lo, hi) - ball.center.to(T)
        assert bool(((near**2).sum(1) <= ball.radius**2 * (1 + 1e-12)).all())
    without = branch_and_bound(unit_box(2), bound, budget=Budget(2_000, 10.0))
    assert without.end == "budget"  # u > 0 at the corners of the box


def test_the_exclusion_box_drops_the_boxes_inside_it():
    # u = 0.2 - ||x||^2 > 0 only on the disc of radius 0.447, inside [-0.5, 0.5]^2
    p = torch.zeros(2, dtype=T)
    bounded = []

    def bound(lo, hi):
        bounded.append((lo, hi))
        return bowl(0.2, p)(lo, hi)

    ex = (torch.full((2,), -0.5, dtype=T), torch.full((2,), 0.5, dtype=T))
    out = branch_and_bound(unit_box(2), bound, budget=Budget(20_000, 10.0), exclude=ex)
    assert out.end == "proved"
    for lo, hi in bounded:
        assert not bool(((lo >= ex[0]) & (hi <= ex[1])).all(1).any())
    small = (torch.full((2,), -0.4, dtype=T), torch.full((2,), 0.4, dtype=T))
    out = branch_and_bound(unit_box(2), bound, budget=Budget(2_000, 10.0), exclude=small)
    assert out.end == "budget"  # u(0.42, 0) > 0 lies outside the smaller exclusion box


def test_tagged_boxes_stay_undecided_and_are_never_bounded():
    q = torch.tensor([0.3, -0.2], dtype=T)
    bounded = []

    def bound(lo, hi):
        bounded.append((lo, hi))
        return bowl(-1.0, torch.zeros(2, dtype=T))(lo, hi)  # u <= -1 < 0: provable anywhere

    def holds_q(lo, hi):
        return ((lo <= q) & (q <= hi)).all(1)

    assert branch_and_bound(unit_box(2), bound, budget=Budget(100, 10.0)).end == "proved"
    bounded.clear()
    out = branch_and_bound(
        unit_box(2), bound, budget=Budget(200, 10.0, batch_size=8), tag=holds_q, region=None
    )
    assert out.end == "budget" and len(out.frontier) > 0
    # only tagged boxes are left (tags are recomputed when a box is popped, so a child of a
    # tagged box is tagged until then), and they still cover q
    assert bool(out.frontier.tag.all()) and covers(out.frontier, q)
    for lo, hi in bounded:
        assert not bool(holds_q(lo, hi).any())
    width = (out.frontier.hi - out.frontier.lo).amax()
    assert float(width) < 0.1  # the tagged boxes were refined, not kept whole


def test_tags_survive_the_exclusion_box_and_select():
    q = torch.zeros(2, dtype=T)

    def holds_q(lo, hi):
        return ((lo <= q) & (q <= hi)).all(1)

    def bound(lo, hi):
        return bowl(-1.0, q)(lo, hi)

    ex = (torch.full((2,), -0.5, dtype=T), torch.full((2,), 0.5, dtype=T))
    out = branch_and_bound(
        unit_box(2),
        bound,
        budget=Budget(100, 10.0, batch_size=4),
        exclude=ex,
        select=lambda lo, hi: torch.zeros(lo.shape[0], dtype=torch.bool),
        tag=holds_q,
    )
    assert out.end == "budget" and len(out.frontier) > 0
    assert bool(out.frontier.tag.all()) and covers(out.frontier, q)


def test_best_first_pops_the_smallest_keys():
    p = torch.tensor([0.9, 0.9], dtype=T)  # never provable: u > 0 near p
    smallest, bounded = [], []

    def key(boxes):
        return (boxes.lo - p).abs().sum(1)  # children inherit their parent's key

    def stop(frontier):
        best = frontier.key == frontier.key.min()
        smallest.append(frontier.select(best))
        return False

    def bound(lo, hi):
        bounded.append((lo, hi))
        return bowl(1.0, p)(lo, hi)

    branch_and_bound(
        unit_box(2),
        bound,
        budget=Budget(60, 10.0, batch_size=1),
        key=key,
        stop=stop,
        best_first=True,
    )
    assert len(bounded) == 60
    # each popped box is one with the smallest key of the frontier it was popped from
    for (lo, hi), best in zip(bounded, smallest, strict=False):
        same = (best.lo == lo).all(1) & (best.hi == hi).all(1)
        assert bool(same.any())
    # and the search went towards p (small keys), not depth first into a corner
    assert float(key(Frontier.of(*bounded[-1])).item()) < 0.5
    depth = []
    branch_and_bound(
        unit_box(2),
        lambda lo, hi: depth.append(lo) or bowl(1.0, p)(lo, hi),
        budget=Budget(60, 10.0, batch_size=1),
        key=key,
        best_first=False,
    )
    assert not torch.equal(torch.cat(depth), torch.cat([b[0] for b in bounded]))


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30),
    st.integers(1, 30),
)
def test_frontier_pop_best_first_takes_the_k_smallest_keys(keys, k):
    k = min(k, len(keys))
    n = len(keys)
    lo = torch.arange(n, dtype=T).reshape(n, 1)
    f = Frontier(lo, lo + 1, torch.tensor(keys, dtype=T), torch.zeros(n, dtype=torch.bool))
    taken, rest = f.pop(k, best_first=True)
    assert len(taken) == k and len(rest) == n - k
    assert sorted(taken.key.tolist()) == sorted(keys)[:k]
    assert sorted(taken.lo.flatten().tolist() + rest.lo.flatten().tolist()) == list(range(n))
    if len(rest):
        assert float(taken.key.max()) <= float(rest.key.min())
    taken, rest = f.pop(k, best_first=False)  # depth first: the newest (last) boxes
    assert taken.lo.flatten().tolist() == list(range(n - k, n))


boxes = st.integers(1, 4).flatmap(
    lambda n: st.lists(
        st.tuples(
            st.lists(st.floats(-100, 100), min_size=n, max_size=n),
            st.lists(st.floats(0, 50), min_size=n, max_size=n),
            st.lists(st.floats(0, 10) | st.just(math.inf), min_size=n, max_size=n),
        ),
        min_size=1,
        max_size=5,
    )
)


@given(boxes, st.booleans())
def test_split_halves_the_widest_or_highest_score_dimension_and_tiles_the_box(rows, scored):
    lo = torch.tensor([r[0] for r in rows], dtype=T)
    hi = lo + torch.tensor([r[1] for r in rows], dtype=T)
    score = torch.tensor([r[2] for r in rows], dtype=T) if scored else None
    k = lo.shape[0]
    lo2, hi2 = split(lo, hi, score)
    a_lo, a_hi, b_lo, b_hi = lo2[:k], hi2[:k], lo2[k:], hi2[k:]
    width = hi - lo
    for i in range(k):
        changed = ((a_hi[i] != hi[i]) | (b_lo[i] != lo[i])).nonzero().flatten()
        assert changed.numel() <= 1
        d = int(changed[0]) if changed.numel() else None
        if d is None:  # a degenerate box (or a midpoint that rounds onto a corner)
            assert torch.equal(a_lo[i], lo[i]) and torch.equal(b_hi[i], hi[i])
            continue
        # the children tile the parent: they share the cut and nothing else changes
        assert torch.equal(a_lo[i], lo[i]) and torch.equal(b_hi[i], hi[i])
        assert a_hi[i, d] == b_lo[i, d] and lo[i, d] <= a_hi[i, d] <= hi[i, d]
        assert a_hi[i, d] == 0.5 * (lo[i, d] + hi[i, d])
        rest = torch.arange(lo.shape[1]) != d
        assert torch.equal(a_hi[i, rest], hi[i, rest]) and torch.equal(b_lo[i, rest], lo[i, rest])
        # the cut dimension has the largest score (or width) among those of positive width
        s = width[i] if score is None else torch.where(score[i].isinf(), width[i] * 1e300, score[i])
        s = torch.where(width[i] > 0, s, torch.full_like(s, -1.0))
        assert s[d] == s.max() and width[i, d] > 0
        ulp = 4e-16 * float(lo[i, d].abs() + hi[i, d].abs())
        assert float(a_hi[i, d] - a_lo[i, d]) == pytest.approx(0.5 * float(width[i, d]), abs=ulp)


def test_the_region_filter_drops_tagged_boxes_that_miss_the_region():
    # a boundary piece of the search that misses the region holds no point of its boundary
    lo = torch.full((1, 2), 2.0, dtype=T)

    def always(a, b):
        return torch.ones(a.shape[0], dtype=torch.bool)

    ball = lyactrl.Ball([0.0, 0.0], 1.0)
    out = branch_and_bound(
        Frontier.of(lo, lo + 1, torch.tensor([True])),
        bowl(1.0, torch.zeros(2, dtype=T)),
        budget=Budget(10, 10.0),
        region=ball,
        tag=always,
    )
    assert out.end == "proved" and out.processed == 1
    near = Frontier.of(torch.full((1, 2), 0.5, dtype=T), torch.full((1, 2), 1.5, dtype=T))
    out = branch_and_bound(
        near, bowl(-1.0, torch.zeros(2, dtype=T)), budget=Budget(10, 10.0), region=ball, tag=always
    )
    assert out.end == "budget"  # kept and refined: it meets the ball
