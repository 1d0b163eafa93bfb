"""The Lyapunov-candidate interface."""

from __future__ import annotations

import abc
from typing import Any

import torch

from .._tensors import as_states

__all__ = ["AbstractCandidate"]


class AbstractCandidate(abc.ABC):
    """A Lyapunov candidate (potential) ``V``.

    ``V(x)`` returns ``(batch,)`` values and ``V.grad(x)`` the ``(batch, n)`` gradient, both
    validated. Implementations provide the unchecked :meth:`value` and
    :meth:`value_and_gradient` used on hot paths.

    Attributes
    ----------
    n_states : int or None
        State dimension (``None`` when any width is accepted, as for :class:`CrossEntropy`
        without ``n_classes``).
    x_eq : torch.Tensor or None
        The minimiser of ``V`` (``V(x_eq) = 0``), or ``None`` when ``V`` has none.
    """

    n_states: int | None
    x_eq: torch.Tensor | None

    @abc.abstractmethod
    def value(self, x: torch.Tensor) -> torch.Tensor:
        """``V`` on a validated batch, shape ``(batch,)``."""

    @abc.abstractmethod
    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(V(x), grad V(x))`` on a validated batch: shapes ``(batch,)`` and ``(batch, n)``."""

    def _validate(self, x: Any) -> torch.Tensor:
        n = self.n_states
        if n is None:
            t = torch.as_tensor(x) if not isinstance(x, torch.Tensor) else x
            n = int(t.shape[-1]) if t.ndim >= 1 else 1
        return as_states(x, n, name="x")

    def __call__(self, x: Any) -> torch.Tensor:
        """``V(x)`` on a batch ``(batch, n)``; returns ``(batch,)``."""
        return self.value(self._validate(x))

    def grad(self, x: Any) -> torch.Tensor:
        """The gradient ``dV/dx`` on a batch ``(batch, n)``; returns ``(batch, n)``."""
        return self.value_and_gradient(self._validate(x))[1]
