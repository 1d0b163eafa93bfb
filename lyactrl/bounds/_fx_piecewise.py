"""Saturation and other piecewise-linear calls in a traced ``forward`` (or a traced function).

``torch.clamp(x, lo, hi)``, ``F.hardtanh``, ``F.relu``, ``torch.minimum`` ... are matched by
their target (a function, or a tensor method's name), their arguments read by name as torch
reads them, and bounded by :mod:`._piecewise`. Bounds may be Python numbers, constant tensors
(parameters, buffers) or bounded tensors; an in-place call or a reduction (``torch.min(x, 1)``
is a minimum over a dimension) is refused.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch

from . import _piecewise as P
from ._jet import Jet

__all__ = ["BadCall", "FUNCTIONS", "METHODS", "piecewise_call"]

_TF = torch.nn.functional

Builder = Callable[[dict[str, Any]], Jet]
Spec = tuple[tuple[str, ...], tuple[Any, ...], Builder]


class BadCall(Exception):  # noqa: N818 - internal signal, turned into UnsupportedOperationError
    """A recognised piecewise-linear call with arguments the certifier does not bound."""


def _relu(v: dict[str, Any]) -> Jet:
    return P.relu(v["input"])


def _clamp(v: dict[str, Any]) -> Jet:
    return P.clamp(v["input"], v.get("min"), v.get("max"))


def _hardtanh(v: dict[str, Any]) -> Jet:
    lo, hi = v["min_val"], v["max_val"]
    if not all(isinstance(b, (int, float)) for b in (lo, hi)):
        raise BadCall(f"F.hardtanh with min_val={lo!r}, max_val={hi!r} (expected numbers)")
    return P.clamp(v["input"], float(lo), float(hi))


def _relu6(v: dict[str, Any]) -> Jet:
    return P.clamp(v["input"], 0.0, 6.0)


def _minimum(v: dict[str, Any]) -> Jet:
    return P.minimum(v["input"], v["other"])


def _maximum(v: dict[str, Any]) -> Jet:
    return P.maximum(v["input"], v["other"])


def _abs(v: dict[str, Any]) -> Jet:
    return P.absolute(v["input"])


_IN = ("input", "inplace")
_CLAMP = (("input", "min", "max"), (None, None, None), _clamp)
_CLAMP_MIN = (("input", "min"), (None, None), _clamp)
_CLAMP_MAX = (("input", "max"), (None, None), _clamp)
_MIN: Spec = (("input", "other"), (None, None), _minimum)
_MAX: Spec = (("input", "other"), (None, None), _maximum)
_ABS: Spec = (("input",), (None,), _abs)

#: Function targets (``call_function`` nodes).
FUNCTIONS: dict[Any, Spec] = {
    torch.relu: (_IN, (None, False), _relu),
    _TF.relu: (_IN, (None, False), _relu),
    _TF.relu6: (_IN, (None, False), _relu6),
    _TF.hardtanh: (("input", "min_val", "max_val", "inplace"), (None, -1.0, 1.0, False), _hardtanh),
    torch.clamp: _CLAMP,
    torch.clip: _CLAMP,
    torch.clamp_min: _CLAMP_MIN,
    torch.clamp_max: _CLAMP_MAX,
    torch.minimum: _MIN,
    torch.maximum: _MAX,
    torch.min: _MIN,
    torch.max: _MAX,
    torch.abs: _ABS,
    operator.abs: _ABS,
}
#: Tensor methods (``call_method`` nodes), by name.
METHODS: dict[str, Spec] = {
    "relu": (("input",), (None,), _relu),
    "clamp": _CLAMP,
    "clip": _CLAMP,
    "clamp_min": _CLAMP_MIN,
    "clamp_max": _CLAMP_MAX,
    "minimum": _MIN,
    "maximum": _MAX,
    "min": _MIN,
    "max": _MAX,
    "abs": _ABS,
}


def _bound_like(value: Any) -> bool:
    return value is None or isinstance(value, (Jet, torch.Tensor, int, float))


def piecewise_call(
    spec: Spec, a: list[Any], kw: dict[str, Any], as_jet: Callable[[Any], Jet], name: str
) -> Jet:
    """The jet of one recognised call, its arguments read by name.

    Raises
    ------
    BadCall
        For unknown or extra arguments, ``inplace=True``, a reduction, or a bound that is
        neither a number nor a tensor.
    """
    names, defaults, build = spec
    v = dict(zip(names, defaults, strict=True))
    v.update(zip(names, a, strict=False))
    v.update({k: x for k, x in kw.items() if k in names})
    if "other" in names and not isinstance(v["other"], (Jet, torch.Tensor)):
        raise BadCall(
            f"{name} with {type(v['other']).__name__} {v['other']!r} as second argument "
            "(a reduction over a dimension; the two-operand form takes two tensors)"
        )
    extra = sorted(set(kw) - set(names))
    if extra or len(a) > len(names):
        raise BadCall(f"{name} with arguments {extra or len(a)}")
    if v.get("inplace"):
        raise BadCall(f"{name} with inplace=True (write it out of place)")
    bounds = [v[k] for k in ("min", "max", "other") if k in v]
    if not all(_bound_like(b) for b in bounds):
        raise BadCall(f"{name} with bounds of types {[type(b).__name__ for b in bounds]}")
    v["input"] = as_jet(v["input"])
    return build(v)
