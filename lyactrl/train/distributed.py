"""Distributed helpers: initialisation under ``torchrun``, ranks, shards, reductions.

The sharding rule used throughout lyactrl's training: every rank draws the *global* set (the
same generator state on every rank) and keeps the contiguous slice :func:`shard_slice` gives
it, so the union over ranks is exactly the set a single process would draw.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .._api import checked_kwargs, choice
from .._errors import InvalidValueError

__all__ = [
    "init_distributed",
    "rank_and_world",
    "is_main_process",
    "shard_slice",
    "all_reduce_sum",
    "all_reduce_max",
    "BACKENDS",
]

#: Backends accepted by :func:`init_distributed`.
BACKENDS = ("gloo", "nccl")


@checked_kwargs
def init_distributed(backend: str | None = None) -> bool:
    """Initialise the default process group from ``torchrun``'s environment.

    Returns ``False`` (and does nothing) outside ``torchrun`` (no ``WORLD_SIZE`` in the
    environment) and ``True`` once a group is initialised. The backend is ``"nccl"`` when CUDA
    is available and ``"gloo"`` otherwise, unless given.

    Examples
    --------
    >>> from lyactrl.train.distributed import init_distributed
    >>> init_distributed()  # not launched with torchrun
    False
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if "WORLD_SIZE" not in os.environ or not dist.is_available():
        return False
    chosen = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    chosen = choice(chosen, "backend", BACKENDS)
    if chosen == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=chosen)
    return True


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Whether this process has rank 0 (always true without a process group)."""
    return rank_and_world()[0] == 0


def shard_slice(n: int, *, rank: int | None = None, world: int | None = None) -> slice:
    """The contiguous slice of ``range(n)`` that ``rank`` of ``world`` keeps.

    ``n`` must be divisible by ``world`` so that every rank holds the same number of items
    (DDP's gradient average is then the gradient of the global mean).

    Examples
    --------
    >>> from lyactrl.train.distributed import shard_slice
    >>> shard_slice(8, rank=1, world=2)
    slice(4, 8, None)
    """
    r0, w0 = rank_and_world()
    r = r0 if rank is None else rank
    w = w0 if world is None else world
    if w < 1 or not 0 <= r < w:
        raise InvalidValueError(f"rank: expected 0 <= rank < world, received rank={r}, world={w}")
    if n % w:
        raise InvalidValueError(
            f"n: expected a multiple of the world size {w} so every rank gets an equal shard, "
            f"received {n}"
        )
    k = n // w
    return slice(r * k, (r + 1) * k)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over ranks (a detached copy; ``t`` itself without a process group)."""
    if rank_and_world()[1] == 1:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    """Maximum of ``t`` over ranks (a detached copy; ``t`` itself without a process group)."""
    if rank_and_world()[1] == 1:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out
