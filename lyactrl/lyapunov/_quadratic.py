"""Quadratic candidates ``V(x) = (x - x_eq)^T P (x - x_eq)``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, NotHurwitzError, NotPositiveDefiniteError
from .._tensors import as_equilibrium, as_matrix, to_numpy
from ..systems import AbstractSystem, linearize
from ._base import AbstractCandidate

__all__ = ["Quadratic", "best_quadratic_rate", "check_positive_definite"]


def check_positive_definite(P: torch.Tensor, name: str) -> torch.Tensor:
    """Check ``P`` symmetric positive definite with tolerances scaled to ``||P||``."""
    scale = max(float(P.abs().max()), np.finfo(np.float64).tiny)
    asym = float((P - P.T).abs().max())
    if asym > 1e-10 * scale:
        raise NotPositiveDefiniteError(
            f"{name}: expected a symmetric matrix, received one with max |P - P^T| = {asym:.3g} "
            f"(tolerance {1e-10 * scale:.3g}); symmetrise it with (P + P.T) / 2"
        )
    sym = 0.5 * (P + P.T)
    eig = torch.linalg.eigvalsh(sym)
    if float(eig[0]) <= 1e-12 * scale * P.shape[0]:
        raise NotPositiveDefiniteError(
            f"{name}: expected a positive definite matrix, received smallest eigenvalue "
            f"{float(eig[0]):.6g} (eigenvalues {[round(float(e), 6) for e in eig]})"
        )
    return sym


@checked_kwargs
def best_quadratic_rate(A: Any, P: Any, *, discrete: bool = False) -> float:
    """Largest ``kappa`` with ``d/dt V <= -kappa V`` for ``x' = A x`` and ``V = x^T P x``.

    With ``Q = -(A^T P + P A)`` this is the smallest generalised eigenvalue of ``(Q, P)``
    (negative when ``V`` does not decrease everywhere). With ``discrete=True``, for the map
    ``x+ = A x``: the largest ``kappa`` with ``V(A x) <= (1 - kappa) V(x)``, that is
    ``1 - lambda_max(A^T P A, P)`` (the generalised eigenvalue problem of the pair).

    Parameters
    ----------
    A : array_like, shape (n, n)
        The system matrix.
    P : array_like, shape (n, n)
        Symmetric positive definite.
    discrete : bool
        Read ``A`` as a map ``x+ = A x``.

    Returns
    -------
    float
        The best rate.

    Examples
    --------
    >>> import lyactrl
    >>> round(lyactrl.best_quadratic_rate([[-1.0, 0.0], [0.0, -3.0]], [[1.0, 0.0], [0.0, 1.0]]), 12)
    2.0
    """
    At = to_numpy(as_matrix(A, name="A"))
    Pt = check_positive_definite(as_matrix(P, name="P"), "P")
    Pn = to_numpy(Pt)
    if Pn.shape != At.shape:
        raise InvalidArgumentError(f"P: expected shape {At.shape} to match A, received {Pn.shape}")
    import scipy.linalg  # lazily, to keep `import lyactrl` fast

    if discrete:
        M = At.T @ Pn @ At
        return 1.0 - float(scipy.linalg.eigh(0.5 * (M + M.T), Pn, eigvals_only=True)[-1])
    Q = -(At.T @ Pn + Pn @ At)
    return float(scipy.linalg.eigh(0.5 * (Q + Q.T), Pn, eigvals_only=True)[0])


class Quadratic(AbstractCandidate):
    """The quadratic candidate ``V(x) = (x - x_eq)^T P (x - x_eq)``.

    Parameters
    ----------
    P : array_like, shape (n, n)
        Symmetric positive definite (checked with a tolerance scaled to ``||P||``).
    x_eq : array_like, optional
        The minimiser (zeros by default).

    Examples
    --------
    >>> import torch, lyactrl
    >>> V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    >>> V([[1.0, 2.0]]).tolist(), V.grad([[1.0, 2.0]]).tolist()
    ([5.0], [[2.0, 4.0]])
    """

    @checked_kwargs
    def __init__(self, P: Any, x_eq: Any = None) -> None:
        self.P = check_positive_definite(as_matrix(P, name="P"), "P")
        self.n_states = self.P.shape[0]
        self.x_eq = as_equilibrium(x_eq, self.n_states)
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    @checked_kwargs
    def from_linearization(
        cls, system: AbstractSystem, Q: Any = None, *, x_eq: Any = None
    ) -> Quadratic:
        """Solve ``A^T P + P A = -Q`` for the linearisation ``A`` of ``system`` at ``x_eq``.

        For a discrete-time system (``system.is_discrete``) the discrete Lyapunov equation
        ``A^T P A - P = -Q`` of the map's Jacobian ``A`` instead (scipy's
        ``solve_discrete_lyapunov``).

        Parameters
        ----------
        system : AbstractSystem
            An autonomous system.
        Q : array_like, optional
            Symmetric positive definite right-hand side (identity by default).
        x_eq : array_like, optional
            Linearisation point (``system.x_eq`` by default).

        Raises
        ------
        NotHurwitzError
            When ``A`` has an eigenvalue with real part >= 0 (no such ``P`` exists); for a map,
            one with modulus >= 1 (not Schur stable).

        Examples
        --------
        >>> import lyactrl
        >>> V = lyactrl.Quadratic.from_linearization(lyactrl.LinearSystem([[-1.0]]))
        >>> V.P.tolist()
        [[0.5]]
        """
        A = linearize(system, x_eq)
        n = A.shape[0]
        An = to_numpy(A)
        eig = np.linalg.eigvals(An)
        discrete = system.is_discrete
        if discrete and np.max(np.abs(eig)) >= 1.0 - 1e-12:
            shown = ", ".join(f"{e:.4g}" for e in eig)
            raise NotHurwitzError(
                f"system: expected a Schur stable linearisation of the map (all eigenvalues of "
                f"modulus < 1) so that A^T P A - P = -Q has a positive definite solution; "
                f"received eigenvalues [{shown}]"
            )
        if not discrete and np.max(eig.real) >= -1e-12 * max(1.0, np.abs(An).max()):
            shown = ", ".join(f"{e:.4g}" for e in eig)
            raise NotHurwitzError(
                f"system: expected a Hurwitz linearisation (all eigenvalues with real part < 0) "
                f"so that A^T P + P A = -Q has a positive definite solution; received "
                f"eigenvalues [{shown}]"
            )
        Qn = (
            np.eye(n)
            if Q is None
            else to_numpy(check_positive_definite(as_matrix(Q, name="Q"), "Q"))
        )
        if Qn.shape != (n, n):
            raise InvalidArgumentError(f"Q: expected shape {(n, n)}, received {Qn.shape}")
        import scipy.linalg  # lazily, to keep `import lyactrl` fast

        if discrete:  # scipy solves a X a^H - X + q = 0: a = A^T, q = Q
            P = scipy.linalg.solve_discrete_lyapunov(An.T, Qn)
        else:  # scipy solves a X + X a^H = q: a = A^T, q = -Q gives A^T P + P A = -Q.
            P = scipy.linalg.solve_continuous_lyapunov(An.T, -Qn)
        point = system.x_eq if x_eq is None else x_eq
        return cls(0.5 * (P + P.T), x_eq=point)

    def _mats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (like.dtype, like.device)
        if key not in self._cache:
            x_eq: torch.Tensor = self.x_eq  # type: ignore[assignment]
            self._cache[key] = (
                self.P.to(dtype=like.dtype, device=like.device),
                x_eq.to(dtype=like.dtype, device=like.device),
            )
        return self._cache[key]

    def value(self, x: torch.Tensor) -> torch.Tensor:
        P, x0 = self._mats(x)
        d = x - x0
        return ((d @ P) * d).sum(-1)

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        P, x0 = self._mats(x)
        d = x - x0
        Pd = d @ P
        return (Pd * d).sum(-1), 2.0 * Pd

    def __repr__(self) -> str:
        return f"Quadratic(n_states={self.n_states})"
