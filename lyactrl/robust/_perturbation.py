"""Perturbation bounds from an exponential-stability certificate (derivations in
``docs/robustness.md``).

Premise: ``grad V . f + kappa V <= 0`` on a set ``S``. The perturbed system
``x' = f(x) + d(t, x)`` with ``||d|| <= delta`` then has ``V' <= -kappa V + ||grad V|| delta``
while it stays in ``S``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._results import ResultMixin, Status
from .._tensors import as_positive, as_states
from ..lyapunov import AbstractCandidate, Quadratic
from ..systems import AbstractSystem, Trajectory, simulate

__all__ = [
    "disturbance_bound",
    "ultimate_bound",
    "QuadraticISS",
    "quadratic_iss",
    "simulate_worst_case",
]


@checked_kwargs
def disturbance_bound(v0: Any, t: Any, *, rate: float, delta: float, grad_bound: float) -> Any:
    """``V(t) <= V(0) e^(-kappa t) + (G delta / kappa) (1 - e^(-kappa t))``.

    Valid while the trajectory stays in a set where ``V' <= -kappa V`` holds for the
    unperturbed system and ``||grad V|| <= G``.

    Parameters
    ----------
    v0 : float or array_like
        ``V`` at the initial state(s).
    t : float or array_like
        Times (broadcast against ``v0``).
    rate, delta, grad_bound : float
        ``kappa > 0``, the disturbance size ``delta >= 0`` and ``G >= 0``.

    Examples
    --------
    >>> from lyactrl.robust import disturbance_bound
    >>> round(float(disturbance_bound(1.0, 0.0, rate=1.0, delta=0.5, grad_bound=2.0)), 6)
    1.0
    >>> round(float(disturbance_bound(0.0, 50.0, rate=1.0, delta=0.5, grad_bound=2.0)), 6)
    1.0
    """
    k = as_positive(rate, name="rate")
    d = as_positive(delta, name="delta", allow_zero=True)
    g = as_positive(grad_bound, name="grad_bound", allow_zero=True)
    decay = np.exp(-k * np.asarray(t, dtype=np.float64))
    return np.asarray(v0, dtype=np.float64) * decay + (g * d / k) * (1.0 - decay)


@checked_kwargs
def ultimate_bound(*, rate: float, delta: float, grad_bound: float) -> float:
    """The level ``G delta / kappa`` that ``V`` eventually enters and never leaves.

    Parameters
    ----------
    rate, delta, grad_bound : float
        ``kappa > 0``, the disturbance size ``delta >= 0`` and ``G >= 0`` (a bound of
        ``||grad V||``), as in :func:`disturbance_bound`.

    Examples
    --------
    >>> from lyactrl.robust import ultimate_bound
    >>> ultimate_bound(rate=2.0, delta=0.5, grad_bound=2.0)
    0.5
    """
    k = as_positive(rate, name="rate")
    return (
        as_positive(grad_bound, name="grad_bound", allow_zero=True)
        * as_positive(delta, name="delta", allow_zero=True)
        / k
    )


@dataclasses.dataclass(frozen=True)
class QuadraticISS(ResultMixin):
    """Input-to-state bounds for ``V = (x - x_eq)^T P (x - x_eq)`` with ``V' <= -kappa V``.

    With ``||grad V|| = 2 ||P x|| <= 2 sqrt(lambda_max V)``, ``W = sqrt(V)`` obeys
    ``W' <= -(kappa / 2) W + sqrt(lambda_max) delta``, so

    * ``sqrt(V(t)) <= sqrt(V(0)) e^(-kappa t / 2) + w_ult (1 - e^(-kappa t / 2))`` with
      ``w_ult = 2 sqrt(lambda_max) delta / kappa`` (``ultimate_level = w_ult^2``);
    * ``||x(t) - x_eq|| <= sqrt(lambda_max / lambda_min) e^(-kappa t / 2) ||x0 - x_eq||
      + iss_gain * delta`` with ``iss_gain = 2 sqrt(lambda_max / lambda_min) / kappa``;
    * when the premise holds on ``{V <= level}``, that set stays invariant (the robust region
      of attraction) iff ``delta <= max_disturbance = kappa sqrt(level) / (2 sqrt(lambda_max))``;
      ``robust_level`` is then ``level``, else ``None``.

    ``lambda_min`` and ``lambda_max`` are the float64 eigenvalues of ``P`` moved outward by the
    rounding margin ``10 n eps ||P||_F`` (so every constant errs on the safe side).

    Attributes
    ----------
    status : Status
        What the constants promise, which is what the premise ``V' <= -kappa V`` promises:
        ``certified`` when the ``premise`` given to :func:`quadratic_iss` was proved (a
        ``certified`` :class:`~lyactrl.verify.Certificate` with a rate ``>= kappa``; the
        derivation from it is exact algebra on outward-rounded eigenvalues);
        ``holds_on_samples`` when the premise only held on samples; ``unknown`` when no
        premise was given, or it was refuted, unproved or proved for a smaller rate.
    method : str
        ``"quadratic_iss"``.
    seconds : float
        Wall time.
    message : str
        Where the premise comes from and what is missing.
    """

    status: Status
    method: str
    seconds: float
    message: str
    rate: float
    delta: float
    lambda_min: float
    lambda_max: float
    ultimate_level: float
    ultimate_radius: float
    iss_gain: float
    overshoot: float
    level: float | None
    robust_level: float | None
    max_disturbance: float | None

    def value_bound(self, v0: Any, t: Any) -> np.ndarray:
        """Upper bound on ``V(x(t))`` from ``V(x(0)) = v0``."""
        decay = np.exp(-0.5 * self.rate * np.asarray(t, dtype=np.float64))
        w_ult = math.sqrt(self.ultimate_level)
        w = np.sqrt(np.asarray(v0, dtype=np.float64)) * decay + w_ult * (1.0 - decay)
        return w * w

    def state_bound(self, r0: Any, t: Any) -> np.ndarray:
        """Upper bound on ``||x(t) - x_eq||`` from ``||x(0) - x_eq|| = r0``."""
        decay = np.exp(-0.5 * self.rate * np.asarray(t, dtype=np.float64))
        return self.overshoot * np.asarray(
            r0, dtype=np.float64
        ) * decay + self.iss_gain * self.delta * (1.0 - decay)


def _premise_status(premise: Any, rate: float) -> tuple[Status, str]:
    """The status the premise ``V' <= -rate V`` gives the ISS constants, and why."""
    if premise is None:
        return Status.UNKNOWN, (
            "the premise V' <= -rate V was not given as proved; pass premise=<the Certificate "
            "of ExponentialStability(system, V, rate) on {V <= level}> to certify these bounds"
        )
    raw = getattr(premise, "status", premise)
    try:
        st = Status.of(raw)
    except ValueError:
        raise InvalidValueError(
            f"premise: expected a Certificate (or a result with a status) or a status string, "
            f"received {premise!r}"
        ) from None
    proved_rate = getattr(premise, "rate", None)
    if st in (Status.CERTIFIED, Status.HOLDS_ON_SAMPLES) and proved_rate is not None:
        if float(proved_rate) < rate:
            return Status.UNKNOWN, (
                f"the premise holds for rate {float(proved_rate):.6g} only, below rate={rate:.6g}"
            )
    if st == Status.CERTIFIED:
        return Status.CERTIFIED, "the premise V' <= -rate V is proved (certified)"
    if st == Status.HOLDS_ON_SAMPLES:
        return Status.HOLDS_ON_SAMPLES, (
            "the premise V' <= -rate V only held on samples: the bounds are statistical"
        )
    return Status.UNKNOWN, f"the premise V' <= -rate V is not proved (its status: {st})"


