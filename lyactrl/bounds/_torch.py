"""Jets of torch modules: ``nn.Sequential`` stacks of linear layers and activations."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from .._errors import InvalidValueError, UnsupportedOperationError
from . import _functions as F
from ._fx import traced_jet
from ._jet import Jet
from ._linear import PIECES, mlp_linear_bounds, mlp_values_and_jacobian
from ._stock import (
    MODULE_OPERATIONS,
    check_module_tree,
    dropout_is_identity,
    is_stock,
    stock_class,
)

__all__ = [
    "MODULE_OPERATIONS",
    "module_jet",
    "mlp_layers",
    "mlp_value_and_vjp",
    "relaxed_mlps",
]

# nn.ReLU6 subclasses nn.Hardtanh (min_val=0, max_val=6) with the stock forward
_ACTIVATIONS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.Hardtanh,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Identity,
)


def _unsupported(module: nn.Module, where: str, hint: str = "") -> UnsupportedOperationError:
    name = type(module).__name__
    custom = "" if type(module).__module__.startswith("torch.") else " (a custom module)"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        hint = (
            " Batch norm is not supported (in train mode it normalises by the statistics of "
            "each batch); fold it into the preceding Linear layer for the eval-mode network."
        )
    return UnsupportedOperationError(
        f"{where}: the operation {name}{custom} is not supported by the certifier; supported "
        f"modules: {', '.join(MODULE_OPERATIONS)}. Write the network as an nn.Sequential of "
        f"these, or the system as a SymbolicSystem.{hint}"
    )


def _check_eval(module: nn.Module, where: str) -> None:
    """Dropout bounds as the identity only where it is one (:func:`dropout_is_identity`)."""
    if not dropout_is_identity(module.training, float(getattr(module, "p", 1.0))):
        raise UnsupportedOperationError(
            f"{where}: {type(module).__name__} is in train mode (module.training is True), where "
            "its output is random; the certifier bounds the eval-mode network only: call "
            "module.eval() first"
        )


def _weights(layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    W = layer.weight.detach().to(torch.float64)
    b = None if layer.bias is None else layer.bias.detach().to(torch.float64)
    return W, b


def _activation(layer: nn.Module, z: Jet) -> Jet | None:
    cls = stock_class(layer, _ACTIVATIONS)
    if cls is nn.ReLU:
        return F.relu(z)
    if cls is nn.LeakyReLU:
        return F.leaky_relu(z, float(layer.negative_slope))
    if cls is nn.Hardtanh:
        return F.hardtanh(z, float(layer.min_val), float(layer.max_val))
    if cls is nn.Tanh:
        return F.tanh(z)
    if cls is nn.Sigmoid:
        return F.sigmoid(z)
    if cls is nn.Softplus:
        return F.softplus(z, float(layer.beta), float(layer.threshold))
    if cls is nn.Identity:
        return z
    return None


def _activation_prime(layer: nn.Module, z: Jet) -> Jet:
    cls = stock_class(layer, _ACTIVATIONS)
    if cls is nn.ReLU:
        return F.step(z, 0.0, 1.0)
    if cls is nn.LeakyReLU:
        return F.step(z, float(layer.negative_slope), 1.0)
    if cls is nn.Hardtanh:
        return F.hardtanh_prime(z, float(layer.min_val), float(layer.max_val))
    if cls is nn.Tanh:
        t = F.tanh(z)
        return 1.0 - F.powi(t, 2)
    if cls is nn.Sigmoid:
        s = F.sigmoid(z)
        return s * (1.0 - s)
    if cls is nn.Softplus:
        return F.softplus_prime(z, float(layer.beta), float(layer.threshold))
    if cls is nn.Identity:
        return z.constant(torch.ones_like(z.v[0][0]))
    raise _unsupported(layer, "module")  # pragma: no cover - filtered before


def _flatten(module: nn.Module, where: str) -> list[nn.Module]:
    if is_stock(module, nn.Sequential):
        out: list[nn.Module] = []
        for i, child in enumerate(module):
            out.extend(_flatten(child, f"{where}[{i}]"))
        return out
    if is_stock(module, nn.Linear) or stock_class(module, _ACTIVATIONS) is not None:
        return [module]
    if is_stock(module, nn.Dropout):
        _check_eval(module, where)
        return []
    raise _unsupported(
        module,
        where,
        " A candidate network is backpropagated layer by layer, so it must be a plain "
        "nn.Sequential (no custom forward).",
    )


def mlp_layers(module: nn.Module, where: str = "module") -> list[nn.Module]:
    """The flat list of supported layers of ``module`` (raises for anything else)."""
    check_module_tree(module, where)
    return _flatten(module, where)


def module_jet(module: nn.Module, x: Jet, where: str = "module") -> Jet:
    """The jet of ``module(x)``: stock ``nn.Sequential`` stacks and supported layers by their
    closed forms, anything else (a custom ``forward``, including a subclass of a supported
    class) by tracing its ``forward`` with ``torch.fx``; hooks are refused.

    Parameters
    ----------
    module : torch.nn.Module
        The module (in eval mode, no hooks).
    x : Jet
        The input jet, shape ``(batch, in_features)``.
    where : str
        The name of the module in error messages.

    Returns
    -------
    Jet
        The jet of ``module(x)``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import Jet, module_jet
    >>> net = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.ReLU()).double()
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0), net[0].bias.fill_(0.0)
    >>> x = Jet.variables(torch.tensor([[-1.0]]).double(), torch.tensor([[2.0]]).double(), 0)
    >>> y = module_jet(net, x)
    >>> float(y.v[0][0, 0]) <= 0.0 and float(y.v[1][0, 0]) >= 2.0
    True
    """
    check_module_tree(module, where)
    return _module_jet(module, x, where)


def _module_jet(module: nn.Module, x: Jet, where: str) -> Jet:
    if is_stock(module, nn.Sequential):
        box = _box_variables(x)
        for i, child in enumerate(module):
            x = _module_jet(child, x, f"{where}[{i}]")
        return x if box is None or not _relaxing() else _tightened(module, x, box)
    return _layer_jet(module, x, where)


#: Activations whose linear relaxation :mod:`._linear` uses, with elementwise enclosures of
#: their value and derivative on intervals.
_RELAXED = (nn.Tanh, nn.Sigmoid, nn.Identity)


def relaxed_enclosures(layer: nn.Module) -> Callable:
    """``(lo, hi, order) -> ((g_lo, g_hi), ...)``: enclosures of a ``_RELAXED`` layer's
    function and its first ``order`` (up to 2) derivatives on intervals."""
    cls = stock_class(layer, _RELAXED)
    if cls is nn.Tanh:
        return F.tanh_pairs
    if cls is nn.Sigmoid:
        return lambda lo, hi, order: F.sigmoid_pairs(lo, hi)[: order + 1]
    return _identity_pairs


def _identity_pairs(lo: torch.Tensor, hi: torch.Tensor, order: int) -> tuple:
    one, zero = torch.ones_like(lo), torch.zeros_like(lo)
    return ((lo, hi), (one, one), (zero, zero))[: order + 1]


#: Most entries (boxes x units x n x pieces) of one linear-relaxation batch.
_RELAX_CHUNK = 2_000_000
#: Where stock MLPs on box coordinates get their linear relaxation (values) and centred-form
#: Jacobian and Hessian intersected with the interval jets: ``"local"`` (default) only inside
#: :func:`relaxed_mlps`, which the Jacobian tests of the local certificate and of the branch
#: and bound's segment test use (few, wide boxes, where the tight Jacobian decides);
#: ``"all"`` in every jet (the branch and bound's bounds too: fewer boxes, each about twice as
#: dear); ``"off"`` nowhere. An ablation switch for the benchmarks; every setting is sound.
MLP_RELAXATION = "local"
MLP_RELAXATIONS = ("off", "local", "all")
_inside = [False]


@contextlib.contextmanager
def relaxed_mlps() -> Iterator[None]:
    """Within this context, stock MLPs on box coordinates get their linear relaxation (values)
    and centred-form Jacobian and Hessian intersected with the interval jets, unless
    ``MLP_RELAXATION == "off"`` (outside it, only with ``"all"``). The local certificate's
    and the segment test's Jacobian tests run inside it.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import Jet, module_jet, relaxed_mlps
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
    ...     torch.nn.Linear(16, 2)).double()
    >>> box = Jet.variables(-torch.ones(1, 2).double(), torch.ones(1, 2).double(), 1)
    >>> plain = module_jet(net, box).d
    >>> with relaxed_mlps():
    ...     tight = module_jet(net, box).d
    >>> bool((tight[1] - tight[0] <= plain[1] - plain[0]).all())
    True
    """
    before, _inside[0] = _inside[0], True
    try:
        yield
    finally:
        _inside[0] = before


def _relaxing() -> bool:
    if MLP_RELAXATION not in MLP_RELAXATIONS:
        raise InvalidValueError(
            f"MLP_RELAXATION: expected one of {MLP_RELAXATIONS}, received {MLP_RELAXATION!r}"
        )
    return MLP_RELAXATION == "all" or (MLP_RELAXATION == "local" and _inside[0])


def _box_variables(x: Jet) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The box ``(lo, hi)`` when ``x`` is the box's own coordinates (identity derivative,
    zero Hessian), else ``None``."""
    if x.d is None or x.v[0].ndim != 2:
        return None
    n = x.v[0].shape[1]
    eye = torch.eye(n, dtype=x.d[0].dtype, device=x.d[0].device)
    if not bool((x.d[0] == eye).all() & (x.d[1] == eye).all()):
        return None
    if x.h is not None and not bool((x.h[0] == 0).all() & (x.h[1] == 0).all()):
        return None
    return x.v


