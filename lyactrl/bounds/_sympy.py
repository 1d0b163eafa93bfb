"""Jets of sympy expression trees."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .._errors import UnsupportedOperationError
from . import _functions as F
from ._jet import Jet
from ._rounding import dn, up

__all__ = ["SYMPY_OPERATIONS", "expr_jet"]

#: The sympy operations the certifier supports.
SYMPY_OPERATIONS = (
    "Symbol",
    "Integer",
    "Rational",
    "Float",
    "pi, E",
    "Add",
    "Mul",
    "Pow (integer exponent)",
    "sin",
    "cos",
    "exp",
    "tanh",
)


def _unsupported(node: Any, why: str = "") -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"expression: the operation {type(node).__name__} in {node} is not supported by the "
        f"certifier{why}; supported sympy operations: {', '.join(SYMPY_OPERATIONS)}"
    )


def _number(sp: Any, node: Any, like: Jet) -> Jet:
    """A constant: exact when it is a float; otherwise the interval around the real value (and,
    for a sympy ``Float``, the 15-digit decimal that lambdify prints for the torch evaluation)."""
    value = float(node)
    vals = [value]
    if isinstance(node, sp.Float):
        vals.append(float(str(node)))
    exact = isinstance(node, (sp.Rational, sp.Float)) and sp.Rational(value) == sp.Rational(node)
    if exact and min(vals) == max(vals):
        return like.constant(value)
    lo = dn(torch.tensor(min(vals), dtype=torch.float64))
    hi = up(torch.tensor(max(vals), dtype=torch.float64))
    return like.constant(lo, hi)


def expr_jet(expr: Any, env: Mapping[Any, Jet], like: Jet, cache: dict | None = None) -> Jet:
    """The jet of a sympy expression, with symbols bound to jets in ``env``.

    Raises
    ------
    UnsupportedOperationError
        For operations outside :data:`SYMPY_OPERATIONS`, naming the operation.
    """
    import sympy as sp

    memo: dict = {} if cache is None else cache

    def walk(node: Any) -> Jet:
        if node in memo:
            return memo[node]
        if isinstance(node, sp.Symbol):
            if node not in env:
                raise UnsupportedOperationError(
                    f"expression: the symbol {node} has no value; expected only "
                    f"{sorted(str(s) for s in env)}"
                )
            out = env[node]
        elif isinstance(node, sp.Number):
            if not node.is_real or not node.is_finite:
                raise _unsupported(node, " (a non-finite or complex constant)")
            out = _number(sp, node, like)
        elif isinstance(node, sp.NumberSymbol):  # pi, E: the floats around the real value
            out = _number(sp, node, like)
        elif isinstance(node, sp.Add):
            terms = [walk(a) for a in node.args]
            out = terms[0]
            for t in terms[1:]:
                out = out + t
        elif isinstance(node, sp.Mul):
            coeff, rest = node.as_coeff_mul()
            factors = [walk(a) for a in rest]
            out = factors[0]
            for f in factors[1:]:
                out = out * f
            if coeff != 1:
                c = float(coeff)
                if sp.Rational(c) == sp.Rational(coeff):
                    out = out.scale(c)
                else:
                    out = out * _number(sp, coeff, like)
        elif isinstance(node, sp.Pow):
            base, ex = node.args
            integral = ex.is_Integer or (ex.is_Float and float(ex).is_integer())
            if not integral:
                raise _unsupported(node, f" (exponent {ex} is not an integer)")
            out = F.powi(walk(base), int(ex))
        elif isinstance(node, sp.sin):
            out = F.sin(walk(node.args[0]))
        elif isinstance(node, sp.cos):
            out = F.cos(walk(node.args[0]))
        elif isinstance(node, sp.exp):
            out = F.exp(walk(node.args[0]))
        elif isinstance(node, sp.tanh):
            out = F.tanh(walk(node.args[0]))
        else:
            raise _unsupported(node)
        memo[node] = out
        return out

    return walk(sp.sympify(expr))
