"""Training rules for :class:`LyaNetClassifier`: LyaNet's sampled loss and the solver baseline.

* ``lyanet`` (Jimenez Rodriguez, Ames, Yue 2022): states ``eta`` are sampled in a ball around
  ``eta(0)`` or along the path to the label's vertex; the loss is the (smooth) hinge of the
  exponential-stability residual ``grad V_y(eta) . f(eta, context) + rate * V_y(eta)`` with the
  per-example potential ``V_y``. It is lyactrl's :class:`~lyactrl.ExponentialStability`
  condition of the batch (the flow bound to the batch's contexts, one potential per row),
  evaluated by a :class:`~lyactrl.train.ConditionLoss` whose sampler draws the states. No ODE
  is solved and nothing is backpropagated through a solver.
* ``node``: the Neural ODE baseline, cross-entropy on ``eta(T)`` computed by backpropagation
  through fixed-step RK4 (10 steps by default, as in the original code).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..._api import checked_kwargs, choice
from ..._errors import InvalidArgumentError, ShapeError
from ..._tensors import as_positive, positive_int
from ...conditions import ExponentialStability
from .. import AbstractSampler, ConditionLoss, LyaNetBallSampler
from ._classifier import LyaNetClassifier

__all__ = [
    "lyanet_loss",
    "lyanet_condition_loss",
    "node_loss",
    "lyapunov_residual",
    "sample_states",
    "METHODS",
    "SAMPLE_AROUND",
]

#: Training rules accepted by :func:`train_classifier`.
METHODS = ("lyanet", "node")
#: Where :func:`lyanet_loss` centres its sampling balls.
SAMPLE_AROUND = ("origin", "path")

_MIN_V = 1e-6  # the relative residual divides by max(V, _MIN_V)


class _LabelStates(AbstractSampler):
    """``n_states`` states per label of one batch: a centre plus an offset from ``ball``.

    Row ``i * n_states + j`` belongs to ``y[i]``. The centre is ``eta(0)`` (``"origin"``; the
    first state of each label is ``eta(0)`` itself) or a uniform point of the segment from
    ``eta(0)`` to the label's vertex ``target_scale * onehot(y)`` (``"path"``). The draws are,
    in order: the path positions (``"path"`` only), then the offsets.
    """

    def __init__(
        self,
        model: LyaNetClassifier,
        y: torch.Tensor,
        n_states: int,
        ball: AbstractSampler,
        around: str,
    ) -> None:
        self.model, self.n_per, self.ball, self.around = model, n_states, ball, around
        self.y_rep = y.repeat_interleave(n_states)
        self.n_states = model.n_classes

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        if n != self.y_rep.shape[0]:
            raise ShapeError(
                f"n: expected {self.y_rep.shape[0]} states ({self.n_per} per label), received {n}"
            )
        model, k = self.model, self.n_states
        where = model.eta0.device
        center = model.initial_state(n).to(dtype)
        if self.around == "path":
            u = torch.rand(n, 1, generator=generator, dtype=dtype).to(where)
            vertex = model.target_scale * F.one_hot(self.y_rep.to(where), k).to(dtype)
            center = center + u * (vertex - center)
        # drawn on the CPU (where the generator lives), then moved
        offset = self.ball.sample(n, generator=generator, dtype=dtype).to(where)
        if self.around == "origin":
            offset.view(-1, self.n_per, k)[:, 0] = 0.0  # eta(0) itself is always sampled
        out = center + offset
        return out if device is None else out.to(device)

    def __repr__(self) -> str:
        return f"_LabelStates({self.y_rep.shape[0]} states, around={self.around!r}, {self.ball!r})"


def _ball(model: LyaNetClassifier, radius: float, sampler: AbstractSampler | None) -> Any:
    """The offsets' sampler: ``sampler``, or LyaNet's ball of ``radius`` around 0."""
    k = model.n_classes
    if sampler is None:
        return LyaNetBallSampler(torch.zeros(k), as_positive(radius, name="radius"))
    if not isinstance(sampler, AbstractSampler) or sampler.n_states != k:
        raise InvalidArgumentError(
            f"sampler: expected a sampler of {k} states, received {sampler!r}"
        )
    return sampler


def _label_states(
    model: LyaNetClassifier,
    y: torch.Tensor,
    n_states: int,
    radius: float,
    around: str,
    sampler: AbstractSampler | None,
) -> _LabelStates:
    n = positive_int(n_states, "n_states")
    around = choice(around, "around", SAMPLE_AROUND)
    return _LabelStates(model, y, n, _ball(model, radius, sampler), around)


@checked_kwargs
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

    The residual of ``model.condition_for_contexts(context, y, rate)`` (row ``i`` of ``eta``
    with ``context[i]`` and ``y[i]``); with ``relative`` divided by ``max(V_y(eta), 1e-6)``.

    Parameters
    ----------
    model : LyaNetClassifier
        The classifier (its flow and potentials).
    eta : torch.Tensor, shape (batch, n_classes)
        The states (logits).
    context : torch.Tensor, shape (batch, context_dim)
        The encoder's context of each row (:meth:`LyaNetClassifier.context`).
    y : torch.Tensor, shape (batch,)
        The label of each row (selects the potential ``V_y``).
    rate : float
        The exponential rate.
    relative : bool
        Divide by ``max(V_y(eta), 1e-6)``.

    Returns
    -------
    torch.Tensor, shape (batch,)

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier, lyapunov_residual
    >>> model = build_classifier((1, 8, 8), 10, seed=0)
    >>> ctx = model.context(torch.rand(2, 1, 8, 8))
    >>> lyapunov_residual(model, torch.zeros(2, 10), ctx, torch.tensor([1, 2]), 2.0).shape
    torch.Size([2])
    """
    cond = model.condition_for_contexts(context, y, rate)
    res = cond.evaluate(eta)
    return res / cond.V.value(eta).clamp_min(_MIN_V) if relative else res


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

    Parameters
    ----------
    model : LyaNetClassifier
        The classifier (its ``eta(0)`` and target scale).
    y : torch.Tensor, shape (m,)
        Integer labels.
    n_states : int
        States per label.
    radius : float
        Radius of the default offset sampler.
    around : {"path", "origin"}
        The centres (see above).
    sampler : AbstractSampler, optional
        Draws the offsets, instead of the ball of ``radius``.
    generator : torch.Generator, optional
        Source of randomness.
    dtype : torch.dtype
        Of the returned states.

    Returns
    -------
    torch.Tensor, shape (m * n_states, n_classes)

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier, sample_states
    >>> model = build_classifier((1, 8, 8), 10, seed=0)
    >>> sample_states(model, torch.tensor([3, 7]), 4).shape
    torch.Size([8, 10])
    """
    states = _label_states(model, y, n_states, radius, around, sampler)
    return states.sample(states.y_rep.shape[0], generator=generator, dtype=dtype)


class _LyaNetBatches:
    """The per-batch condition and sampler of LyaNet's loss, for batches ``(x, y)``."""

    def __init__(
        self, model: LyaNetClassifier, rate: float, n_states: int, around: str, ball: Any
    ) -> None:
        self.model, self.rate, self.n, self.around, self.ball = model, rate, n_states, around, ball

    def condition(self, batch: Any) -> ExponentialStability:
        x, y = _xy(batch)
        ctx = self.model.context(x).repeat_interleave(self.n, dim=0)
        return self.model.condition_for_contexts(ctx, y.repeat_interleave(self.n), self.rate)

    def sampler(self, batch: Any) -> _LabelStates:
        return _LabelStates(self.model, _xy(batch)[1], self.n, self.ball, self.around)


