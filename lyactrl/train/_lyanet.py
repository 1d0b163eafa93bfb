"""Training rules for :class:`LyaNetClassifier`: LyaNet's sampled loss and the solver baseline.

* ``lyanet`` (Jimenez Rodriguez, Ames, Yue 2022): states ``eta`` are sampled in a ball around
  ``eta(0)``; the loss is the hinge of the exponential-stability residual
  ``grad V_y(eta) . f(eta, context) + rate * V_y(eta)`` with the per-example potential
  ``V_y``. No ODE is solved and nothing is backpropagated through a solver.
* ``node``: the Neural ODE baseline, cross-entropy on ``eta(T)`` computed by backpropagation
  through fixed-step RK4 (10 steps by default, as in the original code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import as_positive, positive_int
from ..conditions import hinge_loss
from ._classifier import LyaNetClassifier
from ._samplers import AbstractSampler, LyaNetBallSampler

__all__ = [
    "lyanet_loss",
    "node_loss",
    "lyapunov_residual",
    "sample_states",
    "METHODS",
    "SAMPLE_AROUND",
]

#: Training rules accepted by :func:`fit_classifier`.
METHODS = ("lyanet", "node")
#: Where :func:`lyanet_loss` centres its sampling balls.
SAMPLE_AROUND = ("origin", "path")


def lyapunov_residual(
    model: LyaNetClassifier,
    eta: torch.Tensor,
    context: torch.Tensor,
    y: torch.Tensor,
    rate: float,
    *,
    relative: bool = False,
) -> torch.Tensor:
    """``grad V_y(eta) . f(eta, context) + rate * V_y(eta)`` row by row, differentiable.

    The same value as ``ExponentialStability(model.system_for(x), model.potential_for(y),
    rate).residual(eta)``, without building a system per batch.
    """
    v, g = model.potential_for(y).value_and_gradient(eta)
    f = model.dynamics(eta, context)
    res = (g * f).sum(-1) + rate * v
    return res / v.clamp_min(1e-6) if relative else res


@checked_kwargs
def sample_states(
    model: LyaNetClassifier,
    y: torch.Tensor,
    n_states: int,
    *,
    radius: float = 2.0,
    around: str = "path",
    sampler: AbstractSampler | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """LyaNet's training states: ``n_states`` per label, shape ``(len(y) * n_states, k)``.

    Row ``i * n_states + j`` belongs to label ``y[i]``. Each state is a centre plus an offset
    drawn from ``sampler`` (default :class:`LyaNetBallSampler` of ``radius`` around 0); the
    centre is ``eta(0)`` (``around="origin"``; the first state of each label is ``eta(0)``
    itself) or a uniform point of the segment from ``eta(0)`` to the label's vertex
    ``target_scale * onehot(y)`` (``around="path"``: where correct trajectories run).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier, sample_states
    >>> model = build_classifier((1, 8, 8), 10, seed=0)
    >>> sample_states(model, torch.tensor([3, 7]), 4).shape
    torch.Size([8, 10])
    """
    n = positive_int(n_states, "n_states")
    if around not in SAMPLE_AROUND:
        raise InvalidValueError(f"around: expected one of {SAMPLE_AROUND}, received {around!r}")
    k = model.n_classes
    if sampler is None:
        sampler = LyaNetBallSampler(torch.zeros(k), as_positive(radius, name="radius"))
    elif not isinstance(sampler, AbstractSampler) or sampler.n_states != k:
        raise InvalidArgumentError(
            f"sampler: expected a sampler of {k} states, received {sampler!r}"
        )
    b = y.shape[0]
    device = model.eta0.device
    y_rep = y.repeat_interleave(n)
    center = model.initial_state(b * n).to(dtype)
    if around == "path":
        u = torch.rand(b * n, 1, generator=generator, dtype=dtype).to(device)
        vertex = model.target_scale * F.one_hot(y_rep.to(device), k).to(dtype)
        center = center + u * (vertex - center)
    offset = sampler.sample(b * n, generator=generator, dtype=dtype, device=device)
    if around == "origin":
        offset.view(b, n, k)[:, 0] = 0.0  # eta(0) itself is always sampled
    return center + offset


@checked_kwargs
def lyanet_loss(
    model: LyaNetClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    rate: float = 2.0,
    radius: float = 2.0,
    n_states: int = 8,
    around: str = "path",
    relative: bool = True,
    smooth: float | None = 4.0,
    sampler: AbstractSampler | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LyaNet's sampled Lyapunov loss on a batch, and the violation fraction.

    Parameters
    ----------
    model : LyaNetClassifier
        The classifier.
    x, y : torch.Tensor
        Inputs (pixels in ``[0, 1]``) and integer labels.
    rate : float
        The exponential rate ``kappa``.
    radius, n_states, around, sampler
        Where states are sampled, ``n_states`` per input (see :func:`sample_states`).
    relative : bool
        Divide the residual by ``V`` (same sign; the hinge then bounds ``d log V/dt + rate``
        and weighs every state alike).
    smooth : float or None
        Replace the hinge ``relu(r)`` by ``softplus(smooth * r) / smooth`` (a smooth upper
        bound of the hinge that keeps pushing satisfied states towards a margin); ``None``
        for the plain hinge.
    generator : torch.Generator, optional
        Source of the sampled states.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier, lyanet_loss
    >>> model = build_classifier((1, 8, 8), 10, seed=0)
    >>> loss, frac = lyanet_loss(model, torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]))
    >>> bool(loss > 0), 0.0 <= float(frac) <= 1.0
    (True, True)
    """
    rate = as_positive(rate, name="rate")
    n = positive_int(n_states, "n_states")
    ctx = model.context(x)
    eta = sample_states(
        model,
        y,
        n,
        radius=radius,
        around=around,
        sampler=sampler,
        generator=generator,
        dtype=ctx.dtype,
    )
    y_rep = y.repeat_interleave(n)
    res = lyapunov_residual(
        model, eta, ctx.repeat_interleave(n, dim=0), y_rep, rate, relative=relative
    )
    if smooth is None:
        return hinge_loss(res)
    beta = as_positive(smooth, name="smooth")
    frac = (res.detach() > 0).to(res.dtype).mean()
    return F.softplus(beta * res).mean() / beta, frac


@checked_kwargs
def node_loss(
    model: LyaNetClassifier, x: torch.Tensor, y: torch.Tensor, *, steps: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of ``eta(T)`` by backpropagation through ``steps`` RK4 steps, and the error.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier, node_loss
    >>> model = build_classifier((1, 8, 8), 10, seed=0)
    >>> loss, err = node_loss(model, torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]))
    >>> bool(loss > 0)
    True
    """
    logits = model(x, method="rk4", steps=steps)
    err = (logits.argmax(-1) != y).to(logits.dtype).mean().detach()
    return F.cross_entropy(logits, y), err
