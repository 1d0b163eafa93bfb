"""Jets of custom torch modules, by symbolic tracing (``torch.fx``) of their ``forward``."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._errors import UnsupportedOperationError
from . import _functions as F
from ._fx_piecewise import FUNCTIONS as PIECEWISE_FUNCTIONS
from ._fx_piecewise import METHODS as PIECEWISE_METHODS
from ._fx_piecewise import BadCall, piecewise_call
from ._jet import Jet
from ._stock import MODULE_OPERATIONS, dropout_is_identity, is_stock

__all__ = ["FX_OPERATIONS", "traced_jet", "SubmoduleJet"]

#: How a traced graph bounds a leaf submodule: ``(module, jet, where) -> jet``.
SubmoduleJet = Callable[[nn.Module, Jet, str], Jet]

_TF = torch.nn.functional

_UNARY: dict[Any, Callable[[Jet], Jet]] = {
    torch.tanh: F.tanh,
    torch.sigmoid: F.sigmoid,
    torch.sin: F.sin,
    torch.cos: F.cos,
    torch.exp: F.exp,
    _TF.tanh: F.tanh,
    _TF.sigmoid: F.sigmoid,
}
_METHODS: dict[str, Callable[[Jet], Jet]] = {
    "tanh": F.tanh,
    "sigmoid": F.sigmoid,
    "sin": F.sin,
    "cos": F.cos,
    "exp": F.exp,
}

_RANDOM = frozenset(
    {
        "rand",
        "randn",
        "randint",
        "rand_like",
        "randn_like",
        "randint_like",
        "randperm",
        "bernoulli",
        "normal",
        "poisson",
        "multinomial",
        "dropout",
        "alpha_dropout",
        "feature_alpha_dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "rrelu",
    }
)

#: Operations accepted inside a traced custom ``forward`` (besides supported submodules).
FX_OPERATIONS = (
    "+, -, * (by a constant or between tensors), / (by a constant), unary -, ** (integer), "
    "@ (by a constant matrix)",
    "torch.tanh / sigmoid / sin / cos / exp (functions or tensor methods)",
    "saturation and other piecewise-linear functions, with constant or tensor bounds: "
    "torch.relu / F.relu / Tensor.relu, F.relu6, F.hardtanh, torch.clamp / torch.clip / "
    "torch.clamp_min / torch.clamp_max (and the tensor methods), torch.minimum / "
    "torch.maximum / torch.min(a, b) / torch.max(a, b) (two operands, and the tensor methods), "
    "torch.abs / abs() / Tensor.abs; not in place (inplace=True is refused)",
    "F.leaky_relu, F.softplus, F.linear, F.dropout (training=False: the identity)",
    "torch.cat along the last dimension",
    "torch.sum / Tensor.sum along the last dimension of a (batch, k) tensor (dim=-1 or 1, "
    "keepdim allowed), and x[:, i] (one column)",
    "torch.softmax / F.softmax / Tensor.softmax along the last dimension (dim=-1 or 1 on a "
    "(batch, k) tensor, no dtype)",
    "parameters and buffers (constants)",
)


def _name(target: Any) -> str:
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", None) or repr(target)
    if mod.startswith("torch"):
        prefix = "torch.nn.functional." if "functional" in mod else "torch."
        return prefix + name
    return f"{mod}.{name}" if mod and mod != "_operator" else name


def _function_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _unsupported(what: str, module: Any) -> UnsupportedOperationError:
    if isinstance(module, nn.Module):
        head = f"module: the operation {what} in {type(module).__name__}.forward"
    else:
        head = f"controller: the operation {what} in the function {_function_name(module)}"
    return UnsupportedOperationError(
        f"{head} is not supported by the certifier; supported modules: "
        f"{', '.join(MODULE_OPERATIONS)}; supported operations in a custom forward or a traced "
        f"function: {'; '.join(FX_OPERATIONS)}"
    )


def _trace_function(fn: Any) -> tuple[Any, set[str]]:
    """A trace of a plain function (it traces like a module's ``forward``); every constant the
    graph reads (tensors captured by the function) is held by the trace."""
    rng = torch.get_rng_state()
    try:
        gm = torch.fx.symbolic_trace(fn)
    except Exception as exc:  # noqa: BLE001 - any tracing failure means "unsupported"
        raise UnsupportedOperationError(
            f"controller: the function {_function_name(fn)} could not be traced with torch.fx "
            f"({type(exc).__name__}: {exc}); write it as a plain Python function of the state "
            "tensor alone (no data-dependent if/loops, no calls of modules it does not own; "
            "or wrap it in an nn.Module whose forward computes it) built from: "
            f"{'; '.join(FX_OPERATIONS)}"
        ) from exc
    if not torch.equal(rng, torch.get_rng_state()):
        torch.set_rng_state(rng)
        raise _unsupported("a random operation (it draws random numbers)", fn)
    created = {str(n.target) for n in gm.graph.nodes if n.op == "get_attr"}
    return gm, created


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer with stock ``nn.Sequential`` stacks kept whole (a leaf), so that the
    certifier bounds a network inside a custom ``forward`` as one MLP (with its linear
    relaxation), not layer by layer."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return is_stock(m, nn.Sequential) or super().is_leaf_module(m, qualname)


def _trace(module: nn.Module) -> tuple[Any, set[str]]:
    """A fresh trace of ``type(module).forward`` as the module is now, and the names of the
    tensors the tracer created from values computed inside ``forward`` (held by the trace;
    removed from ``module``, which is left as it was).

    Never cached: the graph depends on Python attributes, the train/eval mode and the
    submodules at the time of tracing, any of which may change between two certificates.
    A ``forward`` that draws from torch's random generator while it is traced is refused:
    the graph would hold one sample as a constant.
    """
    if not isinstance(module, nn.Module):
        return _trace_function(module)
    before = set(vars(module))
    rng = torch.get_rng_state()
    try:
        gm = torch.fx.GraphModule(module, _Tracer().trace(module))
    except Exception as exc:  # noqa: BLE001 - any tracing failure means "unsupported"
        raise UnsupportedOperationError(
            f"module: {type(module).__name__}.forward could not be traced with torch.fx "
            f"({type(exc).__name__}: {exc}); the certifier supports nn.Sequential stacks and "
            f"custom forwards built from: {'; '.join(FX_OPERATIONS)}"
        ) from exc
    finally:
        created = set(vars(module)) - before
        for name in created:
            vars(module).pop(name, None)
    if not torch.equal(rng, torch.get_rng_state()):
        torch.set_rng_state(rng)
        raise _unsupported("a random operation (it draws random numbers)", module)
    return gm, created


def _attribute(root: Any, target: str) -> Any:
    obj = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj.detach().to(torch.float64) if isinstance(obj, torch.Tensor) else obj


def _const(value: Any, like: Jet) -> Jet:
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.ndim >= 2 and t.shape[0] == like.v[0].shape[0]:  # per row (a context with a batch)
        return like._with_zero_derivs((t, t))
    if t.ndim == like.v[0].ndim and t.ndim >= 2 and t.shape[0] == 1:
        t = t[0]  # (1, ...) broadcasts along the batch, as in torch
    return like.constant(t.reshape(1) if t.ndim == 0 else t)


def _is_scalar(value: Any) -> bool:
    """A Python number or a 0-d tensor (broadcasts like a number)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.ndim == 0)