def _eigen_range(P: np.ndarray) -> tuple[float, float]:
    """``(lambda_min, lambda_max)`` of ``P`` moved outward by a rounding margin."""
    eig = np.linalg.eigvalsh(P)
    margin = 10.0 * P.shape[0] * np.finfo(np.float64).eps * float(np.linalg.norm(P))
    lmin, lmax = float(eig[0]) - margin, float(eig[-1]) + margin
    if lmin <= 0.0:
        raise InvalidValueError(
            f"V: expected a positive definite P, received smallest eigenvalue {float(eig[0]):.3g} "
            f"(not above the rounding margin {margin:.3g})"
        )
    return lmin, lmax


@checked_kwargs
def quadratic_iss(
    V: Quadratic,
    *,
    rate: float,
    delta: float,
    level: float | None = None,
    premise: Any = None,
) -> QuadraticISS:
    """ISS gain, ultimate bound and robust region for a quadratic certificate.

    Parameters
    ----------
    V : Quadratic
        The certificate ``V(x) = (x - x_eq)^T P (x - x_eq)``.
    rate : float
        ``kappa > 0`` with ``V' <= -kappa V`` for the unperturbed system (on ``{V <= level}``
        when ``level`` is given, everywhere otherwise).
    delta : float
        Bound on the disturbance, ``||d(t)||_2 <= delta``.
    level : float, optional
        The certified level (e.g. ``region_of_attraction(...).level``).
    premise : Certificate or str, optional
        What establishes ``V' <= -rate V``: the :class:`~lyactrl.verify.Certificate` of
        ``ExponentialStability(system, V, rate)`` on ``{V <= level}`` (or any result with a
        ``status``), or a status string. It sets the result's ``status``; the caller vouches
        that it is about this ``V`` and this set. Without it the status is ``unknown``.

    Examples
    --------
    >>> import lyactrl
    >>> from lyactrl.robust import quadratic_iss
    >>> V = lyactrl.Quadratic([[1.0, 0.0], [0.0, 1.0]])
    >>> r = quadratic_iss(V, rate=2.0, delta=0.1, level=1.0)
    >>> round(r.ultimate_radius, 6), round(r.iss_gain, 6), r.robust_level, str(r.status)
    (0.1, 1.0, 1.0, 'unknown')
    >>> str(quadratic_iss(V, rate=2.0, delta=0.1, premise="certified").status)
    'certified'
    """
    t0 = time.perf_counter()
    if not isinstance(V, Quadratic):
        raise InvalidArgumentError(
            f"V: expected a Quadratic candidate, received {type(V).__name__}"
        )
    k = as_positive(rate, name="rate")
    d = as_positive(delta, name="delta", allow_zero=True)
    lev = None if level is None else as_positive(level, name="level")
    status, message = _premise_status(premise, k)
    lmin, lmax = _eigen_range(V.P.detach().double().numpy())
    w_ult = 2.0 * math.sqrt(lmax) * d / k
    max_d = None if lev is None else k * math.sqrt(lev) / (2.0 * math.sqrt(lmax))
    robust = lev if (lev is not None and max_d is not None and d <= max_d) else None
    return QuadraticISS(
        status=status,
        method="quadratic_iss",
        seconds=time.perf_counter() - t0,
        message=message,
        rate=k,
        delta=d,
        lambda_min=lmin,
        lambda_max=lmax,
        ultimate_level=w_ult**2,
        ultimate_radius=w_ult / math.sqrt(lmin),
        iss_gain=2.0 * math.sqrt(lmax / lmin) / k,
        overshoot=math.sqrt(lmax / lmin),
        level=lev,
        robust_level=robust,
        max_disturbance=max_d,
    )


