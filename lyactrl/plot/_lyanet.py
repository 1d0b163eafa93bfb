"""The LyaNet toy picture: two tiny logit-flow classifiers trained on two moons, side by side.

:func:`lyanet_toy_figure` is re-exported by :mod:`lyactrl.plot`. Both models share one architecture;
the Neural ODE is trained through an RK4 solve (:func:`lyactrl.simulate`), LyaNet with the hinge
on the :class:`lyactrl.ExponentialStability` residual of the cross-entropy potential at states
sampled in the logit window (no solve).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._api import checked_kwargs
from ._errors import InvalidValueError
from ._plot_base import _figure, _finish
from ._tensors import as_positive, positive_int, to_numpy
from .conditions import ExponentialStability
from .lyapunov import AbstractCandidate, CrossEntropy, SquaredError
from .regions import Box
from .systems import NeuralSystem, simulate

__all__ = [
    "lyanet_toy_figure",
    "ToyResult",
    "train_toy",
    "draw_toy",
    "potential",
    "WINDOW",
    "SCALE",
    "POTENTIALS",
]

#: Half-width of the plotted (and, for LyaNet, sampled) logit window.
WINDOW = 4.0
#: Scale of the squared-error targets ``SCALE * onehot(y)`` (the class vertices).
SCALE = 2.5
#: Potentials accepted by :func:`train_toy`.
POTENTIALS = ("squared_error", "cross_entropy")
_CLASS_COLORS = ("#1f77b4", "#ff7f0e")


class _Flow(nn.Module):
    """``f(eta, c)``: a small MLP on the logits and the context."""

    def __init__(self, context_dim: int = 8, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 + context_dim, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 2),
        )

    def forward(self, eta: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([eta / WINDOW, context], dim=-1)) * WINDOW


class _ToyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh())
        self.flow = _Flow()

    def system(self, context: torch.Tensor) -> NeuralSystem:
        return NeuralSystem(self.flow, 2, inputs="x,context", context=context)

    def logits(
        self, x: torch.Tensor, horizon: float, eta0: torch.Tensor | None = None, steps: int = 10
    ) -> torch.Tensor:
        """``eta(T)`` by ``steps`` RK4 steps from ``eta0`` (zeros by default)."""
        ctx = self.encoder(x)
        start = torch.zeros(x.shape[0], 2) if eta0 is None else eta0
        t = torch.tensor([0.0, horizon])
        traj = simulate(self.system(ctx), start, t, method="rk4", step_size=horizon / steps)
        return traj.x[:, -1]


@dataclasses.dataclass
class ToyResult:
    """The two trained models, the test data and their figures of merit."""

    models: dict[str, _ToyModel]
    x_test: torch.Tensor
    y_test: torch.Tensor
    horizon: float
    accuracy: dict[str, float]
    converged: dict[str, float]
    potential: str


def _moons(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=400, noise=0.12, random_state=seed)
    x = (x - x.mean(0)) / x.std(0)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
    return xt[:300], yt[:300], xt[300:], yt[300:]


def _grid_starts(n: int) -> torch.Tensor:
    k = max(2, int(round(n**0.5)))
    g = torch.linspace(-0.9 * WINDOW, 0.9 * WINDOW, k)
    a, b = torch.meshgrid(g, g, indexing="xy")
    return torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)


def _converged(model: _ToyModel, x: torch.Tensor, y: torch.Tensor, horizon: float) -> float:
    """Share of (test input, grid start) pairs whose flow ends in the correct class at ``T``."""
    starts = _grid_starts(25)
    k = starts.shape[0]
    with torch.no_grad():
        xx = x.repeat_interleave(k, dim=0)
        end = model.logits(xx, horizon, eta0=starts.repeat(x.shape[0], 1))
    return float((end.argmax(-1) == y.repeat_interleave(k)).float().mean())


def potential(name: str, y: torch.Tensor) -> AbstractCandidate:
    """LyaNet's potential ``V_y``: squared error to the class vertex, or cross-entropy."""
    if name == "cross_entropy":
        return CrossEntropy(y, n_classes=2)
    return SquaredError(SCALE * F.one_hot(y, 2).to(torch.float32))


