"""Data augmentation shared by both training rules: random translations of the images."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["ShiftedBatches", "random_shift"]


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image of ``x`` (``(batch, channels, height, width)``) translated by its own random
    ``(dy, dx)`` in ``[-shift, shift]^2``, zeros shifted in; ``x`` itself for ``shift = 0``
    (no random draw then).

    Parameters
    ----------
    x : torch.Tensor
        Images, ``(batch, channels, height, width)``.
    shift : int
        The largest offset in pixels, per axis.
    generator : torch.Generator
        For the offsets.

    Returns
    -------
    torch.Tensor
        The translated images, same shape.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train.lyanet import random_shift
    >>> x = torch.zeros(1, 1, 3, 3)
    >>> x[0, 0, 1, 1] = 1.0
    >>> y = random_shift(x, 1, torch.Generator().manual_seed(0))
    >>> float(y.sum()), y.shape == x.shape  # the centre pixel moved, nothing fell off
    (1.0, True)
    """
    if shift == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift))
    offset = torch.randint(0, 2 * shift + 1, (b, 2), generator=generator).to(x.device)
    out = torch.empty_like(x)
    for dy in range(2 * shift + 1):
        for dx in range(2 * shift + 1):
            sel = (offset[:, 0] == dy) & (offset[:, 1] == dx)
            if bool(sel.any()):
                out[sel] = padded[sel, :, dy : dy + h, dx : dx + w]
    return out


class ShiftedBatches:
    """Batches ``(x, y)`` of ``batches`` with :func:`random_shift` applied to ``x``.

    The shifts are drawn from the wrapped batches' own ``generator`` when they have one (so
    the one generator :func:`~lyactrl.train.fit` saves in checkpoints covers order and shifts),
    else from a new one seeded with ``seed``; ``sampler`` is the wrapped loader's (so a
    ``DistributedSampler`` still reshuffles).
    """

    def __init__(self, batches: Iterable[Any], shift: int, seed: int) -> None:
        self.batches, self.shift = batches, shift
        own = getattr(batches, "generator", None)
        self.generator = own if isinstance(own, torch.Generator) else torch.Generator()
        if own is not self.generator:
            self.generator.manual_seed(seed)
        self.sampler = getattr(batches, "sampler", None)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.batches:
            yield random_shift(x, self.shift, self.generator), y

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]
