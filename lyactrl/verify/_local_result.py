"""The local certificate's result (of :mod:`._local` and :mod:`._boxed_equilibrium`); their
eigenvalue test is :func:`lyactrl.bounds.jets.symmetric_upper_eig`."""

from __future__ import annotations

import dataclasses
import math

import torch

from .._results import ResultMixin, Status

__all__ = ["LocalCertificate", "unknown_certificate"]


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


def unknown_certificate(message: str, eig: float = math.inf) -> LocalCertificate:
    """An ``unknown`` local certificate with its reason."""
    return LocalCertificate(Status.UNKNOWN, None, None, eig, message)
