"""The largest certified exponential rate, by bisection on the rate."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, UnsupportedOperationError
from .._results import ResultMixin, Status
from .._tensors import as_positive
from ..bounds import proved_positive
from ..bounds.jets import Jet, candidate_jets, residual_jet
from ..conditions import ExponentialStability
from ..lyapunov import AbstractCandidate
from ..regions import AbstractRegion
from ..systems import AbstractSystem
from ._certify import Certificate, attach_decay, certify
from ._shard import check_workers

__all__ = [
    "RateResult",
    "max_certified_rate",
    "local_rate_limit",
    "as_condition",
    "default_rate",
    "DEFAULT_RATE_FRACTION",
]

#: The default rate is this fraction of the local limit at the equilibrium (see
#: :func:`default_rate`).
DEFAULT_RATE_FRACTION = 0.5


@dataclasses.dataclass(frozen=True)
class RateResult(ResultMixin):
    """The result of :func:`max_certified_rate`.

    ``status`` is ``certified`` when ``rate`` is certified (``certificate`` proves it on the
    whole region), ``falsified`` when a proved counterexample has ``grad V . f > 0``, so that no
    rate > 0 can be certified (``rate`` and ``upper`` are then 0; ``counterexamples`` holds that
    proved state), else ``unknown``. ``upper``
    is the smallest rate tried that was not certified (``upper_status`` says whether it was
    refuted or undecided), so the best certifiable rate lies in ``[rate, upper]`` when
    ``upper_status == "falsified"``.
    """

    status: Status
    method: str
    seconds: float
    message: str
    rate: float
    upper: float
    upper_status: str
    tol: float
    iterations: int
    certificate: Certificate | None
    counterexamples: torch.Tensor = dataclasses.field(
        default_factory=lambda: torch.zeros(0, 0, dtype=torch.float64)
    )

    def __str__(self) -> str:
        return (
            f"max_certified_rate: {self.status}, rate {self.rate:.6g} (upper {self.upper:.6g}, "
            f"{self.upper_status}), {self.iterations} certify calls in {self.seconds:.3g} s"
        )


def local_rate_limit(system: AbstractSystem, V: AbstractCandidate) -> float | None:
    """The largest rate for which the residual's Hessian at ``x_eq`` is negative definite
    (at most 1 for a discrete-time system).

    With ``H0`` the Hessian of ``grad V . f`` and ``H_V`` that of ``V`` at ``x_eq``, it is the
    smallest generalised eigenvalue of ``(-H0, H_V)`` (for a quadratic ``V`` from the
    linearisation: :func:`lyactrl.best_quadratic_rate`). Above it the condition fails near
    ``x_eq``. ``None`` when the Hessians are not available or ``H_V`` is not positive definite.
    (A floating-point estimate, used to bracket the search, not a certificate.)

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system.
    V : AbstractCandidate
        A candidate with an equilibrium ``x_eq`` and second derivatives supported by the
        certifier.

    Returns
    -------
    float or None

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.verify import local_rate_limit
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> local_rate_limit(sys, lyactrl.Quadratic(torch.eye(2)))
    2.0
    """
    if V.x_eq is None:
        return None
    return _local_limit(ExponentialStability(system, V, 1.0))


def _hessians_from_jets(cond: ExponentialStability, V: AbstractCandidate) -> tuple[Any, Any]:
    x0 = cond.x_eq.to(torch.float64).unsqueeze(0)  # type: ignore[union-attr]
    X = Jet.variables(x0, x0, 2)
    h1 = residual_jet(cond, X).h
    hv = candidate_jets(V, X)[0].h
    return 0.5 * (h1[0][0] + h1[1][0]), 0.5 * (hv[0][0] + hv[1][0])  # type: ignore[index]


def _hessians_from_autograd(cond: ExponentialStability, V: AbstractCandidate) -> tuple[Any, Any]:
    x0 = cond.x_eq.to(torch.float64)  # type: ignore[union-attr]
    hess = torch.autograd.functional.hessian
    H1 = hess(lambda z: cond.evaluate(z.unsqueeze(0))[0], x0)
    HV = hess(lambda z: V.value(z.unsqueeze(0))[0], x0)
    return H1.detach(), HV.detach()


def _local_limit(condition: ExponentialStability) -> float | None:
    """:func:`local_rate_limit` of a condition (its margin included)."""
    V = condition.V
    if condition.x_eq is None:
        return None
    cond = condition.replace(rate=1.0)
    try:
        H1, HV = _hessians_from_jets(cond, V)
    except UnsupportedOperationError:  # an estimate only: autograd works on any module
        H1, HV = _hessians_from_autograd(cond, V)
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
    limit = float(torch.linalg.eigvalsh(0.5 * (M + M.T))[0])
    return min(limit, 1.0) if condition.system.is_discrete else limit


def as_condition(
    args: tuple[Any, ...],
    rate: float | None,
    name: str,
    *,
    n_rest: int,
    searches_rate: bool = False,
) -> tuple[ExponentialStability, tuple[Any, ...]]:
    """``(condition, *rest)`` or ``(system, V, *rest)`` -> the condition and ``rest``.

    ``searches_rate``: the caller replaces the rate (a rate search), so ``(system, V)`` gets a
    placeholder rate of 1 instead of the default policy.

    With ``(system, V)`` the rate is ``rate`` or, by default, :func:`default_rate` (half the local limit at
    ``x_eq``; with a condition, ``rate`` must be ``None``.
    """
    if args and isinstance(args[0], ExponentialStability):
        if rate is not None:
            raise InvalidArgumentError(
                f"rate: {name}(condition, ...) takes the condition's rate; received rate={rate}"
                " as well (use condition.replace(rate=...))"
            )
        cond, rest = args[0], args[1:]
    elif len(args) >= 2 and isinstance(args[0], AbstractSystem):
        system, V, rest = args[0], args[1], args[2:]
        if rate is None and searches_rate:
            rate = 1.0
        if rate is None:
            rate = default_rate(system, V)
        cond = ExponentialStability(system, V, rate)
    else:
        kinds = ", ".join(type(a).__name__ for a in args)
        raise InvalidArgumentError(
            f"{name}: expected (condition, ...) with an ExponentialStability condition or "
            f"(system, V, ...), received ({kinds})"
        )
    if len(rest) != n_rest:
        raise InvalidArgumentError(
            f"{name}: expected {n_rest} argument(s) after the condition (or system and V), "
            f"received {len(rest)}"
        )
    return cond, rest


def default_rate(system: AbstractSystem, V: AbstractCandidate) -> float:
    """The one default rate policy: half the local limit at ``x_eq``.

    The local limit (:func:`local_rate_limit`) is the largest rate the linearisation allows
    for ``V``: above it the condition fails next to the equilibrium. Half of it leaves room
    for the nonlinearity while promising a decay rate of the same order as the linear one;
    a smaller rate buys a larger certified region (:func:`rate_level_front` shows the
    trade-off). ``region_of_attraction``, ``lyactrl verify`` and ``lyactrl demo`` all use it.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system.
    V : AbstractCandidate
        A candidate with ``x_eq``.

    Returns
    -------
    float
        ``DEFAULT_RATE_FRACTION`` times the local limit; ``InvalidValueError`` when the limit
        is not positive (no rate is possible near ``x_eq``).

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> lyactrl.verify.default_rate(sys, lyactrl.Quadratic([[1.0, 0.0], [0.0, 1.0]]))
    1.0
    """
    if not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(f"V: expected a candidate, received {type(V).__name__}")
    if V.x_eq is None:
        raise InvalidArgumentError(
            "V: expected a candidate with an equilibrium x_eq (V(x_eq) = 0) for the default "
            f"rate, received {type(V).__name__} without x_eq"
        )
    lim = local_rate_limit(system, V)
    if lim is None or lim <= 0:
        raise InvalidValueError(
            "rate: no default rate, since the residual's Hessian at x_eq is not negative "
            f"definite for any rate > 0 (local limit {lim}); pass rate= explicitly"
        )
    return DEFAULT_RATE_FRACTION * lim


@dataclasses.dataclass
class _Bracket:
    """The rate search: ``lo`` certified by ``best``, ``upper`` not (with its status)."""

    condition: ExponentialStability
    region: AbstractRegion
    max_boxes: int
    time_limit: float
    start: float
    lo: float = 0.0
    best: Certificate | None = None
    upper: float = math.inf
    upper_status: str = "unknown"
    calls: int = 0
    refuted_for_every_rate: Any = None
    cap: float = math.inf  # 1 in discrete time (rate in (0, 1])
    workers: int = 1
    executor: str = "process"

    def done(self, max_iterations: int) -> bool:
        """Out of calls or time, or a counterexample refutes every rate > 0."""
        return (
            self.calls >= max_iterations
            or self.time_left() < 0
            or self.refuted_for_every_rate is not None
        )

    def time_left(self) -> float:
        return self.time_limit - (time.perf_counter() - self.start)

    def attempt(self, rate: float) -> bool:
        """Certify at ``rate``; move the bracket; whether it was certified."""
        self.calls += 1
        res = certify(
            self.condition.replace(rate=rate),
            self.region,
            max_boxes=self.max_boxes,
            time_limit=max(0.0, self.time_left()),
            decay=False,
            progress=False,  # many short calls: no bar each
            workers=self.workers,
            executor=self.executor,
        )
        if res.status == Status.CERTIFIED:
            self.lo, self.best = rate, res
            return True
        self.upper, self.upper_status = rate, str(res.status)
        if res.status == Status.FALSIFIED and self.refuted_for_every_rate is None:
            self.refuted_for_every_rate = _fails_at_rate_zero(self.condition, res)
        return False


def _fails_at_rate_zero(condition: ExponentialStability, res: Certificate) -> Any:
    """A counterexample where ``grad V . f > 0`` is proved (then no rate > 0 works), or None.

    The residual grows with the rate (``V >= 0``), so a violation proved at the smallest
    positive rate is a violation at every rate."""
    if not res.counterexamples.shape[0]:
        return None
    tiny = condition.replace(rate=5e-324)
    proved = proved_positive(tiny, res.counterexamples)
    return res.counterexamples[proved][:1] if bool(proved.any()) else None


def _bracket(b: _Bracket, probe: float, max_iterations: int) -> None:
    """Double from a certified probe, or halve from a failed one, until the bracket closes."""
    probe = min(probe, b.cap)
    up = b.attempt(probe)
    while not b.done(max_iterations):
        if up and probe >= b.cap:
            return
        probe = min(probe * 2.0, b.cap) if up else probe * 0.5
        if b.attempt(probe) != up:
            return


def _bisect(b: _Bracket, tol: float, max_iterations: int) -> None:
    while b.best is not None and b.upper < math.inf and b.upper - b.lo > tol * b.lo:
        if b.done(max_iterations):
            return
        b.attempt(0.5 * (b.lo + b.upper))


@checked_kwargs
def max_certified_rate(
    *args: Any,
    tol: float = 1e-3,
    rate_max: float | None = None,
    max_boxes: int = 100_000,
    time_limit: float = 120.0,
    max_iterations: int = 40,
    workers: int = 1,
    executor: str = "process",
) -> RateResult:
    """The largest rate ``kappa`` certified for ``grad V . f + kappa V <= 0`` on ``region``.

    Called as ``max_certified_rate(condition, region)`` (the condition's rate is replaced,
    its margin kept) or as the convenience ``max_certified_rate(system, V, region)``.
    Bisection on the rate: the lower end is always certified (by :func:`certify`), the upper
    end is not; it stops when ``upper - rate <= tol * rate``. The search starts below the
    local limit at ``x_eq`` (:func:`local_rate_limit`) when there is one.

    Parameters
    ----------
    *args
        ``(condition, region)`` or ``(system, V, region)``.
    tol : float
        Relative width of the final bracket.
    rate_max : float, optional
        Upper end to start from (the local limit by default, else 1 with doubling).
    max_boxes, time_limit : int, float
        Budget of each :func:`certify` call (boxes) and of the whole search (seconds).
    max_iterations : int
        Most certify calls.
    workers, executor
        Passed to each :func:`certify` call (its sharded branch and bound).

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
    cond, (region,) = as_condition(args, None, "max_certified_rate", n_rest=1, searches_rate=True)
    tol = as_positive(tol, name="tol")
    b = _Bracket(
        cond,
        region,
        max_boxes,
        as_positive(time_limit, name="time_limit", allow_zero=True),
        start,
        cap=1.0 if cond.system.is_discrete else math.inf,
    )
    b.workers, b.executor = check_workers(workers, executor)
    hi = None if rate_max is None else as_positive(rate_max, name="rate_max")
    if hi is None:
        lim = _local_limit(cond)
        hi = lim * (1 + 1e-9) if lim is not None and lim > 0 else None
    _bracket(b, hi if hi is not None else 1.0, max_iterations)
    _bisect(b, tol, max_iterations)
    best = b.best
    status, message = Status.UNKNOWN, "no rate > 0 was certified within the budget"
    if best is not None:
        best = attach_decay(best, cond.replace(rate=b.lo), region, max_boxes=max_boxes)
        status, message = Status.CERTIFIED, ""
    elif b.refuted_for_every_rate is not None:
        x = b.refuted_for_every_rate[0].tolist()
        status, b.upper = Status.FALSIFIED, 0.0
        message = f"no rate > 0 works: grad V . f > 0 at x = {x} (proved by its enclosure)"
    return RateResult(
        status=status,
        method="max_certified_rate",
        seconds=time.perf_counter() - start,
        message=message,
        rate=b.lo if best is not None else 0.0,
        upper=b.upper,
        upper_status=b.upper_status,
        tol=tol,
        iterations=b.calls,
        certificate=best,
        counterexamples=(
            b.refuted_for_every_rate
            if b.refuted_for_every_rate is not None
            else torch.zeros(0, cond.n_states, dtype=torch.float64)
        ),
    )