def _tightened(module: nn.Module, out: Jet, box: tuple[torch.Tensor, torch.Tensor]) -> Jet:
    """``out`` (the interval jet of an MLP on the box coordinates) with its value intersected
    with the bounds of the MLP's linear relaxation (:func:`mlp_linear_bounds`), its
    Jacobian and (order 2) its Hessian with the centred forms (:func:`mlp_jacobian_bounds`,
    :func:`mlp_hessian_bounds`)."""
    layers = list(module)
    if not all(is_stock(m, nn.Linear) or stock_class(m, _RELAXED) is not None for m in layers):
        return out
    lo, hi = box
    width = max([lo.shape[1]] + [m.out_features for m in layers if isinstance(m, nn.Linear)])
    step = max(1, _RELAX_CHUNK // (width * lo.shape[1] * PIECES))
    chunks = [(lo[k : k + step], hi[k : k + step]) for k in range(0, lo.shape[0], step)]
    if out.d is None:
        parts = [(mlp_linear_bounds(layers, a, b, relaxed_enclosures),) for a, b in chunks]
    else:
        parts = [
            mlp_values_and_jacobian(layers, a, b, relaxed_enclosures, hessian=out.h is not None)
            for a, b in chunks
        ]
    bounds = [
        tuple(torch.cat([p[i][j] for p in parts]) for j in (0, 1)) for i in range(len(parts[0]))
    ]
    out = out.intersect_value(*bounds[0])
    if out.d is not None:
        out = out.intersect_derivative(*bounds[1])
    return out if out.h is None else out.intersect_hessian(*bounds[2])


def _layer_jet(module: nn.Module, x: Jet, where: str) -> Jet:
    if is_stock(module, nn.Linear):
        return x.linear(*_weights(layer=module))
    if is_stock(module, nn.Softmax):
        if module.dim not in (1, -1) or x.v[0].ndim != 2:
            raise _unsupported(module, f"{where} (dim={module.dim!r})")
        return F.softmax(x)
    if is_stock(module, nn.Dropout):
        _check_eval(module, where)
        return x
    out = _activation(module, x)
    if out is not None:
        return out
    if type(module).__module__.startswith("torch."):
        raise _unsupported(module, where)
    return traced_jet(module, [x], x, _module_jet)


def mlp_value_and_vjp(
    module: nn.Module, x: Jet, cotangent, where: str = "module"
) -> tuple[Jet, Jet]:
    """``(phi(x), J_phi(x)^T w)`` where ``w = cotangent(phi(x))`` is a jet built from the output.

    Backpropagation written with jets: the transposed weights and the activation derivatives
    (as jets of the pre-activations), so the gradient of a neural candidate can itself be
    bounded with its derivatives.
    """
    layers = mlp_layers(module, where)
    pre: list[tuple[nn.Module, Jet]] = []
    out = x
    for layer in layers:
        if is_stock(layer, nn.Linear):
            out = out.linear(*_weights(layer))
        else:
            pre.append((layer, out))
            out = _activation(layer, out)  # type: ignore[assignment]
    g = cotangent(out)
    acts = iter(reversed(pre))
    for layer in reversed(layers):
        if is_stock(layer, nn.Linear):
            W, _ = _weights(layer)
            g = g.linear(W.T.contiguous())
        else:
            act, z = next(acts)
            g = g * _activation_prime(act, z)
    return out, g
