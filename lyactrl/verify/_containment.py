"""Proof that one sublevel set lies inside another (and, strictly, that it is smaller)."""

from __future__ import annotations

import dataclasses
import time

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, ShapeError, UnsupportedOperationError
from .._results import ResultMixin, Status
from .._tensors import positive_int
from ..bounds import Bounds, bound_candidate
from ..bounds.jets import Jet, candidate_jets
from ..regions import Box, Sublevel
from ._branch_and_bound import Budget, Frontier, branch_and_bound
from ._geometry import proved_inside

__all__ = ["Containment", "prove_contained"]

_METHOD = "branch and bound: sublevel filter on inner, sound bounds of V_outer on the rest"


@dataclasses.dataclass(frozen=True)
class Containment(ResultMixin):
    """The result of :func:`prove_contained`.

    ``certified``: every state of ``inner`` lies in ``outer`` (proved on every box of
    ``inner``'s domain that may meet ``inner``); ``strict`` is then ``True`` when ``witness``
    is a state of ``outer`` proved to lie outside ``inner`` (so ``inner`` is a proper subset),
    ``False`` when none was found among the samples (not a proof of equality). ``falsified``:
    ``counterexample`` is a state proved to lie in ``inner`` and outside ``outer``.
    ``unknown``: the budget ran out (``message`` says so).
    """

    status: Status
    method: str
    strict: bool
    witness: list[float] | None
    counterexample: list[float] | None
    boxes_processed: int
    seconds: float
    message: str

    def summary(self) -> str:
        """One line: status, strictness, boxes and seconds."""
        what = {"certified": "inner inside outer", "falsified": "inner not inside outer"}
        head = what.get(str(self.status), "containment not proved")
        strict = ", strictly" if self.strict else ""
        return f"{self.status}: {head}{strict} ({self.boxes_processed} boxes, {self.seconds:.2f} s)"


def _point_value(V, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sound enclosures of ``V`` at the points ``x`` (rounding included)."""
    return candidate_jets(V, Jet.variables(x, x, 0))[0].v


def _check(inner: Sublevel, outer: Sublevel) -> tuple[Box, Box]:
    for name, s in (("inner", inner), ("outer", outer)):
        if not isinstance(s, Sublevel):
            raise InvalidArgumentError(
                f"{name}: expected a Sublevel set, received {type(s).__name__}"
            )
        if not isinstance(s.within, Box):
            raise UnsupportedOperationError(
                f"{name}: expected a sublevel set within a Box, received within={s.within!r}"
            )
    if inner.n_states != outer.n_states:
        raise ShapeError(
            f"outer: expected a set on {inner.n_states} states like inner, received "
            f"{outer.n_states}"
        )
    return inner.within, outer.within


@checked_kwargs
def prove_contained(
    inner: Sublevel,
    outer: Sublevel,
    *,
    max_boxes: int = 200_000,
    time_limit: float = 60.0,
    n_samples: int = 4096,
    seed: int = 0,
) -> Containment:
    """Prove ``inner`` is a subset of ``outer`` (two sublevel sets in boxes), or refute it.

    On every box of ``inner``'s domain that may meet ``{V_inner <= c_inner}`` (the engine's
    sublevel filter drops the boxes where ``V_inner > c_inner`` is proved), the branch and
    bound proves ``V_outer <= c_outer`` by sound bounds; the box itself must lie in
    ``outer``'s domain where it meets ``inner``. A centre of an undecided box proved to be in
    ``inner`` (``V_inner <= c_inner`` by its enclosure) and outside ``outer``
    (``V_outer > c_outer``) refutes the containment. Strictness: random states of ``outer``
    are tried, and one proved to lie outside ``inner`` is the witness.

    Parameters
    ----------
    inner, outer : Sublevel
        The sets, each ``{x in within : V(x) <= c}`` with a :class:`~lyactrl.Box` ``within``.
    max_boxes, time_limit : int, float
        Budget of the branch and bound.
    n_samples : int
        Random states of ``outer`` tried as witnesses of strictness.
    seed : int
        Seed of those samples.

    Returns
    -------
    Containment

    Examples
    --------
    >>> import torch, lyactrl
    >>> box = lyactrl.Box([-2.0, -2.0], [2.0, 2.0])
    >>> small = lyactrl.Sublevel(lyactrl.Quadratic(torch.eye(2)), 1.0, within=box)
    >>> big = lyactrl.Sublevel(lyactrl.Quadratic(torch.diag(torch.tensor([1.0, 0.5]))), 1.2, within=box)
    >>> res = lyactrl.prove_contained(small, big)
    >>> str(res.status), res.strict
    ('certified', True)
    >>> str(lyactrl.prove_contained(big, small).status)
    'falsified'
    """
    t0 = time.perf_counter()
    w_in, w_out = _check(inner, outer)
    max_boxes = positive_int(max_boxes, "max_boxes")
    n_samples = positive_int(n_samples, "n_samples")
    V_in, c_in, V_out, c_out = inner.V, float(inner.c), outer.V, float(outer.c)
    lo_o, hi_o = w_out.lo.to(torch.float64), w_out.hi.to(torch.float64)

    def bound(a: torch.Tensor, b: torch.Tensor) -> Bounds:
        out = bound_candidate(V_out, a, b)
        inside = ((a >= lo_o) & (b <= hi_o)).all(1)  # boxes leaving outer's domain: undecided
        upper = torch.where(inside, out.upper - c_out, torch.full_like(out.upper, torch.inf))
        return Bounds(out.lower - c_out, upper, out.gradient_abs)

    def check(boxes: Frontier):
        x = 0.5 * (boxes.lo + boxes.hi)
        o_lo = _point_value(V_out, x)[0]
        bad = proved_inside(inner, x) & ((o_lo > c_out) | ~w_out.contains(x))
        return x[bad][:1] if bool(bad.any()) else None

    out = branch_and_bound(
        Frontier.of(w_in.lo.to(torch.float64)[None], w_in.hi.to(torch.float64)[None]),
        bound,
        budget=Budget(max_boxes, time_limit),
        region=inner,
        check=check,
    )
    seconds = lambda: time.perf_counter() - t0  # noqa: E731
    if out.end == "halted":
        x = out.halt[0].tolist()
        return Containment(
            Status.FALSIFIED, _METHOD, False, None, x, out.processed, seconds(),
            f"the state {x} is proved to lie in inner and outside outer",
        )  # fmt: skip
    if out.end != "proved":
        return Containment(
            Status.UNKNOWN, _METHOD, False, None, None, out.processed, seconds(),
            f"containment not proved within the budget ({out.processed} boxes, "
            f"{len(out.frontier)} undecided)",
        )  # fmt: skip
    g = torch.Generator().manual_seed(int(seed))
    x = w_out.sample(n_samples, generator=g, dtype=torch.float64)
    i_lo = _point_value(V_in, x)[0]
    ok = proved_inside(outer, x) & ((i_lo > c_in) | ~w_in.contains(x))
    witness = x[ok][0].tolist() if bool(ok.any()) else None
    message = (
        "inner is inside outer"
        + (f"; the state {witness} of outer is proved outside inner" if witness else "")
        + ("" if witness else f"; no state of outer outside inner among {n_samples} samples")
    )
    return Containment(
        Status.CERTIFIED,
        _METHOD,
        witness is not None,
        witness,
        None,
        out.processed,
        seconds(),
        message,
    )
