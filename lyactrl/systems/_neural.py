"""Systems whose vector field is a torch module."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import as_equilibrium, check_finite, positive_int, to_tensor
from ._base import AbstractSystem

__all__ = ["NeuralSystem"]

INPUTS = ("x", "t,x", "x,context")


def _module_dtype(module: nn.Module) -> torch.dtype | None:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


_CALLS = {"x": "module(x)", "t,x": "module(t, x)", "x,context": "module(x, context)"}


def _positional(module: nn.Module) -> tuple[list[str], bool] | None:
    """The names of ``forward``'s positional parameters and whether it takes ``*args``."""
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in sig.parameters.values() if p.kind in kinds]
    var = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values())
    return names, var


def _inputs_hint(module: nn.Module, inputs: str) -> str | None:
    """What to pass as ``inputs`` when ``forward`` does not take the arguments ``inputs`` says;
    ``None`` when its signature agrees (the TypeError came from inside ``forward``)."""
    found = _positional(module)
    if found is None or found[1]:
        return None
    names, _ = found
    given = 1 if inputs == "x" else 2
    if len(names) == given:
        return None
    if len(names) == 2:
        better = "t,x" if names[0] in ("t", "time", "s") or inputs == "x" else "x,context"
    elif len(names) == 1:
        better = "x"
    else:
        return (
            f"module: {type(module).__name__}.forward takes {len(names)} arguments "
            f"({', '.join(names)}); NeuralSystem calls {_CALLS[inputs]} (inputs={inputs!r}): "
            "expected a forward taking (x), (t, x) or (x, context)"
        )
    return (
        f"module: {type(module).__name__}.forward takes ({', '.join(names)}), but NeuralSystem "
        f"calls {_CALLS[inputs]} (inputs={inputs!r}); pass inputs={better!r}"
        + (" (the torchdiffeq convention)" if better == "t,x" else "")
    )


