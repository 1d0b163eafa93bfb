"""Interoperation with python-control (the optional ``control`` extra)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs, optional_import
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import to_numpy
from ._base import AbstractSystem
from ._linear import LinearSystem

__all__ = ["from_control", "to_control", "ControlFunctionSystem"]


class ControlFunctionSystem(AbstractSystem):
    """A python-control ``NonlinearIOSystem`` evaluated row by row in numpy.

    Its right-hand side is a numpy function, so there are no gradients: ``linearize`` and the
    gradient-based checks need a :class:`SymbolicSystem` or a :class:`NeuralSystem` instead.
    Sampled checks work. Usually built by :func:`from_control`.

    Parameters
    ----------
    sys : control.NonlinearIOSystem
        A continuous-time system; its ``updfcn`` is called with its ``params``. The equilibrium
        is taken at the origin.

    Examples
    --------
    >>> import control, torch
    >>> from lyactrl.systems import ControlFunctionSystem
    >>> io = control.nlsys(lambda t, x, u, p: -x, None, states=1, inputs=0, outputs=1)
    >>> sys = ControlFunctionSystem(io)
    >>> sys(torch.tensor([[2.0]])).tolist()
    [[-2.0]]
    """

    def __init__(self, sys: Any) -> None:
        self.sys = sys
        self.n_states = int(sys.nstates)
        self.n_inputs = int(sys.ninputs)
        self.x_eq = torch.zeros(self.n_states, dtype=torch.float64)
        self._params = dict(getattr(sys, "params", {}) or {})

    def vector_field(
        self, t: float | torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x.requires_grad:
            raise InvalidArgumentError(
                "x: a python-control NonlinearIOSystem has no gradients; build a "
                "SymbolicSystem from its equations for gradient-based methods"
            )
        xs = to_numpy(x).astype(np.float64)
        us = (
            np.zeros((xs.shape[0], self.n_inputs))
            if u is None
            else to_numpy(u.expand(x.shape[0], -1)).astype(np.float64)
        )
        tt = float(t)
        rows = [
            np.asarray(self.sys.updfcn(tt, xi, ui, self._params), dtype=np.float64).reshape(-1)
            for xi, ui in zip(xs, us, strict=True)
        ]
        return torch.as_tensor(np.stack(rows), dtype=x.dtype, device=x.device)


def from_control(sys: Any) -> AbstractSystem:
    """Convert a python-control ``StateSpace`` or ``NonlinearIOSystem`` to a lyactrl system.

    Parameters
    ----------
    sys : control.StateSpace or control.NonlinearIOSystem
        A continuous-time system. A ``StateSpace`` becomes a :class:`LinearSystem` (``A`` and
        ``B``; outputs are not used); a ``NonlinearIOSystem`` becomes a
        :class:`ControlFunctionSystem`.

    Examples
    --------
    >>> import control, lyactrl
    >>> sys = lyactrl.from_control(control.ss([[0, 1], [-2, -3]], [[0], [1]], [[1, 0]], 0))
    >>> sys.n_states, sys.n_inputs
    (2, 1)
    """
    ct = optional_import("control", "control")
    if isinstance(sys, ct.StateSpace):
        if not ct.isctime(sys):
            raise InvalidValueError(
                f"sys: expected a continuous-time system, received sampling time dt={sys.dt}"
            )
        B = np.asarray(sys.B, dtype=np.float64)
        return LinearSystem(np.asarray(sys.A, dtype=np.float64), B=B if B.size else None)
    if isinstance(sys, ct.NonlinearIOSystem):
        if not ct.isctime(sys):
            raise InvalidValueError(
                f"sys: expected a continuous-time system, received sampling time dt={sys.dt}"
            )
        return ControlFunctionSystem(sys)
    raise InvalidArgumentError(
        "sys: expected a control.StateSpace or control.NonlinearIOSystem, received "
        f"{type(sys).__name__}"
    )


@checked_kwargs
def to_control(system: AbstractSystem, *, name: str | None = None) -> Any:
    """Convert a lyactrl system to python-control.

    A :class:`LinearSystem` becomes a ``StateSpace`` with full state output (``C = I``); an
    autonomous one gets a single zero input column, since python-control's ``StateSpace``
    needs at least one input. Any other system becomes a ``NonlinearIOSystem`` whose update
    function calls the system.

    Parameters
    ----------
    system : AbstractSystem
        The lyactrl system.
    name : str, optional
        The python-control system's name.

    Returns
    -------
    control.StateSpace or control.NonlinearIOSystem

    Examples
    --------
    >>> import lyactrl
    >>> ss = lyactrl.to_control(lyactrl.LinearSystem([[-1.0]]))
    >>> float(ss.A[0, 0])
    -1.0
    """
    ct = optional_import("control", "control")
    if not isinstance(system, AbstractSystem):
        raise InvalidArgumentError(
            f"system: expected a lyactrl system, received {type(system).__name__}"
        )
    n, m = system.n_states, system.n_inputs
    if isinstance(system, LinearSystem):
        A = to_numpy(system.A)
        B = to_numpy(system.B) if system.B is not None else np.zeros((n, 1))
        return ct.ss(A, B, np.eye(n), np.zeros((n, B.shape[1])), name=name)

    def updfcn(t: float, x: Any, u: Any, params: Any) -> np.ndarray:
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(1, n))
        ut = torch.as_tensor(np.asarray(u, dtype=np.float64).reshape(1, m)) if m else None
        with torch.no_grad():
            return to_numpy(system.vector_field(t, xt, ut)).reshape(n)

    return ct.nlsys(updfcn, None, states=n, inputs=m, outputs=n, name=name)
