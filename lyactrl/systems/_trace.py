"""Symbolic evaluation of a python-control update function ``updfcn(t, x, u, params)``.

The function is run once with ``x``, ``u`` and ``t`` replaced by :class:`SymbolicArray` values,
arrays whose entries are sympy expressions, while a torch function mode intercepts every torch
call. Each supported operation is replaced by the exact real function it computes (``torch.sin``
by ``sympy.sin``, ``+`` by ``Add`` ...); constants enter as sympy ``Float`` of their float64
value, so constant folding rounds as float64 does. Anything else (a branch on a state's value,
a conversion to a Python float, a random draw, an unknown torch or numpy function) raises
:class:`~lyactrl.UnsupportedOperationError` naming it. The result is a list of sympy
expressions, one per state: what the function computes for every state and input, which the
certifier then bounds soundly.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .._errors import UnsupportedOperationError

__all__ = ["TRACED_OPERATIONS", "SymbolicArray", "trace_update"]

#: What a traced update function may use.
TRACED_OPERATIONS = (
    "indexing, slicing and unpacking of x and u; len()",
    "+, -, *, /, ** and @ with numbers, numpy arrays and torch tensors (constants)",
    "torch / numpy / Tensor-method sin, cos, tan, exp, log, tanh, sqrt, abs; torch.sigmoid, "
    "torch.relu; torch.clamp / numpy.clip, minimum, maximum",
    "torch.stack, torch.cat, torch.as_tensor, torch.tensor, numpy.array of these values",
    "Python control flow on params (not on x, u or t)",
)

_UNARY: dict[str, Callable[[Any], Any]] = {}
_RANDOM = frozenset(
    "rand randn randint rand_like randn_like randint_like randperm bernoulli normal poisson "
    "multinomial dropout".split()
)


def _sympy() -> Any:
    import sympy

    return sympy


def _unary_table() -> dict[str, Callable[[Any], Any]]:
    if not _UNARY:
        sp = _sympy()
        _UNARY.update(
            {
                "sin": sp.sin,
                "cos": sp.cos,
                "tan": sp.tan,
                "exp": sp.exp,
                "log": sp.log,
                "tanh": sp.tanh,
                "sqrt": sp.sqrt,
                "abs": sp.Abs,
                "absolute": sp.Abs,
                "sigmoid": lambda e: 1 / (1 + sp.exp(-e)),
                "relu": lambda e: sp.Max(0, e),
            }
        )
    return _UNARY


def refused(what: str) -> UnsupportedOperationError:
    """The error for an operation that cannot be converted."""
    return UnsupportedOperationError(f"it {what}")


def _scalar(v: Any) -> Any:
    sp = _sympy()
    if isinstance(v, SymbolicArray):
        if v.arr.ndim:
            raise refused(f"puts an array of shape {v.arr.shape} where a number is expected")
        return v.arr[()]
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, (bool, np.bool_)):
        return sp.Integer(int(v))
    if isinstance(v, (int, np.integer)):
        return sp.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            raise refused(f"uses the non-finite constant {float(v)}")
        if float(v).is_integer() and abs(v) < 2.0**53:
            return sp.Integer(int(v))  # exact, and prints as an integer
        return sp.Float(float(v))
    raise refused(f"uses a value of type {type(v).__name__} ({v!r})")


def _obj(v: Any) -> np.ndarray:
    """``v`` as an object array of sympy expressions."""
    if isinstance(v, SymbolicArray):
        return v.arr
    if isinstance(v, torch.Tensor):
        if v.is_complex():
            raise refused("uses a complex tensor")
        v = v.detach().cpu().to(torch.float64).numpy()
    if isinstance(v, (list, tuple)):
        if not v:
            raise refused("builds an empty array")
        parts = [_obj(e) for e in v]
        if len({p.shape for p in parts}) != 1:
            raise refused(f"builds a ragged array from shapes {[p.shape for p in parts]}")
        return np.stack(parts)
    if isinstance(v, np.ndarray):
        out = np.empty(v.shape, dtype=object)
        for idx in np.ndindex(v.shape):
            out[idx] = _scalar(v[idx])
        return out
    out = np.empty((), dtype=object)
    out[()] = _scalar(v)
    return out


def _wrap(result: Any) -> SymbolicArray:
    if isinstance(result, np.ndarray) and result.dtype == object:
        return SymbolicArray(result)
    out = np.empty((), dtype=object)
    out[()] = _scalar(result)
    return SymbolicArray(out)


def _binary(op: Callable[[Any, Any], Any], a: Any, b: Any) -> SymbolicArray:
    return _wrap(op(_obj(a), _obj(b)))


def _elementwise(fn: Callable[[Any], Any], a: Any) -> SymbolicArray:
    arr = _obj(a)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = fn(arr[idx])
    return SymbolicArray(out)


def _clamp(x: Any, lo: Any = None, hi: Any = None) -> SymbolicArray:
    sp = _sympy()
    out = x
    if lo is not None:
        out = _binary(np.frompyfunc(sp.Max, 2, 1), out, lo)
    if hi is not None:
        out = _binary(np.frompyfunc(sp.Min, 2, 1), out, hi)
    return _wrap(_obj(out))


def _rev(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda a, b: op(b, a)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "subtract": operator.sub,
    "rsub": _rev(operator.sub),
    "mul": operator.mul,
    "multiply": operator.mul,
    "div": operator.truediv,
    "divide": operator.truediv,
    "true_divide": operator.truediv,
    "truediv": operator.truediv,
    "pow": operator.pow,
    "power": operator.pow,
    "float_power": operator.pow,
    "matmul": operator.matmul,
}
for _name, _op in list(_BINARY.items()):
    _BINARY[f"__{_name}__"] = _op
    _BINARY[f"__r{_name}__"] = _rev(_op)


def symbolic_call(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The symbolic value of the torch or numpy function ``name`` on ``args``."""
    sp = _sympy()
    extra = {k: v for k, v in kwargs.items() if k not in ("dtype", "device", "requires_grad")}
    if name in _BINARY and len(args) == 2 and not kwargs:
        return _binary(_BINARY[name], *args)
    if name in ("neg", "negative", "__neg__") and len(args) == 1:
        return _wrap(-_obj(args[0]))
    if name in ("positive", "__pos__") and len(args) == 1:
        return _wrap(_obj(args[0]))
    if name in _unary_table() and len(args) == 1 and not kwargs:
        return _elementwise(_UNARY[name], args[0])
    if name in ("as_tensor", "tensor", "asarray", "array") and len(args) == 1 and not extra:
        return _wrap(_obj(args[0]))
    if name in ("clamp", "clip"):
        return _clamp(*args, **_bounds(kwargs))
    if name in ("minimum", "maximum", "fmin", "fmax") and len(args) == 2 and not kwargs:
        fn = sp.Min if name in ("minimum", "fmin") else sp.Max
        return _binary(np.frompyfunc(fn, 2, 1), *args)
    if name in ("stack", "cat", "concatenate") and len(args) >= 1:
        dim = kwargs.get("dim", kwargs.get("axis", args[1] if len(args) > 1 else 0))
        parts = [_obj(p) for p in args[0]]
        join = np.stack if name == "stack" else np.concatenate
        return _wrap(join(parts, axis=int(dim)))
    raise refused(f"calls {name} on a state, input or time, which is not supported")