def _as_jet(value: Any, like: Jet) -> Jet:
    return value if isinstance(value, Jet) else _const(value, like)


def traced_jet(module: Any, inputs: list[Any], like: Jet, sub_jet: SubmoduleJet) -> Jet:
    """The jet of ``module(*inputs)``; jets for bounded inputs, tensors for constants.

    ``module`` is an ``nn.Module`` (its ``forward`` is traced) or a plain function (traced
    like a ``forward``).

    ``sub_jet`` bounds the leaf submodules the graph calls; parameters, buffers and submodules
    are read from ``module`` itself (live), not from copies held by the trace.
    """
    gm, created = _trace(module)
    env: dict[str, Any] = {}
    args = list(inputs)
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            env[node.name] = _placeholder(node, args, module)
            continue
        if node.op == "get_attr":  # live from the module; trace-time constants from the trace
            env[node.name] = _attribute(gm if node.target in created else module, node.target)
            continue
        if node.op == "output":
            if args:
                raise _unsupported(
                    f"a forward taking fewer arguments than the {len(inputs)} it is given", module
                )
            out = node.args[0]
            out = env[out.name] if hasattr(out, "name") else out
            if isinstance(out, torch.Tensor):
                return _const(out, like)
            if not isinstance(out, Jet):
                raise _unsupported(f"an output of type {type(out).__name__}", module)
            return out
        a = list(torch.fx.node.map_arg(node.args, lambda n: env[n.name]))
        kw = dict(torch.fx.node.map_arg(node.kwargs, lambda n: env[n.name]))
        env[node.name] = _node(node, a, kw, like, module, sub_jet)
    raise _unsupported("a graph without output", module)  # pragma: no cover


def _placeholder(node: Any, args: list[Any], module: nn.Module) -> Any:
    if args:
        return args.pop(0)
    if node.args:  # a default value
        return node.args[0]
    raise _unsupported(f"the argument {node.target!r} (no value for it)", module)


