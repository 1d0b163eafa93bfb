"""LyaNet's hinge on a condition's residual, shared by training and ``fit_lyapunov``."""

from __future__ import annotations

import torch

from .._api import checked_kwargs
from .._errors import ShapeError

__all__ = ["hinge_loss"]


@checked_kwargs
def hinge_loss(
    residual: torch.Tensor,
    *,
    squared: bool = False,
    weights: torch.Tensor | None = None,
    margin: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``ReLU(residual + margin)`` (squared when asked), and the violation fraction.

    The loss is exactly zero when every residual is ``<= -margin``. The violation fraction is
    the share of residuals ``> 0`` (a detached diagnostic).

    Parameters
    ----------
    residual : torch.Tensor, shape (batch,)
        Condition residuals at sampled states (``<= 0`` means satisfied).
    squared : bool
        Square the hinge.
    weights : torch.Tensor, shape (batch,), optional
        Non-negative per-sample weights (the loss is then a weighted mean).
    margin : float
        Penalise residuals above ``-margin``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.conditions import hinge_loss
    >>> loss, frac = hinge_loss(torch.tensor([-1.0, 0.5, 1.5]))
    >>> float(loss), float(frac)
    (0.6666666865348816, 0.6666666865348816)
    """
    if residual.ndim != 1:
        raise ShapeError(f"residual: expected shape (batch,), received {tuple(residual.shape)}")
    h = torch.relu(residual + margin)
    if squared:
        h = h * h
    if weights is None:
        loss = h.mean()
    else:
        if weights.shape != residual.shape:
            raise ShapeError(
                f"weights: expected shape {tuple(residual.shape)}, received {tuple(weights.shape)}"
            )
        loss = (weights * h).sum() / weights.sum().clamp_min(torch.finfo(h.dtype).tiny)
    frac = (residual.detach() > 0).to(residual.dtype).mean()
    return loss, frac
