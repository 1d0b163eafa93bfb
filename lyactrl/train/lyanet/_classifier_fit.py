"""Training, evaluation and loading of :class:`LyaNetClassifier` (both training rules).

Training goes through :func:`lyactrl.train.fit` (atomic checkpoints, exact resume, DDP), with
the training rule as the adapter's task loss; only the rule differs between ``lyanet`` and
``node``, everything else (model, data order, optimiser, schedule, epochs) is shared. Under
``torchrun`` each rank trains on its shard of the data (:func:`train_batches`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..._api import checked_kwargs, choice
from ..._errors import CheckpointError, InvalidArgumentError, InvalidValueError
from ..._tensors import as_positive, positive_int
from .. import FitResult, LyaNetBallSampler, TrainingAdapter, fit, load_checkpoint
from ..distributed import rank_and_world
from ._augment import ShiftedBatches
from ._classifier import LyaNetClassifier, build_classifier
from ._lyanet import (
    METHODS,
    SAMPLE_AROUND,
    lyanet_condition_loss,
    lyapunov_residual,
    node_loss,
    sample_states,
)
from ._official import GainSchedule, OfficialDynamics

__all__ = [
    "OPTIMIZERS",
    "LR_SCHEDULES",
    "train_classifier",
    "evaluate_classifier",
    "load_classifier",
    "TRAIN_DEFAULTS",
    "LYANET_DEFAULTS",
]

#: Training settings shared by both rules (the benchmark's, per data set).
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 60, "batch_size": 64, "lr": 3e-3, "weight_decay": 0.0},
    "mnist": {"epochs": 8, "batch_size": 128, "lr": 2e-3, "weight_decay": 0.0},
}
#: Optimisers of :func:`train_classifier`: AdamW (lyactrl's), Nero (the official LyaNet code's,
#: from ``pytorch-optimizer``).
OPTIMIZERS = ("adamw", "nero")
#: Learning-rate schedules: warm-up then cosine (lyactrl's), or a tenth at half the epochs
#: (the official code's).
LR_SCHEDULES = ("cosine", "step")
#: LyaNet's settings (ignored by the ``node`` rule).
LYANET_DEFAULTS: dict[str, Any] = {
    "rate": 2.0,
    "radius": 2.0,
    "n_states": 8,
    "around": "path",
    "relative": True,
    "smooth": 4.0,
}


class _Batches:
    """Re-iterable shuffled mini-batches; ``generator`` is saved in checkpoints by ``fit``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):  # noqa: ANN204
        perm = torch.randperm(self.x.shape[0], generator=self.generator)
        for i in range(0, self.x.shape[0], self.batch_size):
            idx = perm[i : i + self.batch_size]
            yield self.x[idx], self.y[idx]

    def __len__(self) -> int:
        return math.ceil(self.x.shape[0] / self.batch_size)


def _warmup_cosine(epochs: int):  # noqa: ANN202
    """Learning-rate factor per epoch: linear warm-up over 10 % of the epochs, then cosine."""
    warm = epochs // 10

    def factor(epoch: int) -> float:
        if epoch < warm:
            return (epoch + 1) / (warm + 1)
        return 0.5 * (1.0 + math.cos(math.pi * (epoch - warm) / max(epochs - warm, 1)))

    return factor


def _step_at_half(epochs: int):  # noqa: ANN202
    """Learning-rate factor per epoch: 1, then 0.1 from half the epochs on (rounded down)."""
    half = epochs // 2
    return lambda epoch: 1.0 if epoch < half else 0.1


