"""Scalar functions given as sympy expressions (polynomial candidates, barrier functions)."""

from __future__ import annotations

from typing import Any

import torch

from .._api import checked_kwargs, optional_import
from .._errors import InvalidArgumentError, InvalidValueError
from .._sympy import broadcast_outputs, numeric_constants, parse_symbols
from .._tensors import as_vector
from ._base import AbstractCandidate

__all__ = ["SymbolicCandidate"]


class SymbolicCandidate(AbstractCandidate):
    """A scalar function ``V(x)`` from a sympy expression, with its gradient by sympy.

    Used for polynomial (SOS) Lyapunov candidates and for barrier functions ``B`` whose safe set
    is ``{B <= 0}``. Value and gradient are lambdified to torch (batched, differentiable), and
    the expression stays available as :attr:`expr` for the certifier.

    Parameters
    ----------
    expr : sympy expression or str
        The function of the state symbols.
    states : sequence of symbols or names, or a comma-separated string
        The state variables, in order.
    x_eq : array_like, optional
        The minimiser with ``V(x_eq) = 0``, when there is one (checked); ``None`` for a barrier.

    Examples
    --------
    >>> import lyactrl
    >>> V = lyactrl.SymbolicCandidate("x1**2 + x1*x2 + x2**2", "x1, x2", x_eq=[0.0, 0.0])
    >>> V([[1.0, 1.0]]).tolist(), V.grad([[1.0, 1.0]]).tolist()
    ([3.0], [[3.0, 3.0]])
    """

    @checked_kwargs
    def __init__(self, expr: Any, states: Any, *, x_eq: Any = None) -> None:
        sp = optional_import("sympy")
        self.states = parse_symbols(sp, states, "states")
        local = {s.name: s for s in self.states}
        try:
            self.expr = sp.sympify(expr, locals=local)
        except (sp.SympifyError, TypeError, SyntaxError, AttributeError, NameError) as exc:
            raise InvalidValueError(f"expr: could not parse {expr!r}: {exc}") from exc
        if not isinstance(self.expr, sp.Expr):
            raise InvalidArgumentError(
                f"expr: expected a scalar sympy expression, received {type(self.expr).__name__}"
            )
        unknown = self.expr.free_symbols - set(self.states)
        if unknown:
            raise InvalidValueError(
                f"expr: unknown symbols {sorted(map(str, unknown))}; expected only the states "
                f"{[s.name for s in self.states]}"
            )
        self.n_states = len(self.states)
        self.gradient_exprs = [sp.diff(self.expr, s) for s in self.states]
        exprs = [numeric_constants(sp, e) for e in (self.expr, *self.gradient_exprs)]
        self._fn = sp.lambdify(self.states, exprs, modules="torch")
        self.x_eq = None if x_eq is None else as_vector(x_eq, self.n_states, name="x_eq")
        if self.x_eq is not None:
            v0 = float(self.value(self.x_eq.unsqueeze(0))[0])
            if abs(v0) > 1e-9:
                raise InvalidValueError(
                    f"x_eq: expected V(x_eq) = 0, received V({self.x_eq.tolist()}) = {v0:.3g}"
                )

    def _eval(self, x: torch.Tensor) -> list[torch.Tensor]:
        return broadcast_outputs(self._fn(*x.unbind(dim=1)), x)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return self._eval(x)[0]

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = self._eval(x)
        return outs[0], torch.stack(outs[1:], dim=1)

    def __repr__(self) -> str:
        return f"SymbolicCandidate({self.expr}, states={[s.name for s in self.states]})"
