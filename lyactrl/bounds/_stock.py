"""What makes a torch module safe to bound by its class: the stock ``forward``, no hooks.

The certifier bounds what ``module(x)`` computes *now*. A recognised class (``nn.Sequential``,
``nn.Linear``, an activation) is bounded by its closed form only when ``type(m).forward`` is
that class's own ``forward`` (a subclass with its own ``forward`` is traced with ``torch.fx``
instead), and no module of the tree carries something that ``forward`` alone does not show:
forward hooks or pre-hooks (per module or global), an instance-level ``forward`` attribute, or
an overridden ``__call__``. Those are refused with :class:`~lyactrl.UnsupportedOperationError`
naming what to change.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules import module as _module_impl

from .._errors import UnsupportedOperationError

__all__ = [
    "MODULE_OPERATIONS",
    "check_module_tree",
    "stock_class",
    "is_stock",
    "dropout_is_identity",
]

#: The torch modules the certifier supports (matched only with their stock ``forward``).
MODULE_OPERATIONS = (
    "nn.Sequential",
    "nn.Linear (with or without bias)",
    "nn.ReLU",
    "nn.LeakyReLU",
    "nn.Hardtanh (and nn.ReLU6)",
    "nn.Tanh",
    "nn.Sigmoid",
    "nn.Softplus",
    "nn.Identity",
    "nn.Dropout (eval mode, or p = 0: the identity)",
    "nn.Softmax (dim=-1 or 1 on a (batch, k) tensor; in systems and controllers, not inside a "
    "NeuralLyapunov network)",
)

_GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_forward_hooks_with_kwargs",
    "_global_forward_hooks_always_called",
)
_OWN_HOOKS = ("_forward_hooks", "_forward_pre_hooks")


def _global_hooks() -> list[str]:
    return [n for n in _GLOBAL_HOOKS if getattr(_module_impl, n, None)]


def _hidden_behaviour(m: nn.Module) -> str | None:
    """What ``m`` does besides ``type(m).forward``, or ``None``."""
    hooks = [n for n in _OWN_HOOKS if getattr(m, n, None)]
    if hooks:
        return f"has forward hooks ({', '.join(hooks)})"
    if "forward" in vars(m):
        return "has an instance-level forward attribute (the class's forward is not what runs)"
    t = type(m)
    if t.__call__ is not nn.Module.__call__ or t._call_impl is not nn.Module._call_impl:
        return f"overrides __call__ ({t.__name__}.__call__ runs instead of forward)"
    return None


def check_module_tree(module: nn.Module, where: str) -> None:
    """Refuse ``module`` when it, a submodule or the global registry adds behaviour that its
    ``forward`` does not show (hooks, an instance ``forward``, an overridden ``__call__``).

    Parameters
    ----------
    module : torch.nn.Module
        The module to inspect, with all its submodules.
    where : str
        The name of the module in error messages (``"V"``, ``"controller"``).

    Raises
    ------
    UnsupportedOperationError
        Naming the module and what to change.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.bounds.jets import check_module_tree
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    >>> check_module_tree(net, "module")  # no hooks: nothing raised
    >>> h = net[0].register_forward_hook(lambda m, i, o: 2 * o)
    >>> try:
    ...     check_module_tree(net, "module")
    ... except lyactrl.UnsupportedOperationError as e:
    ...     print(str(e).split(";")[0])
    module.0 (Linear) has forward hooks (_forward_hooks)
    >>> h.remove()
    """
    glob = _global_hooks()
    if glob:
        raise UnsupportedOperationError(
            f"{where}: global module hooks are registered ({', '.join(glob)}); they change what "
            "every module(x) returns and the certifier cannot bound them; remove them (the "
            "handle's .remove()) before certifying"
        )
    for name, m in module.named_modules():
        what = _hidden_behaviour(m)
        if what is not None:
            path = f"{where}.{name}" if name else where
            raise UnsupportedOperationError(
                f"{path} ({type(m).__name__}) {what}; the certifier bounds forward only. Remove "
                "the hook (handle.remove()) or write its effect into a forward method (the "
                "hook-based torch.nn.utils.spectral_norm / weight_norm: use their "
                "torch.nn.utils.parametrizations versions)"
            )


def is_stock(module: nn.Module, cls: type) -> bool:
    """Whether ``module`` is a ``cls`` whose ``forward`` is ``cls.forward`` itself.

    ``cls`` is a module class such as ``torch.nn.Linear``.

    Parameters
    ----------
    module : torch.nn.Module
        The module to test.

    Returns
    -------
    bool
        ``False`` for other classes and for subclasses that override ``forward``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import is_stock
    >>> class Doubled(torch.nn.Linear):
    ...     def forward(self, x):
    ...         return 2 * super().forward(x)
    >>> is_stock(torch.nn.Linear(2, 2), torch.nn.Linear), is_stock(Doubled(2, 2), torch.nn.Linear)
    (True, False)
    """
    return isinstance(module, cls) and type(module).forward is cls.forward


def dropout_is_identity(training: bool, p: float) -> bool:
    """Whether a dropout with probability ``p`` leaves its input as it is: in eval mode, or
    with ``p == 0`` in either mode (otherwise it zeroes and rescales at random, which no
    bound or Lipschitz constant of the network covers).

    Parameters
    ----------
    training : bool
        Whether the dropout is in train mode (``module.training``).
    p : float
        Its probability of zeroing an element.

    Returns
    -------
    bool

    Examples
    --------
    >>> from lyactrl.bounds.jets import dropout_is_identity
    >>> dropout_is_identity(False, 0.5), dropout_is_identity(True, 0.0), dropout_is_identity(True, 0.5)
    (True, True, False)
    """
    return not training or p == 0


def stock_class(module: nn.Module, classes: tuple[type, ...]) -> type | None:
    """The class in ``classes`` that ``module`` is a stock instance of, or ``None``."""
    for cls in classes:
        if is_stock(module, cls):
            return cls
    return None