def _bounds(kwargs: dict[str, Any]) -> dict[str, Any]:
    names = {"min": "lo", "max": "hi", "a_min": "lo", "a_max": "hi"}
    kwargs = {k: v for k, v in kwargs.items() if not (k == "out" and v is None)}
    unknown = set(kwargs) - set(names)
    if unknown:
        raise refused(f"calls clamp/clip with the arguments {sorted(unknown)}")
    return {names[k]: v for k, v in kwargs.items()}


def _involves(value: Any) -> bool:
    if isinstance(value, SymbolicArray):
        return True
    if isinstance(value, (list, tuple)):
        return any(_involves(v) for v in value)
    if isinstance(value, dict):
        return any(_involves(v) for v in value.values())
    return False


def _torch_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or repr(func)
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


class _Intercept(TorchFunctionMode):
    """Every torch call: symbolic on symbolic values, refused when random, else as is."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = _torch_name(func)
        if _involves(args) or _involves(kwargs):
            return symbolic_call(name, tuple(args), kwargs)
        if name in _RANDOM:
            raise refused(f"draws random numbers (torch.{name}): the sample would be a constant")
        return func(*args, **kwargs)


class SymbolicArray:
    """An array (0-d or more) of sympy expressions standing for a state, input or time.

    Supports what :data:`TRACED_OPERATIONS` lists; anything that needs a concrete value (a
    branch, ``float()``, ``math.sin``) raises :class:`~lyactrl.UnsupportedOperationError`.
    """

    __array_priority__ = 1000

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.arr.shape)

    @property
    def ndim(self) -> int:
        return int(self.arr.ndim)

    def __len__(self) -> int:
        if not self.arr.ndim:
            raise refused("takes len() of a scalar")
        return int(self.arr.shape[0])

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, idx: Any) -> SymbolicArray:
        if _involves(idx):
            raise refused("indexes with a state or input value")
        try:
            return _wrap(self.arr[idx])
        except IndexError as exc:
            raise refused(f"indexes out of range ({exc})") from exc

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return symbolic_call(_torch_name(func), tuple(args), kwargs or {})

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__":
            raise refused(f"calls numpy.{ufunc.__name__}.{method}")
        return symbolic_call(ufunc.__name__, inputs, kwargs)

    def __bool__(self) -> bool:
        raise refused("branches on the value of a state, input or time (if/while/and/or)")

    def _concrete(self, *_: Any) -> Any:
        raise refused(
            "converts a state, input or time to a concrete number (float(), int(), math.*, "
            "numpy with dtype=float, .item())"
        )

    def _compare(self, *_: Any) -> Any:
        raise refused(
            "compares a state, input or time with a value (<, >, ==): a branch on it cannot be "
            "converted; write a saturation with torch.clamp"
        )

    __float__ = __int__ = __index__ = __complex__ = _concrete
    item = tolist = numpy = _concrete
    __lt__ = __le__ = __gt__ = __ge__ = _compare

    def __eq__(self, other: object) -> Any:  # type: ignore[override]
        return self._compare()

    __hash__ = None  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _unary_table() or name in ("clamp", "clip"):
            return lambda *a, **k: symbolic_call(name, (self, *a), k)
        if name in ("reshape", "flatten", "squeeze", "ravel"):
            return lambda *a, **k: _wrap(getattr(self.arr, name)(*a, **k))
        if name in ("double", "float"):
            return lambda *a, **k: self
        raise refused(f"uses the attribute or method .{name}, which is not supported")

    def _op(name: str) -> Any:  # type: ignore[misc]
        return lambda self, other: symbolic_call(name, (self, other), {})

    __add__, __radd__ = _op("__add__"), _op("__radd__")
    __sub__, __rsub__ = _op("__sub__"), _op("__rsub__")
    __mul__, __rmul__ = _op("__mul__"), _op("__rmul__")
    __truediv__, __rtruediv__ = _op("__truediv__"), _op("__rtruediv__")
    __pow__, __rpow__ = _op("__pow__"), _op("__rpow__")
    __matmul__, __rmatmul__ = _op("__matmul__"), _op("__rmatmul__")
    del _op

    def __neg__(self) -> SymbolicArray:
        return _wrap(-self.arr)

    def __pos__(self) -> SymbolicArray:
        return self

    def __abs__(self) -> SymbolicArray:
        return symbolic_call("abs", (self,), {})

    def __repr__(self) -> str:
        return f"SymbolicArray({self.arr!r})"


def _vector(symbols: list[Any]) -> SymbolicArray:
    arr = np.empty(len(symbols), dtype=object)
    for i, s in enumerate(symbols):
        arr[i] = s
    return SymbolicArray(arr)


def _outputs(out: Any, n: int) -> list[Any]:
    if isinstance(out, SymbolicArray):
        arr = out.arr
    else:
        arr = _obj(out)
    flat = arr.reshape(-1)
    if flat.shape[0] != n:
        raise refused(f"returns {flat.shape[0]} values (shape {arr.shape}); expected {n}")
    return [_scalar(e) for e in flat]


def trace_update(
    updfcn: Callable[..., Any],
    params: dict[str, Any],
    states: list[Any],
    inputs: list[Any],
) -> list[Any]:
    """The sympy expressions of ``updfcn(t, x, u, params)`` for symbolic ``x`` and ``u``.

    Raises
    ------
    UnsupportedOperationError
        Saying what the function does that cannot be converted.

    Examples
    --------
    >>> import sympy, torch
    >>> from lyactrl.systems._trace import trace_update
    >>> x1, x2, u = sympy.symbols("x1 x2 u")
    >>> f = lambda t, x, u, p: torch.stack([x[1], -p["g"] * torch.sin(x[0]) + u[0]])
    >>> trace_update(f, {"g": 2.5}, [x1, x2], [u])
    [x2, u - 2.5*sin(x1)]
    """
    sp = _sympy()
    t = sp.Symbol("t")
    x, u = _vector(states), _vector(inputs)
    rng, np_rng = torch.get_rng_state(), np.random.get_state()[1].copy()  # noqa: NPY002
    try:
        with _Intercept():
            out = updfcn(_wrap(t), x, u, params)
        exprs = _outputs(out, len(states))
    except UnsupportedOperationError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything else the function did on symbolic values
        raise refused(
            f"raised {type(exc).__name__} ({exc}) when evaluated on symbolic values"
        ) from exc
    finally:
        drew = not torch.equal(rng, torch.get_rng_state())
        drew = drew or not np.array_equal(np_rng, np.random.get_state()[1])  # noqa: NPY002
    if drew:
        torch.set_rng_state(rng)
        raise refused("draws random numbers: the sample would be a constant")
    if any(t in e.free_symbols for e in exprs):
        raise refused("depends on the time t; the certifier bounds time-invariant plants")
    return exprs
