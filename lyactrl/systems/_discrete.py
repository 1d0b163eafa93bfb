"""Discrete-time systems ``x_{k+1} = F(x_k)`` (or ``F(x_k, u_k)``): maps and discretised flows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._api import checked_kwargs, choice
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import as_positive, as_vector
from ._base import AbstractSystem
from ._linear import LinearSystem
from ._neural import NeuralSystem
from ._symbolic import SymbolicSystem

__all__ = ["DiscreteSystem", "DISCRETIZATIONS"]

#: How :meth:`DiscreteSystem.discretize` turns a flow into a map: explicit Euler
#: ``x + dt f(x, u)`` or the classical fourth-order Runge-Kutta step, with ``u`` held over the
#: step (zero-order hold).
DISCRETIZATIONS = ("euler", "rk4")


def _as_step(
    step: Any, states: Any, inputs: Any, n_states: int | None, parameters: Any
) -> AbstractSystem:
    """The map's formula as a system: given, or built from a module, expressions or a matrix."""
    if isinstance(step, DiscreteSystem):
        raise InvalidArgumentError(
            "step: expected the map's formula (a system, module, expressions or matrix), "
            "received a DiscreteSystem, which already is a map"
        )
    if isinstance(step, AbstractSystem):
        if states is not None or inputs is not None or n_states is not None:
            raise InvalidArgumentError(
                "states: states=, inputs= and n_states= describe expressions or a module; "
                f"received them with a {type(step).__name__}, which has its own"
            )
        return step
    if isinstance(step, nn.Module):
        if n_states is None:
            raise InvalidArgumentError(
                "n_states: a module map needs n_states= (the state dimension); received None"
            )
        return NeuralSystem(step, n_states)
    if states is not None:
        if isinstance(step, str) or not isinstance(step, Sequence):
            raise InvalidArgumentError(
                f"step: with states= expected a sequence of expressions, received "
                f"{type(step).__name__}"
            )
        # the expressions are a map, not a vector field: F(x_eq) = x_eq is checked here
        return SymbolicSystem(
            step, states, inputs=inputs, parameters=parameters, check_equilibrium=False
        )
    return LinearSystem(step)


