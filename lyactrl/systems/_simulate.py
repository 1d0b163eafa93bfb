"""Simulation with torchdiffeq."""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._results import Status
from .._tensors import as_states, check_finite, to_tensor
from ._base import AbstractSystem

__all__ = ["simulate", "Trajectory", "SOLVERS"]

#: Solvers accepted by :func:`simulate` (torchdiffeq's names).
SOLVERS = (
    "dopri5",
    "dopri8",
    "bosh3",
    "fehlberg2",
    "adaptive_heun",
    "tsit5",
    "euler",
    "midpoint",
    "rk4",
    "explicit_adams",
    "implicit_adams",
)
_FIXED = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")


class Trajectory:
    """The result of :func:`simulate`.

    Parameters
    ----------
    t : torch.Tensor
        Times, shape ``(T,)``.
    x : torch.Tensor
        States, batch first.
    method : str
        The solver used.
    status : Status
        ``Status.ESTIMATED`` for a completed simulation (a numerical solution, not a bound);
        ``Status.DIVERGED`` when the solution left the floats or the adaptive solver's step
        underflowed (a finite-time blow-up) before the last time.
    message : str
        Why the trajectory stops early ("" when it reached the last time).
    seconds : float
        Wall time of the integration.

    Attributes
    ----------
    t : torch.Tensor
        Times reached, shape ``(T,)``: the requested times up to the blow-up, if any.
    x : torch.Tensor
        States, shape ``(batch, T, n)`` (batch first), or ``(T, n)`` when ``x0`` was 1-D.
    method : str
        The torchdiffeq solver used.
    status, message, seconds
        As above.
    """

    @checked_kwargs
    def __init__(
        self,
        t: torch.Tensor,
        x: torch.Tensor,
        method: str,
        *,
        status: Status = Status.ESTIMATED,
        message: str = "",
        seconds: float = 0.0,
    ) -> None:
        self.t = t
        self.x = x
        self.method = method
        self.status = status
        self.message = message
        self.seconds = seconds

    @property
    def final(self) -> torch.Tensor:
        """The states at the last time, ``(batch, n)`` or ``(n,)``."""
        return self.x[..., -1, :]

    def __repr__(self) -> str:
        return (
            f"Trajectory(t: {tuple(self.t.shape)}, x: {tuple(self.x.shape)}, "
            f"method={self.method!r}, status={self.status.value!r})"
        )


def _is_blow_up(exc: BaseException) -> bool:
    return isinstance(exc, OverflowError) or (
        isinstance(exc, AssertionError) and "underflow in dt" in str(exc)
    )


def _finite_prefix(xs: torch.Tensor) -> int:
    """The number of leading times (dimension 0) at which every state is finite."""
    ok = torch.isfinite(xs.reshape(xs.shape[0], -1)).all(dim=1)
    bad = (~ok).nonzero()
    return int(bad[0, 0]) if bad.numel() else xs.shape[0]


def _stepwise(solve: Callable, x: torch.Tensor, tt: torch.Tensor) -> tuple[torch.Tensor, str]:
    """Integrate from output time to output time until the solver fails (after a failure of
    the whole run): the trajectory up to the last time reached."""
    states = [x]
    why = ""
    for i in range(tt.shape[0] - 1):
        try:
            nxt = solve(states[-1], tt[i : i + 2])[-1]
        except (AssertionError, OverflowError) as exc:
            if not _is_blow_up(exc):
                raise
            why = f"{type(exc).__name__}: {exc}"
            break
        if not bool(torch.isfinite(nxt).all()):
            why = "non-finite states"
            break
        states.append(nxt)
    return torch.stack(states), why


def _integrate(
    solve: Callable, x: torch.Tensor, tt: torch.Tensor
) -> tuple[torch.Tensor, Status, str]:
    """``(states (T', batch, n), status, message)``.

    A run that leaves the floats is ``DIVERGED``. When the solver itself fails (an adaptive
    step underflows at a blow-up) the whole batch ends at the last time reached. When it does
    not (fixed steps), only the rows that blew up are non-finite after their blow-up and
    every time is kept, so one divergent trajectory does not cut the others short.
    """
    try:
        xs = solve(x, tt)
    except (AssertionError, OverflowError) as exc:
        if not _is_blow_up(exc):
            raise
        xs, why = _stepwise(solve, x, tt)
        k = _finite_prefix(xs)
        return xs[:k], Status.DIVERGED, _blow_up_message(tt, k, why)
    finite = torch.isfinite(xs).all(dim=-1)  # (T, batch)
    if bool(finite.all()):
        return xs, Status.ESTIMATED, ""
    rows = ~finite.all(dim=0)
    if x.shape[0] == 1 or bool(rows.all()):
        k = _finite_prefix(xs)
        return xs[:k], Status.DIVERGED, _blow_up_message(tt, k, "non-finite states")
    return (
        xs,
        Status.DIVERGED,
        (
            f"{int(rows.sum())} of {x.shape[0]} trajectories blow up (or leave the float64 range): "
            "their states are non-finite after the blow-up; the others are complete"
        ),
    )


def _blow_up_message(tt: torch.Tensor, k: int, why: str) -> str:
    stop = float(tt[k - 1])
    return (
        f"the solution blows up (or leaves the float64 range) after t = {stop:.6g}: the "
        f"solver stopped ({why}) before t = {float(tt[k]):.6g}; the trajectory ends at the "
        f"last time reached"
    )


