"""LyaNet's task-loss potentials on the logit state ``eta``."""

from __future__ import annotations

from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import check_finite, to_tensor
from ._base import AbstractCandidate

__all__ = ["SquaredError", "CrossEntropy"]


class SquaredError(AbstractCandidate):
    """``V(eta) = 1/2 ||eta - target||^2`` with gradient ``eta - target``.

    Parameters
    ----------
    target : array_like, shape (n,) or (batch, n)
        One target shared by the batch, or one per row (e.g. one-hot labels).

    Examples
    --------
    >>> import lyactrl
    >>> V = lyactrl.SquaredError([1.0, 0.0])
    >>> V([[0.0, 0.0]]).tolist(), V.grad([[0.0, 0.0]]).tolist()
    ([0.5], [[-1.0, 0.0]])
    """

    @checked_kwargs
    def __init__(self, target: Any) -> None:
        t = check_finite(to_tensor(target, "target"), "target")
        if t.ndim not in (1, 2) or t.shape[-1] == 0:
            raise ShapeError(
                f"target: expected shape (n,) or (batch, n), received {tuple(t.shape)}"
            )
        self.target = t
        self.n_states = int(t.shape[-1])
        self.x_eq = t.to(torch.float64) if t.ndim == 1 else None

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        t = self.target.to(dtype=x.dtype, device=x.device)
        if t.ndim == 2 and t.shape[0] != x.shape[0]:
            raise ShapeError(
                f"x: the target has batch {t.shape[0]}, so x must too; received {x.shape[0]}"
            )
        return t

    def value(self, x: torch.Tensor) -> torch.Tensor:
        d = x - self._target(x)
        return 0.5 * (d * d).sum(-1)

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = x - self._target(x)
        return 0.5 * (d * d).sum(-1), d

    def __repr__(self) -> str:
        return f"SquaredError(n_states={self.n_states})"


class CrossEntropy(AbstractCandidate):
    """``V(eta) = logsumexp(eta) - eta[label]``: the cross-entropy of the softmax of ``eta``.

    The gradient is ``softmax(eta) - onehot(label)`` in closed form. ``V > 0`` everywhere and
    ``V -> 0`` as the label's logit dominates; ``V < log 2`` implies ``argmax eta = label``.

    Parameters
    ----------
    label : int or array_like of int, shape (batch,)
        The class, shared by the batch or one per row.
    n_classes : int, optional
        Number of classes (the width of ``eta``); checked on every call when given.

    Examples
    --------
    >>> import torch, lyactrl
    >>> V = lyactrl.CrossEntropy(0, n_classes=2)
    >>> round(float(V([[0.0, 0.0]])[0]), 6)
    0.693147
    """

    @checked_kwargs
    def __init__(self, label: Any, *, n_classes: int | None = None) -> None:
        if isinstance(label, bool):
            raise InvalidArgumentError("label: expected an int or integer tensor, received bool")
        if isinstance(label, int):
            lab = torch.tensor(label)
        else:
            lab = label if isinstance(label, torch.Tensor) else torch.as_tensor(label)
            if lab.dtype.is_floating_point or lab.dtype.is_complex or lab.dtype == torch.bool:
                raise InvalidArgumentError(
                    f"label: expected integer class indices, received dtype {lab.dtype}"
                )
        if lab.ndim > 1:
            raise ShapeError(
                f"label: expected an int or shape (batch,), received {tuple(lab.shape)}"
            )
        if n_classes is not None and (
            isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2
        ):
            raise InvalidValueError(f"n_classes: expected an int >= 2, received {n_classes!r}")
        if lab.numel() and int(lab.min()) < 0:
            raise InvalidValueError(f"label: expected indices >= 0, received {int(lab.min())}")
        if n_classes is not None and lab.numel() and int(lab.max()) >= n_classes:
            raise InvalidValueError(
                f"label: expected indices < n_classes={n_classes}, received {int(lab.max())}"
            )
        self.label = lab.long()
        self.n_states = n_classes
        self.x_eq = None

    def _onehot(self, x: torch.Tensor) -> torch.Tensor:
        lab = self.label.to(x.device)
        if lab.numel() and int(lab.max()) >= x.shape[-1]:
            raise ShapeError(
                f"x: expected at least {int(lab.max()) + 1} classes for the labels, received "
                f"width {x.shape[-1]}"
            )
        if lab.ndim == 1 and lab.shape[0] != x.shape[0]:
            raise ShapeError(
                f"x: the labels have batch {lab.shape[0]}, so x must too; received {x.shape[0]}"
            )
        onehot = torch.zeros_like(x)
        idx = lab.expand(x.shape[0]) if lab.ndim == 0 else lab
        return onehot.scatter_(1, idx.unsqueeze(1), 1.0)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(x, dim=-1) - (x * self._onehot(x)).sum(-1)

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        onehot = self._onehot(x)
        return (
            torch.logsumexp(x, dim=-1) - (x * onehot).sum(-1),
            torch.softmax(x, dim=-1) - onehot,
        )

    def __repr__(self) -> str:
        return f"CrossEntropy(label={self.label.tolist()}, n_classes={self.n_states})"
