"""Best exponential rates of quadratic Lyapunov functions for linear systems, by LMI (cvxpy).

Two problems for ``x' = A x`` and ``V(x) = x^T P x``:

* ``P`` given: the largest ``kappa`` with ``A^T P + P A + kappa P <= 0`` (one SDP);
* ``P`` free: the largest ``kappa`` for which some ``P >= I`` satisfies the same LMI (bisection
  on ``kappa`` over SDP feasibility problems). The supremum is twice the distance of the
  spectrum of ``A`` to the imaginary axis.

The solver's answer is never trusted as is: the LMI is re-checked in numpy with ``eigvalsh``
and a rounding margin, and the reported rate is shrunk until the check passes.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs, optional_import
from .._errors import InvalidArgumentError, InvalidValueError
from .._results import ResultMixin, Status
from .._tensors import as_matrix, as_positive, positive_int, to_numpy
from ..lyapunov import Quadratic, best_quadratic_rate
from ..systems import LinearSystem
from ._solve import check_solver, solve_problem

__all__ = ["LMIRate", "lmi_rate", "verify_quadratic_rate"]

_EPS = float(np.finfo(np.float64).eps)


@dataclasses.dataclass(frozen=True)
class LMIRate(ResultMixin):
    """The result of :func:`lmi_rate`.

    ``status`` is ``"certified"`` when ``A^T P + P A + rate P <= 0`` was re-checked in numpy
    (largest eigenvalue ``<= -margin``, with ``margin`` a bound on the rounding error of forming
    the matrix and of ``eigvalsh``), so that ``V(x(t)) <= V(x(0)) exp(-rate t)`` holds for every
    trajectory; ``"infeasible"`` when no positive rate exists (``P`` given) or the solver found
    no ``P`` for the smallest rate tried (``P`` free); ``"unknown"`` when the solver failed or
    its answer could not be verified. ``rate`` is ``nan`` unless certified.
    """

    status: Status
    method: str
    seconds: float
    rate: float
    P: torch.Tensor | None
    solver: str
    solver_rate: float
    reference_rate: float
    max_eigenvalue: float
    margin: float
    n_solves: int
    message: str

    @property
    def V(self) -> Quadratic | None:
        """The certified candidate ``x^T P x`` (``None`` when there is none)."""
        return None if self.P is None else Quadratic(self.P)

    def __str__(self) -> str:
        return f"LMI rate ({self.method}): {self.status}, rate {self.rate:.6g}; {self.message}"


def _lmi_tolerance(A: np.ndarray, P: np.ndarray, kappa: float, M: np.ndarray) -> float:
    """A bound on the rounding error of forming ``M`` and of its computed eigenvalues."""
    n = A.shape[0]
    absA, absP = np.abs(A), np.abs(P)
    forming = (n + 3) * _EPS * np.linalg.norm(absA.T @ absP + absP @ absA + abs(kappa) * absP)
    eig = 8 * n * _EPS * np.linalg.norm(M)
    return 4.0 * (forming + eig) + np.finfo(np.float64).tiny


@checked_kwargs
def verify_quadratic_rate(A: Any, P: Any, rate: float) -> tuple[float, float, float]:
    """Check ``A^T P + P A + rate P <= 0`` in floating point with a rounding margin.

    Shrinks ``rate`` (at most five times) until the largest computed eigenvalue is at most
    ``-margin``.

    Parameters
    ----------
    A : array_like, shape (n, n)
        The system matrix of ``x' = A x``.
    P : array_like, shape (n, n)
        The (symmetrised) matrix of ``V(x) = x^T P x``; must be positive definite.
    rate : float
        The rate to verify (the start of the shrinking).

    Returns
    -------
    (rate, max_eigenvalue, margin)
        The largest verified rate (``nan`` when even the shrunk rates fail), the largest
        eigenvalue of ``A^T P + P A + rate P`` and the margin it was compared with.

    Examples
    --------
    >>> import numpy as np
    >>> from lyactrl.sdp import verify_quadratic_rate
    >>> rate, lam, margin = verify_quadratic_rate(-np.eye(2), np.eye(2), 2.0)
    >>> bool(rate < 2.0), bool(rate > 2.0 - 1e-12), bool(lam <= -margin)
    (True, True, True)
    """
    An = np.asarray(A, dtype=np.float64)
    Pn = np.asarray(P, dtype=np.float64)
    Pn = 0.5 * (Pn + Pn.T)
    p_min = float(np.linalg.eigvalsh(Pn)[0])
    if not p_min > 8 * Pn.shape[0] * _EPS * np.linalg.norm(Pn):
        return float("nan"), float("nan"), float("nan")
    kappa = float(rate)
    lam, tol = float("nan"), float("nan")
    for _ in range(6):
        M = An.T @ Pn + Pn @ An + kappa * Pn
        M = 0.5 * (M + M.T)
        tol = _lmi_tolerance(An, Pn, kappa, M)
        lam = float(np.linalg.eigvalsh(M)[-1])
        if lam <= -tol:
            return kappa, lam, tol
        # lowering kappa by d lowers every eigenvalue by at least d * lambda_min(P)
        kappa -= 1.01 * (lam + 2 * tol) / p_min + 4 * _EPS * abs(kappa)
    return float("nan"), lam, tol


def _as_A(A: Any) -> np.ndarray:
    if isinstance(A, LinearSystem):
        if A.n_inputs:
            raise InvalidArgumentError(
                f"A: expected an autonomous LinearSystem, received one with {A.n_inputs} inputs"
            )
        return to_numpy(A.A).astype(np.float64)
    return to_numpy(as_matrix(A, name="A"))


def _fixed_P(cp: Any, A: np.ndarray, P: np.ndarray, solver: str) -> tuple[float, str]:
    kappa = cp.Variable()
    lhs = A.T @ P + P @ A
    lhs = 0.5 * (lhs + lhs.T)
    problem = cp.Problem(cp.Maximize(kappa), [lhs + kappa * P << 0])
    outcome = solve_problem(problem, solver)
    if not outcome.solved:
        return float("nan"), outcome.message
    return float(kappa.value), ""


def _free_P(
    cp: Any, A: np.ndarray, solver: str, rtol: float, max_solves: int, min_rate: float
) -> tuple[float, np.ndarray | None, int, str]:
    n = A.shape[0]
    P = cp.Variable((n, n), symmetric=True)
    t = cp.Variable()
    kappa = cp.Parameter(nonneg=True)
    eye = np.eye(n)
    problem = cp.Problem(cp.Minimize(t), [P >> eye, P << t * eye, A.T @ P + P @ A + kappa * P << 0])

    def feasible(k: float) -> np.ndarray | None:
        kappa.value = k
        return np.array(P.value) if solve_problem(problem, solver).solved else None

    # Bracket without eigenvalues: P = I certifies -2 mu(A) (mu the log-norm), and no rate
    # exceeds -2 trace(A) / n (twice minus the mean real part of the eigenvalues).
    lo = max(-float(np.linalg.eigvalsh(0.5 * (A + A.T))[-1]) * 2.0 * (1 - 1e-3), 0.0)
    hi = -2.0 * float(np.trace(A)) / n
    if hi <= 0:
        return float("nan"), None, 0, f"trace(A) = {np.trace(A):.6g} >= 0: no positive rate"
    lo = max(lo, min_rate)
    best = feasible(lo)
    solves = 1
    if best is None:
        return float("nan"), None, solves, f"no P >= I found for the rate {lo:.6g}"
    best_k = lo
    while solves < max_solves and hi - best_k > rtol * hi:
        mid = 0.5 * (best_k + hi)
        found = feasible(mid)
        solves += 1
        if found is None:
            hi = mid
        else:
            best, best_k = found, mid
    return best_k, best, solves, "bisection"


@checked_kwargs
def lmi_rate(
    A: Any,
    *,
    P: Any = None,
    solver: str = "clarabel",
    rtol: float = 1e-4,
    max_solves: int = 40,
    min_rate: float = 1e-6,
) -> LMIRate:
    """Largest exponential rate certified by a quadratic Lyapunov function, by LMI.

    For ``x' = A x`` and ``V = x^T P x``, ``V' <= -kappa V`` everywhere if and only if
    ``A^T P + P A + kappa P <= 0``.

    Parameters
    ----------
    A : LinearSystem or array_like, shape (n, n)
        The system matrix.
    P : array_like, shape (n, n), optional
        A fixed positive definite ``P``: maximise ``kappa`` (one SDP; the exact answer is
        :func:`lyactrl.best_quadratic_rate`, reported as ``reference_rate``). Without ``P``,
        search over all ``P >= I`` by bisection on ``kappa`` (the supremum is
        ``-2 max Re eig(A)``, reported as ``reference_rate``).
    solver : {"clarabel", "scs"}
        The cvxpy SDP solver.
    rtol : float
        Relative width at which the bisection stops (``P`` free).
    max_solves : int
        At most this many SDPs in the bisection.
    min_rate : float
        The smallest rate tried when ``P`` is free; infeasible there means ``"infeasible"``.

    Returns
    -------
    LMIRate
        ``status`` ``"certified"`` / ``"infeasible"`` / ``"unknown"``; the verified ``rate``
        and ``P`` (``result.V`` is the :class:`~lyactrl.Quadratic`).

    Examples
    --------
    >>> import lyactrl
    >>> res = lyactrl.lmi_rate([[-1.0, 0.0], [0.0, -3.0]], P=[[1.0, 0.0], [0.0, 1.0]])
    >>> str(res.status), round(res.rate, 4), round(res.reference_rate, 4)
    ('certified', 2.0, 2.0)
    >>> free = lyactrl.lmi_rate([[-1.0, 5.0], [0.0, -3.0]])
    >>> str(free.status), round(free.rate, 2), round(free.reference_rate, 2)
    ('certified', 2.0, 2.0)
    """
    cp = optional_import("cvxpy")
    start = time.perf_counter()
    An = _as_A(A)
    solver = check_solver(solver)
    rtol = as_positive(rtol, name="rtol")
    max_solves = positive_int(max_solves, "max_solves")
    min_rate = as_positive(min_rate, name="min_rate")
    if P is not None:
        return _lmi_fixed(cp, An, P, _Run("lmi-fixed-P", start, solver))
    return _lmi_free(cp, An, _Run("lmi-bisection", start, solver), rtol, max_solves, min_rate)


def _lmi_fixed(cp: Any, A: np.ndarray, P: Any, run: _Run) -> LMIRate:
    """The best rate of a given ``P`` (one SDP), verified."""
    Pn = to_numpy(Quadratic(P).P)
    if Pn.shape != A.shape:
        raise InvalidValueError(f"P: expected shape {A.shape} to match A, received {Pn.shape}")
    run.reference, run.solves = best_quadratic_rate(A, Pn), 1
    raw, failure = _fixed_P(cp, A, Pn, run.solver)
    if failure:
        return run.result(Status.UNKNOWN, failure, raw=raw)
    if raw <= 0:
        return run.result(
            Status.INFEASIBLE,
            f"no positive rate: the best kappa for this P is {raw:.6g} (V does not decrease "
            "exponentially along every trajectory)",
            raw=raw,
        )
    return _verified(run, A, Pn, raw, raw)


def _lmi_free(
    cp: Any, A: np.ndarray, run: _Run, rtol: float, max_solves: int, min_rate: float
) -> LMIRate:
    """The best rate over every ``P >= I`` (bisection), verified."""
    run.reference = -2.0 * float(np.max(np.linalg.eigvals(A).real))
    raw, Pf, run.solves, note = _free_P(cp, A, run.solver, rtol, max_solves, min_rate)
    if Pf is None:
        return run.result(
            Status.INFEASIBLE,
            f"{note}; the largest real part of an eigenvalue of A is {-run.reference / 2:.6g}",
            raw=raw,
        )
    Pf = 0.5 * (Pf + Pf.T)
    # the exact best rate of the P found is at least the bisection's, then verified
    candidate = max(best_quadratic_rate(A, Pf), raw) if np.linalg.eigvalsh(Pf)[0] > 0 else raw
    return _verified(run, A, Pf, candidate, raw)


def _verified(run: _Run, A: np.ndarray, P: np.ndarray, candidate: float, raw: float) -> LMIRate:
    rate, lam, tol = verify_quadratic_rate(A, P, candidate)
    if not np.isfinite(rate) or rate <= 0:
        return run.result(
            Status.UNKNOWN,
            f"the solver's answer did not pass the numpy check (largest eigenvalue {lam:.3g}, "
            f"margin {tol:.3g})",
            raw=raw,
            lam=lam,
            tol=tol,
        )
    return run.result(
        Status.CERTIFIED,
        f"A^T P + P A + rate P has largest eigenvalue {lam:.3g} <= -{tol:.3g} (rounding "
        f"margin); closed-form reference {run.reference:.6g}, gap {run.reference - rate:.3g}",
        P=P,
        raw=raw,
        rate=rate,
        lam=lam,
        tol=tol,
    )


@dataclasses.dataclass
class _Run:
    """What every :class:`LMIRate` of one call shares."""

    method: str
    start: float
    solver: str
    reference: float = float("nan")
    solves: int = 0

    def result(
        self,
        status: Status,
        message: str,
        *,
        P: np.ndarray | None = None,
        raw: float = float("nan"),
        rate: float = float("nan"),
        lam: float = float("nan"),
        tol: float = float("nan"),
    ) -> LMIRate:
        return LMIRate(
            status=status,
            method=self.method,
            seconds=time.perf_counter() - self.start,
            rate=float(rate),
            P=None if P is None else torch.from_numpy(np.array(P)),
            solver=self.solver,
            solver_rate=float(raw),
            reference_rate=float(self.reference),
            max_eigenvalue=float(lam),
            margin=float(tol),
            n_solves=self.solves,
            message=message,
        )
