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

A condition whose equilibrium is known only as a box is certified by
:mod:`._boxed_equilibrium` instead.
"""

from __future__ import annotations

import torch

from .._results import Status
from ..bounds import Bounds
from ..bounds.jets import (
    Jet,
    candidate_jets,
    iadd,
    imul,
    iscale,
    mean_value_bounds,
    residual_jet,
    sum_bounds,
    symmetric_upper_eig,
    system_jet,
)
from ..conditions import AbstractCondition, ExponentialStability
from ..lyapunov import ModuleCandidate
from ._boxed_equilibrium import jacobian_certificate, segment_bounds
from ._local_result import LocalCertificate, unknown_certificate

__all__ = [
    "local_certificate",
    "equilibrium_counterexample",
    "hessian_jacobian_certificate",
    "search_bounds",
]


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
        return unknown_certificate("the condition has no x_eq")
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
        return unknown_certificate(
            "the residual and its gradient at x_eq are not provably 0 (enclosures "
            f"r in [{float(at.v[0][0]):.3g}, {float(at.v[1][0]):.3g}]); f(x_eq) may not vanish"
        )
    w = half_widths.detach().to(torch.float64).reshape(1, -1)

    def eig_at(scales: torch.Tensor) -> torch.Tensor:
        r = scales.reshape(-1, 1) * w
        jet = residual_jet(condition, Jet.variables(x0 - r, x0 + r, 2))
        return symmetric_upper_eig(*jet.h)  # type: ignore[misc]

    scales = 2.0 ** -torch.arange(0, 40, dtype=torch.float64)
    eig = eig_at(scales)
    ok = (eig < 0).nonzero().flatten()
    if ok.numel() == 0:
        return unknown_certificate(
            "the Hessian of the residual at x_eq is not provably negative definite "
            f"(eigenvalue bound {float(eig[-1]):.3g} on the smallest box)",
            float(eig[-1]),
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


def search_bounds(condition: AbstractCondition, lo: torch.Tensor, hi: torch.Tensor) -> Bounds:
    """The residual's bounds that the branch and bound of :func:`~lyactrl.certify` and
    :func:`~lyactrl.region_of_attraction` decide boxes by: the mean-value form intersected
    with the interval jets, then :func:`segment_bounds` next to a boxed equilibrium."""
    own = mean_value_bounds(lambda x: residual_jet(condition, x), lo, hi)
    return segment_bounds(condition, own, lo, hi)


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
    (:func:`symmetric_upper_eig`).
    """
    x0 = condition.x_eq.detach().to(torch.float64).unsqueeze(0)  # type: ignore[union-attr]
    V = condition.V
    v, g = candidate_jets(V, Jet.variables(x0, x0, 0))
    f = system_jet(condition.system, Jet.variables(x0, x0, 0))
    for name, jet in (("V(x_eq)", v), ("grad V(x_eq)", g), ("f(x_eq)", f)):
        if not bool((jet.v[0] == 0).all() & (jet.v[1] == 0).all()):
            return unknown_certificate(f"{name} does not enclose exactly 0")
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
    eig = symmetric_upper_eig(*S)
    ok = (eig < 0).nonzero().flatten()
    if ok.numel() == 0:
        return unknown_certificate(
            "sym(H^T J + rate/2 H) is not proved negative definite for the Hessian enclosure H "
            "of V and the Jacobian enclosure J of f on any box around x_eq (eigenvalue bound "
            f"{float(eig[-1]):.3g} on the smallest box)",
            float(eig[-1]),
        )
    i = int(ok[0])
    return LocalCertificate(Status.CERTIFIED, lo[i], hi[i], float(eig[i]), "")
