"""The local certificate's result and its eigenvalue test: an upper bound of the largest
eigenvalue of every symmetric matrix in an interval matrix (used at the equilibrium by
:mod:`._local` and :mod:`._boxed_equilibrium`, and by the decay constants)."""

from __future__ import annotations

import dataclasses
import math

import torch

from .._results import ResultMixin, Status
from ..bounds.jets import EPS

__all__ = ["LocalCertificate", "hessian_upper_eig", "unknown_certificate"]


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


def unknown_certificate(message: str, eig: float = math.inf) -> LocalCertificate:
    """An ``unknown`` local certificate with its reason."""
    return LocalCertificate(Status.UNKNOWN, None, None, eig, message)
