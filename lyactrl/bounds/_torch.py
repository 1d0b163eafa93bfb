"""Jets of torch modules: ``nn.Sequential`` stacks of linear layers and activations."""

from __future__ import annotations

import torch
from torch import nn

from .._errors import UnsupportedOperationError
from . import _functions as F
from ._jet import Jet

__all__ = ["MODULE_OPERATIONS", "module_jet", "mlp_layers", "mlp_value_and_vjp"]

#: The torch modules the certifier supports.
MODULE_OPERATIONS = (
    "nn.Sequential",
    "nn.Linear (with or without bias)",
    "nn.ReLU",
    "nn.LeakyReLU",
    "nn.Tanh",
    "nn.Sigmoid",
    "nn.Softplus",
    "nn.Identity",
    "nn.Softmax (dim=-1 or 1 on a (batch, k) tensor; in systems and controllers, not inside a "
    "NeuralLyapunov network)",
)


def _unsupported(module: nn.Module, where: str) -> UnsupportedOperationError:
    name = type(module).__name__
    custom = "" if type(module).__module__.startswith("torch.") else " (a custom module)"
    return UnsupportedOperationError(
        f"{where}: the operation {name}{custom} is not supported by the certifier; supported "
        f"modules: {', '.join(MODULE_OPERATIONS)}. Write the network as an nn.Sequential of "
        "these, or the system as a SymbolicSystem."
    )


def _weights(layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    W = layer.weight.detach().to(torch.float64)
    b = None if layer.bias is None else layer.bias.detach().to(torch.float64)
    return W, b


def _activation(layer: nn.Module, z: Jet) -> Jet | None:
    if isinstance(layer, nn.ReLU):
        return F.relu(z)
    if isinstance(layer, nn.LeakyReLU):
        return F.leaky_relu(z, float(layer.negative_slope))
    if isinstance(layer, nn.Tanh):
        return F.tanh(z)
    if isinstance(layer, nn.Sigmoid):
        return F.sigmoid(z)
    if isinstance(layer, nn.Softplus):
        return F.softplus(z, float(layer.beta), float(layer.threshold))
    if isinstance(layer, nn.Identity):
        return z
    return None


def _activation_prime(layer: nn.Module, z: Jet) -> Jet:
    if isinstance(layer, nn.ReLU):
        return F.step(z, 0.0, 1.0)
    if isinstance(layer, nn.LeakyReLU):
        return F.step(z, float(layer.negative_slope), 1.0)
    if isinstance(layer, nn.Tanh):
        t = F.tanh(z)
        return 1.0 - F.powi(t, 2)
    if isinstance(layer, nn.Sigmoid):
        s = F.sigmoid(z)
        return s * (1.0 - s)
    if isinstance(layer, nn.Softplus):
        return F.softplus_prime(z, float(layer.beta), float(layer.threshold))
    if isinstance(layer, nn.Identity):
        return z.constant(torch.ones_like(z.v[0][0]))
    raise _unsupported(layer, "module")  # pragma: no cover - filtered before


def _flatten(module: nn.Module, where: str) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        out: list[nn.Module] = []
        for child in module:
            out.extend(_flatten(child, where))
        return out
    if isinstance(module, nn.Linear) or _activation_supported(module):
        return [module]
    raise _unsupported(module, where)


def _activation_supported(module: nn.Module) -> bool:
    return isinstance(
        module, (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Identity)
    )


def mlp_layers(module: nn.Module, where: str = "module") -> list[nn.Module]:
    """The flat list of supported layers of ``module`` (raises for anything else)."""
    return _flatten(module, where)


def module_jet(module: nn.Module, x: Jet, where: str = "module") -> Jet:
    """The jet of ``module(x)``: ``nn.Sequential`` stacks and supported layers directly, custom
    modules by tracing their ``forward`` with ``torch.fx``."""
    if isinstance(module, nn.Sequential):
        for i, child in enumerate(module):
            x = module_jet(child, x, f"{where}[{i}]")
        return x
    if isinstance(module, nn.Linear):
        return x.linear(*_weights(layer=module))
    if isinstance(module, nn.Softmax):
        if module.dim not in (1, -1) or x.v[0].ndim != 2:
            raise _unsupported(module, f"{where} (dim={module.dim!r})")
        return F.softmax(x)
    out = _activation(module, x)
    if out is not None:
        return out
    if type(module).__module__.startswith("torch."):
        raise _unsupported(module, where)
    from ._fx import traced_jet

    return traced_jet(module, [x], x)


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
        if isinstance(layer, nn.Linear):
            out = out.linear(*_weights(layer))
        else:
            pre.append((layer, out))
            out = _activation(layer, out)  # type: ignore[assignment]
    g = cotangent(out)
    acts = iter(reversed(pre))
    for layer in reversed(layers):
        if isinstance(layer, nn.Linear):
            W, _ = _weights(layer)
            g = g.linear(W.T.contiguous())
        else:
            act, z = next(acts)
            g = g * _activation_prime(act, z)
    return out, g