def _node(
    node: Any, a: list[Any], kw: dict[str, Any], like: Jet, module: nn.Module, sub: SubmoduleJet
) -> Any:
    if node.op == "call_module":
        if not isinstance(module, nn.Module):  # pragma: no cover - a function owns no modules
            raise _unsupported(f"a call of module {node.target!r}", module)
        if len(a) != 1 or kw:
            raise _unsupported(
                f"a call of submodule {node.target!r} with {len(a)} arguments", module
            )
        return sub(module.get_submodule(node.target), _as_jet(a[0], like), f"module.{node.target}")
    if node.op == "call_function":
        return _function(node.target, a, kw, like, module)
    if node.op == "call_method":
        if node.target in _METHODS and isinstance(a[0], Jet) and len(a) == 1 and not kw:
            return _METHODS[node.target](a[0])
        if node.target == "softmax" and isinstance(a[0], Jet):
            return _softmax(a, kw, module, "Tensor.softmax")
        if node.target == "sum" and isinstance(a[0], Jet):
            return _sum(a, kw, module, "Tensor.sum")
        if node.target in PIECEWISE_METHODS and isinstance(a[0], Jet):
            spec = PIECEWISE_METHODS[node.target]
            return _piecewise(spec, a, kw, like, module, f"Tensor.{node.target}")
        raise _unsupported(f"Tensor.{node.target}", module)
    raise _unsupported(node.op, module)  # pragma: no cover - fx has no other node kinds


def _function(target: Any, a: list[Any], kw: dict[str, Any], like: Jet, module: nn.Module) -> Any:
    if getattr(target, "__name__", None) in _RANDOM:
        return _random(target, a, kw, like, module)
    flat = [y for x in [*a, *kw.values()] for y in (x if isinstance(x, (list, tuple)) else [x])]
    if not any(isinstance(x, Jet) for x in flat):
        return target(*a, **kw)  # constant folding on parameters
    if target in PIECEWISE_FUNCTIONS:
        return _piecewise(PIECEWISE_FUNCTIONS[target], a, kw, like, module, _name(target))
    if target in (operator.matmul, torch.matmul) and not kw:
        return _matmul(a, like, module)
    if target in _UNARY and len(a) == 1 and not kw:
        return _UNARY[target](a[0])
    if target in (operator.add, torch.add, operator.sub, torch.sub) and not kw:
        x, y = a
        sign = 1.0 if target in (operator.add, torch.add) else -1.0
        if _is_scalar(y):  # a number broadcasts against any shape (a (batch,) jet too)
            return x + sign * float(y)
        if _is_scalar(x):
            return (y if sign > 0 else -y) + float(x)
        return (
            _as_jet(x, like) + _as_jet(y, like) if sign > 0 else _as_jet(x, like) - _as_jet(y, like)
        )
    if target in (operator.mul, torch.mul) and not kw:
        x, y = a
        if isinstance(x, Jet) and isinstance(y, Jet):
            return x * y
        jet, c = (x, y) if isinstance(x, Jet) else (y, x)
        return jet * _const(c, like) if isinstance(c, torch.Tensor) else jet.scale(float(c))
    if target in (operator.truediv, torch.div) and not kw and not isinstance(a[1], Jet):
        if isinstance(a[1], torch.Tensor):
            return a[0] * _const(1.0 / a[1], like)
        return a[0].scale(1.0 / float(a[1]))
    if target is operator.neg:
        return -a[0]
    if target is operator.pow and isinstance(a[1], int):
        return F.powi(a[0], a[1])
    if target is _TF.leaky_relu:
        slope = kw.get("negative_slope", a[1] if len(a) > 1 else 0.01)
        return F.leaky_relu(a[0], float(slope))
    if target is _TF.softplus:
        beta = kw.get("beta", a[1] if len(a) > 1 else 1.0)
        thr = kw.get("threshold", a[2] if len(a) > 2 else 20.0)
        return F.softplus(a[0], float(beta), float(thr))
    if target in (torch.softmax, _TF.softmax):
        return _softmax(a, kw, module, _name(target))
    if target is _TF.linear:
        w = a[1] if len(a) > 1 else kw["weight"]
        b = a[2] if len(a) > 2 else kw.get("bias")
        return a[0].linear(w, b)
    if target is torch.sum:
        return _sum(a, kw, module, "torch.sum")
    if target is operator.getitem and isinstance(a[0], Jet):
        return _column(a[0], a[1], module)
    if target is torch.cat:
        seq = a[0]
        dim = kw.get("dim", a[1] if len(a) > 1 else 0)
        if dim in (1, -1) and all(isinstance(x, (Jet, torch.Tensor)) for x in seq):
            jets = [_as_jet(x, like) for x in seq]
            return _cat(jets)
    raise _unsupported(_name(target), module)


