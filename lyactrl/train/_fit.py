"""The training loop: progress, validation, early stopping, atomic checkpoints, exact resume.

:func:`fit` validates its options into a frozen :class:`FitOptions`, then runs epochs on a
mutable ``_Run`` (counters, history, best epoch) with one small function per stage: an epoch
of steps, validation and early stopping, the files (checkpoint, metrics), the result.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import CheckpointError, InvalidArgumentError, InvalidValueError
from .._progress import progress_bar
from .._results import ResultMixin, Status, jsonable
from .._tensors import as_positive, positive_int
from .checkpoint import load_checkpoint, save_checkpoint, write_json
from .distributed import all_reduce_sum, is_main_process, rank_and_world

__all__ = ["fit", "FitResult", "FitOptions", "FIT_STATUSES"]

#: ``completed``: every epoch ran; ``stopped_early``: validation stopped improving for
#: ``patience`` epochs; ``diverged``: the loss became NaN or Inf (training stopped there).
FIT_STATUSES = (Status.COMPLETED, Status.STOPPED_EARLY, Status.DIVERGED)


@dataclasses.dataclass(frozen=True)
class FitResult(ResultMixin):
    """The result of :func:`fit`: per-epoch ``history`` and how training ended.

    ``status`` is one of :data:`FIT_STATUSES`; ``message`` says why training stopped early or
    diverged (empty when every epoch ran).
    """

    status: Status
    method: str
    seconds: float
    message: str
    epochs: int
    steps: int
    history: list[dict[str, float]]
    best_epoch: int | None
    best_metric: float | None
    checkpoint: str | None

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's record (empty when no epoch ran)."""
        return self.history[-1] if self.history else {}


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """The validated options of :func:`fit` (see there for their meaning)."""

    epochs: int
    train_data: Iterable[Any] | None = None
    steps_per_epoch: int | None = None
    validate: Callable[[], Any] | None = None
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = False
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 1
    resume: str | os.PathLike[str] | None = None
    seed: int = 0
    scheduler: Any = None
    grad_clip: float | None = None
    extra_state: dict[str, Any] = dataclasses.field(default_factory=dict)
    callback: Callable[[int, dict[str, float], torch.Generator], None] | None = None
    step_callback: Callable[[int, dict[str, float]], None] | None = None
    metrics_path: Path | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    find_unused_parameters: bool = False
    quiet: bool = False


def _check_options(**kw: Any) -> FitOptions:
    """Validate :func:`fit`'s keyword options into a :class:`FitOptions`."""
    positive_int(kw["epochs"], "epochs")
    positive_int(kw["checkpoint_every"], "checkpoint_every")
    if kw["train_data"] is None:
        if kw["steps_per_epoch"] is None:
            raise InvalidValueError(
                "steps_per_epoch: expected a positive int when train_data is None, received None"
            )
        positive_int(kw["steps_per_epoch"], "steps_per_epoch")
    if kw["patience"] is not None:
        positive_int(kw["patience"], "patience")
        if kw["validate"] is None:
            raise InvalidValueError(
                "patience: early stopping needs validate=callable, received validate=None"
            )
    if kw["restore_best"] and kw["validate"] is None:
        raise InvalidValueError("restore_best: needs validate=callable, received validate=None")
    if kw["grad_clip"] is not None:
        kw["grad_clip"] = as_positive(kw["grad_clip"], name="grad_clip")
    extras = dict(kw["extra_state"] or {})
    for name, obj in extras.items():
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise InvalidArgumentError(
                f"extra_state: expected objects with state_dict/load_state_dict, received "
                f"{type(obj).__name__} for {name!r}"
            )
    kw["extra_state"] = extras
    ckdir = None if kw["checkpoint_dir"] is None else Path(kw["checkpoint_dir"])
    kw["checkpoint_dir"] = ckdir
    if kw["metrics_path"] is not None:
        kw["metrics_path"] = Path(kw["metrics_path"])
    elif ckdir is not None:
        kw["metrics_path"] = ckdir / "metrics.json"
    kw["config"] = dict(kw["config"] or {})
    return FitOptions(**kw)


@dataclasses.dataclass
class _Run:
    """What changes while :func:`fit` runs (everything a checkpoint restores)."""

    adapter: Any
    optimizer: torch.optim.Optimizer
    opts: FitOptions
    generator: torch.Generator
    start: float
    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, Any] | None = None
    bad_epochs: int = 0
    status: Status = Status.COMPLETED
    message: str = ""
    checkpoint: Path | None = None

    @property
    def model(self) -> nn.Module:
        return self.adapter.model


