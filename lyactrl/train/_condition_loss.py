"""The sampled condition loss: LyaNet's hinge on a condition's residual at sampled states."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .._api import checked_kwargs, choice
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import as_positive, as_states, positive_int
from ..conditions import AbstractCondition, hinge_loss
from ._samplers import AbstractSampler
from .distributed import all_reduce_max, all_reduce_sum, rank_and_world, shard_slice

__all__ = ["ConditionLoss", "batch_size_of"]

_N_SAMPLES = ("batch",)
_MIN_V = 1e-6  # relative residuals divide by max(V, _MIN_V)


def _candidate(cond: AbstractCondition) -> Any:
    V = getattr(cond, "V", None)
    if V is None:
        raise InvalidArgumentError(
            f"relative: expected a condition with a candidate V (e.g. ExponentialStability), "
            f"received {type(cond).__name__}"
        )
    return V


def batch_size_of(batch: Any) -> int:
    """Rows in a batch: a tensor, or the first tensor of a tuple/list/dict."""
    first = batch
    if isinstance(batch, dict) and batch:
        first = next(iter(batch.values()))
    elif isinstance(batch, (list, tuple)) and batch:
        first = batch[0]
    if not isinstance(first, torch.Tensor) or first.ndim == 0:
        raise InvalidArgumentError(
            "batch: n_samples='batch' needs a batch that is a tensor or a tuple/list/dict "
            f"whose first item is a tensor with a batch dimension, received {type(batch).__name__}"
        )
    return int(first.shape[0])


class ConditionLoss:
    """Mean hinge ``ReLU(residual)`` of a condition at sampled states.

    Each call samples states, evaluates the condition's residual (``<= 0`` means satisfied)
    and returns the mean of ``ReLU(residual + margin)`` (squared when asked, optionally
    weighted) with diagnostics. The loss is exactly zero when every sampled residual is
    ``<= -margin``.

    Parameters
    ----------
    condition : AbstractCondition or callable
        The condition, or a factory ``condition(batch) -> AbstractCondition`` called on every
        batch (to bind a context or build a per-batch candidate such as ``CrossEntropy``).
    sampler : AbstractSampler or callable
        Where states are drawn, or a factory ``sampler(batch) -> AbstractSampler`` called on
        every batch (states that depend on the batch, such as LyaNet's balls along each
        example's path); a per-batch sampler draws this rank's states only (no sharding).
    n_samples : int or {"batch"}
        States per call; ``"batch"`` draws ``per_row`` per row of the batch (for bound
        contexts: state ``i * per_row + j`` belongs to row ``i``).
    per_row : int
        States per row of the batch with ``n_samples="batch"``.
    squared : bool
        Square the hinge.
    margin : float
        Penalise residuals above ``-margin``.
    weights : callable, optional
        ``weights(x) -> (n,)`` non-negative weights per sampled state.
    relative : bool
        Penalise ``residual / max(V(x), 1e-6)`` (same sign) for a condition with a candidate
        ``V`` (:class:`~lyactrl.ExponentialStability`): for the exponential-stability
        condition that is ``d log V / dt + rate``, which weighs every state alike (LyaNet).
    smooth : float, optional
        Replace ``ReLU(r)`` by the smooth upper bound ``softplus(smooth * r) / smooth``, which
        keeps pushing satisfied states towards a margin; ``None`` (default) for the hinge.
    dtype : torch.dtype, optional
        Dtype of the sampled states (``torch.get_default_dtype()`` by default).
    device : torch.device or str, optional
        Device of the states (sampling happens on the CPU, then the states move).
    shard : bool
        Under an initialised ``torch.distributed`` group, every rank draws the global sample
        set and keeps its contiguous shard; the loss is scaled so that DDP's gradient average
        equals the single-process gradient.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.train import BoxSampler, ConditionLoss
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    >>> closs = ConditionLoss(cond, BoxSampler([-1.0, -1.0], [1.0, 1.0]), n_samples=64)
    >>> loss, diag = closs.loss(generator=torch.Generator().manual_seed(0))
    >>> float(loss), diag["violation_fraction"]
    (0.0, 0.0)
    """

    @checked_kwargs
    def __init__(
        self,
        condition: AbstractCondition | Callable[[Any], AbstractCondition],
        sampler: AbstractSampler | Callable[[Any], AbstractSampler],
        *,
        n_samples: int | str = 256,
        per_row: int = 1,
        squared: bool = False,
        margin: float = 0.0,
        weights: Callable[[torch.Tensor], torch.Tensor] | None = None,
        relative: bool = False,
        smooth: float | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        shard: bool = True,
    ) -> None:
        if not isinstance(condition, AbstractCondition) and not callable(condition):
            raise InvalidArgumentError(
                "condition: expected a condition or a callable batch -> condition, received "
                f"{type(condition).__name__}"
            )
        if not isinstance(sampler, AbstractSampler) and not callable(sampler):
            raise InvalidArgumentError(
                "sampler: expected a sampler (e.g. LyaNetBallSampler) or a callable batch -> "
                f"sampler, received {type(sampler).__name__}"
            )
        if (
            isinstance(condition, AbstractCondition)
            and isinstance(sampler, AbstractSampler)
            and condition.n_states != sampler.n_states
        ):
            raise ShapeError(
                f"sampler: expected states of dimension {condition.n_states} to match the "
                f"condition, received {sampler.n_states}"
            )
        if isinstance(n_samples, str):
            choice(n_samples, "n_samples", _N_SAMPLES)
        else:
            positive_int(n_samples, "n_samples")
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin != margin:
            raise InvalidValueError(f"margin: expected a real number, received {margin!r}")
        if weights is not None and not callable(weights):
            raise InvalidArgumentError(
                f"weights: expected a callable x -> (n,) weights, received {type(weights).__name__}"
            )
        if dtype is not None and (
            not isinstance(dtype, torch.dtype) or not dtype.is_floating_point
        ):
            raise InvalidArgumentError(
                f"dtype: expected a floating torch dtype, received {dtype!r}"
            )
        self.condition = condition
        self.sampler = sampler
        self.n_samples = n_samples
        self.per_row = positive_int(per_row, "per_row")
        self.squared = bool(squared)
        self.margin = float(margin)
        self.weights = weights
        self.relative = bool(relative)
        self.smooth = None if smooth is None else as_positive(smooth, name="smooth")
        self.dtype = dtype
        self.device = None if device is None else torch.device(device)
        self.shard = bool(shard)
        # a per-batch sampler knows this rank's batch only: it is never sharded
        self._sharded = self.shard and isinstance(sampler, AbstractSampler)

    def condition_for(self, batch: Any = None) -> AbstractCondition:
        """The condition for ``batch`` (the fixed condition, or the factory's output)."""
        if isinstance(self.condition, AbstractCondition):
            return self.condition
        cond = self.condition(batch)
        if not isinstance(cond, AbstractCondition):
            raise InvalidArgumentError(
                f"condition: the factory must return a condition, it returned {type(cond).__name__}"
            )
        return cond

    def sampler_for(self, batch: Any = None) -> AbstractSampler:
        """The sampler for ``batch`` (the fixed sampler, or the factory's output)."""
        if isinstance(self.sampler, AbstractSampler):
            return self.sampler
        smp = self.sampler(batch)
        if not isinstance(smp, AbstractSampler):
            raise InvalidArgumentError(
                f"sampler: the factory must return a sampler, it returned {type(smp).__name__}"
            )
        return smp

    @checked_kwargs
    def draw(self, batch: Any = None, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """This rank's sampled states for ``batch`` (the global set's shard under DDP)."""
        rank, world = rank_and_world() if self._sharded else (0, 1)
        if self.n_samples == "batch":
            n_global = batch_size_of(batch) * self.per_row * world
        else:
            n_global = int(self.n_samples)
        dtype = self.dtype or torch.get_default_dtype()
        x = self.sampler_for(batch).sample(n_global, generator=generator, dtype=dtype)
        if world > 1:
            x = x[shard_slice(n_global, rank=rank, world=world)]
        return x if self.device is None else x.to(self.device)

    @checked_kwargs
    def loss(
        self,
        batch: Any = None,
        *,
        states: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The hinge loss at sampled states (or at ``states`` when given) and diagnostics.

        Returns
        -------
        loss : torch.Tensor
            Scalar, differentiable.
        diagnostics : dict
            ``loss``, ``violation_fraction`` (share of residuals > 0), ``max_residual``,
            ``mean_residual`` and ``n_samples`` (over all ranks under DDP).
        """
        cond = self.condition_for(batch)
        if states is None:
            x = self.draw(batch, generator=generator)
        else:
            x = as_states(states, cond.n_states, name="states")
        if x.shape[1] != cond.n_states:
            raise ShapeError(
                f"sampler: expected states of dimension {cond.n_states} to match the condition, "
                f"received {x.shape[1]}"
            )
        r = cond.evaluate(x)
        if r.shape != (x.shape[0],):
            raise ShapeError(
                f"condition: expected residuals of shape ({x.shape[0]},), received {tuple(r.shape)}"
            )
        w = None
        if self.weights is not None:
            w = self.weights(x).to(r)
            if w.shape != r.shape or not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
                raise InvalidValueError(
                    f"weights: expected finite non-negative weights of shape {tuple(r.shape)}, "
                    f"received shape {tuple(w.shape)}"
                )
        if self.relative:
            r = r / _candidate(cond).value(x).to(r).clamp_min(_MIN_V)
        loss, frac = self._penalty(r, w)
        _, world = rank_and_world() if self._sharded and states is None else (0, 1)
        rd = r.detach()
        if world > 1:
            local_w = (
                w.detach().sum()
                if w is not None
                else torch.tensor(float(r.shape[0]), dtype=r.dtype, device=r.device)
            )
            stats = torch.stack(
                [
                    local_w,
                    (rd > 0).to(rd.dtype).sum(),
                    rd.sum(),
                    torch.tensor(float(r.shape[0]), dtype=rd.dtype, device=rd.device),
                ]
            )
            glob = all_reduce_sum(stats)
            worst = all_reduce_max(rd.max())
            # DDP averages gradients over ranks: scale so the average is the global mean.
            loss = loss * (local_w * world / glob[0].clamp_min(torch.finfo(r.dtype).tiny))
            total = float(glob[3])
            diag_loss = float(all_reduce_sum(loss.detach()) / world)
            frac_f, mean_f = float(glob[1]) / total, float(glob[2]) / total
        else:
            worst, total, diag_loss = rd.max(), float(r.shape[0]), float(loss.detach())
            frac_f, mean_f = float(frac), float(rd.mean())
        return loss, {
            "loss": diag_loss,
            "violation_fraction": frac_f,
            "max_residual": float(worst),
            "mean_residual": mean_f,
            "n_samples": int(total),
        }

    def _penalty(
        self, r: torch.Tensor, w: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean hinge (or smooth hinge) of the residuals and the violation fraction."""
        if self.smooth is None:
            return hinge_loss(r, squared=self.squared, weights=w, margin=self.margin)
        beta = self.smooth
        h = F.softplus(beta * (r + self.margin))
        if self.squared:
            h, beta = h * h, beta * beta
        if w is None:
            loss = h.mean() / beta
        else:
            loss = (w * h).sum() / w.sum().clamp_min(torch.finfo(h.dtype).tiny) / beta
        return loss, (r.detach() > 0).to(r.dtype).mean()

    def __repr__(self) -> str:
        return (
            f"ConditionLoss(n_samples={self.n_samples!r}, squared={self.squared}, "
            f"margin={self.margin:g}, sampler={self.sampler!r})"
        )