def _piecewise(
    spec: Any, a: list[Any], kw: dict[str, Any], like: Jet, module: Any, name: str
) -> Jet:
    try:
        return piecewise_call(spec, a, kw, lambda v: _as_jet(v, like), name)
    except BadCall as exc:
        raise _unsupported(str(exc), module) from None


def _matmul(a: list[Any], like: Jet, module: Any) -> Jet:
    """``x @ W`` for a bounded ``(batch, k)`` tensor and a constant ``W`` of shape ``(k, o)``
    or ``(k,)``."""
    x, w = a
    if not (isinstance(x, Jet) and isinstance(w, torch.Tensor)) or x.v[0].ndim != 2:
        raise _unsupported("@ other than (batch, k) tensor @ constant matrix", module)
    w = w.to(torch.float64)
    if w.ndim == 1:
        return x.linear(w.unsqueeze(0)).select(0)
    if w.ndim != 2:
        raise _unsupported(f"@ by a constant of shape {tuple(w.shape)}", module)
    return x.linear(w.T.contiguous())


def _random(target: Any, a: list[Any], kw: dict[str, Any], like: Jet, module: nn.Module) -> Any:
    """Random operations are never folded into one sample; dropout with ``training=False``
    (or ``p == 0``) is the identity."""
    if target is _TF.dropout:
        training = kw.get("training", a[2] if len(a) > 2 else True)
        p = kw.get("p", a[1] if len(a) > 1 else 0.5)
        if dropout_is_identity(bool(training), p if isinstance(p, (int, float)) else 1.0):
            return _as_jet(a[0], like)
        raise _unsupported("F.dropout with training=True (call module.eval() first)", module)
    raise _unsupported(f"{_name(target)} (a random operation)", module)


def _softmax(a: list[Any], kw: dict[str, Any], module: nn.Module, name: str) -> Jet:
    """``softmax(a[0], dim)``: only the last dimension of a ``(batch, k)`` jet, no ``dtype``."""
    x = a[0]
    dim = kw.get("dim", a[1] if len(a) > 1 else None)
    extra = {k: v for k, v in kw.items() if k not in ("dim", "_stacklevel", "dtype")}
    ok = (
        isinstance(x, Jet)
        and x.v[0].ndim == 2
        and dim in (1, -1)
        and kw.get("dtype") is None
        and len(a) <= 2
        and not extra
    )
    if not ok:
        raise _unsupported(f"{name} with arguments dim={dim!r}, {sorted(kw)}", module)
    return F.softmax(x)


def _sum(a: list[Any], kw: dict[str, Any], module: Any, name: str) -> Jet:
    """``sum(a[0], dim)`` along the last dimension of a ``(batch, k)`` jet (``keepdim`` too)."""
    x = a[0]
    dim = kw.get("dim", a[1] if len(a) > 1 else None)
    keep = kw.get("keepdim", a[2] if len(a) > 2 else False)
    extra = {k for k in kw if k not in ("dim", "keepdim")}
    if not (isinstance(x, Jet) and x.v[0].ndim == 2 and dim in (1, -1, (1,), (-1,))) or extra:
        raise _unsupported(f"{name} with arguments dim={dim!r}, {sorted(kw)}", module)
    out = x.sum(1)
    return Jet.stack([out], dim=1) if keep else out


def _column(x: Jet, index: Any, module: Any) -> Jet:
    """``x[:, i]`` of a ``(batch, k)`` jet."""
    ok = (
        x.v[0].ndim == 2
        and isinstance(index, tuple)
        and len(index) == 2
        and index[0] == slice(None)
        and isinstance(index[1], int)
        and -x.v[0].shape[1] <= index[1] < x.v[0].shape[1]
    )
    if not ok:
        raise _unsupported(f"indexing x[{index!r}] (only x[:, i] of a (batch, k) tensor)", module)
    return x.select(index[1] % x.v[0].shape[1])


def _cat(jets: list[Jet]) -> Jet:
    def cat(parts: list[Any], dim: int) -> Any:
        if any(p is None for p in parts):
            return None
        return (torch.cat([p[0] for p in parts], dim), torch.cat([p[1] for p in parts], dim))

    return Jet(
        cat([j.v for j in jets], 1),
        cat([j.d for j in jets], 1),
        cat([j.h for j in jets], 1),
        jets[0].n,
    )
