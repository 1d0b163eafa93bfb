"""LyaNet's convergence picture for trained classifiers: accuracy against solver effort, and
``V_y(eta(t))`` along test trajectories against the envelope ``V_y(eta(0)) e^(-rate t)``.

:func:`lyanet_convergence_figure` is re-exported by :mod:`lyactrl.plot`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, ShapeError
from .._tensors import as_positive, positive_int, to_numpy
from ..train.lyanet import LyaNetClassifier, evaluate_classifier
from ._base import finish_figure, new_figure
from ._curves import _LABELS

__all__ = ["lyanet_convergence_figure"]


def _checked(models: Any, x: Any, y: Any) -> tuple[dict[str, LyaNetClassifier], Any, Any]:
    if not isinstance(models, Mapping) or not models:
        raise InvalidArgumentError(
            "models: expected a non-empty dict {name: LyaNetClassifier}, received "
            f"{type(models).__name__}"
        )
    for name, m in models.items():
        if not isinstance(m, LyaNetClassifier):
            raise InvalidArgumentError(
                f"models[{name!r}]: expected a LyaNetClassifier, received {type(m).__name__}"
            )
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise InvalidArgumentError(
            f"x, y: expected tensors, received {type(x).__name__} and {type(y).__name__}"
        )
    if y.ndim != 1 or x.shape[0] != y.shape[0] or y.shape[0] == 0:
        raise ShapeError(
            f"x, y: expected as many labels as images (at least one), received "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    return dict(models), x, y


@torch.no_grad()
def _ratios(model: LyaNetClassifier, x: torch.Tensor, y: torch.Tensor, times: torch.Tensor):
    """``V_y(eta(t)) / V_y(eta(0))`` along dopri5 trajectories, shape ``(len(x), len(times))``."""
    was = model.training
    model.eval()
    try:
        traj, _ = model.integrate(model.context(x), method="dopri5", times=times)
        v = model.potential_along(traj, y)
    finally:
        model.train(was)
    return v / v[:, :1]


@checked_kwargs
def lyanet_convergence_figure(
    models: Mapping[str, LyaNetClassifier],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    rate: float,
    steps: Sequence[int] = (1, 2, 4, 10),
    n_trajectories: int = 60,
    path: str | Path | None = None,
) -> Any:
    """Fast convergence of inference, as in LyaNet's paper, for trained classifiers.

    The left panel plots test accuracy against the function evaluations of one solve: RK4 with
    each of ``steps`` fixed steps (4 evaluations per step, joined by a line) and dopri5
    (adaptive, rtol 1e-5, a star at its mean evaluations per batch). One panel per model then
    plots ``V_y(eta(t)) / V_y(eta(0))`` on a log scale along the dopri5 trajectories of the
    first ``n_trajectories`` test inputs, with the envelope ``e^(-rate t)`` dashed; its title
    gives the share of *all* test inputs whose ``V_y`` stays below the envelope at 21 times
    (:func:`~lyactrl.train.evaluate_classifier`'s ``decay_fraction``, a statement about these
    samples).

    Parameters
    ----------
    models : dict
        ``{name: LyaNetClassifier}``, e.g. ``{"lyanet": ..., "node": ...}`` trained on the
        same data.
    x, y : torch.Tensor
        Test images ``(N, C, H, W)`` and labels ``(N,)``.
    rate : float
        The rate ``kappa`` of the envelope (LyaNet's training rate).
    steps : sequence of int
        Fixed RK4 step counts.
    n_trajectories : int
        Trajectories drawn per model.
    path : str or pathlib.Path, optional
        Also write the figure as PNG and SVG there (no suffix).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import torch
    >>> from lyactrl.plot import lyanet_convergence_figure
    >>> from lyactrl.train import build_classifier
    >>> m = build_classifier((1, 4, 4), 3, context_dim=8, hidden=8, dynamics_hidden=8, seed=0)
    >>> fig = lyanet_convergence_figure({"lyanet": m}, torch.rand(6, 1, 4, 4),
    ...                                 torch.arange(6) % 3, rate=2.0, steps=(1, 2))
    >>> len(fig.axes)
    2
    """
    models, x, y = _checked(models, x, y)
    rate = as_positive(rate, name="rate")
    steps = [positive_int(s, "steps") for s in steps]
    if not steps:
        raise InvalidArgumentError("steps: expected at least one step count, received none")
    n_traj = min(positive_int(n_trajectories, "n_trajectories"), y.shape[0])
    fig, grid = new_figure(ncols=1 + len(models), size=(4.6 * (1 + len(models)), 3.8))
    axes = grid[0]
    for k, (name, model) in enumerate(models.items()):
        # the violation rates are not drawn: one sampled state per input is enough
        ev = evaluate_classifier(model, x, y, steps=steps, rate=rate, n_states=1)
        label = _LABELS.get(str(name).lower(), str(name))
        nfe = [4 * s for s in steps]
        acc = [100 * ev["accuracy_rk4"][str(s)] for s in steps]
        axes[0].plot(nfe, acc, marker="os^vD<>"[k % 7], color=f"C{k}", label=f"{label}, RK4")
        axes[0].plot(
            [ev["nfe_dopri5"]],
            [100 * ev["accuracy_dopri5"]],
            marker="*",
            ms=12,
            ls="none",
            color=f"C{k}",
            label=f"{label}, dopri5",
        )
        times = torch.linspace(0.0, model.horizon, 41)
        r = to_numpy(_ratios(model, x[:n_traj], y[:n_traj], times).clamp_min(1e-12))
        t = to_numpy(times)
        ax = axes[1 + k]
        for row in r:
            ax.semilogy(t, row, color=f"C{k}", alpha=0.3, lw=0.8)
        ax.semilogy(t, to_numpy(torch.exp(-rate * times)), "k--", lw=2, label=f"e^(-{rate:g} t)")
        ax.set_xlabel("t")
        ax.set_ylabel("V_y(eta(t)) / V_y(eta(0))")
        ax.set_title(
            f"{label}: V decays at rate {rate:g} for {100 * ev['decay_fraction']:.1f} % "
            "of test inputs",
            fontsize=9,
        )
        ax.legend(loc="lower left", fontsize=8)
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("function evaluations per solve")
    axes[0].set_ylabel("test accuracy [%]")
    axes[0].set_title("Accuracy against solver effort", fontsize=9)
    axes[0].grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    return finish_figure(fig, path)