def _xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if (
        not isinstance(batch, (tuple, list))
        or len(batch) != 2
        or not all(isinstance(t, torch.Tensor) for t in batch)
    ):
        raise InvalidArgumentError(
            f"batch: expected a pair (x, y) of tensors, received {type(batch).__name__}"
        )
    return batch[0], batch[1]


@checked_kwargs
def lyanet_condition_loss(
    model: LyaNetClassifier,
    *,
    rate: float = 2.0,
    radius: float = 2.0,
    n_states: int = 8,
    around: str = "path",
    relative: bool = True,
    smooth: float | None = 4.0,
    sampler: AbstractSampler | None = None,
) -> ConditionLoss:
    """LyaNet's loss as a :class:`ConditionLoss` on batches ``(x, y)``.

    For each batch the condition is ``ExponentialStability(system, V, rate)`` with the flow
    bound to the contexts of ``x`` and the potentials ``V_y``, one row per sampled state
    (:meth:`LyaNetClassifier.condition_for_contexts`); the states are drawn per batch as
    :func:`sample_states` draws them. Pass it to :class:`TrainingAdapter` as its condition
    loss.

    Parameters
    ----------
    model : LyaNetClassifier
        The classifier.
    rate, radius, n_states, around, relative, smooth, sampler
        As in :func:`lyanet_loss`.

    Returns
    -------
    ConditionLoss
        Its ``loss((x, y))`` is LyaNet's loss on the batch.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier
    >>> from lyactrl.train.lyanet import lyanet_condition_loss
    >>> model = build_classifier((1, 8, 8), 10, seed=0)
    >>> closs = lyanet_condition_loss(model, n_states=4)
    >>> loss, diag = closs.loss((torch.rand(2, 1, 8, 8), torch.tensor([0, 1])))
    >>> diag["n_samples"]
    8
    """
    n = positive_int(n_states, "n_states")
    around = choice(around, "around", SAMPLE_AROUND)
    ball = _ball(model, radius, sampler)
    batches = _LyaNetBatches(model, as_positive(rate, name="rate"), n, around, ball)
    param = next((p for p in model.parameters() if p.is_floating_point()), model.eta0)
    return ConditionLoss(
        batches.condition,
        batches.sampler,
        n_samples="batch",
        per_row=n,
        relative=relative,
        smooth=smooth,
        dtype=param.dtype,
        device=param.device,
    )


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

    The loss of :func:`lyanet_condition_loss` on the batch ``(x, y)``: the (smooth) hinge of
    the residuals of the batch's ``ExponentialStability(system, V, rate)`` condition at the
    sampled states.

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
    closs = lyanet_condition_loss(
        model,
        rate=rate,
        radius=radius,
        n_states=n_states,
        around=around,
        relative=relative,
        smooth=smooth,
        sampler=sampler,
    )
    loss, diag = closs.loss((x, y), generator=generator)
    return loss, torch.tensor(diag["violation_fraction"], dtype=loss.dtype)


@checked_kwargs
def node_loss(
    model: LyaNetClassifier, x: torch.Tensor, y: torch.Tensor, *, steps: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of ``eta(T)`` by backpropagation through ``steps`` RK4 steps, and the error.

    The Neural ODE baseline of LyaNet's experiments.

    Parameters
    ----------
    model : LyaNetClassifier
        The classifier.
    x, y : torch.Tensor
        Inputs (pixels in ``[0, 1]``) and integer labels.
    steps : int
        RK4 steps over the horizon.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        The loss and the (detached) error rate of the batch.

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
