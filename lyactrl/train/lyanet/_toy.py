"""The LyaNet toy problem: two tiny logit-flow classifiers trained on two moons.

Both models share one architecture (an encoder of the 2-D input gives a context; a flow
``eta' = f(eta, context)`` on the 2-D logit state ``eta`` classifies by ``argmax eta(T)``).
The Neural ODE is trained through an RK4 solve (:func:`lyactrl.simulate`), LyaNet with the
hinge on the :class:`lyactrl.ExponentialStability` residual of its potential at states sampled
in the logit window (no solve). :func:`lyactrl.plot.lyanet_toy_figure` draws the result.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._api import checked_kwargs
from ..._results import ResultMixin, Status
from ...conditions import ExponentialStability
from ...lyapunov import AbstractCandidate, CrossEntropy, SquaredError
from ...regions import Box
from ...systems import NeuralSystem, simulate

__all__ = [
    "ToyModel",
    "ToyResult",
    "train_toy",
    "toy_potential",
    "grid_starts",
    "WINDOW",
    "SCALE",
    "TOY_POTENTIALS",
]

#: Half-width of the plotted (and, for LyaNet, sampled) logit window.
WINDOW = 4.0
#: Scale of the squared-error targets ``SCALE * onehot(y)`` (the class vertices).
SCALE = 2.5
#: Potentials accepted by :func:`train_toy`.
TOY_POTENTIALS = ("squared_error", "cross_entropy")


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


class ToyModel(nn.Module):
    """A two-class logit-flow classifier of 2-D inputs: ``eta' = f(eta, encoder(x))``.

    Built and trained by :func:`train_toy`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh())
        self.flow = _Flow()

    def system(self, context: torch.Tensor) -> NeuralSystem:
        """The logit flow with a bound context, as a :class:`~lyactrl.NeuralSystem`."""
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


@dataclasses.dataclass(frozen=True)
class ToyResult(ResultMixin):
    """The two trained models (``"node"`` and ``"lyanet"``), the test data, figures of merit.

    ``accuracy`` is each model's test accuracy from ``eta(0) = 0``; ``converged`` the share of
    (test input, grid start) pairs whose flow ends in the correct class at ``horizon``. Both are
    measured on the test set (``status`` ``completed``: training ran its steps).
    """

    status: Status
    method: str
    seconds: float
    message: str
    models: dict[str, ToyModel]
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


def grid_starts(n: int) -> torch.Tensor:
    """About ``n`` initial logits on a square grid covering 90% of the window.

    Parameters
    ----------
    n : int
        The number of starts wanted (rounded to a square, at least 4).

    Returns
    -------
    torch.Tensor, shape (k * k, 2)

    Examples
    --------
    >>> from lyactrl.train.lyanet import grid_starts
    >>> grid_starts(36).shape
    torch.Size([36, 2])
    """
    k = max(2, int(round(n**0.5)))
    g = torch.linspace(-0.9 * WINDOW, 0.9 * WINDOW, k)
    a, b = torch.meshgrid(g, g, indexing="xy")
    return torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)


def _converged(model: ToyModel, x: torch.Tensor, y: torch.Tensor, horizon: float) -> float:
    """Share of (test input, grid start) pairs whose flow ends in the correct class at ``T``."""
    starts = grid_starts(25)
    k = starts.shape[0]
    with torch.no_grad():
        xx = x.repeat_interleave(k, dim=0)
        end = model.logits(xx, horizon, eta0=starts.repeat(x.shape[0], 1))
    return float((end.argmax(-1) == y.repeat_interleave(k)).float().mean())


def toy_potential(name: str, y: torch.Tensor) -> AbstractCandidate:
    """LyaNet's potential ``V_y``: squared error to the class vertex, or cross-entropy.

    Parameters
    ----------
    name : {"squared_error", "cross_entropy"}
        The potential (see :data:`TOY_POTENTIALS`); the squared error targets the vertex
        ``SCALE * onehot(y)``.
    y : torch.Tensor, shape (batch,)
        Labels in ``{0, 1}``, one per state.

    Returns
    -------
    AbstractCandidate

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train.lyanet import toy_potential
    >>> V = toy_potential("squared_error", torch.tensor([0, 1]))
    >>> V(torch.tensor([[2.5, 0.0], [0.0, 2.5]])).tolist()
    [0.0, 0.0]
    """
    if name == "cross_entropy":
        return CrossEntropy(y, n_classes=2)
    return SquaredError(SCALE * F.one_hot(y, 2).to(torch.float32))


def _loss(
    name: str, model: ToyModel, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, **kw: Any
) -> torch.Tensor:
    """One batch loss: cross-entropy through RK4 (``node``) or LyaNet's sampled hinge."""
    if name == "node":
        return F.cross_entropy(model.logits(x, kw["horizon"], steps=5), y)
    n = 4
    window = Box([-WINDOW, -WINDOW], [WINDOW, WINDOW])
    eta = window.sample(x.shape[0] * n, generator=gen, dtype=torch.float32)
    eta[::n] = 0.0  # eta(0) is always among the samples
    ctx = model.encoder(x).repeat_interleave(n, dim=0)
    V = toy_potential(kw["potential_name"], y.repeat_interleave(n))
    cond = ExponentialStability(model.system(ctx), V, kw["rate"])
    return torch.relu(cond.evaluate(eta)).mean()


@checked_kwargs
def train_toy(
    *, seed: int, steps: int, rate: float, horizon: float, potential_name: str
) -> ToyResult:
    """Train the Neural ODE and the LyaNet model on two moons (a few seconds on a CPU).

    Parameters
    ----------
    seed : int
        Seed of the data, the initial weights and the sampled states.
    steps : int
        Adam steps per model.
    rate : float
        The exponential rate of LyaNet's condition.
    horizon : float
        Integration time ``T``.
    potential_name : {"squared_error", "cross_entropy"}
        LyaNet's potential (:func:`toy_potential`).

    Returns
    -------
    ToyResult

    Examples
    --------
    >>> from lyactrl.train.lyanet import train_toy
    >>> toy = train_toy(seed=0, steps=2, rate=2.0, horizon=1.0, potential_name="cross_entropy")
    >>> sorted(toy.models), str(toy.status)
    (['lyanet', 'node'], 'completed')
    """
    start = time.perf_counter()
    x, y, xt, yt = _moons(seed)
    kw = {"rate": rate, "horizon": horizon, "potential_name": potential_name}
    models: dict[str, ToyModel] = {}
    with torch.random.fork_rng(devices=[]):
        for name in ("node", "lyanet"):
            torch.manual_seed(seed)
            model = ToyModel()
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
            gen = torch.Generator().manual_seed(seed)
            for _ in range(steps):
                loss = _loss(name, model, x, y, gen, **kw)
                opt.zero_grad()
                loss.backward()
                opt.step()
            models[name] = model.eval()
    accuracy, converged = {}, {}
    for name, model in models.items():
        with torch.no_grad():
            accuracy[name] = float((model.logits(xt, horizon).argmax(-1) == yt).float().mean())
        converged[name] = _converged(model, xt[:40], yt[:40], horizon)
    return ToyResult(
        status=Status.COMPLETED,
        method="train_toy",
        seconds=time.perf_counter() - start,
        message="",
        models=models,
        x_test=xt,
        y_test=yt,
        horizon=horizon,
        accuracy=accuracy,
        converged=converged,
        potential=potential_name,
    )
