"""Sensitivity of a LyaNet classifier to its input: Lipschitz constants of the encoder (with
the normalisation) and of the dynamics ``f(eta, context)`` in the context, and a bound on the
logarithmic norm of ``df/deta`` (how fast two trajectories can separate).

The classifier is read by duck typing (``model.normalizer``, ``model.encoder``,
``model.dynamics``) so this layer does not import the training package. Two dynamics are
recognised: the vertex flow ``speed * (scale * softmax(out(relu(S eta / scale + C c))) - eta)``
(attributes ``state_in``, ``context_in``, ``out``, ``scale``, ``speed``) and an MLP on
``[eta, c]`` (attribute ``net``, an ``nn.Sequential`` starting with a ``Linear``).

The constants are closed forms of what those modules compute, so they are used only when the
module *is* that computation (the rule of :mod:`lyactrl.bounds`): the dynamics' ``forward`` must
be the one of ``lyactrl.train``'s ``VertexDynamics`` or ``MLPDynamics`` (matched by its
qualified name, as this layer sits below the training package), ``net`` a stock
``nn.Sequential`` (no ``forward`` of its own), the normaliser ``nn.Identity`` or
``lyactrl.train``'s ``Normalize``, and no module of the tree may carry hooks. Anything else is
refused with :class:`~lyactrl.UnsupportedOperationError`, never bounded as its children.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidValueError, UnsupportedOperationError
from ..bounds.jets import check_module_tree, is_stock
from ._lipschitz import lipschitz_bound

__all__ = ["Sensitivity", "classifier_sensitivity"]

#: ``||softmax(a) - softmax(b)|| <= 1/2 ||a - b||`` in the 2- and inf-norms (the Jacobian
#: ``diag(p) - p p^T`` has quadratic form ``Var_p(v) <= ||v||^2 / 2`` and row sums
#: ``2 p_i (1 - p_i) <= 1/2``).
SOFTMAX_LIPSCHITZ = 0.5

_TRAIN = "lyactrl.train.lyanet._classifier"
#: The forwards whose closed forms the constants use, by qualified name.
VERTEX_FORWARD = f"{_TRAIN}.VertexDynamics.forward"
MLP_FORWARD = f"{_TRAIN}.MLPDynamics.forward"
NORMALIZE_FORWARD = f"{_TRAIN}.Normalize.forward"
CONTEXT_METHOD = f"{_TRAIN}.LyaNetClassifier.context"


@dataclasses.dataclass(frozen=True)
class Sensitivity:
    """``||f(eta, c(x')) - f(eta, c(x))||_2 <= context_gain * ||x' - x||`` (in ``norm``),
    and ``log_norm`` bounds the logarithmic norm (2-norm) of ``df/deta``."""

    norm: str
    encoder: float
    context: float
    context_gain: float
    log_norm: float
    how: str


def _forward_name(m: nn.Module) -> str:
    """The qualified name of the ``forward`` that ``m(...)`` runs (its class's)."""
    fn = type(m).forward
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def _normalizer_gain(m: nn.Module) -> float:
    check_module_tree(m, "model.normalizer")
    if is_stock(m, nn.Identity):
        return 1.0
    std = getattr(m, "std", None)
    if _forward_name(m) == NORMALIZE_FORWARD and isinstance(std, torch.Tensor):
        return float(1.0 / std.detach().abs().min())
    raise UnsupportedOperationError(
        f"model.normalizer: expected nn.Identity or lyactrl.train's Normalize (with their own "
        f"forward), received {type(m).__name__} with forward {_forward_name(m)}"
    )


def _seq(*mods: nn.Module) -> nn.Sequential:
    return nn.Sequential(*mods)


def _restricted_linear(lin: nn.Linear, cols: slice) -> nn.Linear:
    w = lin.weight.detach()[:, cols]
    out = nn.Linear(w.shape[1], w.shape[0], bias=False).to(w.dtype)
    with torch.no_grad():
        out.weight.copy_(w)
    return out


def _dynamics_bounds(dyn: nn.Module, n_classes: int, method: str) -> tuple[float, float, str]:
    """``(L_context (2-norm), log-norm bound of df/deta, description)``."""
    check_module_tree(dyn, "model.dynamics")
    meth, fwd = method, _forward_name(dyn)
    if fwd == VERTEX_FORWARD:
        relu = nn.ReLU()
        lc = lipschitz_bound(_seq(dyn.context_in, relu, dyn.out), method=meth).value
        ls = lipschitz_bound(_seq(dyn.state_in, relu, dyn.out), method=meth).value
        speed, scale = float(dyn.speed), float(dyn.scale)
        l_ctx = speed * scale * SOFTMAX_LIPSCHITZ * lc
        # f = speed * (target(eta) - eta): log-norm <= speed * (Lip(target) - 1)
        mu = speed * (SOFTMAX_LIPSCHITZ * ls - 1.0)
        return l_ctx, mu, "vertex dynamics (softmax 1/2-Lipschitz, -eta term contracting)"
    net = getattr(dyn, "net", None)
    if fwd == MLP_FORWARD:
        if not (is_stock(net, nn.Sequential) and len(net) and is_stock(net[0], nn.Linear)):
            raise UnsupportedOperationError(
                f"model.dynamics.net: expected a stock nn.Sequential (no forward of its own) "
                f"starting with nn.Linear, received {type(net).__name__}; a Sequential subclass "
                "with its own forward is not bounded as its children"
            )
        first = net[0]
        rest = list(net.children())[1:]
        lc = lipschitz_bound(
            _seq(_restricted_linear(first, slice(n_classes, None)), *rest), method=meth
        ).value
        ls = lipschitz_bound(
            _seq(_restricted_linear(first, slice(0, n_classes)), *rest), method=meth
        ).value
        return lc, ls, "MLP dynamics on [eta, c] (log-norm bounded by the Lipschitz constant)"
    raise UnsupportedOperationError(
        f"model.dynamics: expected the VertexDynamics or MLPDynamics of lyactrl.train with their "
        f"own forward, received {type(dyn).__name__} with forward {fwd}; the constants are "
        "closed forms of those forwards"
    )


@checked_kwargs
def classifier_sensitivity(
    model: nn.Module, *, norm: str = "2", method: str = "product"
) -> Sensitivity:
    """Sound sensitivity constants of a LyaNet classifier (see :class:`Sensitivity`).

    Parameters
    ----------
    model : LyaNetClassifier
        Read by duck typing (``normalizer``, ``encoder``, ``dynamics``, ``n_classes``,
        ``config``).
    norm : {"2", "inf"}
        The input norm. For ``"inf"`` the pixel perturbation is mapped to the context with the
        smaller of ``L_enc,inf * sqrt(context_dim)`` and ``L_enc,2 * sqrt(input_dim)``.
    method : str
        Method of :func:`lipschitz_bound` (``"product"`` is used for encoders with pooling).

    Examples
    --------
    >>> from lyactrl.train import build_classifier
    >>> from lyactrl.robust import classifier_sensitivity
    >>> import torch
    >>> model = build_classifier((1, 4, 4), 3, seed=0, hidden=8, context_dim=4,
    ...                          dynamics_hidden=8).eval()
    >>> s = classifier_sensitivity(model)
    >>> x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> with torch.no_grad():  # the change of f at one state, for two inputs
    ...     c, eta = model.context(x), torch.ones(2, 3)
    ...     df = model.dynamics(eta[:1], c[:1]) - model.dynamics(eta[1:], c[1:])
    >>> bool(df.norm() <= s.context_gain * (x[0] - x[1]).norm())
    True
    """
    if norm not in ("2", "inf"):
        raise InvalidValueError(f"norm: expected '2' or 'inf', received {norm!r}")
    _check_context(model)
    shape = (
        tuple(model.config["input_shape"])
        if hasattr(model, "config") and "input_shape" in model.config
        else None
    )
    gain = _normalizer_gain(model.normalizer)
    enc_method = "product" if method != "product" and _has_pool(model.encoder) else method
    enc2 = lipschitz_bound(model.encoder, method=enc_method, input_shape=shape).value * gain
    l_ctx, mu, how = _dynamics_bounds(model.dynamics, int(model.n_classes), method)
    if norm == "2":
        enc = enc2
    else:
        enc_inf = lipschitz_bound(model.encoder, norm="inf", input_shape=shape).value * gain
        in_dim = math.prod(shape) if shape else _first_in(model.encoder)
        ctx_dim = _context_dim(model)
        enc = min(enc_inf * math.sqrt(ctx_dim), enc2 * math.sqrt(in_dim))
    return Sensitivity(norm, enc, l_ctx, enc * l_ctx, mu, f"{how}; encoder {enc_method}")


def _check_context(model: nn.Module) -> None:
    """The constants assume ``context(x) = encoder(normalizer(x))``: LyaNetClassifier's own."""
    fn = getattr(type(model), "context", None)
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
    if name != CONTEXT_METHOD:
        raise UnsupportedOperationError(
            f"model: expected lyactrl.train's LyaNetClassifier with its own context method "
            f"(encoder(normalizer(x))), received {type(model).__name__} with context {name}"
        )


def _has_pool(m: nn.Module) -> bool:
    return any(isinstance(c, (nn.MaxPool1d, nn.MaxPool2d)) for c in m.modules())


def _first_in(m: nn.Module) -> int:
    for c in m.modules():
        if isinstance(c, nn.Linear):
            return int(c.in_features)
    raise UnsupportedOperationError("model.encoder: cannot infer the input size; set model.config")


def _context_dim(model: nn.Module) -> int:
    cfg = getattr(model, "config", {})
    if "context_dim" in cfg:
        return int(cfg["context_dim"])
    last = [c for c in model.encoder.modules() if isinstance(c, nn.Linear)][-1]
    return int(last.out_features)
