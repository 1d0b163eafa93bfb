"""The largest certified exponential rate, by bisection on the rate."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError
from .._tensors import as_positive
from ..bounds import Jet, candidate_jets, residual_jet
from ..conditions import ExponentialStability
from ..lyapunov import AbstractCandidate
from ..regions import AbstractRegion
from ..systems import AbstractSystem
from ._certify import Certificate, certify
from ._decay import decay_bound
from .._results import ResultMixin

__all__ = ["RateResult", "max_certified_rate", "local_rate_limit"]


@dataclasses.dataclass(frozen=True)
class RateResult(ResultMixin):
    """The result of :func:`max_certified_rate`.

    ``rate`` is certified (``certificate`` proves it on the whole region); ``upper`` is the
    smallest rate tried that was not certified (``upper_status`` says whether it was refuted
    or undecided), so the best certifiable rate lies in ``[rate, upper]`` when
    ``upper_status == "falsified"``.
    """

    status: str
    method: str
    seconds: float
    rate: float
    upper: float
    upper_status: str
    tol: float
    iterations: int
    certificate: Certificate | None

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        out = super().to_dict()
        out["certificate"] = None if self.certificate is None else self.certificate.to_dict()
        return out

    def __str__(self) -> str:
        return (
            f"max_certified_rate: {self.status}, rate {self.rate:.6g} (upper {self.upper:.6g}, "
            f"{self.upper_status}), {self.iterations} certify calls in {self.seconds:.3g} s"
        )


def local_rate_limit(system: AbstractSystem, V: AbstractCandidate) -> float | None:
    """The largest rate for which the residual's Hessian at ``x_eq`` is negative definite.

    With ``H0`` the Hessian of ``grad V . f`` and ``H_V`` that of ``V`` at ``x_eq``, it is the
    smallest generalised eigenvalue of ``(-H0, H_V)`` (for a quadratic ``V`` from the
    linearisation: :func:`lyactrl.best_quadratic_rate`). Above it the condition fails near
    ``x_eq``. ``None`` when the Hessians are not available or ``H_V`` is not positive definite.
    (A floating-point estimate, used to bracket the search, not a certificate.)
    """
    if V.x_eq is None:
        return None
    x0 = V.x_eq.detach().to(torch.float64).unsqueeze(0)
    X = Jet.variables(x0, x0, 2)
    cond = ExponentialStability(system, V, 1.0)
    h1 = residual_jet(cond, X).h
    hv = candidate_jets(V, X)[0].h
    H1 = 0.5 * (h1[0][0] + h1[1][0])  # type: ignore[index]
    HV = 0.5 * (hv[0][0] + hv[1][0])  # type: ignore[index]
    H0 = H1 - HV
    if not bool(torch.isfinite(H0).all() & torch.isfinite(HV).all()):
        return None
    HV = 0.5 * (HV + HV.T)
    try:
        L = torch.linalg.cholesky(HV)
    except RuntimeError:
        return None
    Li = torch.linalg.inv(L)
    M = Li @ (-0.5 * (H0 + H0.T)) @ Li.T
    return float(torch.linalg.eigvalsh(0.5 * (M + M.T))[0])


@checked_kwargs
def max_certified_rate(
    system: AbstractSystem,
    V: AbstractCandidate,
    region: AbstractRegion,
    *,
    tol: float = 1e-3,
    rate_max: float | None = None,
    max_boxes: int = 100_000,
    time_limit: float = 120.0,
    max_iterations: int = 40,
) -> RateResult:
    """The largest rate ``kappa`` certified for ``grad V . f + kappa V <= 0`` on ``region``.

    Bisection on the rate: the lower end is always certified (by :func:`certify`), the upper
    end is not; it stops when ``upper - rate <= tol * rate``. The search starts below the
    local limit at ``x_eq`` (:func:`local_rate_limit`) when there is one.

    Parameters
    ----------
    system, V, region
        The system, the candidate and where the condition must hold.
    tol : float
        Relative width of the final bracket.
    rate_max : float, optional
        Upper end to start from (the local limit by default, else 1 with doubling).
    max_boxes, time_limit : int, float
        Budget of each :func:`certify` call (boxes) and of the whole search (seconds).
    max_iterations : int
        Most certify calls.

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -3.0]])
    >>> V = lyactrl.Quadratic([[1.0, 0.0], [0.0, 1.0]])
    >>> res = lyactrl.max_certified_rate(sys, V, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]))
    >>> res.status, 0.99 * 2.0 <= res.rate <= 2.0
    ('certified', True)
    """
    start = time.perf_counter()
    tol = as_positive(tol, name="tol")
    time_limit = as_positive(time_limit, name="time_limit", allow_zero=True)
    if not isinstance(system, AbstractSystem) or not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(
            f"system, V: expected a lyactrl system and candidate, received "
            f"{type(system).__name__}, {type(V).__name__}"
        )
    hi = rate_max if rate_max is None else as_positive(rate_max, name="rate_max")
    if hi is None:
        lim = local_rate_limit(system, V)
        hi = lim * (1 + 1e-9) if lim is not None and lim > 0 else None
    lo, best = 0.0, None
    upper, upper_status = math.inf, "unknown"
    calls = 0

    def attempt(rate: float) -> Certificate:
        nonlocal calls
        calls += 1
        left = max(0.0, time_limit - (time.perf_counter() - start))
        return certify(
            ExponentialStability(system, V, rate),
            region,
            max_boxes=max_boxes,
            time_limit=left,
            decay=False,
        )

    probe = hi if hi is not None else 1.0
    res = attempt(probe)
    if res.status == "certified":
        lo, best = probe, res
        while calls < max_iterations and time.perf_counter() - start <= time_limit:
            probe *= 2.0
            res = attempt(probe)
            if res.status != "certified":
                upper, upper_status = probe, res.status
                break
            lo, best = probe, res
    else:
        upper, upper_status = probe, res.status
        while calls < max_iterations and time.perf_counter() - start <= time_limit:
            probe *= 0.5
            res = attempt(probe)
            if res.status == "certified":
                lo, best = probe, res
                break
            upper, upper_status = probe, res.status
    while (
        best is not None and upper < math.inf and upper - lo > tol * lo and calls < max_iterations
    ):
        if time.perf_counter() - start > time_limit:
            break
        mid = 0.5 * (lo + upper)
        res = attempt(mid)
        if res.status == "certified":
            lo, best = mid, res
        else:
            upper, upper_status = mid, res.status
    if best is not None:
        best = dataclasses.replace(best, decay_bound=decay_bound(V, lo, region))
    return RateResult(
        status="certified" if best is not None else "unknown",
        method="max_certified_rate",
        seconds=time.perf_counter() - start,
        rate=lo if best is not None else 0.0,
        upper=upper,
        upper_status=upper_status,
        tol=tol,
        iterations=calls,
        certificate=best,
    )
