"""Stable by construction: the Kolter-Manek projection of a learned vector field."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as TF

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import as_positive, as_states
from ..lyapunov import AbstractCandidate, Quadratic

__all__ = ["StableDynamics"]


def _half_scale(dtype: torch.dtype) -> float:
    """``2**k`` with ``2**(2k) >= 1 / m`` for the smallest positive subnormal ``m`` of
    ``dtype`` (``2**537`` in float64, ``2**75`` in float32), itself a finite ``dtype``."""
    info = torch.finfo(dtype)
    return 2.0 ** math.ceil(-math.log2(info.tiny * info.eps) / 2)


def _at_zero(q: Any, dtype: torch.dtype = torch.float64) -> Any:
    """``ReLU(1 - S**2 q)`` for ``q >= 0`` with ``S = _half_scale(dtype)``: exactly 1 at
    ``q = 0`` and exactly 0 at every positive ``q`` of ``dtype`` (also in floating point:
    scaling by a power of two is exact, an overflow gives ``ReLU(-inf) = 0``); written in
    operations the certifier traces."""
    scale = _half_scale(dtype)
    return torch.relu(1.0 - (q * scale) * scale)


class StableDynamics(nn.Module):
    """``f(x) = (1 - z(e)) (f~(x) - grad V(x) ReLU(s(x)) / (||grad V(x)||^2 + z(grad V)))``.

    The projection of Kolter and Manek (NeurIPS 2019, "Learning stable deep dynamics
    models") of the shifted field ``f~(x) = f_hat(x) - f_hat(x_eq)``, with
    ``s = grad V . f~ + rate V``: wherever ``s > 0`` the component of ``f~`` along ``grad V``
    is removed just enough that ``grad V . f + rate V = 0``; elsewhere ``f = f~``.
    ``z(u) = ReLU(1 - 2**1074 ||u||^2)`` is 1 at ``u = 0`` and 0 wherever ``||u||^2`` is a
    positive float64 (``>= 2**-1074``; the scale follows the dtype of ``x``, ``2**150`` in
    float32, and is the float64 one when the certifier traces the forward); it keeps the
    division defined where ``grad V = 0`` and, with ``e = x - x_eq``, pins the equilibrium.

    **The equilibrium is kept**: at ``x_eq``, ``e = 0`` so ``z(e) = 1`` and ``f(x_eq) = 0``
    exactly, in exact and in floating-point arithmetic (the factor ``1 - z(e) = 0``
    annihilates the rounding of ``f_hat(x) - f_hat(x_eq)``); there ``grad V = 0``, so the
    denominator is ``0 + 1`` and nothing is NaN, in values or gradients (autograd's Jacobian
    at ``x_eq`` is 0, that of the factor ``1 - z(e)``; the projected field is in general not
    differentiable at ``x_eq``, so do not linearise the model there). The limit is
    consistent: ``f`` is continuous at ``x_eq`` with ``f(x) -> 0``, since ``f~(x) -> 0`` and
    the correction is at most ``|s| / ||grad V|| <= ||f~|| + rate V / ||grad V||``, and
    ``V / ||grad V|| -> 0`` (``V / ||grad V|| <= ||x - x_eq|| lambda_max(P) /
    (2 lambda_min(P))`` for a :class:`~lyactrl.Quadratic`). Subtracting ``f_hat(x_eq)`` does
    not restrict the fit of a field that vanishes at ``x_eq`` (``f_hat - c`` is as
    expressive as ``f_hat``); it only forbids a learned offset at the equilibrium, which
    noisy data could otherwise suggest.

    **Theorem** (exact arithmetic, ``V`` positive definite with minimiser ``x_eq``): at
    every state with ``||x - x_eq||^2 >= 2**-1074`` and ``||grad V(x)||^2 >= 2**-1074``,
    which is all of the state space but a ball of radius about
    ``1e-162 / min(1, lambda_min(P))`` around ``x_eq`` for a Quadratic, both ``z`` vanish and
    ``grad V . f + rate V = min(s, 0) <= 0``; at ``x_eq`` the residual is 0, and in the tiny
    ball it is at most ``rate V + ||grad V|| ||f~||`` (below ``1e-300``). So the system is
    exponentially stable at rate ``rate`` for any weights of ``f_hat``. In float64 the
    residual is ``<= 0`` up to the rounding of the terms of ``s`` (the default ``rtol`` of
    the sampled checks, :data:`lyactrl.verify.RTOL`). A float32 model uses the float32
    scale of ``z``: its tiny ball has radius about ``3e-23 / min(1, lambda_min(P))``.

    **Certifying it**: with a :class:`~lyactrl.Quadratic` ``V`` the forward uses only
    operations the certifier traces (``nn.Linear``-style maps, products, ReLU, integer
    powers), so ``lyactrl.certify`` bounds the model itself, provided ``f_hat`` is in the
    certifier's vocabulary too (:data:`lyactrl.bounds.SUPPORTED`). Two limits of interval bounds,
    by construction: where the projection is active the residual at rate ``rate`` is
    exactly 0, so a proof needs a slightly smaller rate ``rate' < rate`` (the residual is
    then ``<= -(rate - rate') V``); and the division by ``||grad V||^2`` has no finite
    enclosure on a box touching ``x_eq``, so certify on boxes that exclude a small cube
    around ``x_eq`` and rely on the theorem there. A :class:`~lyactrl.NeuralLyapunov` ``V``
    is evaluated by autograd and cannot be traced (the certifier raises
    :class:`~lyactrl.UnsupportedOperationError`).

    Parameters
    ----------
    f_hat : torch.nn.Module
        The unconstrained vector field, ``(batch, n) -> (batch, n)``.
    V : AbstractCandidate
        A positive definite candidate, e.g. :class:`~lyactrl.Quadratic` (certifiable) or
        :class:`~lyactrl.NeuralLyapunov` (trained jointly: it is registered as a submodule).
    rate : float
        The guaranteed decay rate ``alpha > 0`` of ``V``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.train import StableDynamics
    >>> f_hat = torch.nn.Linear(2, 2, dtype=torch.float64)  # possibly unstable
    >>> V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    >>> f = StableDynamics(f_hat, V, rate=0.5)
    >>> f(torch.zeros(1, 2, dtype=torch.float64)).tolist()  # the equilibrium is kept
    [[0.0, 0.0]]
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
        self.quadratic = type(V) is Quadratic  # the traceable closed form of V and grad V

    @property
    def candidate(self) -> AbstractCandidate:
        """The candidate ``V``."""
        return self.V if "V" in self._modules else self._V[0]  # type: ignore[return-value]

    def _constants(self, x: Any) -> tuple[Any, Any, torch.Tensor]:
        """``x_eq``, ``P^T`` (``None`` unless ``V`` is a Quadratic) and the summing row, read
        from ``V`` now; in the dtype of a concrete ``x`` (a torch.fx proxy when the certifier
        traces the forward, which works in float64)."""
        V = self.candidate
        x_eq = torch.as_tensor(V.x_eq, dtype=torch.float64).reshape(self.n_states)
        P = getattr(V, "P", None) if self.quadratic else None
        PT = None if P is None else P.to(torch.float64).T.contiguous()
        ones = torch.ones(1, self.n_states, dtype=torch.float64)
        if isinstance(x, torch.Tensor):
            x_eq, ones = x_eq.to(x), ones.to(x)
            PT = None if PT is None else PT.to(x)
        return x_eq, PT, ones

    def _value_and_gradient(self, x: Any, x_eq: Any, PT: Any, ones: Any):
        """``V(x)`` as ``(batch, 1)`` and ``grad V(x)`` as ``(batch, n)``."""
        if PT is not None:  # Quadratic's own formulas, (e P) . e and 2 e P, traceable
            e = x - x_eq
            eP = TF.linear(e, PT)
            return TF.linear(eP * e, ones), 2.0 * eP
        v, g = self.candidate.value_and_gradient(x)
        return v.reshape(-1, 1).to(x), g.to(x)

    def project(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Project values ``f`` of a field that vanishes at ``x_eq`` at states ``x``
        (both ``(batch, n)``); the factor ``1 - z`` sets ``x_eq`` to 0."""
        x_eq, PT, ones = self._constants(x)
        v, g = self._value_and_gradient(x, x_eq, PT, ones)
        s = TF.linear(g * f, ones) + self.rate * v
        norm2 = TF.linear(g * g, ones)
        dtype = x.dtype if isinstance(x, torch.Tensor) else torch.float64  # traced: float64
        coef = torch.relu(s) * (norm2 + _at_zero(norm2, dtype)) ** -1
        e = x - x_eq
        return (f - coef * g) * (1.0 - _at_zero(TF.linear(e * e, ones), dtype))

    def forward(self, x: Any) -> torch.Tensor:
        """The projected vector field at ``x`` (``(batch, n)``)."""
        if not isinstance(x, (torch.Tensor, torch.fx.Proxy)):
            x = as_states(x, self.n_states, name="x")
        x_eq = self._constants(x)[0]
        shifted = self.f_hat(x) - self.f_hat(x * 0.0 + x_eq)  # f_hat(x_eq) on every row
        return self.project(x, shifted)

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"