def _optimizer(model: LyaNetClassifier, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """AdamW, or Nero with the weight constraints on the kernels of more than two dimensions
    only (as the official code groups them: biases and matrices unconstrained)."""
    if settings["optimizer"] == "adamw":
        return torch.optim.AdamW(
            model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"]
        )
    from pytorch_optimizer import Nero

    if settings["weight_decay"]:
        raise InvalidValueError(
            f"weight_decay: expected 0 with optimizer='nero' (Nero has none), received "
            f"{settings['weight_decay']!r}"
        )
    kernels = [p for p in model.parameters() if p.ndim > 2]
    rest = [p for p in model.parameters() if p.ndim <= 2]
    groups = [{"params": rest, "constraints": False}]
    if kernels:
        groups.append({"params": kernels, "constraints": True})
    return Nero(groups, lr=settings["lr"], beta=0.9)


def _check_model(model: Any) -> LyaNetClassifier:
    if not isinstance(model, LyaNetClassifier):
        raise InvalidArgumentError(
            f"model: expected a LyaNetClassifier, received {type(model).__name__}"
        )
    return model


@checked_kwargs
def train_classifier(
    model: LyaNetClassifier,
    data: Any,
    *,
    method: str = "lyanet",
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    rate: float = 2.0,
    radius: float = 2.0,
    n_states: int = 8,
    around: str = "path",
    relative: bool = True,
    smooth: float | None = 4.0,
    node_steps: int = 10,
    augment_shift: int = 0,
    optimizer: str = "adamw",
    lr_schedule: str = "cosine",
    gain_schedule: bool = False,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
    quiet: bool = True,
) -> FitResult:
    """Train a classifier with LyaNet's sampled loss or through the solver (the baseline).

    Parameters
    ----------
    model : LyaNetClassifier
        The model (e.g. from :func:`build_classifier`).
    data : lyactrl.train.lyanet.Dataset
        Training images ``x_train`` and labels ``y_train`` are used.
    method : {"lyanet", "node"}
        ``lyanet``: hinge of the exponential-stability residual at states sampled with
        :class:`LyaNetBallSampler` around ``eta(0)``, no ODE solve. ``node``: cross-entropy of
        ``eta(T)`` through ``node_steps`` RK4 steps.
    epochs, batch_size, lr, weight_decay
        The optimiser's settings, shared by both rules.
    smooth : float or None
        Sharpness of the smooth hinge ``softplus(smooth r) / smooth`` on the residual; ``None``
        for the plain hinge ``ReLU(r)``.
    rate, radius, n_states, around, relative
        LyaNet's rate, sampling radius, states per input, centres of the balls and whether the
        residual is divided by ``V`` (see :func:`lyanet_loss`).
    node_steps : int
        RK4 steps of the baseline.
    augment_shift : int
        Data augmentation for both rules alike: each training image translated by a random
        offset of up to this many pixels per batch (0: none).
    optimizer : {"adamw", "nero"}
        AdamW, or the official LyaNet code's Nero (``pytorch-optimizer``; ``beta`` 0.9, the
        weight constraints on convolution kernels only, no weight decay).
    lr_schedule : {"cosine", "step"}
        A linear warm-up over 10 % of the epochs then a cosine decay per epoch, or the
        official code's: the learning rate divided by 10 from half the epochs on.
    gain_schedule : bool
        Move the gain of :class:`OfficialDynamics` after every step by :class:`GainSchedule`
        (the official code's schedule; needs ``dynamics="official"``).
    seed : int
        Seeds the initialisation-independent randomness (data order, sampled states).
    out_dir : path-like, optional
        Where :func:`fit` writes ``last.pt`` (atomic, loadable with ``weights_only=True``) and
        ``history.json``.
    resume : path-like, optional
        A ``last.pt`` to continue from.
    quiet : bool
        No progress bar.

    Returns
    -------
    FitResult
        Its ``history`` has ``epoch_seconds`` per epoch.

    Examples
    --------
    >>> from lyactrl.train.lyanet import load_digits
    >>> from lyactrl.train import build_classifier, train_classifier
    >>> data = load_digits()
    >>> model = build_classifier(data.input_shape, 10, seed=0)
    >>> res = train_classifier(model, data, epochs=1)
    >>> res.status == "completed", res.epochs
    (True, 1)
    """
    model = _check_model(model)
    for name in ("x_train", "y_train"):
        if not isinstance(getattr(data, name, None), torch.Tensor):
            raise InvalidArgumentError(
                f"data: expected a lyactrl.train.lyanet.Dataset (with tensor {name}), received "
                f"{type(data).__name__}"
            )
    settings = {
        "method": choice(method, "method", METHODS),
        "epochs": positive_int(epochs, "epochs"),
        "batch_size": positive_int(batch_size, "batch_size"),
        "lr": as_positive(lr, name="lr"),
        "weight_decay": as_positive(weight_decay, name="weight_decay", allow_zero=True),
        "rate": as_positive(rate, name="rate"),
        "radius": as_positive(radius, name="radius"),
        "n_states": positive_int(n_states, "n_states"),
        "around": choice(around, "around", SAMPLE_AROUND),
        "relative": bool(relative),
        "smooth": None if smooth is None else as_positive(smooth, name="smooth"),
        "node_steps": positive_int(node_steps, "node_steps"),
        "augment_shift": positive_int(augment_shift, "augment_shift", allow_zero=True),
        "optimizer": choice(optimizer, "optimizer", OPTIMIZERS),
        "lr_schedule": choice(lr_schedule, "lr_schedule", LR_SCHEDULES),
        "gain_schedule": bool(gain_schedule),
        "seed": seed,
    }
    if settings["gain_schedule"] and (
        not isinstance(model.dynamics, OfficialDynamics) or settings["method"] != "lyanet"
    ):
        raise InvalidValueError(
            "gain_schedule: expected method='lyanet' (the schedule follows its violation share) "
            f"and a model with OfficialDynamics, received method={settings['method']!r} with "
            f"{type(model.dynamics).__name__}"
        )
    adapter = _adapter(model, settings)
    opt = _optimizer(model, settings)
    factor = _warmup_cosine if settings["lr_schedule"] == "cosine" else _step_at_half
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor(settings["epochs"]))
    batches = train_batches(
        data.x_train, data.y_train, settings["batch_size"], seed, settings["augment_shift"]
    )
    schedule = None
    if settings["gain_schedule"]:
        schedule = GainSchedule(
            model.dynamics, epochs=settings["epochs"], steps_per_epoch=len(batches)
        )
    out = None if out_dir is None else Path(out_dir)
    return fit(
        adapter,
        opt,
        epochs=settings["epochs"],
        train_data=batches,
        scheduler=sched,
        step_callback=schedule,
        seed=seed + 12345,  # the sampled states' generator (the data order uses seed)
        checkpoint_dir=out,
        resume=resume,
        metrics_path=None if out is None else out / "history.json",
        config={"model": model.config, "training": settings},
        quiet=quiet,
    )