def _rng_state(gen: torch.Generator, data: Any) -> dict[str, Any]:
    np_state = np.random.get_state()  # noqa: NPY002 - the legacy global RNG users seed
    state: dict[str, Any] = {
        "generator": gen.get_state(),
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached": float(np_state[4]),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    data_gen = getattr(data, "generator", None)
    if isinstance(data_gen, torch.Generator):
        state["data"] = data_gen.get_state()
    return state


def _set_rng_state(state: dict[str, Any], gen: torch.Generator, data: Any) -> None:
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npst = state["numpy"]
    np.random.set_state(  # noqa: NPY002 - restore the legacy global RNG
        (
            "MT19937",
            npst["key"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    data_gen = getattr(data, "generator", None)
    if "data" in state and isinstance(data_gen, torch.Generator):
        data_gen.set_state(state["data"])


def _resume(run: _Run) -> None:
    """Restore model, optimizer, scheduler, extras, counters and every RNG from the checkpoint."""
    opts = run.opts
    ck = load_checkpoint(opts.resume)
    if ck.metadata.get("kind") != "fit":
        raise CheckpointError(f"resume: {opts.resume} is not a checkpoint written by fit()")
    st = ck.state
    run.model.load_state_dict(st["model"])
    run.optimizer.load_state_dict(st["optimizer"])
    if opts.scheduler is not None and "scheduler" in st:
        opts.scheduler.load_state_dict(st["scheduler"])
    for name, obj in opts.extra_state.items():
        obj.load_state_dict(st["extra"][name])
    run.epoch, run.step = int(st["epoch"]), int(st["step"])
    run.history = list(ck.metadata.get("history", []))
    run.best_metric = ck.metadata.get("best_metric")
    run.best_epoch = ck.metadata.get("best_epoch")
    run.bad_epochs = int(ck.metadata.get("bad_epochs", 0))
    run.best_state = st.get("best_model")
    _set_rng_state(st["rng"], run.generator, opts.train_data)


def _runner(run: _Run) -> Any:
    """The objective, wrapped in DistributedDataParallel under an initialised process group."""
    if rank_and_world()[1] == 1:
        return run.adapter.objective
    from torch.nn.parallel import DistributedDataParallel

    dev = next((p.device for p in run.model.parameters()), torch.device("cpu"))
    return DistributedDataParallel(
        run.adapter.objective,
        device_ids=[dev] if dev.type == "cuda" else None,
        find_unused_parameters=run.opts.find_unused_parameters,
    )


def _train_epoch(run: _Run, runner: Any) -> dict[str, float] | None:
    """One epoch of optimiser steps; the epoch's record, or ``None`` when the loss diverged."""
    opts, model, optimizer = run.opts, run.model, run.optimizer
    model.train()
    t0 = time.perf_counter()
    sums: dict[str, float] = {}
    n_steps = 0
    set_epoch = getattr(getattr(opts.train_data, "sampler", None), "set_epoch", None)
    if callable(set_epoch):  # a DistributedSampler reshuffles per epoch
        set_epoch(run.epoch)
    batches: Iterable[Any] = (
        opts.train_data
        if opts.train_data is not None
        else (None for _ in range(opts.steps_per_epoch or 0))
    )
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        loss, diag = runner(batch, run.generator)
        if not bool(torch.isfinite(loss.detach())):
            run.status = Status.DIVERGED
            run.message = f"the loss became {float(loss.detach())} at step {run.step + 1}"
            return None
        loss.backward()
        if opts.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        optimizer.step()
        run.step += 1
        n_steps += 1
        if opts.step_callback is not None:
            opts.step_callback(run.step, diag)
        for k, v in diag.items():
            sums[k] = sums.get(k, 0.0) + float(v)
    if opts.scheduler is not None:
        opts.scheduler.step()
    run.epoch += 1
    record = {k: v / max(n_steps, 1) for k, v in sums.items()}
    record.update(epoch=run.epoch, step=run.step, epoch_seconds=time.perf_counter() - t0)
    record["lr"] = float(optimizer.param_groups[0]["lr"])
    return record


def _metric(value: Any) -> tuple[float, dict[str, float]]:
    if isinstance(value, dict):
        if "val_loss" not in value:
            raise InvalidValueError(
                "validate: expected a float or a dict with key 'val_loss', received keys "
                f"{sorted(value)}"
            )
        return float(value["val_loss"]), {k: float(v) for k, v in value.items()}
    return float(value), {"val_loss": float(value)}


def _validate(run: _Run, record: dict[str, float]) -> bool:
    """Validate, track the best epoch (``best.pt``); whether early stopping triggers."""
    opts = run.opts
    run.model.eval()
    with torch.no_grad():
        metric, vals = _metric(opts.validate())
    world = rank_and_world()[1]
    if world > 1:  # one decision on every rank: the mean over ranks
        metric = float(all_reduce_sum(torch.tensor(metric, dtype=torch.float64))) / world
        vals["val_loss"] = metric
    run.model.train()
    record.update(vals)
    if run.best_metric is not None and metric >= run.best_metric - float(opts.min_delta):
        run.bad_epochs += 1
        return opts.patience is not None and run.bad_epochs >= opts.patience
    run.best_metric, run.best_epoch, run.bad_epochs = metric, run.epoch, 0
    if opts.restore_best:
        run.best_state = copy.deepcopy(run.model.state_dict())
    if opts.checkpoint_dir is not None and is_main_process():
        save_checkpoint(
            opts.checkpoint_dir / "best.pt",
            {"model": run.model.state_dict()},
            metadata={
                "kind": "best",
                "epoch": run.epoch,
                "val_loss": metric,
                "config": jsonable(opts.config),
            },
            keep_previous=False,
        )
    return False


def _write_checkpoint(run: _Run, path: Path) -> None:
    opts = run.opts
    state: dict[str, Any] = {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "epoch": run.epoch,
        "step": run.step,
        "rng": _rng_state(run.generator, opts.train_data),
        "extra": {k: v.state_dict() for k, v in opts.extra_state.items()},
    }
    if opts.scheduler is not None:
        state["scheduler"] = opts.scheduler.state_dict()
    if opts.restore_best and run.best_state is not None:
        state["best_model"] = run.best_state
    meta = {
        "kind": "fit",
        "epoch": run.epoch,
        "step": run.step,
        "history": run.history,
        "best_metric": run.best_metric,
        "best_epoch": run.best_epoch,
        "bad_epochs": run.bad_epochs,
        "config": jsonable(opts.config),
    }
    save_checkpoint(path, state, metadata=meta)
    run.checkpoint = path


def _write_metrics(run: _Run) -> None:
    if run.opts.metrics_path is None or not is_main_process():
        return
    metrics = {
        "status": run.status,
        "epochs": run.epoch,
        "steps": run.step,
        "train_seconds": time.perf_counter() - run.start,
        "best_epoch": run.best_epoch,
        "best_metric": run.best_metric,
        "history": run.history,
        "config": run.opts.config,
    }
    write_json(run.opts.metrics_path, jsonable(metrics))


def _end_of_epoch(run: _Run, record: dict[str, float]) -> bool:
    """Validation, callback, checkpoint and metrics after an epoch; whether to stop."""
    opts = run.opts
    stop = _validate(run, record) if opts.validate is not None else False
    run.history.append(record)
    if opts.callback is not None:
        opts.callback(run.epoch, record, run.generator)
    due = run.epoch % opts.checkpoint_every == 0 or run.epoch == opts.epochs or stop
    if opts.checkpoint_dir is not None and is_main_process() and due:
        _write_checkpoint(run, opts.checkpoint_dir / "last.pt")
    _write_metrics(run)
    if stop:
        run.status = Status.STOPPED_EARLY
        run.message = (
            f"validation did not improve by more than {opts.min_delta:g} for {opts.patience} "
            f"epochs (best epoch {run.best_epoch})"
        )
    return stop


def _epochs(run: _Run) -> None:
    """Run epochs until the last, early stopping or divergence, with a progress bar."""
    opts = run.opts
    show = None if is_main_process() and not opts.quiet else False  # None: on a terminal
    bar = progress_bar(show, desc="fit", total=opts.epochs, initial=run.epoch)
    runner = _runner(run)
    try:
        while run.epoch < opts.epochs:
            record = _train_epoch(run, runner)
            if record is None:
                break
            stop = _end_of_epoch(run, record)
            bar.update(1)
            bar.set_postfix(loss=f"{record.get('loss', math.nan):.4g}")
            if stop:
                break
    finally:
        bar.close()


@checked_kwargs
def fit(
    adapter: Any,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    train_data: Iterable[Any] | None = None,
    steps_per_epoch: int | None = None,
    validate: Callable[[], Any] | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: str | os.PathLike[str] | None = None,
    seed: int = 0,
    scheduler: Any = None,
    grad_clip: float | None = None,
    extra_state: dict[str, Any] | None = None,
    callback: Callable[[int, dict[str, float], torch.Generator], None] | None = None,
    step_callback: Callable[[int, dict[str, float]], None] | None = None,
    metrics_path: str | os.PathLike[str] | None = None,
    config: dict[str, Any] | None = None,
    find_unused_parameters: bool = False,
    quiet: bool = False,
) -> FitResult:
    """Train ``adapter.model`` by minimising ``adapter.loss``.

    Each epoch runs one step per batch of ``train_data`` (or ``steps_per_epoch`` steps of the
    condition loss alone), then validates, checks early stopping, calls ``callback``, writes
    the checkpoint ``checkpoint_dir/last.pt`` (atomically; the previous one kept as
    ``last.pt.prev``) and the metrics JSON. Resuming from a checkpoint restores the model,
    optimizer, scheduler, every RNG (the sampling ``torch.Generator``, torch, numpy, Python,
    the data loader's generator), counters and ``extra_state``, so the resumed run reproduces
    the uninterrupted one exactly. Under ``torchrun`` (an initialised process group) the
    objective is wrapped in DistributedDataParallel; rank 0 writes the files.

    Parameters
    ----------
    adapter : TrainingAdapter
        The objective.
    optimizer : torch.optim.Optimizer
        Over ``adapter.model``'s parameters.
    epochs : int
        Total epochs (including those done before a resume).
    train_data : iterable, optional
        Re-iterable batches (e.g. a DataLoader; under DDP each rank's contiguous shard).
    steps_per_epoch : int, optional
        Steps per epoch without ``train_data``.
    validate : callable, optional
        ``validate() -> float`` or ``-> dict`` with ``"val_loss"`` (lower is better).
    patience : int, optional
        Stop after this many epochs without improvement by more than ``min_delta``.
    min_delta : float
        Least improvement that counts.
    restore_best : bool
        End with the weights of the best validation epoch.
    checkpoint_dir : path-like, optional
        Where ``last.pt``, ``best.pt`` and ``metrics.json`` go.
    checkpoint_every : int
        Write ``last.pt`` every this many epochs (and after the last).
    resume : path-like, optional
        A checkpoint written by :func:`fit` to continue from.
    seed : int
        Seeds the sampling generator, a local ``torch.Generator`` passed to the loss and to
        ``callback`` (fresh runs only). The global RNGs (torch, numpy, Python) are neither
        seeded nor drawn from by ``fit``; seed them yourself if your model draws from them
        (dropout). Their states are saved in checkpoints and restored on resume.
    scheduler : optional
        A learning-rate scheduler stepped once per epoch.
    grad_clip : float, optional
        Clip the gradient norm.
    extra_state : dict, optional
        Name -> object with ``state_dict()``/``load_state_dict()`` (e.g. a
        :class:`CounterexampleBuffer`) saved in checkpoints.
    callback : callable, optional
        ``callback(epoch, record, generator)`` after each epoch, before the checkpoint.
    step_callback : callable, optional
        ``step_callback(step, diagnostics)`` after each optimiser step (``step`` counted from 1
        over the whole run, ``diagnostics`` the loss's, global under DDP), e.g. a
        :class:`~lyactrl.train.lyanet.GainSchedule`. Whatever it changes must live in the
        model, the optimizer or ``extra_state`` to survive a resume.
    metrics_path : path-like, optional
        Metrics JSON (``checkpoint_dir/metrics.json`` by default).
    config : dict, optional
        JSON-serialisable configuration stored in checkpoints and metrics.
    find_unused_parameters : bool
        Passed to DistributedDataParallel.
    quiet : bool
        No progress bar (it is also off when stderr is not a terminal).

    Returns
    -------
    FitResult
        ``status`` (see :data:`FIT_STATUSES`), history, best epoch and metric.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.train import BoxSampler, TrainingAdapter, fit
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> f = torch.nn.Linear(2, 2, dtype=torch.float64)
    >>> adapter = TrainingAdapter.for_dynamics(
    ...     f, 2, lyactrl.Quadratic(torch.eye(2)), rate=0.5,
    ...     sampler=BoxSampler([-1.0, -1.0], [1.0, 1.0]), n_samples=64)
    >>> res = fit(adapter, torch.optim.Adam(f.parameters(), lr=0.05), epochs=3,
    ...           steps_per_epoch=20, quiet=True)
    >>> res.status == "completed", res.steps
    (True, 60)
    """
    start = time.perf_counter()
    if not isinstance(getattr(adapter, "objective", None), nn.Module) or not isinstance(
        getattr(adapter, "model", None), nn.Module
    ):
        raise InvalidArgumentError(
            f"adapter: expected a TrainingAdapter, received {type(adapter).__name__}"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise InvalidArgumentError(
            f"optimizer: expected a torch optimizer, received {type(optimizer).__name__}"
        )
    opts = _check_options(**{k: v for k, v in locals().items() if k in _OPTION_NAMES})
    run = _Run(adapter, optimizer, opts, torch.Generator(), start)
    if opts.resume is not None:
        _resume(run)
    else:
        run.generator.manual_seed(seed)
    _epochs(run)
    if opts.restore_best and run.best_state is not None:
        run.model.load_state_dict(run.best_state)
    _write_metrics(run)
    return FitResult(
        status=run.status,
        method="fit",
        seconds=time.perf_counter() - start,
        message=run.message,
        epochs=run.epoch,
        steps=run.step,
        history=run.history,
        best_epoch=run.best_epoch,
        best_metric=run.best_metric,
        checkpoint=None if run.checkpoint is None else str(run.checkpoint),
    )


_OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(FitOptions))
