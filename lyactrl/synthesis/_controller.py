"""Saturated state-feedback controllers: an LQR linear part plus an optional MLP residual."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidValueError

__all__ = ["SaturatedController"]


class SaturatedController(nn.Module):
    """``u = clamp(-K (x - x_eq) + r(x - x_eq), u_lo, u_hi)``, componentwise.

    ``r`` is a bias-free tanh MLP (so ``r(0) = 0`` exactly and ``u(x_eq) = 0``, the
    equilibrium input) whose last layer starts at zero: the controller starts as the
    saturated linear law. ``|u| <= u_max`` holds by construction, and the certifier bounds
    the ``torch.clamp`` as written (float bounds for one input, buffers for several).

    Parameters
    ----------
    K : torch.Tensor
        The linear gain, ``(n_inputs, n_states)`` (``u = -K x`` before saturation).
    u_lo, u_hi : sequence of float
        The input limits, one per input (``u_lo < 0 < u_hi``).
    x_eq : torch.Tensor
        The equilibrium state.
    hidden : sequence of int
        Widths of the residual MLP; empty for a linear (saturated) controller.
    train_gain : bool
        Whether ``K`` is a trainable parameter.
    generator : torch.Generator, optional
        For the residual's initial weights.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.synthesis import SaturatedController
    >>> k = SaturatedController(torch.tensor([[1.0, 2.0]]), [-0.5], [0.5], torch.zeros(2))
    >>> k(torch.tensor([[0.1, 0.0], [-3.0, 0.0]], dtype=torch.float64)).flatten().tolist()
    [-0.1, 0.5]
    """

    @checked_kwargs
    def __init__(
        self,
        K: torch.Tensor,
        u_lo: Sequence[float],
        u_hi: Sequence[float],
        x_eq: torch.Tensor,
        *,
        hidden: Sequence[int] = (),
        train_gain: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        K = torch.as_tensor(K, dtype=torch.float64).clone()
        m, n = K.shape
        if len(u_lo) != m or len(u_hi) != m:
            raise InvalidValueError(
                f"u_bounds: expected {m} lower and upper limits, received {len(u_lo)} and "
                f"{len(u_hi)}"
            )
        self.n_states, self.n_inputs = n, m
        self.u_lo = tuple(float(v) for v in u_lo)
        self.u_hi = tuple(float(v) for v in u_hi)
        if train_gain:
            self.K = nn.Parameter(K)
        else:
            self.register_buffer("K", K)
        self.register_buffer("x_eq", torch.as_tensor(x_eq, dtype=torch.float64).clone())
        self.register_buffer("lo_bound", torch.tensor(self.u_lo, dtype=torch.float64))
        self.register_buffer("hi_bound", torch.tensor(self.u_hi, dtype=torch.float64))
        layers: list[nn.Module] = []
        prev = n
        for w in hidden:
            layers += [nn.Linear(prev, int(w), bias=False, dtype=torch.float64), nn.Tanh()]
            prev = int(w)
        self.residual: nn.Sequential | None = None
        if layers:
            last = nn.Linear(prev, m, bias=False, dtype=torch.float64)
            with torch.no_grad():
                for layer in layers:
                    if isinstance(layer, nn.Linear):
                        b = layer.in_features**-0.5
                        layer.weight.uniform_(-b, b, generator=generator)
                last.weight.zero_()
            self.residual = nn.Sequential(*layers, last)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The control before saturation."""
        d = x - self.x_eq
        u = -d @ self.K.T
        if self.residual is not None:
            u = u + self.residual(d)
        return u

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The saturated control ``(batch, n_inputs)``."""
        u = self.raw(x)
        if self.n_inputs == 1:
            return torch.clamp(u, self.u_lo[0], self.u_hi[0])
        return torch.clamp(u, self.lo_bound, self.hi_bound)

    def extra_repr(self) -> str:
        hidden = "linear" if self.residual is None else "linear + MLP residual"
        return f"{hidden}, u_lo={self.u_lo}, u_hi={self.u_hi}"
