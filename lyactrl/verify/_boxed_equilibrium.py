"""The local certificate for an equilibrium known only as a box ``E`` (``x_eq_box``), and the
branch and bound's segment test next to it: the mean-value (Jacobian) argument
``f(x) = J (x - x*)`` for the unknown true equilibrium ``x*`` in ``E``.

With ``V = (x - x*)^T P (x - x*)`` the residual is ``d^T (P J + J^T P + rate P + margin I) d``,
``d = x - x*``, so it is ``<= 0`` wherever that interval matrix is negative definite for
every ``J`` in an enclosure of the Jacobian along the segment from ``x*`` to ``x``
(:func:`~lyactrl.bounds.jets.symmetric_upper_eig`). The enclosure is the box's own, the mean of the
enclosures on a radial cover of the segments, the hull over a box's pieces, or those of the
pieces of its star split (cut at ``x_eq``, each piece holding ``E``).
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from .._results import Status
from ..bounds import Bounds
from ..bounds.jets import (
    EPS,
    Jet,
    iadd,
    ilinear,
    iscale,
    relaxed_mlps,
    sum_bounds,
    symmetric_upper_eig,
    system_jet,
)
from ..conditions import AbstractCondition
from ._local_result import LocalCertificate, unknown_certificate

__all__ = [
    "jacobian_certificate",
    "segment_bounds",
    "STAR_MAX_PIECES",
    "HULL_LEVELS",
    "SEGMENT_PIECES",
    "LOCAL_SEGMENT_PIECES",
]


def _jacobian(condition: AbstractCondition, lo: torch.Tensor, hi: torch.Tensor):
    """The Jacobian enclosure of ``f`` on each box ``[lo, hi]`` (shape ``(batch, n, n)``), stock
    MLPs by their relaxation's centred form (:func:`~lyactrl.bounds._torch.relaxed_mlps`)."""
    with relaxed_mlps():
        return system_jet(condition.system, Jet.variables(lo, hi, 1)).d


def _decrease_eig(condition: AbstractCondition, J) -> torch.Tensor:
    """Upper bounds of the top eigenvalue of ``P J + J^T P + rate P + margin I`` for every
    ``J`` in each enclosure of ``J`` (shape ``(batch, n, n)``), by :func:`symmetric_upper_eig`."""
    P = condition.candidate.P.detach().to(torch.float64)
    PJ = ilinear(P, J)  # type: ignore[arg-type]
    M = iadd(PJ, (PJ[0].transpose(-1, -2), PJ[1].transpose(-1, -2)))
    cst = iscale(float(condition.rate), (P, P))
    if condition.margin:
        eye = torch.eye(P.shape[0], dtype=torch.float64, device=P.device)
        cst = iadd(cst, iscale(float(condition.margin), (eye, eye)))
    return symmetric_upper_eig(*iadd(M, (cst[0].expand_as(M[0]), cst[1].expand_as(M[1]))))