def iterate(system: AbstractSystem, x0: Any, n_steps: Any) -> Any:
    """Iterate a discrete system ``n_steps`` times (what :func:`~lyactrl.simulate` does for
    one): a :class:`~lyactrl.Trajectory` with times ``k dt`` (``k`` when ``dt`` is ``None``)."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise InvalidArgumentError(
            f"t: a discrete system is simulated for a number of steps (an int >= 0), received "
            f"{n_steps!r}"
        )
    single = torch.as_tensor(x0).ndim == 1
    x = as_states(x0, system.n_states, name="x0")
    start = _time.perf_counter()
    states, status, message = [x], Status.ESTIMATED, ""
    with torch.no_grad():
        for k in range(n_steps):
            nxt = system.vector_field(float(k), states[-1])
            states.append(nxt)
            if not bool(torch.isfinite(nxt).all()):
                status = Status.DIVERGED
                message = f"states leave the float64 range at step {k + 1}"
                if x.shape[0] == 1:
                    states.pop()
                    break
    xs = torch.stack(states, dim=1)
    dt = 1.0 if getattr(system, "dt", None) is None else float(system.dt)  # type: ignore[attr-defined]
    t = torch.arange(xs.shape[1], dtype=torch.float64) * dt
    return Trajectory(
        t,
        xs[0] if single else xs,
        "discrete",
        status=status,
        message=message,
        seconds=_time.perf_counter() - start,
    )


@checked_kwargs
def simulate(
    system: AbstractSystem,
    x0: Any,
    t: Any,
    *,
    method: str = "dopri5",
    rtol: float = 1e-7,
    atol: float = 1e-9,
    step_size: float | None = None,
    adjoint: bool = False,
) -> Trajectory:
    """Integrate ``x' = f(x)`` from ``x0`` over the times ``t`` with torchdiffeq.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system.
    x0 : array_like, shape (batch, n) or (n,)
        Initial states.
    t : array_like, shape (T,), or int
        Increasing output times, ``t[0]`` the initial time; for a discrete system
        (``system.is_discrete``) the number of steps to iterate (the trajectory's times are then
        ``k dt``).
    method : str
        A torchdiffeq solver (see :data:`SOLVERS`); ``"rk4"`` etc. are fixed-step.
    rtol, atol : float
        Tolerances of adaptive solvers.
    step_size : float, optional
        Step of fixed-step solvers (the spacing of ``t`` by default).
    adjoint : bool
        Use the adjoint method (``torchdiffeq.odeint_adjoint``) for gradients; needs a system
        whose parameters live in an ``nn.Module``.

    Returns
    -------
    Trajectory
        With ``.t`` and ``.x``, batch first. A finite-time blow-up (``x' = x**2`` from 1
        escapes at ``t = 1``) does not raise: the trajectory stops at the last output time
        reached, with ``status`` ``Status.DIVERGED`` and a ``message``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0]])
    >>> traj = lyactrl.simulate(sys, [1.0], torch.linspace(0, 1, 5, dtype=torch.float64))
    >>> round(float(traj.final[0]), 6)
    0.367879
    """
    if system.is_discrete:
        if method != "dopri5":
            raise InvalidArgumentError(
                f"method: a discrete system is iterated, not integrated; received method={method!r}"
            )
        return iterate(system, x0, t)
    import torchdiffeq

    single, x, tt = _check_inputs(system, method, x0, t)
    options: dict[str, Any] = {}
    if method in _FIXED and step_size is not None:
        options["step_size"] = step_size

    def rhs(time: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return system.vector_field(time, state)

    solve = _solver(system, rhs, adjoint, torchdiffeq, method, rtol, atol, options)
    t0 = _time.perf_counter()
    xs, status, message = _integrate(solve, x, tt)
    xs = xs.transpose(0, 1)
    return Trajectory(
        tt[: xs.shape[1]],
        xs[0] if single else xs,
        method,
        status=status,
        message=message,
        seconds=_time.perf_counter() - t0,
    )


def _solver(
    system: AbstractSystem,
    rhs: Callable,
    adjoint: bool,
    torchdiffeq: Any,
    method: str,
    rtol: float,
    atol: float,
    options: dict[str, Any],
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``solve(x0, times)`` with torchdiffeq (the adjoint method on a module when asked)."""
    kw = {"method": method, "rtol": rtol, "atol": atol, "options": options}
    if not adjoint:
        return lambda x0, times: torchdiffeq.odeint(rhs, x0, times, **kw)
    module = getattr(system, "module", None)
    if not isinstance(module, torch.nn.Module):
        raise InvalidArgumentError(
            "adjoint: the adjoint method needs a NeuralSystem (parameters in an nn.Module)"
        )

    class _Func(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, time: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
            return rhs(time, state)

    func = _Func()
    return lambda x0, times: torchdiffeq.odeint_adjoint(func, x0, times, **kw)


def _check_inputs(
    system: Any, method: str, x0: Any, t: Any
) -> tuple[bool, torch.Tensor, torch.Tensor]:
    """Validate the arguments of :func:`simulate`: ``(x0 was 1-D, states, times)``."""
    if not isinstance(system, AbstractSystem):
        raise InvalidArgumentError(
            f"system: expected a lyactrl system, received {type(system).__name__}"
        )
    if method not in SOLVERS:
        raise InvalidValueError(f"method: expected one of {SOLVERS}, received {method!r}")
    single = to_tensor(x0, "x0").ndim == 1
    x = as_states(x0, system.n_states, name="x0")
    tt = check_finite(to_tensor(t, "t", dtype=x.dtype), "t").to(x.device)
    if tt.ndim != 1 or tt.shape[0] < 2:
        raise ShapeError(
            f"t: expected a 1-D tensor of at least 2 times, received {tuple(tt.shape)}"
        )
    if not bool((tt[1:] > tt[:-1]).all()):
        raise InvalidValueError("t: expected strictly increasing times")
    return single, x, tt
