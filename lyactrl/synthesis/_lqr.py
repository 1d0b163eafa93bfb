"""Linear-quadratic regulator gains from a plant's linearisation, and the stabilisability test."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, NotStabilizableError
from .._tensors import as_matrix
from ..systems import AbstractSystem, linearize

__all__ = ["lqr", "check_stabilizable"]


def _as_array(M: Any, name: str) -> np.ndarray:
    a = M.detach().cpu().numpy() if isinstance(M, torch.Tensor) else np.asarray(M, dtype=float)
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    if not np.isfinite(a).all():
        raise InvalidArgumentError(f"{name}: expected finite entries, received {a.tolist()}")
    return a


@checked_kwargs
def check_stabilizable(A: Any, B: Any, *, discrete: bool, tol: float = 1e-9) -> None:
    """Raise :class:`~lyactrl.NotStabilizableError` unless ``(A, B)`` is stabilisable.

    The Popov-Belevitch-Hautus test: every eigenvalue ``lam`` of ``A`` that is not stable
    (``Re lam >= 0`` for a flow, ``|lam| >= 1`` for a map) must have
    ``rank [A - lam I, B] = n``. The error names the first mode that fails, with its
    eigenvalue and the rank found.

    Parameters
    ----------
    A, B : array_like
        ``(n, n)`` and ``(n, m)``.
    discrete : bool
        Whether ``A`` is a map's Jacobian (stable means inside the unit disc).
    tol : float
        Relative tolerance of the rank (singular values below ``tol * max(1, sigma_max)``).

    Raises
    ------
    NotStabilizableError

    Examples
    --------
    >>> from lyactrl.synthesis import check_stabilizable
    >>> check_stabilizable([[0.0, 1.0], [0.0, 0.0]], [[0.0], [1.0]], discrete=False)
    >>> try:
    ...     check_stabilizable([[1.0, 0.0], [0.0, -1.0]], [[0.0], [1.0]], discrete=False)
    ... except Exception as exc:
    ...     print(type(exc).__name__)
    NotStabilizableError
    """
    a, b = _as_array(A, "A"), _as_array(B, "B")
    n = a.shape[0]
    if a.shape != (n, n) or b.shape[0] != n:
        raise InvalidArgumentError(
            f"B: expected A of shape (n, n) and B of shape (n, m), received {a.shape} and {b.shape}"
        )
    for lam in np.linalg.eigvals(a):
        unstable = abs(lam) >= 1.0 - 1e-12 if discrete else lam.real >= -1e-12
        if not unstable:
            continue
        M = np.hstack([a - lam * np.eye(n), b.astype(complex)])
        s = np.linalg.svd(M, compute_uv=False)
        rank = int((s > tol * max(1.0, float(s.max(initial=0.0)))).sum())
        if rank < n:
            where = "|lambda| >= 1" if discrete else "Re(lambda) >= 0"
            raise NotStabilizableError(
                f"plant: expected a stabilisable linearisation (A, B), received an "
                f"uncontrollable mode lambda = {complex(lam):.6g} ({where}): the PBH test gives "
                f"rank [A - lambda I, B] = {rank} < n = {n}"
            )


@checked_kwargs
def lqr(plant: AbstractSystem, *, Q: Any = None, R: Any = None) -> torch.Tensor:
    """The LQR gain ``K`` (``u = -K x``) of a plant's linearisation at ``(x_eq, u = 0)``.

    A flow solves the continuous algebraic Riccati equation (scipy's
    ``solve_continuous_are``, ``K = R^-1 B^T P``), a map (a :class:`~lyactrl.DiscreteSystem`
    with inputs) the discrete one (``solve_discrete_are``,
    ``K = (R + B^T P B)^-1 B^T P A``): python-control's ``lqr`` / ``dlqr`` convention.

    Parameters
    ----------
    plant : AbstractSystem
        A plant with inputs.
    Q, R : array_like, optional
        State and input weights (identities by default).

    Returns
    -------
    torch.Tensor
        ``K`` of shape ``(n_inputs, n_states)``, float64.

    Raises
    ------
    NotStabilizableError
        When the linearisation has an uncontrollable unstable mode.

    Examples
    --------
    >>> import lyactrl
    >>> plant = lyactrl.LinearSystem([[0.0]], B=[[1.0]])
    >>> K = lyactrl.lqr(plant)  # u = -x solves the scalar Riccati equation 1 - p^2 = 0
    >>> round(float(K[0, 0]), 12)
    1.0
    """
    if not isinstance(plant, AbstractSystem) or not plant.n_inputs:
        got = type(plant).__name__ if not isinstance(plant, AbstractSystem) else "0 inputs"
        raise InvalidArgumentError(
            f"plant: expected a lyactrl system with inputs (n_inputs > 0), received {got}"
        )
    A, B = linearize(plant)  # type: ignore[misc]
    a, b = A.numpy(), B.numpy()
    n, m = b.shape
    q = np.eye(n) if Q is None else as_matrix(Q, name="Q", rows=n, cols=n).double().numpy()
    r = np.eye(m) if R is None else as_matrix(R, name="R", rows=m, cols=m).double().numpy()
    check_stabilizable(a, b, discrete=plant.is_discrete)
    if plant.is_discrete:
        P = scipy.linalg.solve_discrete_are(a, b, q, r)
        K = np.linalg.solve(r + b.T @ P @ b, b.T @ P @ a)
    else:
        P = scipy.linalg.solve_continuous_are(a, b, q, r)
        K = np.linalg.solve(r, b.T @ P)
    return torch.as_tensor(K, dtype=torch.float64)
