"""sympy helpers shared by symbolic systems and symbolic candidates: parsing symbols,
numeric constants for the lambdified torch code, broadcasting lambdified outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ._errors import InvalidArgumentError, InvalidValueError

__all__ = ["parse_symbols", "numeric_constants", "broadcast_outputs"]


def parse_symbols(sp: Any, items: Any, name: str) -> list[Any]:
    if items is None:
        return []
    if isinstance(items, str):
        items = [s for s in items.replace(",", " ").split() if s]
    out = []
    for s in items:
        sym = sp.Symbol(s) if isinstance(s, str) else s
        if not isinstance(sym, sp.Symbol):
            raise InvalidArgumentError(
                f"{name}: expected sympy symbols or names, received {type(s).__name__} {s!r}"
            )
        out.append(sym)
    if len(set(out)) != len(out):
        raise InvalidValueError(f"{name}: expected distinct symbols, received {out}")
    return out


def numeric_constants(sp: Any, expr: Any) -> Any:
    """``expr`` with every closed-form real constant that is not a plain number (``sqrt(3)/2``,
    ``sin(1)``, ``pi``) replaced by its nearest float64, for the lambdified torch code (which
    would otherwise call ``torch.sqrt(3)`` on a Python int). The exact expression is kept for
    the certifier, which encloses these constants soundly."""

    def walk(e: Any) -> Any:
        if e.is_number and not isinstance(e, sp.Number):
            v = e.evalf(30)
            if v.is_real and v.is_finite:
                return sp.Float(float(v), 17)
            return e
        if not e.args or e.is_Atom:
            return e
        return e.func(*[walk(a) for a in e.args])

    return walk(sp.sympify(expr))


def broadcast_outputs(outs: Sequence[Any], like: torch.Tensor) -> list[torch.Tensor]:
    """Broadcast lambdified outputs (tensors or Python constants) to ``(batch,)``."""
    shape = (like.shape[0],)
    return [
        o.expand(shape)
        if isinstance(o, torch.Tensor) and o.ndim
        else torch.full(shape, float(o), dtype=like.dtype, device=like.device)
        for o in outs
    ]
