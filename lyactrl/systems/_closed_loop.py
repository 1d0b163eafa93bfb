"""A plant with inputs closed by a state-feedback controller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, ShapeError
from .._tensors import as_matrix, as_vector
from ._base import AbstractSystem

__all__ = ["ClosedLoop"]


class ClosedLoop(AbstractSystem):
    """The autonomous system ``x' = f(x, k(x))`` of a plant ``f`` and a controller ``k``.

    Parameters
    ----------
    plant : AbstractSystem
        A system with ``n_inputs > 0`` (e.g. ``LinearSystem(A, B)`` or a
        ``SymbolicSystem(..., inputs=...)``). A discrete-time plant
        (:class:`~lyactrl.DiscreteSystem` with inputs) gives the discrete closed loop
        ``x+ = F(x, k(x))``.
    controller : torch.nn.Module, callable or array_like
        A map from ``(batch, n_states)`` to ``(batch, n_inputs)``; a matrix ``K`` of shape
        ``(n_inputs, n_states)`` means ``u = -K x`` (python-control's sign convention for
        ``lqr`` gains). The certifier bounds a module's ``forward`` and traces a plain
        function with ``torch.fx`` like a ``forward``, so a saturated controller such as
        ``lambda x: torch.clamp(-x @ K.T, -1.0, 1.0)`` is certified as written.
    x_eq : array_like, optional
        The closed-loop equilibrium; the plant's by default.

    Attributes
    ----------
    state_names : tuple of str
        The plant's state names.

    Examples
    --------
    >>> import lyactrl
    >>> plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
    >>> loop = lyactrl.ClosedLoop(plant, [[1.0, 2.0]])
    >>> lyactrl.linearize(loop).tolist()
    [[0.0, 1.0], [-1.0, -2.0]]
    """

    @checked_kwargs
    def __init__(self, plant: AbstractSystem, controller: Any, *, x_eq: Any = None) -> None:
        if not isinstance(plant, AbstractSystem) or plant.n_inputs == 0:
            got = type(plant).__name__ if not isinstance(plant, AbstractSystem) else "0 inputs"
            raise InvalidArgumentError(
                f"plant: expected a lyactrl system with inputs (n_inputs > 0), received {got}"
            )
        self.plant = plant
        self.n_states = plant.n_states
        self.x_eq = plant.x_eq if x_eq is None else as_vector(x_eq, self.n_states, name="x_eq")
        self.x_eq_declared = x_eq is not None or plant.x_eq_declared
        # a discrete plant (a map) closed by u = k(x) is the map x+ = F(x, k(x))
        self.is_discrete = plant.is_discrete
        self.dt = getattr(plant, "dt", None)
        self._set_names(plant.state_names)
        self.gain: torch.Tensor | None = None
        if isinstance(controller, nn.Module) or callable(controller):
            self.controller: Callable[[torch.Tensor], torch.Tensor] | nn.Module = controller
        else:
            self.gain = as_matrix(
                controller,
                name="controller",
                square=False,
                rows=plant.n_inputs,
                cols=plant.n_states,
            )
            self.controller = self._linear_feedback

    def _linear_feedback(self, x: torch.Tensor) -> torch.Tensor:
        gain: torch.Tensor = self.gain  # type: ignore[assignment]
        return -x @ gain.T.to(dtype=x.dtype, device=x.device)

    def _control(self, x: torch.Tensor) -> torch.Tensor:
        u = self._raw_control(x)
        n_in = self.plant.n_inputs
        if not isinstance(u, torch.Tensor) or tuple(u.shape) != (x.shape[0], n_in):
            got = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
            raise ShapeError(
                f"controller: expected output shape (batch, {n_in}) = ({x.shape[0]}, {n_in}) "
                f"for input {tuple(x.shape)}, received {got}"
            )
        return u

    def _raw_control(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.controller, nn.Module):
            p = next(self.controller.parameters(), None)
            if p is not None and p.dtype != x.dtype:
                return self.controller(x.to(p.dtype)).to(x.dtype)
        return self.controller(x)

    def vector_field(
        self, t: float | torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.plant.vector_field(t, x, self._control(x))

    def __repr__(self) -> str:
        return f"ClosedLoop({self.plant!r}, {type(self.controller).__name__})"
