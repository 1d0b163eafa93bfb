"""Interoperation with python-control (the optional ``control`` extra)."""

from __future__ import annotations

import keyword
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs, choice, optional_import
from .._errors import InvalidArgumentError, InvalidValueError, UnsupportedOperationError
from .._tensors import to_numpy
from ._base import AbstractSystem
from ._linear import LinearSystem
from ._symbolic import SymbolicSystem
from ._trace import TRACED_OPERATIONS, trace_update

__all__ = ["from_control", "to_control", "ControlFunctionSystem", "FROM_CONTROL_METHODS"]


class ControlFunctionSystem(AbstractSystem):
    """A python-control ``NonlinearIOSystem`` evaluated row by row in numpy.

    Made by ``from_control(sys, method="numpy")`` (or ``"auto"`` when the update function cannot
    be converted). Its right-hand side is a numpy function, so there are no gradients:
    :func:`~lyactrl.linearize`, the gradient-based checks and the certifier need the symbolic
    conversion of :func:`from_control` instead. Sampled checks work.

    Parameters
    ----------
    sys : control.NonlinearIOSystem
        A continuous-time system; its ``updfcn(t, x, u, params)`` is called with ``sys.params``.
    message : str, optional
        Why the update function was not converted ("" when it was not tried).

    Attributes
    ----------
    message : str
        As given.

    Examples
    --------
    >>> import control, torch
    >>> from lyactrl.systems import ControlFunctionSystem
    >>> io = control.nlsys(lambda t, x, u, p: -x, None, states=1, inputs=0, outputs=1)
    >>> sys = ControlFunctionSystem(io)
    >>> sys(torch.tensor([[2.0]])).tolist(), sys.state_names
    ([[-2.0]], ('x[0]',))
    """

    def __init__(self, sys: Any, message: str = "") -> None:
        self.sys = sys
        self.n_states = int(sys.nstates)
        self.n_inputs = int(sys.ninputs)
        self.x_eq = torch.zeros(self.n_states, dtype=torch.float64)
        self.x_eq_declared = False
        self.message = message
        self._params = dict(getattr(sys, "params", {}) or {})
        self._set_names(*_labels(sys))

    def vector_field(
        self, t: float | torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x.requires_grad:
            raise InvalidArgumentError(
                "x: this python-control NonlinearIOSystem is evaluated in numpy and has no "
                "gradients; convert it with from_control(sys, method='symbolic') (its update "
                "function written with torch operations) for gradient-based methods"
                + (f" (it was not converted: {self.message})" if self.message else "")
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

    def __repr__(self) -> str:
        return f"ControlFunctionSystem({self.sys.name!r}, n_states={self.n_states})"


def _labels(sys: Any) -> tuple[list[str], list[str] | None]:
    """python-control's state and input labels (``state_labels`` / ``input_labels``)."""
    states = [str(s) for s in sys.state_labels]
    inputs = [str(s) for s in sys.input_labels] or None
    return states, inputs


def _symbols(sp: Any, labels: list[str] | None, n: int, prefix: str) -> list[Any]:
    """sympy symbols named by the labels when they are distinct identifiers, else x1, u1 ..."""
    labels = labels or []
    ok = len(labels) == n and all(
        s.isidentifier() and not keyword.iskeyword(s) and s != "t" for s in labels
    )
    names = labels if ok else [f"{prefix}{k + 1}" for k in range(n)]
    return [sp.Symbol(s, real=True) for s in names]


def _check_agrees(system: AbstractSystem, sys: Any, params: dict[str, Any]) -> None:
    """The converted system computes what ``sys.updfcn`` computes, at a few states and inputs
    (a guard against what a symbolic run cannot see, e.g. a function reading global state)."""
    gen = np.random.default_rng(0)
    n, m = system.n_states, system.n_inputs
    xs = np.vstack([np.zeros(n), gen.uniform(-1.0, 1.0, (3, n))])
    us = np.vstack([np.zeros(m), gen.uniform(-1.0, 1.0, (3, m))])
    for xi, ui in zip(xs, us, strict=True):
        want = _call_numeric(sys, xi, ui, params)
        got = system(xi, ui if m else None).detach().numpy().reshape(-1)
        if not np.allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True):
            raise UnsupportedOperationError(
                f"it computes {want.tolist()} at x={xi.tolist()}, u={ui.tolist()}, but its "
                f"symbolic run gives {got.tolist()}: it depends on something besides t, x, u "
                "and params (e.g. global state)"
            )


def _call_numeric(sys: Any, x: np.ndarray, u: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    try:
        out = sys.updfcn(0.0, x.copy(), u.copy(), params)
    except Exception:  # noqa: BLE001 - a torch-only function: call it on tensors instead
        try:
            out = sys.updfcn(0.0, torch.as_tensor(x), torch.as_tensor(u), params)
        except Exception as exc:  # noqa: BLE001 - the user's function fails on numbers
            raise UnsupportedOperationError(
                f"it raised {type(exc).__name__} ({exc}) when called on the numbers "
                f"x={x.tolist()}, u={u.tolist()}"
            ) from exc
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    elif isinstance(out, (list, tuple)):
        out = [float(v) for v in out]
    return np.asarray(out, dtype=np.float64).reshape(-1)


def _symbolic(sys: Any) -> SymbolicSystem:
    """The ``NonlinearIOSystem`` ``sys`` as a :class:`SymbolicSystem`, by a symbolic run of its
    update function (:func:`trace_update`)."""
    sp = optional_import("sympy")
    params = dict(getattr(sys, "params", {}) or {})
    state_names, input_names = _labels(sys)
    n, m = int(sys.nstates), int(sys.ninputs)
    states = _symbols(sp, state_names, n, "x")
    inputs = _symbols(sp, input_names, m, "u")
    exprs = trace_update(sys.updfcn, params, states, inputs)
    try:
        system = SymbolicSystem(
            exprs,
            states,
            inputs=inputs or None,
            state_names=state_names,
            input_names=input_names,
        )
    except InvalidValueError as exc:  # f(0, 0) != 0: no equilibrium at the origin
        raise UnsupportedOperationError(
            f"it does not vanish at x = 0, u = 0 ({exc}); the converted plant has its "
            "equilibrium at the origin: write updfcn in coordinates shifted to the operating "
            "point (x - x_eq, u - u_eq)"
        ) from exc
    _check_agrees(system, sys, params)
    return system


#: Values of ``from_control(..., method=)`` for a ``NonlinearIOSystem``.
FROM_CONTROL_METHODS = ("symbolic", "numpy", "auto")


@checked_kwargs
def from_control(sys: Any, *, method: str = "symbolic") -> AbstractSystem:
    """Convert a python-control ``StateSpace`` or ``NonlinearIOSystem`` to a lyactrl system.

    State and input names come from python-control's ``state_labels`` and ``input_labels``
    (python-control 0.10 keeps no units). A system made by :func:`to_control` converts back to
    the lyactrl system it came from.

    Parameters
    ----------
    sys : control.StateSpace or control.NonlinearIOSystem
        A continuous-time system. A ``StateSpace`` becomes a :class:`LinearSystem` (``A`` and
        ``B``; outputs are not used).
    method : {"symbolic", "numpy", "auto"}
        For a ``NonlinearIOSystem``. ``"symbolic"``: run ``updfcn(t, x, u, params)`` once on
        symbolic ``x`` and ``u`` and return the :class:`SymbolicSystem` of what it computes (it
        must be written with torch operations, arithmetic, or the numpy functions of the same
        names, see ``lyactrl.systems.TRACED_OPERATIONS``; control flow only on ``params``); the
        certifier bounds it soundly, and it has gradients. ``"numpy"``: a
        :class:`ControlFunctionSystem` calling ``updfcn`` row by row (sampled checks only).
        ``"auto"``: symbolic when possible, numpy otherwise (the reason in ``.message``).

    Returns
    -------
    AbstractSystem

    Raises
    ------
    UnsupportedOperationError
        With ``method="symbolic"``, when the update function cannot be converted (it calls an
        unsupported function, branches on a state, depends on ``t``, ...); the message says why.

    Examples
    --------
    >>> import control, lyactrl
    >>> sys = lyactrl.from_control(control.ss([[0, 1], [-2, -3]], [[0], [1]], [[1, 0]], 0))
    >>> sys.n_states, sys.n_inputs, sys.state_names
    (2, 1, ('x[0]', 'x[1]'))
    >>> import torch
    >>> def pendulum(t, x, u, params):
    ...     return [x[1], -torch.sin(x[0]) - 0.5 * x[1] + u[0]]
    >>> nl = control.nlsys(pendulum, states=["theta", "omega"], inputs=["tau"], outputs=2)
    >>> lyactrl.from_control(nl).exprs
    [omega, -0.5*omega + tau - sin(theta)]
    """
    ct = optional_import("control", "control")
    method = choice(method, "method", FROM_CONTROL_METHODS)
    if isinstance(sys, (ct.StateSpace, ct.NonlinearIOSystem)) and not ct.isctime(sys):
        raise InvalidValueError(
            f"sys: expected a continuous-time system, received sampling time dt={sys.dt}"
        )
    if isinstance(sys, ct.StateSpace):
        B = np.asarray(sys.B, dtype=np.float64)
        state_names, input_names = _labels(sys)
        return LinearSystem(
            np.asarray(sys.A, dtype=np.float64),
            B=B if B.size else None,
            state_names=state_names,
            input_names=input_names if B.size else None,
        )
    if not isinstance(sys, ct.NonlinearIOSystem):
        raise InvalidArgumentError(
            "sys: expected a control.StateSpace or control.NonlinearIOSystem, received "
            f"{type(sys).__name__}"
        )
    own = getattr(sys.updfcn, "lyactrl_system", None)
    if isinstance(own, AbstractSystem):  # made by to_control
        return own
    if method == "numpy":
        return ControlFunctionSystem(sys)
    try:
        return _symbolic(sys)
    except UnsupportedOperationError as exc:
        name = getattr(sys.updfcn, "__name__", "updfcn")
        how = (
            ""
            if isinstance(exc.__cause__, InvalidValueError)  # not an operation: no equilibrium
            else " Write it with torch operations on x and u (e.g. torch.sin(x[0])); "
            "supported: " + "; ".join(TRACED_OPERATIONS) + "."
        )
        why = (
            f"sys: the update function {name} cannot be converted for lyactrl's certifier: "
            f"{exc}.{how} Or pass method='numpy' to evaluate it row by row in numpy (sampled "
            "checks only)"
        )
        if method == "symbolic":
            raise UnsupportedOperationError(why) from exc
        return ControlFunctionSystem(sys, message=why)


@checked_kwargs
def to_control(system: AbstractSystem, *, name: str | None = None) -> Any:
    """Convert a lyactrl system to python-control.

    A :class:`LinearSystem` becomes a ``StateSpace`` with full state output (``C = I``); an
    autonomous one gets a single zero input column, since python-control's ``StateSpace``
    needs at least one input. Any other system becomes a ``NonlinearIOSystem`` whose update
    function calls the system (:func:`from_control` gives that system back). The system's
    ``state_names`` and ``input_names`` become python-control's state, input and (full
    state) output labels.

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
    names = {"states": list(system.state_names), "outputs": list(system.state_names)}
    if isinstance(system, LinearSystem):
        A = to_numpy(system.A)
        B = to_numpy(system.B) if system.B is not None else np.zeros((n, 1))
        inputs = list(system.input_names) if m else 1
        return ct.ss(A, B, np.eye(n), np.zeros((n, B.shape[1])), name=name, inputs=inputs, **names)

    def updfcn(t: float, x: Any, u: Any, params: Any) -> np.ndarray:
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(1, n))
        ut = torch.as_tensor(np.asarray(u, dtype=np.float64).reshape(1, m)) if m else None
        with torch.no_grad():
            return to_numpy(system.vector_field(t, xt, ut)).reshape(n)

    updfcn.lyactrl_system = system  # type: ignore[attr-defined]
    return ct.nlsys(updfcn, None, name=name, inputs=list(system.input_names) or 0, **names)
