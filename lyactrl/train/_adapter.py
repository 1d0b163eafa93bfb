"""The training adapter: a condition loss (plus an optional task loss) for any nn.Module."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import as_positive
from ..conditions import AbstractCondition, ExponentialStability
from ..lyapunov import AbstractCandidate
from ..systems import NeuralSystem
from ._condition_loss import ConditionLoss
from ._fit import FitResult, fit
from ._samplers import AbstractSampler
from .distributed import all_reduce_sum, rank_and_world

__all__ = ["TrainingAdapter"]


def _default_context(batch: Any) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    raise InvalidArgumentError(
        "batch: expected a tensor or a tuple whose first item is the context tensor "
        f"(or pass context=callable), received {type(batch).__name__}"
    )


class _Objective(nn.Module):
    """The whole objective as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, adapter: TrainingAdapter) -> None:
        super().__init__()
        self.model = adapter.model
        self._adapter = [adapter]  # a list: not registered as a submodule

    def forward(
        self, batch: Any = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        return self._adapter[0].loss(batch, generator=generator)


class _DynamicsConditions:
    """Condition factory for ``x' = f(x)`` or ``x' = f(x, context)`` with candidate ``V``."""

    def __init__(
        self,
        dynamics: nn.Module,
        n_states: int,
        V: AbstractCandidate | Callable[[Any], AbstractCandidate],
        rate: float,
        inputs: str,
        context: Callable[[Any], torch.Tensor] | None,
    ) -> None:
        self.V, self.rate, self.inputs = V, rate, inputs
        self.context = context or _default_context
        self.system = NeuralSystem(dynamics, n_states, inputs=inputs)
        self._bound_once = False
        self.fixed = (
            ExponentialStability(self.system, V, rate)
            if inputs != "x,context" and isinstance(V, AbstractCandidate)
            else None
        )

    def __call__(self, batch: Any) -> AbstractCondition:
        if self.fixed is not None:
            return self.fixed
        system = self.system
        if self.inputs == "x,context":
            ctx = self.context(batch)
            if not self._bound_once:
                system = self.system.bind(ctx)  # validates shapes once
                self._bound_once = True
            else:  # the hot path: same module, new context, no probe forward pass
                system = copy.copy(self.system)
                system.context = ctx
        V = self.V if isinstance(self.V, AbstractCandidate) else self.V(batch)
        return ExponentialStability(system, V, self.rate)


class TrainingAdapter:
    """Train any ``nn.Module`` with a sampled condition loss, in a plain loop or with :meth:`fit`.

    The objective is ``condition_weight * condition_loss + task_loss(batch)``. Use
    :meth:`loss` inside your own PyTorch loop, or :meth:`fit` for progress bars, validation,
    early stopping, atomic checkpoints, exact resume and DistributedDataParallel under
    ``torchrun``.

    Parameters
    ----------
    model : torch.nn.Module
        Holds every trainable parameter (wrap several modules in ``nn.ModuleDict``).
    condition_loss : ConditionLoss, optional
        The sampled condition loss.
    task_loss : callable, optional
        ``task_loss(batch) -> loss`` or ``-> (loss, dict of floats)``, e.g. a regression loss.
    condition_weight : float
        Weight of the condition loss (>= 0).

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.train import BoxSampler, TrainingAdapter
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> f = torch.nn.Linear(2, 2, dtype=torch.float64)
    >>> V = lyactrl.Quadratic(torch.eye(2))
    >>> adapter = TrainingAdapter.for_dynamics(f, 2, V, rate=0.5,
    ...                                        sampler=BoxSampler([-1.0, -1.0], [1.0, 1.0]))
    >>> loss, diag = adapter.loss(generator=torch.Generator().manual_seed(0))
    >>> loss.backward()
    >>> sorted(diag)[:3]
    ['condition_loss', 'loss', 'max_residual']
    """

    @checked_kwargs
    def __init__(
        self,
        model: nn.Module,
        condition_loss: ConditionLoss | None = None,
        *,
        task_loss: Callable[[Any], Any] | None = None,
        condition_weight: float = 1.0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(
                f"model: expected a torch.nn.Module, received {type(model).__name__}"
            )
        if condition_loss is not None and not isinstance(condition_loss, ConditionLoss):
            raise InvalidArgumentError(
                f"condition_loss: expected a ConditionLoss, received {type(condition_loss).__name__}"
            )
        if task_loss is not None and not callable(task_loss):
            raise InvalidArgumentError(
                f"task_loss: expected a callable, received {type(task_loss).__name__}"
            )
        if condition_loss is None and task_loss is None:
            raise InvalidValueError(
                "condition_loss: expected a ConditionLoss or a task_loss (or both), received neither"
            )
        self.model = model
        self.condition_loss = condition_loss
        self.task_loss = task_loss
        self.condition_weight = as_positive(
            condition_weight, name="condition_weight", allow_zero=True
        )
        self.objective = _Objective(self)

    @classmethod
    @checked_kwargs
    def for_dynamics(
        cls,
        dynamics: nn.Module,
        n_states: int,
        V: AbstractCandidate | Callable[[Any], AbstractCandidate],
        *,
        rate: float,
        sampler: AbstractSampler,
        inputs: str = "x",
        context: Callable[[Any], torch.Tensor] | None = None,
        n_samples: int | str = 256,
        squared: bool = False,
        margin: float = 0.0,
        weights: Callable[[torch.Tensor], torch.Tensor] | None = None,
        task_loss: Callable[[Any], Any] | None = None,
        condition_weight: float = 1.0,
        model: nn.Module | None = None,
    ) -> TrainingAdapter:
        """An adapter whose condition is ``ExponentialStability(NeuralSystem(dynamics), V, rate)``.

        Parameters
        ----------
        dynamics : torch.nn.Module
            The vector field, called as ``inputs`` says (see :class:`~lyactrl.NeuralSystem`).
        n_states : int
            State dimension.
        V : AbstractCandidate or callable
            The candidate, or ``V(batch) -> candidate`` (e.g. ``CrossEntropy(batch[1])``).
        rate : float
            Decay rate ``kappa`` of the condition.
        sampler : AbstractSampler
            Where states are drawn.
        inputs : {"x", "t,x", "x,context"}
            How ``dynamics`` is called; with ``"x,context"`` the system is bound to
            ``context(batch)`` on every batch (data-controlled dynamics, as in LyaNet).
        context : callable, optional
            ``context(batch) -> (batch, context_dim)``; ``batch[0]`` by default.
        n_samples, squared, margin, weights
            As in :class:`ConditionLoss` (use ``n_samples="batch"`` with a context).
        task_loss, condition_weight
            As in the constructor.
        model : torch.nn.Module, optional
            The module holding every trainable parameter; by default ``dynamics`` together
            with ``V`` when ``V`` is a module (e.g. :class:`~lyactrl.NeuralLyapunov`).
        """
        if not isinstance(dynamics, nn.Module):
            raise InvalidArgumentError(
                f"dynamics: expected a torch.nn.Module, received {type(dynamics).__name__}"
            )
        if not isinstance(V, AbstractCandidate) and not callable(V):
            raise InvalidArgumentError(
                f"V: expected a candidate or a callable batch -> candidate, received {type(V).__name__}"
            )
        factory = _DynamicsConditions(
            dynamics, n_states, V, as_positive(rate, name="rate"), inputs, context
        )
        params = [p for p in dynamics.parameters() if p.is_floating_point()]
        closs = ConditionLoss(
            factory.fixed if factory.fixed is not None else factory,
            sampler,
            n_samples=n_samples,
            squared=squared,
            margin=margin,
            weights=weights,
            dtype=params[0].dtype if params else None,
            device=params[0].device if params else None,
        )
        if model is None:
            model = (
                nn.ModuleDict({"dynamics": dynamics, "V": V})
                if isinstance(V, nn.Module)
                else dynamics
            )
        return cls(model, closs, task_loss=task_loss, condition_weight=condition_weight)

    @checked_kwargs
    def loss(
        self, batch: Any = None, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The training objective on ``batch`` and its diagnostics (floats).

        Returns
        -------
        loss : torch.Tensor
            Scalar to call ``backward()`` on.
        diagnostics : dict
            ``loss``; with a condition loss ``condition_loss``, ``violation_fraction``,
            ``max_residual``, ``mean_residual``, ``n_samples``; with a task loss ``task_loss``
            and whatever the task loss reports.
        """
        total: torch.Tensor | None = None
        diag: dict[str, float] = {}
        if self.condition_loss is not None:
            closs, cdiag = self.condition_loss.loss(batch, generator=generator)
            diag.update(cdiag)
            diag["condition_loss"] = diag.pop("loss")
            total = self.condition_weight * closs
        if self.task_loss is not None:
            out = self.task_loss(batch)
            tloss, tdiag = out if isinstance(out, tuple) else (out, {})
            if not isinstance(tloss, torch.Tensor) or tloss.numel() != 1:
                raise InvalidValueError(
                    f"task_loss: expected a scalar tensor, received {type(tloss).__name__}"
                    + (f" of shape {tuple(tloss.shape)}" if isinstance(tloss, torch.Tensor) else "")
                )
            diag.update({k: float(v) for k, v in dict(tdiag).items()})
            world = rank_and_world()[1]
            diag["task_loss"] = float(all_reduce_sum(tloss.detach().reshape(()))) / world
            total = tloss.reshape(()) if total is None else total + tloss.reshape(())
        if total is None:  # pragma: no cover - the constructor requires one of the two
            raise InvalidValueError("condition_loss: expected a condition or a task loss")
        # the logged objective is the global one (the same number on every rank)
        diag["loss"] = self.condition_weight * diag.get("condition_loss", 0.0) + diag.get(
            "task_loss", 0.0
        )
        return total, diag

    def fit(self, optimizer: torch.optim.Optimizer, **options: Any) -> FitResult:
        """Train with :func:`~lyactrl.train.fit` (see there for the options)."""
        return fit(self, optimizer, **options)

    def __repr__(self) -> str:
        return (
            f"TrainingAdapter({type(self.model).__name__}, condition_loss={self.condition_loss!r}, "
            f"task_loss={'yes' if self.task_loss else 'no'}, condition_weight={self.condition_weight:g})"
        )