def _box_eig(condition: AbstractCondition, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """:func:`_decrease_eig` for the Jacobian enclosure on each box ``[lo, hi]``."""
    return _decrease_eig(condition, _jacobian(condition, lo, hi))


def _base_eig(condition: AbstractCondition, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The lower of :func:`_box_eig` and :func:`_segment_eig` on boxes holding ``E`` (both
    prove the residual ``<= 0`` on the box when negative); the dearer segment test only where
    the box test fails."""
    eig = _box_eig(condition, lo, hi)
    failing = eig >= 0
    if bool(failing.any()):
        eig = eig.clone()
        eig[failing] = torch.minimum(
            eig[failing], _segment_eig(condition, lo[failing], hi[failing], LOCAL_SEGMENT_PIECES)
        )
    return eig


def _hull(J, owner: torch.Tensor, count: int):
    """Per owner (``0 .. count - 1``) the elementwise hull of the enclosures ``J`` of its
    pieces (``owner[i]`` owns piece ``i``)."""
    idx = owner.reshape(-1, 1, 1).expand_as(J[0])
    shape = (count,) + tuple(J[0].shape[1:])
    lo = torch.full(shape, math.inf, dtype=J[0].dtype, device=J[0].device)
    hi = torch.full(shape, -math.inf, dtype=J[1].dtype, device=J[1].device)
    return lo.scatter_reduce(0, idx, J[0], "amin"), hi.scatter_reduce(0, idx, J[1], "amax")


def _halves(lo, hi, d, first_hi, second_lo) -> tuple[torch.Tensor, torch.Tensor]:
    """Each box ``k`` cut in two along coordinate ``d[k]``: the first half ends at
    ``first_hi[k]``, the second starts at ``second_lo[k]``; ``(2 batch, n)``, halves ``k`` and
    ``batch + k``."""
    k = torch.arange(lo.shape[0], device=lo.device)
    hi1, lo2 = hi.clone(), lo.clone()
    hi1[k, d], lo2[k, d] = first_hi, second_lo
    return torch.cat([lo, lo2]), torch.cat([hi1, hi])


def _bisect(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each box halved along its widest coordinate (:func:`_halves`)."""
    d = (hi - lo).argmax(1)
    k = torch.arange(lo.shape[0], device=lo.device)
    mid = 0.5 * (lo[k, d] + hi[k, d])
    return _halves(lo, hi, d, mid, mid)


def _past(deadline: float | None) -> bool:
    """Whether ``deadline`` (a ``time.perf_counter()`` value, or ``None``: none) has passed."""
    return deadline is not None and time.perf_counter() > deadline


def _hull_eig(
    condition: AbstractCondition,
    lo: torch.Tensor,
    hi: torch.Tensor,
    eig: torch.Tensor,
    levels: int,
    deadline: float | None = None,
):
    """Eigenvalue bounds of the decrease matrix on each box, given their :func:`_base_eig`
    ``eig``, where the Jacobian enclosure of a box that fails is the hull of those on its
    pieces (bisected up to ``levels`` times, none after ``deadline``, a
    ``time.perf_counter()`` value: a failing box stays failing).

    Sound because the mean-value Jacobian's rows are gradients at points of the box, each in
    some piece: the hull of the pieces' enclosures holds them (the hull is taken on ``J``, not
    on the decrease matrix, since each row may come from another piece)."""
    owner = torch.arange(lo.shape[0], device=lo.device)
    for _ in range(levels):
        failing = eig >= 0
        if not bool(failing.any()) or _past(deadline):
            break
        take = failing[owner]
        lo, hi = _bisect(lo[take], hi[take])
        owner = torch.cat([owner[take], owner[take]])
        hull = _hull(_jacobian(condition, lo, hi), owner, eig.shape[0])
        eig = torch.where(failing, _decrease_eig(condition, hull), eig)
    return eig


def _segment_eig(
    condition: AbstractCondition, lo: torch.Tensor, hi: torch.Tensor, m: int
) -> torch.Tensor:
    """:func:`_decrease_eig` for the averaged Jacobian along the segments from the equilibrium
    box ``E`` to each box ``B = [lo, hi]``.

    For ``x`` in ``B`` and the true equilibrium ``x*`` in ``E``,
    ``f(x) = (int_0^1 J(x* + t (x - x*)) dt) (x - x*)`` exactly (``f(x*) = 0``), and the part of
    the integral over ``t`` in ``[k/m, (k+1)/m]`` lies in ``1/m`` times the Jacobian enclosure on
    the ``k``-th box of the radial cover (:func:`_radial_pieces`): the
    averaged Jacobian is in the mean of the ``m`` enclosures, whose width is about
    ``(m + 1) / 2m`` of the outermost one's (a point near ``E`` has a tight enclosure), where
    the hull of the pieces' enclosures is as wide as the outermost."""
    lo_e, hi_e = (t.to(lo).reshape(1, -1) for t in condition.x_eq_box)  # type: ignore[union-attr]
    p_lo, p_hi = _radial_pieces(lo, hi, lo_e, hi_e, m)
    k, n = p_lo.shape[1], p_lo.shape[2]
    J = _jacobian(condition, p_lo.reshape(-1, n), p_hi.reshape(-1, n))
    total = sum_bounds(J[0].reshape(m, k, n, n), J[1].reshape(m, k, n, n), dim=0)
    return _decrease_eig(condition, iscale(1.0 / m, total))


#: Pieces of the radial cover of the segments from the equilibrium box to a box: in the
#: branch and bound's segment test (every box not proved otherwise) and in the local
#: certificate's tests (a few boxes, where a finer cover pays).
SEGMENT_PIECES = 4
LOCAL_SEGMENT_PIECES = 16
#: Most pieces the star split of a box around the equilibrium may reach
#: (:func:`_star_eig`; 4096 = every orthant of a 12-state box).
STAR_MAX_PIECES = 4096
#: Bisection levels of a failing orthant box whose pieces' Jacobian hull is tried.
HULL_LEVELS = 3


def _star_halves(lo, hi, cut, x0, lo_e, hi_e):
    """Each box cut at ``x0`` along its widest coordinate not yet cut there (``cut``, a
    ``(batch, n)`` mask): both halves are widened to hold ``E = [lo_e, hi_e]``, so each is a
    convex set holding ``E`` and ``x*`` (shapes ``(2 batch, n)``, halves ``k`` and
    ``batch + k``)."""
    d = torch.where(cut, -math.inf, hi - lo).argmax(1)
    first_hi = torch.maximum(x0[0, d], hi_e[0, d])
    second_lo = torch.minimum(x0[0, d], lo_e[0, d])
    cut = cut.clone()
    cut[torch.arange(lo.shape[0], device=lo.device), d] = True
    return *_halves(lo, hi, d, first_hi, second_lo), torch.cat([cut, cut])


def _star_eig(condition, lo, hi, x0, lo_e, hi_e, deadline: float | None = None) -> float:
    """The eigenvalue bound of the decrease matrix on one box ``[lo, hi]`` (shape ``(1, n)``)
    holding ``E``: the largest over the pieces of its star split (< 0: the Jacobian argument
    holds on the box).

    A piece that fails :func:`_base_eig` is cut at ``x0`` along its widest coordinate not cut
    there yet (:func:`_star_halves`); each piece holds ``E``, so the segment from ``x*`` to
    each of its points stays in it and its own Jacobian enclosure (narrower than the box's)
    serves. Only failing pieces are cut, so the pieces stay few where a few cuts suffice; a
    piece cut at ``x0`` in every coordinate is an orthant box, and if it fails it takes the
    hull of the Jacobian enclosures on its pieces (:func:`_hull_eig`). No more than
    ``STAR_MAX_PIECES`` pieces, and no cut after ``deadline``: a piece that still fails
    keeps its bound."""
    cut = torch.zeros(lo.shape, dtype=torch.bool, device=lo.device)
    kept, pieces = [], 1
    while lo.shape[0]:
        eig = _base_eig(condition, lo, hi)
        fail = eig >= 0
        corner = fail & cut.all(1)
        if bool(corner.any()):
            eig[corner] = _hull_eig(
                condition, lo[corner], hi[corner], eig[corner], HULL_LEVELS, deadline
            )
        grow = fail & ~corner
        if _past(deadline) or pieces + int(grow.sum()) > STAR_MAX_PIECES:
            grow = torch.zeros_like(grow)
        kept.append(eig[~grow])
        pieces += int(grow.sum())
        lo, hi, cut = _star_halves(lo[grow], hi[grow], cut[grow], x0, lo_e, hi_e)
    return float(torch.cat(kept).max())


def jacobian_certificate(
    condition: AbstractCondition,
    half_widths: torch.Tensor,
    *,
    refine: int = 8,
    deadline: float | None = None,
) -> LocalCertificate:
    """The local certificate for an equilibrium known only as a box ``E`` (``x_eq_box``).

    On a convex set ``K`` holding ``E`` and ``x``, the true equilibrium ``x*`` in ``E`` has
    ``f(x*) = 0``, so by the mean-value theorem ``f(x) = J (x - x*)`` with every row of ``J``
    in the Jacobian enclosure on ``K``. For ``V = (x - x*)^T P (x - x*)`` the residual is then
    ``d^T (P J + J^T P + rate P + margin I) d`` with ``d = x - x*``; if every symmetric
    matrix of that interval matrix is negative definite (the eigenvalue test of
    :func:`symmetric_upper_eig`), the residual is ``<= 0`` at ``x``. No exact zero of ``f`` at
    the numerical root is needed.

    ``K`` is the box ``L = x_eq +- s w`` itself (with ``J`` also tried as the Jacobian averaged
    along the segments from ``E``, :func:`_segment_eig`), or, when both tests fail, each
    piece of its star split (:func:`_star_eig`: failing pieces cut at ``x_eq``, one
    coordinate at a time, each piece widened to hold ``E``): the segment from ``x*`` to a
    point of a piece stays in it, and a piece is narrower than ``L``, so its Jacobian
    enclosure is tighter; a piece cut in every coordinate (an orthant box) that still fails
    takes the hull of the Jacobian enclosures on its pieces (bisected up to ``HULL_LEVELS``
    times, :func:`_hull_eig`).
    The largest passing scale ``s`` (powers of two, then ``refine`` steps towards the next)
    is kept; after ``deadline`` (a ``time.perf_counter()`` value) no larger scale is tried.
    """
    lo_e, hi_e = condition.x_eq_box  # type: ignore[attr-defined]
    x0 = condition.x_eq.detach().to(torch.float64).unsqueeze(0)  # type: ignore[union-attr]
    w = half_widths.detach().to(torch.float64).reshape(1, -1)
    lo_e, hi_e = lo_e.to(x0).reshape(1, -1), hi_e.to(x0).reshape(1, -1)

    def passes(scale: float) -> float:
        """The eigenvalue bound at this scale (< 0: the certificate holds on ``x0 +- s w``)."""
        r = scale * w
        box = torch.minimum(x0 - r, lo_e), torch.maximum(x0 + r, hi_e)
        return _star_eig(condition, *box, x0, lo_e, hi_e, deadline)

    scales = 2.0 ** -torch.arange(0, 48, dtype=torch.float64, device=w.device)
    r = scales.reshape(-1, 1) * w
    holds_e = ((x0 - r <= lo_e) & (hi_e <= x0 + r)).all(1)
    eig = _base_eig(condition, x0 - r, x0 + r)
    ok = ((eig < 0) & holds_e).nonzero().flatten()
    if ok.numel() == 0:
        return unknown_certificate(
            "no box around the equilibrium box makes P J + J^T P + rate P negative definite "
            "for every J in the Jacobian enclosure (the rate may exceed the local limit, or "
            "the equilibrium box is too wide)",
            float(eig[holds_e].min()) if bool(holds_e.any()) else math.inf,
        )
    best = int(ok[0])
    s, e = float(scales[best]), float(eig[best])

    # larger boxes by the star split (the box itself failed at them)
    while best > 0 and not _past(deadline):
        e_up = passes(2 * s)
        if e_up >= 0:
            break
        best, s, e = best - 1, 2 * s, e_up
    if best > 0 and refine > 0:
        for cand in torch.linspace(2 * s, s, refine + 2, dtype=torch.float64)[1:-1].tolist():
            if _past(deadline):
                break
            e_c = passes(cand)
            if e_c < 0:
                s, e = cand, e_c
                break
    r = s * w[0]
    return LocalCertificate(Status.CERTIFIED, x0[0] - r, x0[0] + r, e, "")


def _radial_pieces(lo, hi, lo_e, hi_e, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes ``(m, batch, n)`` covering every segment from a point of ``E = [lo_e, hi_e]`` to a
    point of ``B = [lo, hi]``: the points ``(1 - t) e + t x`` with ``t`` in ``[k/m, (k+1)/m]``
    lie between ``(1 - t) lo_e + t lo`` and ``(1 - t) hi_e + t hi`` (affine in ``t``, so
    extreme at the two ends), widened by the rounding of those sums."""
    t = torch.linspace(0.0, 1.0, m + 1, dtype=lo.dtype, device=lo.device).reshape(-1, 1, 1)
    ends_lo = (1 - t) * lo_e + t * lo
    ends_hi = (1 - t) * hi_e + t * hi
    slack = 4 * EPS * (lo_e.abs() + hi_e.abs() + lo.abs() + hi.abs())
    p_lo = torch.minimum(ends_lo[:-1], ends_lo[1:]) - slack
    p_hi = torch.maximum(ends_hi[:-1], ends_hi[1:]) + slack
    return p_lo, p_hi


def segment_bounds(
    condition: AbstractCondition, bounds: Bounds, lo: torch.Tensor, hi: torch.Tensor
) -> Bounds:
    """``bounds`` of the residual on the boxes ``[lo, hi]`` with ``upper = 0`` where the
    Jacobian argument of :func:`jacobian_certificate` holds along the segments to ``E``.

    For a condition with ``x_eq_box`` ``E``: every point ``x`` of a box ``B`` is joined to the
    true equilibrium ``x*`` by a segment, so ``f(x) = J (x - x*)`` with ``J`` the Jacobian
    averaged along the segment: in the mean of the Jacobian enclosures on the
    ``SEGMENT_PIECES`` boxes of the radial cover of those segments (:func:`_segment_eig`;
    small near ``E``, not the whole ``hull(B, E)``). The residual is ``<= 0`` on ``B`` when the
    interval matrix ``P J + J^T P + rate P + margin I`` is negative definite. This proves
    boxes next to the equilibrium, where the residual's own bounds cannot be negative
    (it vanishes at ``x*``). Only the boxes not already proved are tested.
    """
    if condition.x_eq_box is None or condition.system.is_discrete or lo.shape[0] == 0:
        return bounds
    todo = ~(bounds.upper <= 0)
    if not bool(todo.any()):
        return bounds
    proved = torch.zeros_like(todo)
    proved[todo] = _segment_eig(condition, lo[todo], hi[todo], SEGMENT_PIECES) < 0
    upper = torch.where(
        proved, torch.minimum(bounds.upper, torch.zeros_like(bounds.upper)), bounds.upper
    )
    return dataclasses.replace(bounds, upper=upper)
