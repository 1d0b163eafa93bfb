"""Simulation with torchdiffeq."""

from __future__ import annotations

from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import _to_tensor, as_states, check_finite
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

    Attributes
    ----------
    t : torch.Tensor
        Times, shape ``(T,)``.
    x : torch.Tensor
        States, shape ``(batch, T, n)`` (batch first), or ``(T, n)`` when ``x0`` was 1-D.
    method : str
        The torchdiffeq solver used.
    """

    def __init__(self, t: torch.Tensor, x: torch.Tensor, method: str) -> None:
        self.t = t
        self.x = x
        self.method = method

    @property
    def final(self) -> torch.Tensor:
        """The states at the last time, ``(batch, n)`` or ``(n,)``."""
        return self.x[..., -1, :]

    def __repr__(self) -> str:
        return f"Trajectory(t: {tuple(self.t.shape)}, x: {tuple(self.x.shape)}, method={self.method!r})"


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
    t : array_like, shape (T,)
        Increasing output times, ``t[0]`` the initial time.
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
        With ``.t`` and ``.x``, batch first.

    Examples
    --------
    >>> import torch, lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0]])
    >>> traj = lyactrl.simulate(sys, [1.0], torch.linspace(0, 1, 5, dtype=torch.float64))
    >>> round(float(traj.final[0]), 6)
    0.367879
    """
    import torchdiffeq

    if not isinstance(system, AbstractSystem):
        raise InvalidArgumentError(
            f"system: expected a lyactrl system, received {type(system).__name__}"
        )
    if method not in SOLVERS:
        raise InvalidValueError(f"method: expected one of {SOLVERS}, received {method!r}")
    single = _to_tensor(x0, "x0").ndim == 1
    x = as_states(x0, system.n_states, name="x0")
    tt = check_finite(_to_tensor(t, "t", dtype=x.dtype), "t").to(x.device)
    if tt.ndim != 1 or tt.shape[0] < 2:
        raise ShapeError(
            f"t: expected a 1-D tensor of at least 2 times, received {tuple(tt.shape)}"
        )
    if not bool((tt[1:] > tt[:-1]).all()):
        raise InvalidValueError("t: expected strictly increasing times")
    options: dict[str, Any] = {}
    if method in _FIXED and step_size is not None:
        options["step_size"] = step_size

    def rhs(time: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return system.vector_field(time, state)

    if adjoint:
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

        xs = torchdiffeq.odeint_adjoint(
            _Func(), x, tt, method=method, rtol=rtol, atol=atol, options=options
        )
    else:
        xs = torchdiffeq.odeint(rhs, x, tt, method=method, rtol=rtol, atol=atol, options=options)
    xs = xs.transpose(0, 1)
    return Trajectory(tt, xs[0] if single else xs, method)
