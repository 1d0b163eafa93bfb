"""The inputs every attack and certified radius takes: a callable from pixels to logits,
pixels in ``[0, 1]`` and integer labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import check_finite

__all__ = ["Model", "check_classifier_inputs"]

Model = Callable[[torch.Tensor], torch.Tensor]


def check_classifier_inputs(model: Any, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` checked: ``model`` callable, ``x`` finite floating pixels in ``[0, 1]``, ``y``
    integer labels, one per input (returned as ``long``)."""
    if not callable(model):
        raise InvalidArgumentError(
            f"model: expected a callable mapping pixel inputs to logits, received "
            f"{type(model).__name__}"
        )
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise InvalidArgumentError(
            f"x: expected a floating-point torch tensor of pixels, received {type(x).__name__}"
        )
    check_finite(x, "x")
    if float(x.min()) < 0.0 or float(x.max()) > 1.0:
        raise InvalidValueError(
            f"x: expected pixels in [0, 1] (normalisation belongs inside the model), received "
            f"values in [{float(x.min()):.4g}, {float(x.max()):.4g}]"
        )
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32):
        raise InvalidArgumentError(
            f"y: expected an integer label tensor, received {type(y).__name__}"
        )
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ShapeError(f"y: expected shape ({x.shape[0]},), received {tuple(y.shape)}")
    return x, y.long()