def train_batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, shift: int = 0
) -> Any:
    """The training batches of :func:`train_classifier`: shuffled mini-batches of ``batch_size``
    in one process; under ``torchrun`` (an initialised process group of ``world`` ranks) each
    rank's shard of every epoch, by :class:`torch.utils.data.DistributedSampler` (reshuffled
    per epoch by :func:`~lyactrl.train.fit`), in batches of ``batch_size / world``, so a step
    still averages ``batch_size`` images over the ranks. ``shift > 0`` translates each image
    by a random offset of up to ``shift`` pixels (:func:`~lyactrl.train.lyanet.random_shift`)."""
    rank, world = rank_and_world()
    if world == 1:
        batches = _Batches(x, y, batch_size, seed)
        return ShiftedBatches(batches, shift, seed) if shift else batches
    if batch_size % world:
        raise InvalidValueError(
            f"batch_size: expected a multiple of the world size {world} (each rank takes an "
            f"equal part of every batch), received {batch_size}"
        )
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    ds = TensorDataset(x, y)
    sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    loader = DataLoader(ds, batch_size=batch_size // world, sampler=sampler)
    return ShiftedBatches(loader, shift, seed + 7919 * (rank + 1)) if shift else loader


def _adapter(model: LyaNetClassifier, settings: dict[str, Any]) -> TrainingAdapter:
    """The objective of ``settings["method"]``: LyaNet's condition loss or the solver's CE."""
    if settings["method"] == "node":

        def node(batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
            loss, err = node_loss(model, *batch, steps=settings["node_steps"])
            return loss, {"train_error": float(err)}

        return TrainingAdapter(model, task_loss=node)
    closs = lyanet_condition_loss(
        model,
        rate=settings["rate"],
        radius=settings["radius"],
        n_states=settings["n_states"],
        around=settings["around"],
        relative=settings["relative"],
        smooth=settings["smooth"],
    )
    return TrainingAdapter(model, closs)


def _decays(
    model: LyaNetClassifier, traj: torch.Tensor, y: torch.Tensor, times: torch.Tensor, rate: float
) -> torch.Tensor:
    """Per input: ``V_y(eta(t)) <= V_y(eta(0)) exp(-rate t)`` at every time (slack 1e-4)."""
    v = model.potential_along(traj, y)
    envelope = v[:, :1] * torch.exp(-rate * times.to(v)).unsqueeze(0)
    return (v <= envelope * (1 + 1e-4) + 1e-7).all(dim=1)


def _accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float((pred == y).to(torch.float64).mean())


@torch.no_grad()
@checked_kwargs
def evaluate_classifier(
    model: LyaNetClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: Sequence[int] = (1, 2, 4, 10, 20),
    rate: float = 2.0,
    radius: float = 2.0,
    around: str = "path",
    ball_radius: float = 10.0,
    n_states: int = 16,
    n_times: int = 21,
    batch_size: int = 1000,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy per solver, the sampled violation rate and measured exponential decay.

    Returns a dict with ``accuracy_rk4`` (steps -> accuracy), ``accuracy_dopri5``, its mean
    ``nfe_dopri5`` per batch of ``batch_size`` and its ``dopri5_tolerance``, ``accuracy_along``
    (time -> accuracy of ``argmax eta(t)`` on the dopri5 trajectory, at ``n_times`` times in
    ``[0, T]``), ``violation_rate`` (share of held-out states
    whose residual is > 0: ``n_states`` per test input, drawn like the training states by
    :func:`sample_states` with ``radius`` and ``around``; a statistical figure),
    ``violation_rate_ball`` (the same on the ball of ``ball_radius`` around ``eta(0)``, drawn
    with :class:`LyaNetBallSampler`), ``decay_fraction`` (share of inputs whose ``V_y(eta(t))`` along the
    dopri5 trajectory stays below ``V_y(eta(0)) exp(-rate t)`` at ``n_times`` times in
    ``[0, T]``, with a relative slack of 1e-4) and ``seconds``.

    Parameters
    ----------
    model : LyaNetClassifier
        The trained model.
    x, y : torch.Tensor
        Test inputs (pixels in ``[0, 1]``) and labels.
    steps : sequence of int
        RK4 step counts to evaluate.
    rate, radius, around, n_states
        The condition's rate and how held-out states are drawn (as in training).
    ball_radius : float
        Radius of the second held-out ball around ``eta(0)``.
    n_times : int
        Times along each trajectory where the decay is checked.
    batch_size : int
        Inputs evaluated at once.
    rtol, atol : float
        Tolerances of the dopri5 solve (a stiff flow, such as the official code's at a high
        gain, needs many steps at tight tolerances; the official code scores at 1e-3).
    seed : int
        Seeds the held-out states.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier, evaluate_classifier
    >>> model = build_classifier((1, 8, 8), 10, seed=0)
    >>> m = evaluate_classifier(model, torch.rand(8, 1, 8, 8), torch.arange(8), steps=(1, 2))
    >>> sorted(m["accuracy_rk4"])
    ['1', '2']
    """
    model = _check_model(model)
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    ball = LyaNetBallSampler(
        torch.zeros(model.n_classes), as_positive(ball_radius, name="ball_radius")
    )
    steps = [positive_int(s, "steps") for s in steps]
    preds: dict[str, list[torch.Tensor]] = {str(s): [] for s in steps}
    dopri, nfes, viol, viol_ball, decays = [], [], [], [], []
    times = torch.linspace(0.0, model.horizon, positive_int(n_times, "n_times"))
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        ctx = model.context(xb)
        for s in steps:
            preds[str(s)].append(model.integrate(ctx, method="rk4", steps=s)[0][:, -1].argmax(-1))
        traj, nfe = model.integrate(ctx, method="dopri5", times=times, rtol=rtol, atol=atol)
        dopri.append(traj.argmax(-1))  # (batch, times): the prediction at every time
        nfes.append(nfe)
        decays.append(_decays(model, traj, yb, times, rate))
        for out, smp, ar in ((viol, None, around), (viol_ball, ball, "origin")):
            eta = sample_states(
                model,
                yb,
                n_states,
                radius=radius,
                around=ar,
                sampler=smp,
                generator=g,
                dtype=ctx.dtype,
            )
            c_rep, y_rep = ctx.repeat_interleave(n_states, 0), yb.repeat_interleave(n_states)
            out.append(lyapunov_residual(model, eta, c_rep, y_rep, rate) > 0)
    model.train(was_training)
    return {
        "accuracy_rk4": {s: _accuracy(torch.cat(p), y) for s, p in preds.items()},
        "accuracy_dopri5": _accuracy(torch.cat(dopri)[:, -1], y),
        "accuracy_along": {
            f"{float(t):g}": _accuracy(col, y)
            for t, col in zip(times, torch.cat(dopri).T, strict=True)
        },
        "nfe_dopri5": float(sum(nfes) / len(nfes)),
        "dopri5_tolerance": {"rtol": float(rtol), "atol": float(atol)},
        "violation_rate": float(torch.cat(viol).to(torch.float64).mean()),
        "violation_states": int(torch.cat(viol).numel()),
        "violation_rate_ball": float(torch.cat(viol_ball).to(torch.float64).mean()),
        "decay_fraction": float(torch.cat(decays).to(torch.float64).mean()),
        "rate": float(rate),
        "n_test": int(x.shape[0]),
        "seconds": time.perf_counter() - start,
    }


@checked_kwargs
def load_classifier(path: str | os.PathLike[str]) -> tuple[LyaNetClassifier, dict[str, Any]]:
    """Rebuild a classifier from a checkpoint written by :func:`train_classifier`.

    The file is read with ``weights_only=True`` (it cannot run code).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint (e.g. ``DIR/last.pt`` from ``lyactrl train``).

    Returns
    -------
    tuple of (LyaNetClassifier, dict)
        The model (in eval mode) and the checkpoint's metadata.
    """
    ck = load_checkpoint(path)
    cfg = ck.metadata.get("config", {}).get("model")
    if not isinstance(cfg, dict) or "input_shape" not in cfg or "model" not in ck.state:
        raise CheckpointError(
            f"path: {path} is not a checkpoint of a classifier made by build_classifier "
            "(expected its config and weights); for a custom model, build it yourself and "
            "load load_checkpoint(path).state['model'] into it"
        )
    cfg = dict(cfg)
    model = build_classifier(cfg.pop("input_shape"), cfg.pop("n_classes"), **cfg)
    model.load_state_dict(ck.state["model"])
    model.eval()
    return model, ck.metadata