def train_toy(
    *, seed: int, steps: int, rate: float, horizon: float, potential_name: str
) -> ToyResult:
    """Train the Neural ODE and the LyaNet model (a few seconds on a CPU)."""
    x, y, xt, yt = _moons(seed)
    window = Box([-WINDOW, -WINDOW], [WINDOW, WINDOW])
    models: dict[str, _ToyModel] = {}
    with torch.random.fork_rng(devices=[]):
        for name in ("node", "lyanet"):
            torch.manual_seed(seed)
            model = _ToyModel()
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
            gen = torch.Generator().manual_seed(seed)
            for _ in range(steps):
                if name == "node":
                    loss = F.cross_entropy(model.logits(x, horizon, steps=5), y)
                else:
                    n = 4
                    eta = window.sample(x.shape[0] * n, generator=gen, dtype=torch.float32)
                    eta[::n] = 0.0  # eta(0) is always among the samples
                    ctx = model.encoder(x).repeat_interleave(n, dim=0)
                    V = potential(potential_name, y.repeat_interleave(n))
                    cond = ExponentialStability(model.system(ctx), V, rate)
                    loss = torch.relu(cond.evaluate(eta)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            models[name] = model.eval()
    accuracy, converged = {}, {}
    for name, model in models.items():
        with torch.no_grad():
            accuracy[name] = float((model.logits(xt, horizon).argmax(-1) == yt).float().mean())
        converged[name] = _converged(model, xt[:40], yt[:40], horizon)
    return ToyResult(models, xt, yt, horizon, accuracy, converged, potential_name)


def _representatives(toy: ToyResult) -> list[int]:
    """One test input per class: its medoid (on the moon, unlike the class mean)."""
    out = []
    for c in (0, 1):
        idx = (toy.y_test == c).nonzero().flatten()
        pts = toy.x_test[idx]
        out.append(int(idx[torch.cdist(pts, pts).sum(1).argmin()]))
    return out


def draw_toy(fig: Any, axes: Any, toy: ToyResult, *, n_initial: int) -> None:
    """Fill a 2 x 2 grid: rows are test inputs (one per class), columns the two models."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    titles = {
        "node": "Neural ODE (trained through the solver)",
        "lyanet": "LyaNet (sampled Lyapunov loss)",
    }
    g = torch.linspace(-WINDOW, WINDOW, 41)
    E1, E2 = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([E1.reshape(-1), E2.reshape(-1)], dim=1)
    starts = _grid_starts(n_initial)
    t = torch.linspace(0.0, toy.horizon, 41)
    for row, idx in enumerate(_representatives(toy)):
        label = int(toy.y_test[idx])
        for col, name in enumerate(("node", "lyanet")):
            ax = axes[row, col]
            model = toy.models[name]
            with torch.no_grad():
                system = model.system(model.encoder(toy.x_test[idx : idx + 1])[0])
                f = to_numpy(system.vector_field(0.0, grid))
                trajs = to_numpy(simulate(system, starts, t, method="rk4").x)
                main = to_numpy(simulate(system, torch.zeros(1, 2), t, method="rk4").x[0])
            a, b = to_numpy(E1), to_numpy(E2)
            wins = (b > a) if label == 1 else (a > b)
            ax.contourf(
                a,
                b,
                wins.astype(float),
                levels=[0.5, 1.5],
                colors=[_CLASS_COLORS[label]],
                alpha=0.18,
            )
            ax.plot([-WINDOW, WINDOW], [-WINDOW, WINDOW], color="0.3", lw=0.8, ls=":")
            ax.streamplot(
                a,
                b,
                f[:, 0].reshape(a.shape),
                f[:, 1].reshape(a.shape),
                color="0.6",
                linewidth=0.6,
                density=0.9,
                arrowsize=0.7,
            )
            ends_ok = trajs[:, -1, label] > trajs[:, -1, 1 - label]
            for k, tr in enumerate(trajs):
                ax.plot(
                    tr[:, 0],
                    tr[:, 1],
                    lw=1.0,
                    color="#2ca02c" if ends_ok[k] else "#d62728",
                    alpha=0.85,
                )
            ax.plot(trajs[:, 0, 0], trajs[:, 0, 1], "o", ms=2.5, color="0.2")
            ax.plot(main[:, 0], main[:, 1], color="k", lw=2.2)
            ax.plot([0.0], [0.0], "k*", ms=10)
            if toy.potential == "squared_error" and name == "lyanet":
                vx, vy = (SCALE, 0.0) if label == 0 else (0.0, SCALE)
                ax.plot([vx], [vy], "D", ms=8, mfc=_CLASS_COLORS[label], mec="k")
            ax.set_xlim(-WINDOW, WINDOW)
            ax.set_ylim(-WINDOW, WINDOW)
            ax.set_aspect("equal")
            ax.set_xlabel(r"logit $\eta_1$ (class 0)")
            ax.set_ylabel(r"logit $\eta_2$ (class 1)")
            ax.set_title(
                f"{titles[name]}\ninput of class {label}: {int(ends_ok.sum())}/{len(ends_ok)} "
                f"starts end correct at T={toy.horizon:g}",
                fontsize=9,
            )
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
    if potential not in POTENTIALS:
        raise InvalidValueError(f"potential: expected one of {POTENTIALS}, received {potential!r}")
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
        fig, axes = _figure(ncols=2, nrows=2, size=(10.0, 9.0))
        draw_toy(fig, axes, toy, n_initial=n_initial)
    finally:
        torch.set_num_threads(threads)
    return _finish(fig, path)
