"""Neural Lyapunov candidates, positive definite by construction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidValueError
from .._tensors import as_equilibrium, as_positive, as_states, positive_int
from ._base import AbstractCandidate

__all__ = ["NeuralLyapunov", "ACTIVATIONS"]

#: Activations accepted by :class:`NeuralLyapunov` (all supported by the certifier).
ACTIVATIONS = {
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
}


class NeuralLyapunov(nn.Module, AbstractCandidate):
    """``V(x) = ||phi(x) - phi(x_eq)||^2 + eps ||x - x_eq||^2`` with an MLP ``phi``.

    ``V(x_eq) = 0`` and ``V(x) >= eps ||x - x_eq||^2 > 0`` elsewhere, for any weights: positive
    definite by construction. The gradient is computed by autograd; it keeps the graph when
    gradients are enabled, so the candidate can be trained through its own gradient.

    Parameters
    ----------
    n_states : int
        State dimension.
    hidden : sequence of int
        Widths of ``phi``'s layers; the last is the feature dimension.
    activation : {"tanh", "softplus", "sigmoid", "relu", "leaky_relu"}
        Hidden activation (smooth ones give a smooth ``V``).
    eps : float
        Weight of the quadratic term (> 0).
    x_eq : array_like, optional
        The minimiser (zeros by default).
    generator : torch.Generator, optional
        For the initial weights.
    dtype : torch.dtype
        Parameter dtype (float64 by default, as verification needs).

    Examples
    --------
    >>> import torch, lyactrl
    >>> V = lyactrl.NeuralLyapunov(2, hidden=(16, 16), generator=torch.Generator().manual_seed(0))
    >>> float(V(torch.zeros(1, 2, dtype=torch.float64)).detach()[0])
    0.0
    """

    @checked_kwargs
    def __init__(
        self,
        n_states: int,
        *,
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        eps: float = 1e-2,
        x_eq: Any = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        nn.Module.__init__(self)
        positive_int(n_states, "n_states")
        widths = list(hidden)
        if not widths or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths
        ):
            raise InvalidValueError(
                f"hidden: expected a non-empty sequence of positive ints, received {hidden!r}"
            )
        if activation not in ACTIVATIONS:
            raise InvalidValueError(
                f"activation: expected one of {sorted(ACTIVATIONS)}, received {activation!r}"
            )
        self.n_states = n_states
        self.eps = as_positive(eps, name="eps")
        self.activation = activation
        layers: list[nn.Module] = []
        prev = n_states
        for i, w in enumerate(widths):
            layers.append(nn.Linear(prev, w, dtype=dtype))
            if i < len(widths) - 1:
                layers.append(ACTIVATIONS[activation]())
            prev = w
        self.phi = nn.Sequential(*layers)
        if generator is not None:
            with torch.no_grad():
                for layer in self.phi:
                    if isinstance(layer, nn.Linear):
                        bound = layer.in_features**-0.5
                        layer.weight.uniform_(-bound, bound, generator=generator)
                        layer.bias.uniform_(-bound, bound, generator=generator)
        point = as_equilibrium(x_eq, n_states)
        self.register_buffer("x_eq", point.to(dtype))

    def value(self, x: torch.Tensor) -> torch.Tensor:
        p = self.x_eq
        xin = x.to(p.dtype)
        feats = self.phi(torch.cat([xin, p.unsqueeze(0)], dim=0))
        d_phi = feats[:-1] - feats[-1:]
        d_x = xin - p
        v = (d_phi * d_phi).sum(-1) + self.eps * (d_x * d_x).sum(-1)
        return v.to(x.dtype)

    def value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outer = torch.is_grad_enabled()
        with torch.enable_grad():
            xr = x if x.requires_grad else x.detach().requires_grad_(True)
            v = self.value(xr)
            (g,) = torch.autograd.grad(v.sum(), xr, create_graph=outer)
        return (v if outer else v.detach()), g

    def forward(self, x: Any) -> torch.Tensor:
        """``V(x)`` on a validated batch ``(batch, n_states)``."""
        return self.value(as_states(x, self.n_states, name="x"))

    def extra_repr(self) -> str:
        return f"n_states={self.n_states}, activation={self.activation!r}, eps={self.eps}"
