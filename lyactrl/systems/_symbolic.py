"""Systems given as sympy expressions, lambdified to torch (batched and differentiable)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._api import checked_kwargs, optional_import
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._sympy import broadcast_outputs, numeric_constants, parse_symbols
from .._tensors import as_equilibrium
from ._base import AbstractSystem

__all__ = ["SymbolicSystem"]


def _fold(op: Any, builtin: Any) -> Any:
    """sympy prints ``Min``/``Max`` as ``min(...)``/``max(...)`` of any number of arguments
    (tensors or numbers); torch's own ``min``/``max`` are reductions, so fold elementwise."""

    def fn(*args: Any) -> Any:
        like = next((a for a in args if isinstance(a, torch.Tensor)), None)
        if like is None:
            return builtin(args)
        out = torch.as_tensor(args[0], dtype=like.dtype, device=like.device)
        for a in args[1:]:
            out = op(out, torch.as_tensor(a, dtype=like.dtype, device=like.device))
        return out

    return fn


#: Names in the lambdified code that torch's namespace would get wrong.
_TORCH_NAMES = {
    "min": _fold(torch.minimum, min),
    "max": _fold(torch.maximum, max),
    "heaviside": lambda x, at0=0.5: torch.heaviside(x, torch.as_tensor(at0, dtype=x.dtype)),
}


class SymbolicSystem(AbstractSystem):
    """``x' = f(x[, u])`` from sympy expressions, evaluated in torch.

    Parameters
    ----------
    exprs : sequence of sympy expressions or strings
        One right-hand side per state.
    states : sequence of sympy symbols or names, or a comma-separated string
        The state variables, in order.
    inputs : sequence of symbols or names, optional
        Input variables (the system is then a plant for :class:`ClosedLoop`).
    parameters : dict, optional
        Values substituted for further symbols, e.g. ``{"mu": 1.0}``.
    x_eq : array_like, optional
        The equilibrium (zeros by default); checked to satisfy ``|f(x_eq)| <= 1e-9`` with zero
        input.
    state_names, input_names : sequence of str, optional
        Names shown in figures and written by :func:`~lyactrl.to_control`; the symbols' names
        by default.
    check_equilibrium : bool
        Check ``f(x_eq) = 0`` (``False`` for expressions that are not a vector field, such as
        the right-hand side of a map, whose fixed point :class:`~lyactrl.DiscreteSystem`
        checks).

    Attributes
    ----------
    exprs : list of sympy expressions
        The right-hand sides after substitution of ``parameters``, exact: closed-form constants
        such as ``sqrt(3)/2`` stay symbolic (the certifier encloses their real value); the
        torch evaluation uses their nearest float64.

    Examples
    --------
    >>> import lyactrl
    >>> vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    >>> vdp([[1.0, 2.0]]).tolist()
    [[-2.0, 1.0]]
    """

    @checked_kwargs
    def __init__(
        self,
        exprs: Sequence[Any],
        states: Any,
        *,
        inputs: Any = None,
        parameters: dict[Any, float] | None = None,
        x_eq: Any = None,
        state_names: Any = None,
        input_names: Any = None,
        check_equilibrium: bool = True,
    ) -> None:
        sp = optional_import("sympy")
        self.states = parse_symbols(sp, states, "states")
        self.input_symbols = parse_symbols(sp, inputs, "inputs")
        if isinstance(exprs, str) or not isinstance(exprs, (Sequence, sp.MatrixBase)):
            raise InvalidArgumentError(
                f"exprs: expected a sequence of expressions, received {type(exprs).__name__}"
            )
        exprs = list(exprs)
        if len(exprs) != len(self.states):
            raise ShapeError(
                f"exprs: expected one expression per state ({len(self.states)}), received "
                f"{len(exprs)}"
            )
        local = {s.name: s for s in self.states + self.input_symbols}
        subs = {}
        for key, val in (parameters or {}).items():
            sym = sp.Symbol(key) if isinstance(key, str) else key
            local[sym.name] = sym
            subs[sym] = val
        parsed = []
        for i, e in enumerate(exprs):
            try:
                parsed.append(sp.sympify(e, locals=local).subs(subs))
            except (sp.SympifyError, TypeError, SyntaxError, AttributeError, NameError) as exc:
                raise InvalidValueError(f"exprs[{i}]: could not parse {e!r}: {exc}") from exc
        known = set(self.states) | set(self.input_symbols)
        unknown = set().union(*(p.free_symbols for p in parsed)) - known
        if unknown:
            raise InvalidValueError(
                f"exprs: unknown symbols {sorted(map(str, unknown))}; expected only the states "
                f"{[s.name for s in self.states]} and inputs {[s.name for s in self.input_symbols]}"
                "; give values for parameters with parameters={...}"
            )
        self.exprs = parsed
        self.n_states = len(self.states)
        self.n_inputs = len(self.input_symbols)
        numeric = [numeric_constants(sp, p) for p in parsed]
        self._fn = sp.lambdify(
            self.states + self.input_symbols, numeric, modules=[_TORCH_NAMES, "torch"]
        )
        self.x_eq = as_equilibrium(x_eq, self.n_states)
        own_inputs = [s.name for s in self.input_symbols] or None
        self._set_names(
            [s.name for s in self.states] if state_names is None else state_names,
            own_inputs if input_names is None else input_names,
        )
        if not check_equilibrium:
            return
        u0 = torch.zeros(1, self.n_inputs, dtype=torch.float64) if self.n_inputs else None
        residual = self.vector_field(0.0, self.x_eq.unsqueeze(0), u0).abs().max()
        if float(residual) > 1e-9:
            raise InvalidValueError(
                f"x_eq: expected an equilibrium (f(x_eq) = 0), received x_eq="
                f"{self.x_eq.tolist()} with |f(x_eq)| = {float(residual):.3g}"
            )

    def vector_field(
        self, t: float | torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        cols = list(x.unbind(dim=1))
        if self.n_inputs:
            if u is None:
                u = torch.zeros(x.shape[0], self.n_inputs, dtype=x.dtype, device=x.device)
            cols += list(u.expand(x.shape[0], -1).unbind(dim=1))
        return torch.stack(broadcast_outputs(self._fn(*cols), x), dim=1)

    def __repr__(self) -> str:
        return f"SymbolicSystem({[str(e) for e in self.exprs]}, states={[s.name for s in self.states]})"
