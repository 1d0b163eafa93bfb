"""Independent checks shared by the soundness suite (no lyactrl code in the reference side)."""

from __future__ import annotations

from collections.abc import Callable

import torch

import lyactrl


def grid(lo: list[float], hi: list[float], n: int = 21) -> torch.Tensor:
    """A dense grid of the box ``[lo, hi]`` (float64), shape ``(n**d, d)``."""
    axes = [torch.linspace(a, b, n, dtype=torch.float64) for a, b in zip(lo, hi, strict=True)]
    return torch.cartesian_prod(*axes).reshape(-1, len(lo))


def refuses_or_contains(bound: Callable[[], tuple[torch.Tensor, torch.Tensor]], truth) -> str:
    """Either ``bound()`` raises UnsupportedOperationError, or its ``(lower, upper)`` contain
    every value of ``truth`` (an independently computed tensor of the same shape)."""
    try:
        lower, upper = bound()
    except lyactrl.UnsupportedOperationError:
        return "refused"
    t = truth() if callable(truth) else truth
    assert bool((lower <= t).all()) and bool((t <= upper).all()), (lower, upper, t)
    return "contained"


def boxes_around(points: torch.Tensor, half: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    return points - half, points + half


def certify(system, V, rate: float, lo: list[float], hi: list[float]):
    """The certifier's verdict, or "refused" when it raises UnsupportedOperationError."""
    cond = lyactrl.ExponentialStability(system, V, rate=rate)
    try:
        return lyactrl.certify(cond, lyactrl.Box(lo, hi), time_limit=20.0, max_boxes=20000)
    except lyactrl.UnsupportedOperationError:
        return "refused"


def status(result) -> str:
    return (
        result if isinstance(result, str) else str(getattr(result.status, "value", result.status))
    )


def quadratic_residual(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, rate: float):
    """``grad V . f + rate V`` for ``V = |x|^2``, from ``f`` evaluated directly in float64."""
    with torch.no_grad():
        fx = f(x).to(torch.float64)
    return (2 * x * fx).sum(1) + rate * (x * x).sum(1)
