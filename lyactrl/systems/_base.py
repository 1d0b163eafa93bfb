"""The system interface and the operations every system supports."""

from __future__ import annotations

import abc
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import as_states, as_vector

__all__ = ["AbstractSystem", "linearize", "check_autonomous", "check_names"]


def check_names(names: Any, n: int, name: str) -> tuple[str, ...] | None:
    """Validate ``n`` distinct, non-empty names (``None`` passes through: the default names).

    Examples
    --------
    >>> from lyactrl.systems._base import check_names
    >>> check_names(["theta", "omega"], 2, "state_names")
    ('theta', 'omega')
    """
    if names is None:
        return None
    if isinstance(names, str):
        names = [s for s in names.replace(",", " ").split() if s]
    try:
        out = tuple(names)
    except TypeError as exc:
        raise InvalidArgumentError(
            f"{name}: expected a sequence of {n} strings, received {type(names).__name__}"
        ) from exc
    if not all(isinstance(s, str) and s for s in out):
        raise InvalidArgumentError(f"{name}: expected non-empty strings, received {list(out)!r}")
    if len(out) != n:
        raise ShapeError(f"{name}: expected {n} names, received {len(out)}: {list(out)!r}")
    if len(set(out)) != n:
        raise InvalidValueError(f"{name}: expected distinct names, received {list(out)!r}")
    return out


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
    is_discrete : bool
        ``False`` here: ``f`` is a vector field. A :class:`~lyactrl.DiscreteSystem` (and a
        :class:`~lyactrl.ClosedLoop` of a discrete plant) is a map ``x_{k+1} = f(x_k)``.
    x_eq_declared : bool
        Whether ``x_eq`` is the system's own (given, or exact for its kind) rather than a
        default of zeros; a condition's ``V.x_eq`` must then agree with it.
    state_names, input_names : tuple of str
        Names of the states and inputs (``x1, x2, ...`` and ``u1, ...`` unless the system was
        given names, e.g. by its symbols or by python-control's labels); figures use them for
        axis labels and :func:`~lyactrl.to_control` writes them back.

    Notes
    -----
    Subclasses implement :meth:`vector_field`, the unchecked hot path. ``system(x)`` validates
    its input (shape, dtype, finiteness) and then calls it.
    """

    n_states: int
    n_inputs: int = 0
    x_eq: torch.Tensor
    x_eq_declared: bool = True
    is_discrete: bool = False
    _state_names: tuple[str, ...] | None = None
    _input_names: tuple[str, ...] | None = None

    @property
    def state_names(self) -> tuple[str, ...]:
        """The state names (``x1 ... xn`` by default)."""
        if self._state_names is not None:
            return self._state_names
        return tuple(f"x{k + 1}" for k in range(self.n_states))

    @property
    def input_names(self) -> tuple[str, ...]:
        """The input names (``u1 ... um`` by default; empty for an autonomous system)."""
        if self._input_names is not None:
            return self._input_names
        return tuple(f"u{k + 1}" for k in range(self.n_inputs))

    def _set_names(self, state_names: Any = None, input_names: Any = None) -> None:
        """Validate and keep the names (call once ``n_states`` and ``n_inputs`` are set)."""
        self._state_names = check_names(state_names, self.n_states, "state_names")
        if input_names is not None and not self.n_inputs:
            raise InvalidArgumentError(
                "input_names: this system has no inputs; received names for inputs"
            )
        self._input_names = check_names(input_names, self.n_inputs, "input_names")

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


@checked_kwargs
def linearize(
    system: AbstractSystem, x_eq: Any = None, *, u_eq: Any = None
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Jacobians of ``f`` at an operating point by automatic differentiation (float64).

    As ``control.linearize(sys, xeq, ueq)``: an autonomous system gives ``A = df/dx`` at
    ``x_eq``; a plant with inputs gives the pair ``(A, B) = (df/dx, df/du)`` at ``(x_eq,
    u_eq)``. Gradients come from autograd through the system's torch code, not from finite
    differences.

    Parameters
    ----------
    system : AbstractSystem
        A system, autonomous or with inputs.
    x_eq : array_like, optional
        The state where to linearise; ``system.x_eq`` by default.
    u_eq : array_like, optional
        The operating input, shape ``(n_inputs,)``; zeros by default. Only for a plant with
        inputs.

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        ``A`` of shape ``(n, n)`` for an autonomous system; ``(A, B)`` with ``B`` of shape
        ``(n, m)`` for a plant with ``m > 0`` inputs. float64.

    Examples
    --------
    >>> import torch, lyactrl
    >>> A = torch.tensor([[0.0, 1.0], [-2.0, -3.0]], dtype=torch.float64)
    >>> lyactrl.linearize(lyactrl.LinearSystem(A)).tolist()
    [[0.0, 1.0], [-2.0, -3.0]]
    >>> plant = lyactrl.SymbolicSystem(["x2", "-sin(x1) + x1*u"], "x1, x2", inputs="u")
    >>> A, B = lyactrl.linearize(plant, [0.0, 0.0], u_eq=[2.0])
    >>> A.tolist(), B.tolist()
    ([[0.0, 1.0], [1.0, 0.0]], [[0.0], [0.0]])
    """
    if not isinstance(system, AbstractSystem):
        raise InvalidArgumentError(
            f"system: expected a lyactrl system, received {type(system).__name__}"
        )
    point = system.x_eq if x_eq is None else as_vector(x_eq, system.n_states, name="x_eq")
    point = point.to(torch.float64)
    m = system.n_inputs
    if not m:
        if u_eq is not None:
            raise InvalidArgumentError("u_eq: this system has no inputs; received a value")

        def f(z: torch.Tensor) -> torch.Tensor:
            return system.vector_field(0.0, z.unsqueeze(0)).squeeze(0)

        return torch.autograd.functional.jacobian(f, point).detach().to(torch.float64)
    u0 = torch.zeros(m, dtype=torch.float64) if u_eq is None else as_vector(u_eq, m, name="u_eq")

    def g(z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return system.vector_field(0.0, z.unsqueeze(0), v.unsqueeze(0)).squeeze(0)

    A, B = torch.autograd.functional.jacobian(g, (point, u0.to(torch.float64)))
    return A.detach().to(torch.float64), B.detach().to(torch.float64)
