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
    "exact constants (pi, E, sqrt(3), sin(1), ...: any real closed-form number of Rational, pi, E, "
    "+, *, rational powers, sin, cos, tan, exp, log, tanh, enclosed with mpmath interval "
    "arithmetic at 60 digits and rounded outward)",
    "Add",
    "Mul",
    "Pow (integer exponent)",
    "sin",
    "cos",
    "exp",
    "tanh",
    "Min, Max (any number of arguments: saturation), Abs (piecewise linear: Clarke gradient "
    "hull at a kink, unbounded Hessian there)",
    "not Heaviside, sign or Piecewise (discontinuous)",
)

_DISCONTINUOUS = ("Heaviside", "sign", "Piecewise", "floor", "ceiling", "frac")


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


_IV_FUNCS = {"sin": "sin", "cos": "cos", "tan": "tan", "exp": "exp", "log": "log", "tanh": "tanh"}


def _iv_eval(sp: Any, iv: Any, node: Any) -> Any:
    """An mpmath interval containing the exact real value of a constant expression."""
    if isinstance(node, sp.Rational):
        return iv.mpf(int(node.p)) / iv.mpf(int(node.q))
    if isinstance(node, sp.Float):
        return iv.mpf(sp.Rational(node).p) / iv.mpf(sp.Rational(node).q)
    if node is sp.pi:
        return iv.pi
    if node is sp.E:
        return iv.e
    if isinstance(node, (sp.Add, sp.Mul)):
        parts = [_iv_eval(sp, iv, a) for a in node.args]
        out = parts[0]
        for p in parts[1:]:
            out = out + p if isinstance(node, sp.Add) else out * p
        return out
    if isinstance(node, sp.Pow) and node.args[1].is_Rational:
        base, ex = node.args
        b = _iv_eval(sp, iv, base)
        if ex.is_Integer:
            return b ** int(ex)
        if ex == sp.Rational(1, 2):
            return iv.sqrt(b)
        return iv.exp(_iv_eval(sp, iv, ex) * iv.log(b))
    name = _IV_FUNCS.get(type(node).__name__)
    if name is not None and len(node.args) == 1:
        return getattr(iv, name)(_iv_eval(sp, iv, node.args[0]))
    raise _unsupported(node, " (a constant without an interval evaluation)")


def _outward(lo: Any, hi: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 bounds of the mpmath reals ``[lo, hi]``, rounded outward."""
    import mpmath

    flo, fhi = float(lo), float(hi)
    tlo, thi = torch.tensor(flo, dtype=torch.float64), torch.tensor(fhi, dtype=torch.float64)
    if mpmath.mpf(flo) > lo:
        tlo = dn(tlo)
    if mpmath.mpf(fhi) < hi:
        thi = up(thi)
    return tlo, thi


def exact_constant(node: Any, like: Jet) -> Jet:
    """A constant jet containing the exact real value of the sympy number ``node`` (a closed
    form such as ``sqrt(3)/2`` or ``pi/3``): mpmath interval arithmetic at 60 digits, the
    endpoints rounded outward to float64."""
    import mpmath
    import sympy as sp

    iv = mpmath.iv
    old = iv.prec
    iv.prec = 200
    try:
        r = _iv_eval(sp, iv, node)
    except (ValueError, ZeroDivisionError, TypeError) as exc:
        raise _unsupported(node, f" (the constant could not be enclosed: {exc})") from exc
    finally:
        iv.prec = old
    if not (mpmath.isfinite(r.a) and mpmath.isfinite(r.b)):
        raise _unsupported(node, " (a non-finite or complex constant)")
    lo, hi = _outward(r.a, r.b)
    return like.constant(lo, hi)


def _constant_knot(j: Jet) -> torch.Tensor | None:
    """The value of a jet that is one float (a degenerate constant), else ``None``."""
    same = bool((j.v[0] == j.v[1]).all()) and bool((j.v[0] == j.v[0][:1]).all())
    zero = j.d is None or not bool(j.d[0].any() or j.d[1].any())
    return j.v[0][0] if same and zero else None


def _extreme(args: list[Jet], largest: bool) -> Jet:
    """``Max(*args)`` or ``Min(*args)``, folded pairwise; a constant argument that is one float
    becomes a knot (the tight one-operand rule), others go through the two-operand rule."""
    pick = F.maximum if largest else F.minimum
    knots = [_constant_knot(a) for a in args]
    rest = [a for a, k in zip(args, knots, strict=True) if k is None] or args[:1]
    out = rest[0]
    for a in rest[1:]:
        out = pick(out, a)
    for a, k in zip(args, knots, strict=True):
        if k is not None and a is not rest[0]:
            out = pick(out, k)
    return out


def expr_jet(expr: Any, env: Mapping[Any, Jet], like: Jet, cache: dict | None = None) -> Jet:
    """The jet of a sympy expression, with symbols bound to jets in ``env``.

    Parameters
    ----------
    expr : sympy.Expr
        The expression.
    env : mapping
        Each free symbol of ``expr`` to its jet.
    like : Jet
        A jet of the batch whose constants are built (batch size, dtype, variables).
    cache : dict, optional
        Memo of sub-expressions already bounded, shared between calls.

    Returns
    -------
    Jet
        The jet of ``expr``.

    Raises
    ------
    UnsupportedOperationError
        For operations outside :data:`SYMPY_OPERATIONS`, naming the operation.

    Examples
    --------
    >>> import sympy as sp, torch
    >>> from lyactrl.bounds.jets import Jet, expr_jet
    >>> a = sp.Symbol("a")
    >>> x = Jet.variables(torch.tensor([[1.0]]), torch.tensor([[2.0]]), 0)
    >>> y = expr_jet(a**2 + 1, {a: x.select(0)}, x)
    >>> float(y.v[0][0]) <= 2.0 and float(y.v[1][0]) >= 5.0
    True
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
        elif node.is_number:  # pi, sqrt(3)/2, sin(1): an enclosure of the exact real value
            if node.is_real is False:
                raise _unsupported(node, " (a complex constant)")
            out = exact_constant(node, like)
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
        elif isinstance(node, (sp.Min, sp.Max)):
            out = _extreme([walk(a) for a in node.args], isinstance(node, sp.Max))
        elif isinstance(node, sp.Abs):
            out = F.absolute(walk(node.args[0]))
        elif type(node).__name__ in _DISCONTINUOUS:
            raise _unsupported(node, " (discontinuous: no sound mean-value form across a jump)")
        else:
            raise _unsupported(node)
        memo[node] = out
        return out

    return walk(sp.sympify(expr))
