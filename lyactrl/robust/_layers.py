"""A network as a chain of linear maps and slope-restricted elementwise activations.

Used by the Lipschitz bounds. Every supported module becomes an :class:`Op` that knows its
input and output shapes (for a fixed input shape) and, for linear maps, how to apply the map
without its bias (the part that matters for Lipschitz constants).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import InvalidArgumentError, ShapeError, UnsupportedOperationError
from ..bounds.jets import check_module_tree, dropout_is_identity, is_stock

__all__ = ["Op", "flatten_module", "ACTIVATION_SLOPES", "activation_slopes"]

#: Slope bounds ``(alpha, beta)`` with ``alpha <= phi'(z) <= beta`` for every ``z``.
#: GELU and SiLU bounds are rounded outward from the numerical extrema of their derivatives
#: (GELU: [-0.16997, 1.12897]; SiLU: [-0.09984, 1.09984]).
ACTIVATION_SLOPES: dict[type, tuple[float, float]] = {
    nn.ReLU: (0.0, 1.0),
    nn.Tanh: (0.0, 1.0),
    nn.Sigmoid: (0.0, 0.25),
    nn.Softplus: (0.0, 1.0),
    nn.Hardtanh: (0.0, 1.0),
    nn.ReLU6: (0.0, 1.0),
    nn.GELU: (-0.1700, 1.1290),
    nn.SiLU: (-0.0999, 1.0999),
}

_RESHAPES = (nn.Flatten, nn.Unflatten, nn.Identity)


def activation_slopes(module: nn.Module) -> tuple[float, float] | None:
    """``(alpha, beta)`` slope bounds of an elementwise activation, or ``None``."""
    if is_stock(module, nn.LeakyReLU):
        s = float(module.negative_slope)
        return (min(s, 1.0), max(s, 1.0))
    if is_stock(module, nn.ELU):
        a = float(module.alpha)
        if a < 0:
            return None
        return (0.0, max(1.0, a))
    for cls, slopes in ACTIVATION_SLOPES.items():
        if type(module) is cls:
            return slopes
    return None


@dataclasses.dataclass
class Op:
    """One step of the chain.

    ``kind`` is ``"linear"`` (``apply`` is the map without bias, on flat batches),
    ``"activation"`` (``slopes`` holds ``(alpha, beta)``), ``"pool"`` (non-overlapping max
    pooling: 1-Lipschitz in every p-norm, not slope-restricted) or ``"reshape"`` (norm 1).
    """

    kind: str
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    apply: Callable[[torch.Tensor], torch.Tensor] | None = None
    slopes: tuple[float, float] | None = None
    module: nn.Module | None = None

    @property
    def in_dim(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_dim(self) -> int:
        return math.prod(self.out_shape)


def _leaves(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    if is_stock(module, nn.Sequential):
        out: list[tuple[str, nn.Module]] = []
        for name, child in module.named_children():
            out.extend(_leaves(child, f"{prefix}.{name}" if prefix else name))
        return out
    return [(prefix or type(module).__name__, module)]


def _flat_apply(fn: Callable[[torch.Tensor], torch.Tensor], in_shape: tuple[int, ...]):
    def apply(z: torch.Tensor) -> torch.Tensor:
        return fn(z.reshape(z.shape[0], *in_shape)).reshape(z.shape[0], -1)

    return apply


def _linear_op(name: str, m: nn.Module, shape: tuple[int, ...]) -> Op:
    if is_stock(m, nn.Linear):
        if shape[-1] != m.in_features:
            raise ShapeError(
                f"module: layer {name!r} expects {m.in_features} input features, received "
                f"shape {shape}"
            )
        out = (*shape[:-1], m.out_features)
        if len(shape) != 1:
            raise UnsupportedOperationError(
                f"module: layer {name!r} (Linear) applied to a multi-dimensional input {shape}; "
                "insert nn.Flatten first"
            )
        w = m.weight
        return Op("linear", name, shape, out, lambda z: z @ w.to(z.dtype).T, module=m)
    if _stock(m, (nn.Conv1d, nn.Conv2d)):
        dims = 1 if is_stock(m, nn.Conv1d) else 2
        if len(shape) != dims + 1 or shape[0] != m.in_channels:
            raise ShapeError(
                f"module: layer {name!r} expects input shape (C={m.in_channels}, "
                f"{'L' if dims == 1 else 'H, W'}), received {shape}"
            )
        if m.padding_mode != "zeros":
            raise UnsupportedOperationError(
                f"module: layer {name!r} uses padding_mode={m.padding_mode!r}; only 'zeros' is "
                "supported"
            )
        conv = F.conv1d if dims == 1 else F.conv2d
        w = m.weight

        def fn(x: torch.Tensor) -> torch.Tensor:
            return conv(x, w.to(x.dtype), None, m.stride, m.padding, m.dilation, m.groups)

        with torch.no_grad():
            probe = fn(torch.zeros(1, *shape, dtype=w.dtype, device=w.device))
        out = tuple(probe.shape[1:])
        return Op("linear", name, shape, out, _flat_apply(fn, shape), module=m)
    if is_stock(m, nn.AvgPool2d):
        with torch.no_grad():
            out = tuple(m(torch.zeros(1, *shape)).shape[1:])
        return Op("linear", name, shape, out, _flat_apply(m, shape), module=m)
    raise AssertionError("unreachable")  # pragma: no cover


def _per_dim(value: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    """A pooling argument (an int or a tuple) as one int per spatial dimension."""
    t = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return tuple(int(v) for v in (t * dims if len(t) == 1 else t))


def _stock(m: nn.Module, classes: tuple[type, ...]) -> bool:
    return any(is_stock(m, c) for c in classes)


def _pool_op(name: str, m: nn.Module, shape: tuple[int, ...]) -> Op:
    """Max pooling with non-overlapping windows: 1-Lipschitz in every p-norm."""
    dims = 1 if is_stock(m, nn.MaxPool1d) else 2
    k, st, dil = (_per_dim(v, dims) for v in (m.kernel_size, m.stride or m.kernel_size, m.dilation))
    if any(d != 1 for d in dil) or any(a > b for a, b in zip(k, st, strict=True)):
        raise UnsupportedOperationError(
            f"module: layer {name!r} ({type(m).__name__}) has overlapping windows (kernel "
            f"{m.kernel_size}, stride {m.stride}); only non-overlapping max pooling "
            "(kernel_size <= stride, dilation 1) is supported"
        )
    with torch.no_grad():
        out = tuple(m(torch.zeros(1, *shape)).shape[1:])
    return Op("pool", name, shape, out, module=m)


def flatten_module(module: nn.Module, input_shape: tuple[int, ...] | None) -> list[Op]:
    """Turn ``module`` (a Linear/Conv/activation, or nested ``nn.Sequential`` of them) into ops.

    Raises
    ------
    UnsupportedOperationError
        For a layer that is neither linear, an elementwise slope-restricted activation, nor a
        reshape.
    """
    if not isinstance(module, nn.Module):
        raise InvalidArgumentError(
            f"module: expected a torch.nn.Module, received {type(module).__name__}"
        )
    check_module_tree(module, "module")
    leaves = _leaves(module, "")
    if input_shape is None:
        first = next((m for _, m in leaves if is_stock(m, nn.Linear)), None)
        needs_shape = any(_stock(m, (nn.Conv1d, nn.Conv2d, nn.AvgPool2d)) for _, m in leaves)
        if first is None or needs_shape:
            raise InvalidArgumentError(
                "input_shape: expected the input shape without the batch dimension (e.g. "
                "(1, 28, 28)) for a network with convolutions or without a Linear layer, "
                "received None"
            )
        input_shape = (first.in_features,)
    shape = tuple(int(s) for s in input_shape)
    ops: list[Op] = []
    for name, m in leaves:
        op = _op(name, m, shape)
        ops.append(op)
        shape = op.out_shape
    return ops


def _op(name: str, m: nn.Module, shape: tuple[int, ...]) -> Op:
    """One leaf as an op; a recognised class only with its stock ``forward``."""
    if _stock(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d)):
        return _linear_op(name, m, shape)
    if _stock(m, (nn.MaxPool1d, nn.MaxPool2d)):
        return _pool_op(name, m, shape)
    if _stock(m, (nn.Dropout,)):
        if not dropout_is_identity(m.training, m.p):
            raise UnsupportedOperationError(
                f"module: layer {name!r} (Dropout) is in train mode (module.training is True), "
                "where it zeroes and rescales its input at random; call module.eval() first"
            )
        return Op("reshape", name, shape, shape, module=m)
    if _stock(m, _RESHAPES):
        with torch.no_grad():
            out = tuple(m(torch.zeros(1, *shape)).shape[1:])
        return Op("reshape", name, shape, out, module=m)
    slopes = activation_slopes(m)
    if slopes is None:
        raise UnsupportedOperationError(
            f"module: layer {name!r} ({type(m).__name__}) is not supported; expected "
            "Linear, Conv1d, Conv2d, AvgPool2d, MaxPool1d/2d, Flatten, Identity, Dropout (eval) "
            f"or an elementwise activation ({', '.join(c.__name__ for c in ACTIVATION_SLOPES)}, "
            "LeakyReLU, ELU), each with its stock forward (a subclass with its own forward, "
            "e.g. of nn.Sequential, is not bounded by its children)"
        )
    return Op("activation", name, shape, shape, slopes=slopes, module=m)
