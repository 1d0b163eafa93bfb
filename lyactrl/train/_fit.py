"""The training loop: progress, validation, early stopping, atomic checkpoints, exact resume."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import CheckpointError, InvalidArgumentError, InvalidValueError
from .._results import ResultMixin, jsonable
from .._tensors import as_positive, positive_int
from ._adapter import TrainingAdapter
from ._checkpoint import load_checkpoint, save_checkpoint, write_json
from ._distributed import all_reduce_sum, is_main_process, rank_and_world

__all__ = ["fit", "FitResult", "FIT_STATUSES"]

#: ``completed``: every epoch ran; ``stopped_early``: validation stopped improving for
#: ``patience`` epochs; ``diverged``: the loss became NaN or Inf (training stopped there).
FIT_STATUSES = ("completed", "stopped_early", "diverged")


@dataclasses.dataclass(frozen=True)
class FitResult(ResultMixin):
    """The result of :func:`fit`: per-epoch ``history`` and how training ended."""

    status: str
    method: str
    seconds: float
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


def _metric(value: Any) -> tuple[float, dict[str, float]]:
    if isinstance(value, dict):
        if "val_loss" not in value:
            raise InvalidValueError(
                f"validate: expected a float or a dict with key 'val_loss', received keys {sorted(value)}"
            )
        return float(value["val_loss"]), {k: float(v) for k, v in value.items()}
    return float(value), {"val_loss": float(value)}


@checked_kwargs
def fit(
    adapter: TrainingAdapter,
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
        Seeds torch, numpy, Python and the sampling generator (fresh runs only).
    scheduler : optional
        A learning-rate scheduler stepped once per epoch.
    grad_clip : float, optional
        Clip the gradient norm.
    extra_state : dict, optional
        Name -> object with ``state_dict()``/``load_state_dict()`` (e.g. a
        :class:`CounterexampleBuffer`) saved in checkpoints.
    callback : callable, optional
        ``callback(epoch, record, generator)`` after each epoch, before the checkpoint.
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
    >>> res.status, res.steps
    ('completed', 60)
    """
    start = time.perf_counter()
    if not isinstance(adapter, TrainingAdapter):
        raise InvalidArgumentError(
            f"adapter: expected a TrainingAdapter, received {type(adapter).__name__}"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise InvalidArgumentError(
            f"optimizer: expected a torch optimizer, received {type(optimizer).__name__}"
        )
    positive_int(epochs, "epochs")
    positive_int(checkpoint_every, "checkpoint_every")
    if train_data is None:
        if steps_per_epoch is None:
            raise InvalidValueError(
                "steps_per_epoch: expected a positive int when train_data is None, received None"
            )
        positive_int(steps_per_epoch, "steps_per_epoch")
    if patience is not None:
        positive_int(patience, "patience")
        if validate is None:
            raise InvalidValueError(
                "patience: early stopping needs validate=callable, received validate=None"
            )
    if restore_best and validate is None:
        raise InvalidValueError("restore_best: needs validate=callable, received validate=None")
    clip = None if grad_clip is None else as_positive(grad_clip, name="grad_clip")
    extras = dict(extra_state or {})
    for name, obj in extras.items():
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise InvalidArgumentError(
                f"extra_state: expected objects with state_dict/load_state_dict, received "
                f"{type(obj).__name__} for {name!r}"
            )
    ckdir = None if checkpoint_dir is None else Path(checkpoint_dir)
    mpath = (
        Path(metrics_path)
        if metrics_path is not None
        else (ckdir / "metrics.json" if ckdir else None)
    )
    model = adapter.model
    gen = torch.Generator()
    main = is_main_process()

    epoch, step = 0, 0
    history: list[dict[str, float]] = []
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, Any] | None = None
    bad_epochs = 0
    if resume is not None:
        ck = load_checkpoint(resume)
        st = ck.state
        if ck.metadata.get("kind") != "fit":
            raise CheckpointError(f"resume: {resume} is not a checkpoint written by fit()")
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        if scheduler is not None and "scheduler" in st:
            scheduler.load_state_dict(st["scheduler"])
        for name, obj in extras.items():
            obj.load_state_dict(st["extra"][name])
        epoch, step = int(st["epoch"]), int(st["step"])
        history = list(ck.metadata.get("history", []))
        best_metric, best_epoch = ck.metadata.get("best_metric"), ck.metadata.get("best_epoch")
        bad_epochs = int(ck.metadata.get("bad_epochs", 0))
        best_state = st.get("best_model")
        _set_rng_state(st["rng"], gen, train_data)
    else:
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002 - seed the legacy global RNG
        gen.manual_seed(seed)

    runner: Any = adapter.objective
    _, world = rank_and_world()
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        dev = next((p.device for p in model.parameters()), torch.device("cpu"))
        runner = DistributedDataParallel(
            adapter.objective,
            device_ids=[dev] if dev.type == "cuda" else None,
            find_unused_parameters=find_unused_parameters,
        )

    from tqdm.auto import tqdm

    show = main and not quiet and sys.stderr.isatty()
    bar = tqdm(total=epochs, initial=epoch, desc="fit", disable=not show, leave=False)
    status = "completed"
    ckpt_path: Path | None = None

    def write_checkpoint(path: Path) -> None:
        state: dict[str, Any] = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "step": step,
            "rng": _rng_state(gen, train_data),
            "extra": {k: v.state_dict() for k, v in extras.items()},
        }
        if scheduler is not None:
            state["scheduler"] = scheduler.state_dict()
        if restore_best and best_state is not None:
            state["best_model"] = best_state
        meta = {
            "kind": "fit",
            "epoch": epoch,
            "step": step,
            "history": history,
            "best_metric": best_metric,
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs,
            "config": jsonable(config or {}),
        }
        save_checkpoint(path, state, metadata=meta)

    try:
        while epoch < epochs:
            model.train()
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            n_steps = 0
            set_epoch = getattr(getattr(train_data, "sampler", None), "set_epoch", None)
            if callable(set_epoch):  # a DistributedSampler reshuffles per epoch
                set_epoch(epoch)
            batches: Iterable[Any] = (
                train_data
                if train_data is not None
                else (None for _ in range(steps_per_epoch or 0))
            )
            for batch in batches:
                optimizer.zero_grad(set_to_none=True)
                loss, diag = runner(batch, gen)
                if not bool(torch.isfinite(loss.detach())):
                    status = "diverged"
                    break
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
                step += 1
                n_steps += 1
                for k, v in diag.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
            if status == "diverged":
                break
            if scheduler is not None:
                scheduler.step()
            epoch += 1
            record = {k: v / max(n_steps, 1) for k, v in sums.items()}
            record.update(epoch=epoch, step=step, epoch_seconds=time.perf_counter() - t0)
            record["lr"] = float(optimizer.param_groups[0]["lr"])
            stop = False
            if validate is not None:
                model.eval()
                with torch.no_grad():
                    metric, vals = _metric(validate())
                if world > 1:  # one decision on every rank: the mean over ranks
                    metric = (
                        float(all_reduce_sum(torch.tensor(metric, dtype=torch.float64))) / world
                    )
                    vals["val_loss"] = metric
                model.train()
                record.update(vals)
                if best_metric is None or metric < best_metric - float(min_delta):
                    best_metric, best_epoch, bad_epochs = metric, epoch, 0
                    if restore_best:
                        best_state = copy.deepcopy(model.state_dict())
                    if ckdir is not None and main:
                        save_checkpoint(
                            ckdir / "best.pt",
                            {"model": model.state_dict()},
                            metadata={
                                "kind": "best",
                                "epoch": epoch,
                                "val_loss": metric,
                                "config": jsonable(config or {}),
                            },
                            keep_previous=False,
                        )
                else:
                    bad_epochs += 1
                    stop = patience is not None and bad_epochs >= patience
            history.append(record)
            if callback is not None:
                callback(epoch, record, gen)
            if (
                ckdir is not None
                and main
                and (epoch % checkpoint_every == 0 or epoch == epochs or stop)
            ):
                ckpt_path = ckdir / "last.pt"
                write_checkpoint(ckpt_path)
            if mpath is not None and main:
                write_json(
                    mpath,
                    _metrics(history, status, best_epoch, best_metric, epoch, step, start, config),
                )
            bar.update(1)
            bar.set_postfix(loss=f"{record.get('loss', math.nan):.4g}")
            if stop:
                status = "stopped_early"
                break
    finally:
        bar.close()
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    if mpath is not None and main:
        write_json(
            mpath, _metrics(history, status, best_epoch, best_metric, epoch, step, start, config)
        )
    return FitResult(
        status=status,
        method="fit",
        seconds=time.perf_counter() - start,
        epochs=epoch,
        steps=step,
        history=history,
        best_epoch=best_epoch,
        best_metric=best_metric,
        checkpoint=None if ckpt_path is None else str(ckpt_path),
    )


def _metrics(
    history: list[dict[str, float]],
    status: str,
    best_epoch: int | None,
    best_metric: float | None,
    epoch: int,
    step: int,
    start: float,
    config: dict[str, Any] | None,
) -> dict[str, Any]:
    return jsonable(
        {
            "status": status,
            "epochs": epoch,
            "steps": step,
            "train_seconds": time.perf_counter() - start,
            "best_epoch": best_epoch,
            "best_metric": best_metric,
            "history": history,
            "config": config or {},
        }
    )
