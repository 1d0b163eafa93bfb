"""Square attack (Andriushchenko et al., ECCV 2020), L-inf, in pixel space: a score-based
random search that needs no gradient, so it checks that PGD's figures are not an artefact of
masked or obfuscated gradients (a solver's gradients, for instance).

Each iteration changes one random square of side ``s`` (all channels, each ``+-eps``) and
keeps the change when the margin ``logit_y - max_(j != y) logit_j`` decreases; the area of
the square shrinks on the published schedule. An example counts as broken once its margin is
negative, that is, once the model misclassifies a real input within the ball.
"""

from __future__ import annotations

import math

import torch

from .._api import checked_kwargs
from .._errors import ShapeError
from .._tensors import as_positive, positive_int
from ._inputs import Model, check_classifier_inputs

__all__ = ["square_attack"]

#: The published schedule: the fraction ``p`` of pixels changed is halved at these shares
#: of 10 000 iterations (rescaled to the iterations given).
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def _fraction(p_init: float, it: int, iterations: int) -> float:
    i = int(it / iterations * 10_000)
    return p_init / 2 ** sum(i > h for h in _HALVINGS)


def _margin(model: Model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        z = model(x)
    true = z.gather(1, y[:, None]).squeeze(1)
    other = z.clone()
    other.scatter_(1, y[:, None], -math.inf)
    return true - other.amax(1)


@checked_kwargs
def square_attack(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    iterations: int = 1000,
    p_init: float = 0.05,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The L-inf Square attack on images ``x`` (``(batch, channels, height, width)``).

    Parameters
    ----------
    model : callable
        Maps pixel inputs in ``[0, 1]`` to logits ``(batch, classes)``; only its outputs are
        used (one batch evaluation per iteration).
    x, y : torch.Tensor
        Images in ``[0, 1]`` and labels.
    eps : float
        The L-inf radius in pixel space.
    iterations : int
        Random-search iterations (queries per example, after the initial one).
    p_init : float
        The initial fraction of pixels one square changes.
    generator : torch.Generator, optional
        For the squares and signs.

    Returns
    -------
    torch.Tensor
        Adversarial inputs within the ball and ``[0, 1]``: the first misclassified one found
        for each broken example, otherwise the one of smallest margin.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.robust import square_attack
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> x = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> adv = square_attack(model, x, torch.zeros(4, dtype=torch.long), eps=0.1, iterations=20)
    >>> bool(((adv - x).abs() <= 0.1 + 1e-7).all() and (adv >= 0).all() and (adv <= 1).all())
    True
    """
    x, y = check_classifier_inputs(model, x, y)
    eps = as_positive(eps, name="eps", allow_zero=True)
    iterations = positive_int(iterations, "iterations")
    p_init = as_positive(p_init, name="p_init")
    if x.ndim != 4:
        raise ShapeError(
            f"x: expected images of shape (batch, channels, height, width), received "
            f"{tuple(x.shape)}"
        )
    if eps == 0:
        return x.clone()
    b, c, h, w = x.shape
    g = generator

    def signs(*shape: int) -> torch.Tensor:
        return (2 * torch.randint(0, 2, shape, generator=g) - 1).to(x.device, x.dtype)

    # vertical stripes: one sign per channel and column
    best = (x + eps * signs(b, c, 1, w)).clamp(0.0, 1.0)
    margin = _margin(model, best, y)
    for it in range(iterations):
        live = margin > 0
        if not bool(live.any()):
            break
        idx = live.nonzero().squeeze(1)
        s = max(1, min(h, w, round(math.sqrt(_fraction(p_init, it, iterations) * h * w))))
        cand = best[idx].clone()
        for row, k in enumerate(idx.tolist()):
            r0 = int(torch.randint(0, h - s + 1, (1,), generator=g))
            c0 = int(torch.randint(0, w - s + 1, (1,), generator=g))
            window = x[k, :, r0 : r0 + s, c0 : c0 + s] + eps * signs(c, 1, 1)
            cand[row, :, r0 : r0 + s, c0 : c0 + s] = window.clamp(0.0, 1.0)
        new = _margin(model, cand, y[idx])
        better = new < margin[idx]
        best[idx[better]] = cand[better]
        margin[idx[better]] = new[better]
    return best