class NeuralSystem(AbstractSystem):
    """A system ``x' = f(x)`` whose ``f`` is an ``nn.Module``; the module is never mutated.

    Parameters
    ----------
    module : torch.nn.Module
        Maps ``(batch, n_states)`` to ``(batch, n_states)``. With ``inputs="t,x"`` it is called
        as ``module(t, x)`` (the torchdiffeq convention); with ``inputs="x,context"`` as
        ``module(x, context)`` (a data-controlled system, as in LyaNet).
    n_states : int
        State dimension.
    inputs : {"x", "t,x", "x,context"}
        How the module is called.
    context : array_like, optional
        For ``inputs="x,context"``: the bound context, shape ``(context_dim,)`` (shared by the
        batch) or ``(batch, context_dim)``. Without one the system is *unbound*: call
        :meth:`bind` before evaluating it.
    x_eq : array_like, optional
        The equilibrium of interest (zeros by default). Not checked: a trained network need not
        vanish there exactly.
    state_names : sequence of str, optional
        Names of the states (``x1 ...`` by default), used by figures.

    Notes
    -----
    Construction never calls the module; the output shape is checked when the system is
    evaluated (a :class:`~lyactrl.ShapeError` then names the expected and received shapes).

    A time-varying module (``inputs="t,x"``) is evaluated at ``t = 0`` by ``system(x)`` and at
    the solver's times by :func:`~lyactrl.simulate`. The certifier bounds it with ``t`` as the
    interval ``[0, +inf)``, so a certificate holds for every ``t >= 0`` (invariant sets and decay
    constants included); a module whose output is unbounded in ``t`` gets infinite bounds and
    the certifier answers ``unknown``. A module that ignores ``t`` is bounded as an autonomous
    one.

    States are cast to the module's parameter dtype and the result back to the dtype of the
    states. For float64 verification convert the module first (``module.double()``).

    Examples
    --------
    >>> import torch, lyactrl
    >>> layer = torch.nn.Linear(2, 2, bias=False)
    >>> sys = lyactrl.NeuralSystem(layer, 2)
    >>> sys.n_states
    2
    """

    @checked_kwargs
    def __init__(
        self,
        module: nn.Module,
        n_states: int,
        *,
        inputs: str = "x",
        context: Any = None,
        x_eq: Any = None,
        state_names: Any = None,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise InvalidArgumentError(
                f"module: expected a torch.nn.Module, received {type(module).__name__}"
            )
        positive_int(n_states, "n_states")
        if inputs not in INPUTS:
            raise InvalidValueError(f"inputs: expected one of {INPUTS}, received {inputs!r}")
        if context is not None and inputs != "x,context":
            raise InvalidArgumentError(
                f"context: only systems with inputs='x,context' take a context; received "
                f"inputs={inputs!r}"
            )
        self.module = module
        self.n_states = n_states
        self.inputs = inputs
        self.x_eq = as_equilibrium(x_eq, n_states)
        self.x_eq_declared = x_eq is not None
        self._set_names(state_names)
        self.context = (
            None if context is None else check_finite(to_tensor(context, "context"), "context")
        )
        if self.context is not None and self.context.ndim not in (1, 2):
            raise ShapeError(
                "context: expected shape (context_dim,) or (batch, context_dim), received "
                f"{tuple(self.context.shape)}"
            )
        self._dtype = _module_dtype(module)
        self._checked = False  # the output shape is checked on every evaluation, not here

    @property
    def is_bound(self) -> bool:
        """Whether the system can be evaluated (it has a context, or needs none)."""
        return self.inputs != "x,context" or self.context is not None

    def bind(self, context: Any) -> NeuralSystem:
        """Return the ordinary system ``x' = f(x, context)`` for a fixed context."""
        if self.inputs != "x,context":
            raise InvalidArgumentError(
                f"bind: only systems with inputs='x,context' take a context; this one has "
                f"inputs={self.inputs!r}"
            )
        x_eq = self.x_eq if self.x_eq_declared else None
        return NeuralSystem(
            self.module,
            self.n_states,
            inputs=self.inputs,
            context=context,
            x_eq=x_eq,
            state_names=self._state_names,
        )

    def _call_module(self, t: float | torch.Tensor, xin: torch.Tensor) -> torch.Tensor:
        if self.inputs == "x":
            return self.module(xin)
        if self.inputs == "t,x":
            return self.module(torch.as_tensor(t, dtype=xin.dtype, device=xin.device), xin)
        if self.context is None:
            raise InvalidArgumentError(
                "context: this data-controlled system is unbound; call system.bind(context)"
            )
        ctx = self.context.to(dtype=xin.dtype, device=xin.device)
        if ctx.ndim == 1:
            ctx = ctx.unsqueeze(0).expand(xin.shape[0], -1)
        elif ctx.shape[0] != xin.shape[0]:
            raise ShapeError(
                f"x: the bound context has batch {ctx.shape[0]}, so x must have batch "
                f"{ctx.shape[0]}; received {xin.shape[0]}"
            )
        return self.module(xin, ctx)

    def _first_call(self, t: float | torch.Tensor, xin: torch.Tensor) -> torch.Tensor:
        """The first evaluation: a failing call is reported as a shape error, a call with the
        wrong arguments (``inputs`` not matching ``forward``) as an argument error."""
        try:
            out = self._call_module(t, xin)
        except TypeError as exc:
            hint = _inputs_hint(self.module, self.inputs)
            if hint is None:
                raise
            raise InvalidArgumentError(hint + f" (calling it raised TypeError: {exc})") from exc
        except RuntimeError as exc:
            raise ShapeError(
                f"module: calling it on states of shape {tuple(xin.shape)} failed ({exc}); "
                f"expected a module mapping (batch, {self.n_states}) to (batch, {self.n_states})"
            ) from exc
        self._checked = True
        return out

    def vector_field(
        self, t: float | torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        xin = x if self._dtype is None or x.dtype == self._dtype else x.to(self._dtype)
        out = self._call_module(t, xin) if self._checked else self._first_call(t, xin)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ShapeError(
                f"module: expected output shape {tuple(x.shape)} for input {tuple(x.shape)}, "
                f"received {got}; expected a module mapping (batch, {self.n_states}) to "
                f"(batch, {self.n_states})"
            )
        return out if out.dtype == x.dtype else out.to(x.dtype)

    def __repr__(self) -> str:
        return (
            f"NeuralSystem({type(self.module).__name__}, n_states={self.n_states}, "
            f"inputs={self.inputs!r}, bound={self.is_bound})"
        )
