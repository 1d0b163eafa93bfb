"""The local certificate at the equilibrium: second-order Taylor form with a Hessian enclosure.

The residual ``r(x) = grad V . f + rate V`` vanishes at ``x_eq``, so no box touching
``x_eq`` gets a strictly negative bound. Instead:

1. evaluate ``r`` and ``grad r`` at the point ``x_eq`` in interval arithmetic and require both
   enclosures to be exactly ``[0, 0]`` (true when ``f(x_eq) = 0``, ``V(x_eq) = 0`` and
   ``grad V(x_eq) = 0``, and every operation on the way was exact);
2. on a box ``L = x_eq + [-rho, rho]`` enclose the Hessian of ``r``: ``H(xi) in [H]`` for all
   ``xi`` in ``L`` (interval jets of order 2);
3. Taylor with the Lagrange remainder gives ``r(x) = 1/2 (x - x_eq)^T H(xi) (x - x_eq)`` with
   ``xi`` on the segment, inside ``L``; if every symmetric matrix in ``[H]`` is negative
   definite then ``r <= 0`` on ``L`` (``< 0`` away from ``x_eq``). The test is
   ``lambda_max(mid) + lambda_max(rad) + err < 0`` (Weyl, and ``||E||_2 <= ||rad||_2 =
   lambda_max(rad)`` for ``|E| <= rad`` by Perron-Frobenius, ``rad`` symmetric and
   nonnegative; ``err = 16 n eps (||mid||_F + ||rad||_F)`` bounds the eigensolvers' error).

For a quadratic ``V`` the Hessian is ``2 (A^T P + P A + rate P)`` plus second-order terms of
``f``, so the certificate is the linearisation's strict decrease plus a certified bound on the
remainder; the largest ``rho`` (a multiple of the region's half-widths) that passes is kept.
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from .._results import ResultMixin, Status
from ..bounds import Bounds
from ..bounds.jets import (
    EPS,
    Jet,
    candidate_jets,
    iadd,
    ilinear,
    imul,
    iscale,
    mean_value_bounds,
    relaxed_mlps,
    residual_jet,
    sum_bounds,
    system_jet,
)
from ..conditions import AbstractCondition, ExponentialStability
from ..lyapunov import ModuleCandidate

__all__ = [
    "LocalCertificate",
    "local_certificate",
    "hessian_upper_eig",
    "equilibrium_counterexample",
    "jacobian_certificate",
    "hessian_jacobian_certificate",
    "segment_bounds",
    "search_bounds",
]


@dataclasses.dataclass(frozen=True)
class LocalCertificate(ResultMixin):
    """A box around ``x_eq`` on which the residual is proved ``<= 0``.

    ``status`` is ``"certified"`` (``lo``, ``hi`` give the box, ``eig_bound`` the certified
    upper bound of the Hessian's eigenvalues over it) or ``"unknown"`` with a ``message``.
    """

    status: Status
    lo: torch.Tensor | None
    hi: torch.Tensor | None
    eig_bound: float
    message: str
    method: str = "local_certificate"
    seconds: float = 0.0


def hessian_upper_eig(hlo: torch.Tensor, hhi: torch.Tensor) -> torch.Tensor:
    """Upper bounds of the largest eigenvalue of every symmetric matrix in ``[hlo, hhi]``.

    Shapes ``(batch, n, n)`` -> ``(batch,)``; ``inf`` where the enclosure is not finite.
    """
    lo = torch.maximum(hlo, hlo.transpose(-1, -2))
    hi = torch.minimum(hhi, hhi.transpose(-1, -2))
    finite = torch.isfinite(lo).all(-1).all(-1) & torch.isfinite(hi).all(-1).all(-1)
    lo = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
    hi = torch.where(torch.isfinite(hi), hi, torch.zeros_like(hi))
    mid = 0.5 * (lo + hi)
    rad = torch.maximum(hi - mid, mid - lo).clamp_min(0.0)
    # diagonal: H = M + E - Delta with diag(M) = diag(hi), Delta >= 0 diagonal, so
    # lambda_max(H) <= lambda_max(M) + ||E|| with E zero on the diagonal
    eye = torch.eye(mid.shape[-1], dtype=torch.bool, device=mid.device)
    mid = torch.where(eye, hi, mid)
    rad = torch.where(eye, torch.zeros_like(rad), rad)
    n = mid.shape[-1]
    lam = torch.linalg.eigvalsh(mid)[..., -1]
    # |E| <= rad elementwise: ||E||_2 <= ||rad||_2, the top eigenvalue of the symmetric
    # nonnegative rad (Perron-Frobenius), never above ||rad||_F
    norm_mid = torch.linalg.matrix_norm(mid)
    norm_rad = torch.linalg.matrix_norm(rad)
    spread = torch.minimum(torch.linalg.eigvalsh(rad)[..., -1].clamp_min(0.0), norm_rad)
    bound = torch.nextafter(
        lam + 16 * n * EPS * (norm_mid + norm_rad) + spread, torch.tensor(float("inf"))
    )
    return torch.where(finite, bound, torch.full_like(bound, float("inf")))


def local_certificate(
    condition: AbstractCondition,
    half_widths: torch.Tensor,
    *,
    refine: int = 8,
    deadline: float | None = None,
) -> LocalCertificate:
    """The largest box ``x_eq + s [-w, w]`` (``s <= 1``) on which ``r <= 0`` is proved.

    Parameters
    ----------
    condition : AbstractCondition
        A condition with ``x_eq`` (e.g. :class:`ExponentialStability` with ``V.x_eq``).
    half_widths : torch.Tensor
        ``w``: the reference half-widths (those of the region's bounding box around ``x_eq``).
    refine : int
        Number of intermediate scales tried between the last failing and the first passing
        power of two.
    deadline : float, optional
        A ``time.perf_counter()`` value after which no larger box is tried (the best box
        proved so far is returned); used by :func:`~lyactrl.certify` for its ``time_limit``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.verify._local import local_certificate
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    >>> local_certificate(cond, torch.ones(2, dtype=torch.float64)).status
    'certified'
    """
    x0 = condition.x_eq
    if x0 is None:
        return LocalCertificate(Status.UNKNOWN, None, None, math.inf, "the condition has no x_eq")
    if condition.x_eq_box is not None:
        return jacobian_certificate(condition, half_widths, refine=refine, deadline=deadline)
    if (
        isinstance(condition, ExponentialStability)
        and isinstance(condition.V, ModuleCandidate)
        and not condition.system.is_discrete  # a map's residual needs only V's value jets
    ):
        return hessian_jacobian_certificate(condition, half_widths)
    x0 = x0.detach().to(torch.float64).unsqueeze(0)
    at = residual_jet(condition, Jet.variables(x0, x0, 1))
    exact = bool((at.v[0] == 0).all() & (at.v[1] == 0).all())
    exact = exact and bool((at.d[0] == 0).all() & (at.d[1] == 0).all())  # type: ignore[index]
    if not exact:
        return LocalCertificate(
            Status.UNKNOWN,
            None,
            None,
            float("inf"),
            "the residual and its gradient at x_eq are not provably 0 (enclosures "
            f"r in [{float(at.v[0][0]):.3g}, {float(at.v[1][0]):.3g}]); f(x_eq) may not vanish",
        )
    w = half_widths.detach().to(torch.float64).reshape(1, -1)

    def eig_at(scales: torch.Tensor) -> torch.Tensor:
        r = scales.reshape(-1, 1) * w
        jet = residual_jet(condition, Jet.variables(x0 - r, x0 + r, 2))
        return hessian_upper_eig(*jet.h)  # type: ignore[misc]

    scales = 2.0 ** -torch.arange(0, 40, dtype=torch.float64)
    eig = eig_at(scales)
    ok = (eig < 0).nonzero().flatten()
    if ok.numel() == 0:
        return LocalCertificate(
            Status.UNKNOWN,
            None,
            None,
            float(eig[-1]),
            "the Hessian of the residual at x_eq is not provably negative definite "
            f"(eigenvalue bound {float(eig[-1]):.3g} on the smallest box)",
        )
    best = int(ok[0])
    s, e = float(scales[best]), float(eig[best])
    if best > 0 and refine > 0:
        cand = torch.linspace(s, 2 * s, refine + 2, dtype=torch.float64)[1:-1]
        ce = eig_at(cand)
        good = (ce < 0).nonzero().flatten()
        if good.numel():
            s, e = float(cand[int(good[-1])]), float(ce[int(good[-1])])
    r = s * w[0]
    return LocalCertificate(Status.CERTIFIED, x0[0] - r, x0[0] + r, e, "")


def equilibrium_counterexample(
    condition: AbstractCondition, half_widths: torch.Tensor
) -> torch.Tensor | None:
    """Points near ``x_eq`` along the Hessian's top eigenvector where ``r > 0``, or ``None``.

    When the residual's Hessian at ``x_eq`` has a positive eigenvalue (for example a rate above
    the linearisation's best rate), ``r(x_eq + t v) ~ t^2 v^T H v / 2 > 0`` for small ``t``;
    the candidates returned must still be checked by direct evaluation.
    """
    x0 = condition.x_eq
    if x0 is None:
        return None
    x0 = x0.detach().to(torch.float64).unsqueeze(0)
    jet = residual_jet(condition, Jet.variables(x0, x0, 2))
    if not bool(torch.isfinite(jet.h[0]).all() & torch.isfinite(jet.h[1]).all()):  # type: ignore[index]
        return None
    H = 0.5 * (jet.h[0][0] + jet.h[1][0])  # type: ignore[index]
    H = 0.5 * (H + H.T)
    lam, vec = torch.linalg.eigh(H)
    if float(lam[-1]) <= 0:
        return None
    v = vec[:, -1]
    w = half_widths.detach().to(torch.float64)
    t = (2.0 ** -torch.arange(0, 30, dtype=torch.float64)).unsqueeze(1)
    step = t * (v * w).unsqueeze(0) / float((v * w).abs().max().clamp_min(1e-300)) * w.min()
    return torch.cat([x0 + step, x0 - step])


def _jacobian(condition: AbstractCondition, lo: torch.Tensor, hi: torch.Tensor):
    """The Jacobian enclosure of ``f`` on each box ``[lo, hi]`` (shape ``(batch, n, n)``), stock
    MLPs by their relaxation's centred form (:func:`~lyactrl.bounds._torch.relaxed_mlps`)."""
    with relaxed_mlps():
        return system_jet(condition.system, Jet.variables(lo, hi, 1)).d


def _decrease_eig(condition: AbstractCondition, J) -> torch.Tensor:
    """Upper bounds of the top eigenvalue of ``P J + J^T P + rate P + margin I`` for every
    ``J`` in each enclosure of ``J`` (shape ``(batch, n, n)``), by :func:`hessian_upper_eig`."""
    P = condition.candidate.P.detach().to(torch.float64)
    PJ = ilinear(P, J)  # type: ignore[arg-type]
    M = iadd(PJ, (PJ[0].transpose(-1, -2), PJ[1].transpose(-1, -2)))
    cst = iscale(float(condition.rate), (P, P))
    if condition.margin:
        eye = torch.eye(P.shape[0], dtype=torch.float64)
        cst = iadd(cst, iscale(float(condition.margin), (eye, eye)))
    return hessian_upper_eig(*iadd(M, (cst[0].expand_as(M[0]), cst[1].expand_as(M[1]))))


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
            eig[failing], _segment_eig(condition, lo[failing], hi[failing])
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


def _bisect(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each box halved along its widest coordinate: ``(2 batch, n)``, halves ``k`` and
    ``batch + k``."""
    k = torch.arange(lo.shape[0])
    d = (hi - lo).argmax(1)
    mid = 0.5 * (lo[k, d] + hi[k, d])
    hi1, lo2 = hi.clone(), lo.clone()
    hi1[k, d], lo2[k, d] = mid, mid
    return torch.cat([lo, lo2]), torch.cat([hi1, hi])


def _hull_eig(
    condition: AbstractCondition,
    lo: torch.Tensor,
    hi: torch.Tensor,
    levels: int,
    deadline: float | None = None,
):
    """Eigenvalue bounds of the decrease matrix on each box, where the Jacobian enclosure of a
    box that fails is the hull of those on its pieces (bisected up to ``levels`` times, none
    after ``deadline``, a ``time.perf_counter()`` value: a failing box stays failing).

    Sound because the mean-value Jacobian's rows are gradients at points of the box, each in
    some piece: the hull of the pieces' enclosures holds them (the hull is taken on ``J``, not
    on the decrease matrix, since each row may come from another piece)."""
    eig = _base_eig(condition, lo, hi)
    owner = torch.arange(lo.shape[0])
    for _ in range(levels):
        failing = eig >= 0
        if not bool(failing.any()) or (deadline is not None and time.perf_counter() > deadline):
            break
        take = failing[owner]
        lo, hi = _bisect(lo[take], hi[take])
        owner = torch.cat([owner[take], owner[take]])
        hull = _hull(_jacobian(condition, lo, hi), owner, eig.shape[0])
        eig = torch.where(failing, _decrease_eig(condition, hull), eig)
    return eig


def _segment_eig(condition: AbstractCondition, lo: torch.Tensor, hi: torch.Tensor):
    """:func:`_decrease_eig` for the averaged Jacobian along the segments from the equilibrium
    box ``E`` to each box ``B = [lo, hi]``.

    For ``x`` in ``B`` and the true equilibrium ``x*`` in ``E``,
    ``f(x) = (int_0^1 J(x* + t (x - x*)) dt) (x - x*)`` exactly (``f(x*) = 0``), and the part of
    the integral over ``t`` in ``[k/m, (k+1)/m]`` lies in ``1/m`` times the Jacobian enclosure on
    the ``k``-th box of the radial cover (:func:`_radial_pieces`, ``m = SEGMENT_PIECES``): the
    averaged Jacobian is in the mean of the ``m`` enclosures, whose width is about
    ``(m + 1) / 2m`` of the outermost one's (a point near ``E`` has a tight enclosure), where
    the hull of the pieces' enclosures is as wide as the outermost."""
    lo_e, hi_e = (t.to(lo).reshape(1, -1) for t in condition.x_eq_box)  # type: ignore[union-attr]
    m = SEGMENT_PIECES
    p_lo, p_hi = _radial_pieces(lo, hi, lo_e, hi_e, m)
    k, n = p_lo.shape[1], p_lo.shape[2]
    J = _jacobian(condition, p_lo.reshape(-1, n), p_hi.reshape(-1, n))
    total = sum_bounds(J[0].reshape(m, k, n, n), J[1].reshape(m, k, n, n), dim=0)
    return _decrease_eig(condition, iscale(1.0 / m, total))


#: Largest state dimension for which a failing box around the equilibrium is retried as its
#: ``2^n`` orthant boxes (each a corner at ``x_eq``) in :func:`jacobian_certificate`.
ORTHANT_MAX_DIM = 12
#: Bisection levels of a failing orthant box whose pieces' Jacobian hull is tried.
HULL_LEVELS = 3


def _orthants(x0: torch.Tensor, r: torch.Tensor, lo_e: torch.Tensor, hi_e: torch.Tensor):
    """The ``2^n`` boxes with a corner at ``x0`` that cover ``x0 +- r``, each widened to hold
    the equilibrium box ``[lo_e, hi_e]`` (shape ``(2^n, n)`` each)."""
    n = x0.shape[-1]
    signs = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=x0.dtype)] * n).reshape(-1, n)
    lo = torch.where(signs > 0, x0, x0 - r)
    hi = torch.where(signs > 0, x0 + r, x0)
    return torch.minimum(lo, lo_e), torch.maximum(hi, hi_e)


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
    :func:`hessian_upper_eig`), the residual is ``<= 0`` at ``x``. No exact zero of ``f`` at
    the numerical root is needed.

    ``K`` is the box ``L = x_eq +- s w`` itself (with ``J`` also tried as the Jacobian averaged
    along the segments from ``E``, :func:`_segment_eig`), or, when both tests fail and
    ``n <= ORTHANT_MAX_DIM``, each of the ``2^n`` orthant boxes of ``L`` (a corner at
    ``x_eq``, widened to hold ``E``): the segment from ``x*`` to a point of an orthant box
    stays in it, and each has half the widths of ``L``, so its Jacobian enclosure is tighter;
    an orthant box that still fails takes the hull of the Jacobian enclosures on its pieces
    (bisected up to ``HULL_LEVELS`` times, :func:`_hull_eig`).
    The largest passing scale ``s`` (powers of two, then ``refine`` steps towards the next)
    is kept; after ``deadline`` (a ``time.perf_counter()`` value) no larger scale is tried.
    """
    lo_e, hi_e = condition.x_eq_box  # type: ignore[attr-defined]
    x0 = condition.x_eq.detach().to(torch.float64).unsqueeze(0)  # type: ignore[union-attr]
    w = half_widths.detach().to(torch.float64).reshape(1, -1)
    lo_e, hi_e = lo_e.to(x0).reshape(1, -1), hi_e.to(x0).reshape(1, -1)
    split = x0.shape[1] <= ORTHANT_MAX_DIM

    def by_orthants(scale: float) -> float:
        """The eigenvalue bound on the orthant boxes of ``x0 +- scale w``."""
        pieces = _orthants(x0, scale * w, lo_e, hi_e)
        return float(_hull_eig(condition, *pieces, HULL_LEVELS, deadline).max())

    def passes(scale: float) -> float:
        """The eigenvalue bound at this scale (< 0: the certificate holds on ``x0 +- s w``)."""
        r = scale * w
        eig = float(_base_eig(condition, torch.minimum(x0 - r, lo_e), torch.maximum(x0 + r, hi_e)))
        return eig if eig < 0 or not split else by_orthants(scale)

    scales = 2.0 ** -torch.arange(0, 48, dtype=torch.float64)
    r = scales.reshape(-1, 1) * w
    holds_e = ((x0 - r <= lo_e) & (hi_e <= x0 + r)).all(1)
    eig = _base_eig(condition, x0 - r, x0 + r)
    ok = ((eig < 0) & holds_e).nonzero().flatten()
    if ok.numel() == 0:
        return _unknown(
            "no box around the equilibrium box makes P J + J^T P + rate P negative definite "
            "for every J in the Jacobian enclosure (the rate may exceed the local limit, or "
            "the equilibrium box is too wide)",
            float(eig[holds_e].min()) if bool(holds_e.any()) else math.inf,
        )
    best = int(ok[0])
    s, e = float(scales[best]), float(eig[best])

    def late() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    while split and best > 0 and not late():  # larger boxes by orthants (the box itself failed)
        e_up = by_orthants(2 * s)
        if e_up >= 0:
            break
        best, s, e = best - 1, 2 * s, e_up
    if best > 0 and refine > 0:
        for cand in torch.linspace(2 * s, s, refine + 2, dtype=torch.float64)[1:-1].tolist():
            if late():
                break
            e_c = passes(cand)
            if e_c < 0:
                s, e = cand, e_c
                break
    r = s * w[0]
    return LocalCertificate(Status.CERTIFIED, x0[0] - r, x0[0] + r, e, "")


#: Pieces of the radial cover of the segments from the equilibrium box to a box.
SEGMENT_PIECES = 4


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
    proved[todo] = _segment_eig(condition, lo[todo], hi[todo]) < 0
    upper = torch.where(
        proved, torch.minimum(bounds.upper, torch.zeros_like(bounds.upper)), bounds.upper
    )
    return dataclasses.replace(bounds, upper=upper)


def search_bounds(condition: AbstractCondition, lo: torch.Tensor, hi: torch.Tensor) -> Bounds:
    """The residual's bounds that the branch and bound of :func:`~lyactrl.certify` and
    :func:`~lyactrl.region_of_attraction` decide boxes by: the mean-value form intersected
    with the interval jets, then :func:`segment_bounds` next to a boxed equilibrium."""
    own = mean_value_bounds(lambda x: residual_jet(condition, x), lo, hi)
    return segment_bounds(condition, own, lo, hi)


def _unknown(message: str, eig: float = math.inf) -> LocalCertificate:
    return LocalCertificate(Status.UNKNOWN, None, None, eig, message)


def hessian_jacobian_certificate(
    condition: ExponentialStability, half_widths: torch.Tensor
) -> LocalCertificate:
    """The local certificate from the Hessian enclosure of ``V`` and the Jacobian enclosure of
    ``f``, for a candidate whose own gradient has no Hessian enclosure (a
    :class:`~lyactrl.ModuleCandidate`: that would need the module's third derivatives).

    With ``f(x_eq) = 0``, ``V(x_eq) = 0`` and ``grad V(x_eq) = 0`` enclosed exactly, on a box
    ``L`` around ``x_eq`` (``d = x - x_eq``) the mean-value theorem gives ``grad V(x) = H1 d``
    and ``f(x) = J d``, and Taylor's theorem ``V(x) = 1/2 d^T H2 d``, with ``H1``, ``H2`` in
    the (convex) Hessian enclosure ``[H]`` of ``V`` on ``L`` and ``J`` in the Jacobian
    enclosure ``[J]`` of ``f``. The residual is then ``d^T (H1^T J + rate/2 H2 + margin I) d``,
    ``<= 0`` on ``L`` when every symmetric matrix of the interval matrix
    ``sym([H]^T [J] + rate/2 [H] + margin I)`` is negative definite
    (:func:`hessian_upper_eig`).
    """
    x0 = condition.x_eq.detach().to(torch.float64).unsqueeze(0)  # type: ignore[union-attr]
    V = condition.V
    v, g = candidate_jets(V, Jet.variables(x0, x0, 0))
    f = system_jet(condition.system, Jet.variables(x0, x0, 0))
    for name, jet in (("V(x_eq)", v), ("grad V(x_eq)", g), ("f(x_eq)", f)):
        if not bool((jet.v[0] == 0).all() & (jet.v[1] == 0).all()):
            return _unknown(f"{name} does not enclose exactly 0")
    w = half_widths.detach().to(torch.float64).reshape(1, -1)
    scales = 2.0 ** -torch.arange(0, 40, dtype=torch.float64)
    r = scales.reshape(-1, 1) * w
    lo, hi = x0 - r, x0 + r
    H = candidate_jets(V, Jet.variables(lo, hi, 2))[0].h  # (k, n, n)
    J = system_jet(condition.system, Jet.variables(lo, hi, 1)).d  # (k, n, n): df_i / dx_j
    # (H^T J)_ij = sum_k H_ki J_kj
    HT = (H[0].transpose(-1, -2), H[1].transpose(-1, -2))  # type: ignore[index]
    prod = imul(
        (HT[0].unsqueeze(-1), HT[1].unsqueeze(-1)), (J[0].unsqueeze(-3), J[1].unsqueeze(-3))
    )  # type: ignore[index]
    M = iadd(sum_bounds(*prod, dim=-2), iscale(0.5 * float(condition.rate), H))  # type: ignore[arg-type]
    if condition.margin:
        eye = torch.eye(x0.shape[1], dtype=torch.float64)
        M = iadd(M, iscale(float(condition.margin), (eye, eye)))
    S = iscale(0.5, iadd(M, (M[0].transpose(-1, -2), M[1].transpose(-1, -2))))
    eig = hessian_upper_eig(*S)
    ok = (eig < 0).nonzero().flatten()
    if ok.numel() == 0:
        return _unknown(
            "sym(H^T J + rate/2 H) is not proved negative definite for the Hessian enclosure H "
            "of V and the Jacobian enclosure J of f on any box around x_eq (eigenvalue bound "
            f"{float(eig[-1]):.3g} on the smallest box)",
            float(eig[-1]),
        )
    i = int(ok[0])
    return LocalCertificate(Status.CERTIFIED, lo[i], hi[i], float(eig[i]), "")
