"""The system interface and the operations every system supports."""

from __future__ import annotations

import abc
from typing import Any

import torch

from .._errors import InvalidArgumentError, ShapeError
from .._tensors import as_states, as_vector

__all__ = ["AbstractSystem", "linearize", "check_autonomous"]


class AbstractSystem(abc.ABC):
    """A continuous-time system ``x' = f(x)`` (or ``f(x, u)`` for a plant with inputs).

    Attributes
    ----------
    n_states : int
        Dimension of the state.
    n_inputs : int
        Dimension of the input ``u`` (0 for an autonomous system).
    x_eq : torch.Tensor
        The equilibrium of interest, a float64 vector of shape ``(n_states,)``.
    x_eq_declared : bool
        Whether ``x_eq`` is the system's own (given, or exact for its kind) rather than a
        default of zeros; a condition's ``V.x_eq`` must then agree with it.

    Notes
    -----
    Subclasses implement :meth:`vector_field`, the unchecked hot path. ``system(x)`` validates
    its input (shape, dtype, finiteness) and then calls it.
    """

    n_states: int
    n_inputs: int = 0
    x_eq: torch.Tensor
    x_eq_declared: bool = True

    @abc.abstractmethod
    def vector_field(
        self, t: float | torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Evaluate ``f`` at time ``t`` on a validated batch ``x`` of shape ``(batch, n)``."""

    def __call__(self, x: Any, u: Any = None) -> torch.Tensor:
        """Evaluate ``f(x)`` (or ``f(x, u)``) on a batch of states, validated."""
        xt = as_states(x, self.n_states, name="x")
        ut = None
        if self.n_inputs:
            if u is None:
                raise InvalidArgumentError(
                    f"u: this system has {self.n_inputs} inputs, so it needs u of shape "
                    f"(batch, {self.n_inputs}); received None. Close the loop with "
                    "ClosedLoop(plant, controller) to get an autonomous system."
                )
            ut = as_states(u, self.n_inputs, name="u", dtype=xt.dtype)
            if ut.shape[0] not in (1, xt.shape[0]):
                raise ShapeError(
                    f"u: expected batch {xt.shape[0]} (or 1) to match x, received {ut.shape[0]}"
                )
        elif u is not None:
            raise InvalidArgumentError("u: this system has no inputs; received a value for u")
        return self.vector_field(0.0, xt, ut)


def check_autonomous(system: Any, name: str = "system") -> AbstractSystem:
    """Check that ``system`` is a lyactrl system without inputs.

    Parameters
    ----------
    system : object
        The value to check.
    name : str
        The argument's name in the error message.

    Returns
    -------
    AbstractSystem
        ``system`` itself.

    Raises
    ------
    InvalidArgumentError
        When ``system`` is not a lyactrl system or has inputs.

    Examples
    --------
    >>> import lyactrl
    >>> from lyactrl.systems import check_autonomous
    >>> plant = lyactrl.LinearSystem([[0.0]], B=[[1.0]])
    >>> try:
    ...     check_autonomous(plant, "plant")
    ... except lyactrl.InvalidArgumentError as e:
    ...     print(str(e).split(";")[0])
    plant: expected an autonomous system, received one with 1 inputs
    """
    if not isinstance(system, AbstractSystem):
        raise InvalidArgumentError(
            f"{name}: expected a lyactrl system, received {type(system).__name__}"
        )
    if system.n_inputs:
        raise InvalidArgumentError(
            f"{name}: expected an autonomous system, received one with {system.n_inputs} "
            "inputs; close the loop with ClosedLoop(plant, controller)"
        )
    return system


def linearize(system: AbstractSystem, x_eq: Any = None) -> torch.Tensor:
    """Jacobian ``A = df/dx`` at ``x_eq`` by automatic differentiation (float64).

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system.
    x_eq : array_like, optional
        Where to linearise; ``system.x_eq`` by default.

    Returns
    -------
    torch.Tensor
        The ``(n, n)`` Jacobian in float64.

    Examples
    --------
    >>> import torch, lyactrl
    >>> A = torch.tensor([[0.0, 1.0], [-2.0, -3.0]], dtype=torch.float64)
    >>> lyactrl.linearize(lyactrl.LinearSystem(A)).tolist()
    [[0.0, 1.0], [-2.0, -3.0]]
    """
    check_autonomous(system)
    point = system.x_eq if x_eq is None else as_vector(x_eq, system.n_states, name="x_eq")
    point = point.to(torch.float64)

    def f(z: torch.Tensor) -> torch.Tensor:
        return system.vector_field(0.0, z.unsqueeze(0)).squeeze(0)

    jac = torch.autograd.functional.jacobian(f, point)
    return jac.detach().to(torch.float64)
