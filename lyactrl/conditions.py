"""Conditions: residual functions whose value ``<= 0`` means satisfied at a state."""

from __future__ import annotations

import abc
from typing import Any

import torch

from ._api import checked_kwargs
from ._errors import InvalidArgumentError, ShapeError
from ._tensors import as_positive, as_states
from .lyapunov import AbstractCandidate
from .systems import AbstractSystem
from .systems._base import check_autonomous

__all__ = ["AbstractCondition", "ExponentialStability", "BarrierCondition"]


class AbstractCondition(abc.ABC):
    """A pointwise condition ``residual(x) <= 0``.

    Attributes
    ----------
    n_states : int
        State dimension.
    x_eq : torch.Tensor or None
        A point where the residual is 0 by construction (the equilibrium), or ``None``.
    """

    n_states: int
    x_eq: torch.Tensor | None

    @abc.abstractmethod
    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """The residual on a validated batch ``(batch, n)``: shape ``(batch,)``, unchecked."""

    def residual(self, x: Any) -> torch.Tensor:
        """The residual on a batch ``(batch, n)``, validated; ``<= 0`` means satisfied."""
        return self.evaluate(as_states(x, self.n_states, name="x"))


def _check_pair(system: Any, V: Any, name: str) -> None:
    check_autonomous(system)
    if not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(
            f"{name}: expected a scalar function such as Quadratic or SymbolicCandidate, "
            f"received {type(V).__name__}"
        )
    if V.n_states is not None and V.n_states != system.n_states:
        raise ShapeError(
            f"{name}: expected a function of {system.n_states} states to match the system, "
            f"received one of {V.n_states}"
        )


class ExponentialStability(AbstractCondition):
    """The exponential-decrease condition ``grad V(x) . f(x) + rate * V(x) <= 0``.

    Where it holds on a sublevel set of ``V``, ``V(x(t)) <= V(x(0)) exp(-rate t)``.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system ``x' = f(x)``.
    V : AbstractCandidate
        The Lyapunov candidate.
    rate : float
        The decay rate ``kappa > 0``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    >>> cond.residual([[1.0, 1.0]]).tolist()
    [-4.0]
    """

    @checked_kwargs
    def __init__(self, system: AbstractSystem, V: AbstractCandidate, rate: float) -> None:
        _check_pair(system, V, "V")
        self.system = system
        self.V = V
        self.rate = as_positive(rate, name="rate")
        self.n_states = system.n_states
        self.x_eq = V.x_eq if V.x_eq is not None else None

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        v, g = self.V.value_and_gradient(x)
        f = self.system.vector_field(0.0, x)
        return (g * f).sum(-1) + self.rate * v

    def with_rate(self, rate: float) -> ExponentialStability:
        """The same condition with another rate."""
        return ExponentialStability(self.system, self.V, rate)

    def __repr__(self) -> str:
        return f"ExponentialStability({self.system!r}, {self.V!r}, rate={self.rate:g})"


class BarrierCondition(AbstractCondition):
    """The barrier condition ``grad B(x) . f(x) + rate * B(x) <= 0`` for a safe set ``{B <= 0}``.

    Where it holds on a region containing the safe set, a trajectory that starts with
    ``B <= 0`` keeps ``B(x(t)) <= B(x(0)) exp(-rate t) <= 0``: the safe set is forward invariant.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system.
    B : AbstractCandidate
        The barrier function, e.g. ``SymbolicCandidate("x1**2 + x2**2 - 4", "x1, x2")``.
    rate : float
        ``alpha > 0``.

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    >>> B = lyactrl.SymbolicCandidate("x1**2 + x2**2 - 1", "x1, x2")
    >>> lyactrl.BarrierCondition(sys, B, rate=1.0).residual([[1.0, 0.0]]).tolist()
    [-2.0]
    """

    @checked_kwargs
    def __init__(self, system: AbstractSystem, B: AbstractCandidate, rate: float) -> None:
        _check_pair(system, B, "B")
        self.system = system
        self.B = B
        self.rate = as_positive(rate, name="rate")
        self.n_states = system.n_states
        self.x_eq = None

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        b, g = self.B.value_and_gradient(x)
        f = self.system.vector_field(0.0, x)
        return (g * f).sum(-1) + self.rate * b

    def __repr__(self) -> str:
        return f"BarrierCondition({self.system!r}, {self.B!r}, rate={self.rate:g})"