class DiscreteSystem(AbstractSystem):
    """The discrete-time system ``x_{k+1} = F(x_k)`` (or ``F(x_k, u_k)`` for a plant).

    Every lyactrl check works on it through the same condition: :class:`ExponentialStability`
    of a discrete system is ``V(F(x)) - V(x) + rate V(x) <= 0`` with ``rate`` in ``(0, 1]``,
    so that ``V(x_k) <= (1 - rate)^k V(x_0)``; :func:`~lyactrl.simulate` iterates the map.

    Parameters
    ----------
    step : AbstractSystem, torch.nn.Module, sequence of expressions or array_like
        The map ``F``: a lyactrl system whose ``vector_field`` *is* the map (for example
        ``LinearSystem(A, B)`` for ``x+ = A x + B u``), an ``nn.Module`` (with ``n_states``),
        sympy expressions or strings (with ``states``), or a matrix ``A`` (``x+ = A x``).
    states : sequence of names or a comma-separated string, optional
        The state variables of expressions.
    inputs : sequence of names, optional
        The input variables of expressions (the map is then a plant for
        :class:`~lyactrl.ClosedLoop`).
    n_states : int, optional
        The state dimension of a module map.
    parameters : dict, optional
        Values of further symbols in expressions.
    dt : float, optional
        The sampling period: the time between two steps (``None``: unspecified, steps count as
        unit times, as python-control's ``dt=True``).
    x_eq : array_like, optional
        The fixed point ``F(x_eq) = x_eq`` (zero input); zeros by default, checked for
        expressions and matrices to ``|F(x_eq) - x_eq| <= 1e-9``.

    Attributes
    ----------
    step : AbstractSystem
        The map's formula (for :meth:`discretize`: the flow being discretised).
    discretization : str
        ``"map"`` for a given map, else the method of :meth:`discretize`.
    is_discrete : bool
        ``True``.

    Examples
    --------
    >>> import lyactrl
    >>> ahmadi = lyactrl.DiscreteSystem(
    ...     ["0.687*x + 0.558*y - 0.0001*x*y", "-0.292*x + 0.773*y"], states="x, y"
    ... )
    >>> ahmadi([[1.0, 0.0]]).tolist()
    [[0.687, -0.292]]
    >>> euler = lyactrl.DiscreteSystem.discretize(lyactrl.LinearSystem([[-1.0]]), dt=0.1)
    >>> euler([[1.0]]).tolist()
    [[0.9]]
    """

    is_discrete = True

    @checked_kwargs
    def __init__(
        self,
        step: Any,
        states: Any = None,
        *,
        inputs: Any = None,
        n_states: int | None = None,
        parameters: dict[Any, float] | None = None,
        dt: float | None = None,
        x_eq: Any = None,
    ) -> None:
        self.step = _as_step(step, states, inputs, n_states, parameters)
        self._init(self.step, "map", dt, x_eq)

    def _init(self, step: AbstractSystem, how: str, dt: float | None, x_eq: Any) -> None:
        if step.is_discrete:
            raise InvalidArgumentError("step: expected a formula, received a discrete system")
        self.step = step
        self.discretization = how
        self.dt = None if dt is None else as_positive(dt, name="dt")
        self.n_states = step.n_states
        self.n_inputs = step.n_inputs
        self.x_eq = step.x_eq if x_eq is None else as_vector(x_eq, self.n_states, name="x_eq")
        self.x_eq = self.x_eq.detach().to(torch.float64)
        self.x_eq_declared = x_eq is not None or (how != "map" and step.x_eq_declared)
        self._set_names(step.state_names, step.input_names if step.n_inputs else None)
        if how == "map" and isinstance(step, (LinearSystem, SymbolicSystem)):
            self._check_fixed_point()

    def _check_fixed_point(self) -> None:
        x = self.x_eq.unsqueeze(0)
        u0 = torch.zeros(1, self.n_inputs, dtype=torch.float64) if self.n_inputs else None
        gap = float((self.vector_field(0.0, x, u0) - x).abs().max())
        if gap > 1e-9:
            raise InvalidValueError(
                f"x_eq: expected a fixed point of the map (F(x_eq) = x_eq), received x_eq = "
                f"{self.x_eq.tolist()} with |F(x_eq) - x_eq| = {gap:.3g}"
            )

    @classmethod
    @checked_kwargs
    def discretize(
        cls, system: AbstractSystem, dt: float, *, method: str = "euler", x_eq: Any = None
    ) -> DiscreteSystem:
        """The map of one step of length ``dt`` of a continuous system (or plant).

        Parameters
        ----------
        system : AbstractSystem
            A continuous-time system, autonomous (for example a :class:`~lyactrl.ClosedLoop`,
            whose controller is then evaluated at every stage) or a plant with inputs (the
            input is held over the step; close the loop on the discrete plant).
        dt : float
            The step, ``> 0``.
        method : {"euler", "rk4"}
            Explicit Euler ``x + dt f(x, u)`` or classical Runge-Kutta 4 (see
            :data:`DISCRETIZATIONS`).
        x_eq : array_like, optional
            The fixed point (the system's equilibrium by default).

        Examples
        --------
        >>> import lyactrl
        >>> plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
        >>> d = lyactrl.DiscreteSystem.discretize(plant, dt=0.5)
        >>> d([[1.0, 1.0]], u=[[2.0]]).tolist()
        [[1.5, 2.0]]
        """
        if not isinstance(system, AbstractSystem) or system.is_discrete:
            got = type(system).__name__
            raise InvalidArgumentError(
                f"system: expected a continuous-time lyactrl system, received {got}"
            )
        if dt is None:
            raise InvalidArgumentError("dt: expected a step > 0, received None")
        out = cls.__new__(cls)
        out._init(system, choice(method, "method", DISCRETIZATIONS), dt, x_eq)
        return out

    def vector_field(
        self, t: float | torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The map ``F(x[, u])`` (the name is the one every system evaluates through)."""

        def f(z: torch.Tensor) -> torch.Tensor:
            return (
                self.step.vector_field(t, z, u) if self.n_inputs else self.step.vector_field(t, z)
            )

        if self.discretization == "map":
            return f(x)
        h = float(self.dt)  # type: ignore[arg-type]
        if self.discretization == "euler":
            return x + h * f(x)
        k1 = f(x)
        k2 = f(x + (0.5 * h) * k1)
        k3 = f(x + (0.5 * h) * k2)
        k4 = f(x + h * k3)
        return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    def __repr__(self) -> str:
        dt = "" if self.dt is None else f", dt={self.dt:g}"
        how = "" if self.discretization == "map" else f", {self.discretization}"
        return f"DiscreteSystem({self.step!r}{how}{dt})"
