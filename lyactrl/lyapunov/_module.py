"""A user's own torch module as a Lyapunov candidate (a network trained in another code base)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, ShapeError
from .._tensors import as_vector, positive_int
from ._base import AbstractCandidate

__all__ = ["ModuleCandidate"]


def _module_dtype(module: nn.Module) -> torch.dtype | None:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


class ModuleCandidate(AbstractCandidate):
    """``V(x) = module(x) - module(x_eq)`` for any ``nn.Module`` mapping ``(batch, n)`` to
    ``(batch,)`` or ``(batch, 1)``; its gradient by autograd. With ``x_eq=None``,
    ``V(x) = module(x)`` as it stands (a function without an equilibrium, for conditions that
    need none, such as :class:`~lyactrl.Decrease` on a :class:`~lyactrl.Band`).

    The candidate is *defined* with ``module(x_eq)`` subtracted, so ``V(x_eq) = 0`` holds by
    construction (a network trained elsewhere rarely has an exact zero at its minimum); the
    gradient is the module's own. Nothing else is assumed: positive definiteness is **proved**
    by :func:`lyactrl.verify.prove_positive_definite` (and by :func:`~lyactrl.certify`, which
    answers ``unknown`` for a condition on this candidate unless ``V > 0`` away from ``x_eq``
    is proved on the region).

    The certifier bounds the module as it bounds a system's module: a stock ``nn.Sequential``
    by its layers, a custom ``forward`` by tracing it with ``torch.fx`` (the operations of
    :data:`lyactrl.bounds.SUPPORTED`); hooks and train-mode layers are refused. The gradient's
    enclosures come from the module's second-order jets, so near ``x_eq`` the local certificate
    uses the Hessian enclosure of ``V`` and the Jacobian enclosure of ``f`` (see
    ``docs/soundness.md``). The module is never mutated; states are cast to its parameter
    dtype (convert it with ``module.double()`` for float64 verification).

    Parameters
    ----------
    module : torch.nn.Module
        ``V``'s network (in eval mode for certification).
    x_eq : array_like or None
        The equilibrium, shape ``(n_states,)``, where ``V`` has its minimum; ``None``: no
        equilibrium and nothing subtracted.
    n_states : int
        The state dimension.

    Examples
    --------
    >>> import torch, lyactrl
    >>> class Energy(torch.nn.Module):
    ...     def forward(self, x):
    ...         return (x**2).sum(-1) + 1.0  # V(x_eq) = 1: subtracted by the candidate
    >>> V = lyactrl.ModuleCandidate(Energy(), x_eq=[0.0, 0.0], n_states=2)
    >>> V([[1.0, 2.0]]).tolist(), V.grad([[1.0, 2.0]]).tolist()
    ([5.0], [[2.0, 4.0]])
    """

    @checked_kwargs
    def __init__(self, module: nn.Module, *, x_eq: Any, n_states: int) -> None:
        if not isinstance(module, nn.Module):
            raise InvalidArgumentError(
                f"module: expected a torch.nn.Module, received {type(module).__name__}"
            )
        self.n_states = positive_int(n_states, "n_states")
        self.module = module
        self._dtype = _module_dtype(module)
        if x_eq is None:
            self.x_eq = None
            with torch.no_grad():  # checks the output shape once
                self._raw(torch.zeros(1, self.n_states, dtype=torch.float64))
            self.offset = torch.zeros((), dtype=torch.float64)
            return
        self.x_eq = as_vector(x_eq, self.n_states, name="x_eq").to(torch.float64)
        with torch.no_grad():
            out = self._raw(self.x_eq.unsqueeze(0))
        self.offset = out.detach()[0]

    def _raw(self, x: torch.Tensor) -> torch.Tensor:
        xin = x if self._dtype is None else x.to(self._dtype)
        out = self.module(xin)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) not in (
            (x.shape[0],),
            (x.shape[0], 1),
        ):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ShapeError(
                f"module: expected a module mapping (batch, {self.n_states}) to (batch,) or "
                f"(batch, 1), received output {got} for input {tuple(x.shape)}"
            )
        return out.reshape(x.shape[0]).to(x.dtype)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return self._raw(x) - self.offset.to(x)

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outer = torch.is_grad_enabled()
        with torch.enable_grad():
            xr = x if x.requires_grad else x.detach().requires_grad_(True)
            v = self.value(xr)
            (g,) = torch.autograd.grad(v.sum(), xr, create_graph=outer)
        return (v if outer else v.detach()), g

    def __repr__(self) -> str:
        return (
            f"ModuleCandidate({type(self.module).__name__}, n_states={self.n_states}, "
            f"x_eq={None if self.x_eq is None else self.x_eq.tolist()})"
        )
