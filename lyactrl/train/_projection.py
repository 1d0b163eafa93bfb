"""Stable by construction: the Kolter-Manek projection of a learned vector field."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import as_positive, as_states
from ..lyapunov import AbstractCandidate

__all__ = ["StableDynamics"]


class StableDynamics(nn.Module):
    """``f(x) = f_hat(x) - grad V(x) * ReLU(grad V . f_hat + rate V) / ||grad V||^2``.

    The projection of Kolter and Manek (NeurIPS 2019, "Learning stable deep dynamics
    models"): wherever ``grad V . f_hat + rate V > 0`` the component of ``f_hat`` along
    ``grad V`` is removed just enough that ``grad V . f + rate V = 0``; elsewhere ``f = f_hat``.
    So ``grad V . f + rate V = min(grad V . f_hat + rate V, 0) <= 0`` at every state: with a
    positive definite ``V`` the learned system is exponentially stable at rate ``rate`` by
    construction, for any weights of ``f_hat``. Where ``grad V = 0`` (at ``x_eq``) the
    correction is defined as 0 (no NaN, in values or gradients).

    Parameters
    ----------
    f_hat : torch.nn.Module
        The unconstrained vector field, ``(batch, n) -> (batch, n)``.
    V : AbstractCandidate
        A positive definite candidate, e.g. :class:`~lyactrl.NeuralLyapunov` (trained jointly:
        it is registered as a submodule) or :class:`~lyactrl.Quadratic`.
    rate : float
        The guaranteed decay rate ``alpha > 0`` of ``V``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.train import StableDynamics
    >>> f_hat = torch.nn.Linear(2, 2, dtype=torch.float64)  # possibly unstable
    >>> V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    >>> f = StableDynamics(f_hat, V, rate=0.5)
    >>> cond = lyactrl.ExponentialStability(lyactrl.NeuralSystem(f, 2), V, rate=0.5)
    >>> x = torch.randn(100, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> bool((cond.residual(x) <= 1e-12).all())
    True
    """

    @checked_kwargs
    def __init__(self, f_hat: nn.Module, V: AbstractCandidate, *, rate: float) -> None:
        super().__init__()
        if not isinstance(f_hat, nn.Module):
            raise InvalidArgumentError(
                f"f_hat: expected a torch.nn.Module, received {type(f_hat).__name__}"
            )
        if not isinstance(V, AbstractCandidate):
            raise InvalidArgumentError(
                f"V: expected a positive definite candidate (NeuralLyapunov, Quadratic), "
                f"received {type(V).__name__}"
            )
        if V.n_states is None or V.x_eq is None:
            raise InvalidValueError(
                f"V: expected a candidate with a fixed state dimension and a minimiser x_eq, "
                f"received {V!r}"
            )
        self.f_hat = f_hat
        if isinstance(V, nn.Module):
            self.V = V
        else:
            self._V = [V]  # plain candidates hold no parameters
        self.rate = as_positive(rate, name="rate")
        self.n_states = int(V.n_states)

    @property
    def candidate(self) -> AbstractCandidate:
        """The candidate ``V``."""
        return self.V if "V" in self._modules else self._V[0]  # type: ignore[return-value]

    def project(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Project a vector field value ``f`` at states ``x`` (both ``(batch, n)``)."""
        v, g = self.candidate.value_and_gradient(x)
        g = g.to(f.dtype)
        excess = torch.relu((g * f).sum(-1) + self.rate * v.to(f.dtype))
        norm2 = (g * g).sum(-1)
        ok = norm2 > torch.finfo(f.dtype).tiny
        coef = torch.where(
            ok, excess / torch.where(ok, norm2, torch.ones_like(norm2)), torch.zeros_like(norm2)
        )
        return f - coef.unsqueeze(-1) * g

    def forward(self, x: Any) -> torch.Tensor:
        """The projected vector field at ``x`` (``(batch, n)``)."""
        if not isinstance(x, torch.Tensor):
            x = as_states(x, self.n_states, name="x")
        return self.project(x, self.f_hat(x))

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"