class _WorstCase(AbstractSystem):
    """``x' = f(x) + delta grad V / ||grad V||``: the disturbance that maximises ``V'``."""

    def __init__(self, system: AbstractSystem, V: AbstractCandidate, delta: float) -> None:
        self.system, self.V, self.delta = system, V, delta
        self.n_states, self.x_eq = system.n_states, system.x_eq

    def vector_field(self, t: Any, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        g = self.V.value_and_gradient(x)[1]
        n = g.norm(dim=-1, keepdim=True)
        unit = torch.where(n > 0, g / n.clamp_min(torch.finfo(g.dtype).tiny), torch.zeros_like(g))
        return self.system.vector_field(t, x) + self.delta * unit


@checked_kwargs
def simulate_worst_case(
    system: AbstractSystem,
    V: AbstractCandidate,
    x0: Any,
    t: Any,
    *,
    delta: float,
    method: str = "dopri5",
) -> Trajectory:
    """Simulate ``x' = f(x) + d`` with the disturbance ``d = delta grad V / ||grad V||``.

    Among all ``||d|| <= delta`` this one maximises ``V' = grad V . (f + d)`` at every state,
    so it is the worst case for the bounds above.

    Parameters
    ----------
    system : AbstractSystem
        The nominal (autonomous) system ``f``.
    V : AbstractCandidate
        The candidate whose gradient steers the disturbance.
    x0 : array_like, shape (n,) or (batch, n)
        Initial state(s).
    t : array_like
        Output times, as in :func:`lyactrl.simulate`.
    delta : float
        The disturbance size ``delta >= 0``.
    method : str
        The solver, as in :func:`lyactrl.simulate`.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.robust import simulate_worst_case
    >>> sys, V = lyactrl.LinearSystem([[-1.0]]), lyactrl.Quadratic([[1.0]])
    >>> tr = simulate_worst_case(sys, V, [1.0], torch.linspace(0, 20, 3), delta=0.5)
    >>> round(float(tr.final[0]), 4)
    0.5
    """
    if not isinstance(system, AbstractSystem) or not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(
            f"system, V: expected a lyactrl system and candidate, received "
            f"{type(system).__name__} and {type(V).__name__}"
        )
    d = as_positive(delta, name="delta", allow_zero=True)
    as_states(x0, system.n_states, name="x0")
    return simulate(_WorstCase(system, V, d), x0, t, method=method)
