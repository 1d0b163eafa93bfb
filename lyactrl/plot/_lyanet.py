"""The LyaNet toy picture: logit flows of two tiny classifiers on two moons, side by side.

:func:`lyanet_toy_figure` is re-exported by :mod:`lyactrl.plot`; the models and their training
live in :mod:`lyactrl.train.lyanet` (:func:`~lyactrl.train.lyanet.train_toy`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidValueError
from .._tensors import as_positive, positive_int, to_numpy
from ..systems import simulate
from ..train.lyanet import SCALE, TOY_POTENTIALS, WINDOW, ToyResult, grid_starts, train_toy
from ._base import finish_figure, new_figure

__all__ = ["lyanet_toy_figure", "draw_toy"]

_CLASS_COLORS = ("#1f77b4", "#ff7f0e")


def _representatives(toy: ToyResult) -> list[int]:
    """One test input per class: its medoid (on the moon, unlike the class mean)."""
    out = []
    for c in (0, 1):
        idx = (toy.y_test == c).nonzero().flatten()
        pts = toy.x_test[idx]
        out.append(int(idx[torch.cdist(pts, pts).sum(1).argmin()]))
    return out


_TITLES = {
    "node": "Neural ODE (trained through the solver)",
    "lyanet": "LyaNet (sampled Lyapunov loss)",
}


def _draw_panel(ax: Any, toy: ToyResult, name: str, idx: int, starts: torch.Tensor) -> None:
    """One panel: the flow of model ``name`` for test input ``idx`` in the logit plane."""
    g = torch.linspace(-WINDOW, WINDOW, 41)
    E1, E2 = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([E1.reshape(-1), E2.reshape(-1)], dim=1)
    t = torch.linspace(0.0, toy.horizon, 41)
    label = int(toy.y_test[idx])
    model = toy.models[name]
    with torch.no_grad():
        system = model.system(model.encoder(toy.x_test[idx : idx + 1])[0])
        f = to_numpy(system.vector_field(0.0, grid))
        trajs = to_numpy(simulate(system, starts, t, method="rk4").x)
        main = to_numpy(simulate(system, torch.zeros(1, 2), t, method="rk4").x[0])
    a, b = to_numpy(E1), to_numpy(E2)
    wins = (b > a) if label == 1 else (a > b)
    color = _CLASS_COLORS[label]
    ax.contourf(a, b, wins.astype(float), levels=[0.5, 1.5], colors=[color], alpha=0.18)
    ax.plot([-WINDOW, WINDOW], [-WINDOW, WINDOW], color="0.3", lw=0.8, ls=":")
    U, W = f[:, 0].reshape(a.shape), f[:, 1].reshape(a.shape)
    ax.streamplot(a, b, U, W, color="0.6", linewidth=0.6, density=0.9, arrowsize=0.7)
    ends_ok = trajs[:, -1, label] > trajs[:, -1, 1 - label]
    for k, tr in enumerate(trajs):
        ok_color = "#2ca02c" if ends_ok[k] else "#d62728"
        ax.plot(tr[:, 0], tr[:, 1], lw=1.0, color=ok_color, alpha=0.85)
    ax.plot(trajs[:, 0, 0], trajs[:, 0, 1], "o", ms=2.5, color="0.2")
    ax.plot(main[:, 0], main[:, 1], color="k", lw=2.2)
    ax.plot([0.0], [0.0], "k*", ms=10)
    if toy.potential == "squared_error" and name == "lyanet":
        vx, vy = (SCALE, 0.0) if label == 0 else (0.0, SCALE)
        ax.plot([vx], [vy], "D", ms=8, mfc=color, mec="k")
    ax.set_xlim(-WINDOW, WINDOW)
    ax.set_ylim(-WINDOW, WINDOW)
    ax.set_aspect("equal")
    ax.set_xlabel(r"logit $\eta_1$ (class 0)")
    ax.set_ylabel(r"logit $\eta_2$ (class 1)")
    ax.set_title(
        f"{_TITLES[name]}\ninput of class {label}: {int(ends_ok.sum())}/{len(ends_ok)} "
        f"starts end correct at T={toy.horizon:g}",
        fontsize=9,
    )


def draw_toy(fig: Any, axes: Any, toy: ToyResult, *, n_initial: int) -> None:
    """Fill a 2 x 2 grid: rows are test inputs (one per class), columns the two models."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    starts = grid_starts(n_initial)
    for row, idx in enumerate(_representatives(toy)):
        for col, name in enumerate(("node", "lyanet")):
            _draw_panel(axes[row, col], toy, name, idx, starts)
    handles = [
        Patch(fc=_CLASS_COLORS[0], alpha=0.3, label="class 0 wins"),
        Patch(fc=_CLASS_COLORS[1], alpha=0.3, label="class 1 wins"),
        Line2D([], [], color="#2ca02c", label="ends in the correct class"),
        Line2D([], [], color="#d62728", label="ends in the wrong class"),
        Line2D([], [], color="k", lw=2.2, marker="*", ms=8, label=r"from $\eta(0)=0$"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=8)
    acc = ", ".join(
        f"{'LyaNet' if n == 'lyanet' else 'Neural ODE'}: test acc {100 * toy.accuracy[n]:.0f}%, "
        f"{100 * toy.converged[n]:.0f}% of starts correct"
        for n in ("node", "lyanet")
    )
    fig.suptitle(f"Logit flows on two moons — {acc}", fontsize=10)


@checked_kwargs
def lyanet_toy_figure(
    *,
    seed: int = 0,
    steps: int = 120,
    rate: float = 2.0,
    horizon: float = 1.0,
    potential: str = "cross_entropy",
    n_initial: int = 36,
    path: str | Path | None = None,
) -> Any:
    """LyaNet's picture: logit flows of a Neural ODE and of LyaNet on a two-class toy problem.

    Two tiny models with the same architecture (an encoder of the 2-D input gives a context; a
    flow ``eta' = f(eta, context)`` on the 2-D logit state ``eta`` classifies by
    ``argmax eta(T)``) are trained here on scikit-learn's two moons, in a few seconds on a CPU:
    the standard Neural ODE by cross-entropy of ``eta(T)`` through an RK4 solve, LyaNet by the
    sampled Lyapunov loss (hinge on ``grad V_y . f + rate V_y`` with ``V_y`` the cross-entropy,
    no solve). For one test input of each class the figure shows the flow in the logit plane,
    the half-plane where the correct class wins (shaded) and trajectories from a grid of
    initial logits: LyaNet's flow carries every start into the correct half-plane, the Neural
    ODE's is only trained along the trajectory from ``eta(0) = 0``.

    Parameters
    ----------
    seed : int
        Seed of the data and of both models.
    steps : int
        Adam steps per model.
    rate : float
        The exponential rate ``kappa`` of LyaNet's loss.
    horizon : float
        Integration time ``T`` of the classifier.
    potential : {"cross_entropy", "squared_error"}
        LyaNet's potential ``V_y``: the cross-entropy of the logits, or the squared error to
        the class vertex ``2.5 * onehot(y)`` (whose flow then converges to that vertex).
    n_initial : int
        Initial logit states per panel (a square grid).
    path : str or pathlib.Path, optional
        Also write the figure as PNG and SVG there (no suffix).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its panel titles state each model's test accuracy and the share of
        initial states that end in the correct class.

    Notes
    -----
    Training runs with ``torch.set_num_threads(1)`` (restored afterwards): for models this
    small, more threads only add synchronisation cost.

    Examples
    --------
    >>> from lyactrl.plot import lyanet_toy_figure
    >>> fig = lyanet_toy_figure(path="lyanet_toy")  # doctest: +SKIP
    """
    if potential not in TOY_POTENTIALS:
        raise InvalidValueError(
            f"potential: expected one of {TOY_POTENTIALS}, received {potential!r}"
        )
    steps = positive_int(steps, "steps")
    n_initial = positive_int(n_initial, "n_initial")
    rate = as_positive(rate, name="rate")
    horizon = as_positive(horizon, name="horizon")
    # The models are tiny: one thread is fastest, and many times faster on a loaded machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        toy = train_toy(
            seed=seed, steps=steps, rate=rate, horizon=horizon, potential_name=potential
        )
        fig, axes = new_figure(ncols=2, nrows=2, size=(10.0, 9.0))
        draw_toy(fig, axes, toy, n_initial=n_initial)
    finally:
        torch.set_num_threads(threads)
    return finish_figure(fig, path)
