"""Learn damped-pendulum dynamics from noisy trajectories, three ways, and compare.

1. ``unconstrained``: an MLP fitted to finite-difference derivatives (least squares);
2. ``sampled constraint``: the same fit plus the hinge on ``grad V . f + rate V`` at states
   sampled in the box (lyactrl's TrainingAdapter);
3. ``projection``: the MLP wrapped in StableDynamics (Kolter-Manek), stable by construction.

V is a quadratic from the data alone: a least-squares linear fit ``A`` of the same data, and
``A^T P + P A = -I``. Reported per method: the fit error, long-horizon rollout error against the
true pendulum (10x the training horizon), the final distance to the equilibrium, and the
sampled violation rate of the exponential-decrease condition (lyactrl.check_sampled; a
statistical statement, not a proof).

Run: ``python examples/05_learn_stable_dynamics.py`` (``--fast`` for CI).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import lyactrl
from lyactrl.train import BoxSampler, StableDynamics, TrainingAdapter

DAMPING, RATE, HALF, DATA, NOISE = 0.5, 0.05, 1.5, 0.8, 0.03
BOX = lyactrl.Box([-HALF, -HALF], [HALF, HALF])


class Pendulum(nn.Module):
    """theta'' = -sin(theta) - DAMPING theta'."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 1], -torch.sin(x[:, 0]) - DAMPING * x[:, 1]], dim=1)


def rollout(f: nn.Module, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return lyactrl.simulate(lyactrl.NeuralSystem(f, 2), x0, t, method="rk4").x


def make_data(n_traj: int, noise: float, g: torch.Generator):
    """Noisy states on trajectories from [-DATA, DATA]^2 and central-difference derivatives."""
    t = torch.linspace(0.0, 3.0, 31, dtype=torch.float64)
    x0 = lyactrl.Box([-DATA, -DATA], [DATA, DATA]).sample(n_traj, generator=g)
    xs = rollout(Pendulum(), x0, t)
    xs = xs + noise * torch.randn(xs.shape, generator=g, dtype=xs.dtype)
    dt = float(t[1] - t[0])
    dx = (xs[:, 2:] - xs[:, :-2]) / (2 * dt)
    return xs[:, 1:-1].reshape(-1, 2), dx.reshape(-1, 2)


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2)
    ).double()


def train(method: str, V, X, Y, steps: int, seed: int) -> tuple[nn.Module, float]:
    net = mlp(seed)
    f = StableDynamics(net, V, rate=RATE) if method == "projection" else net

    def mse(batch):
        return ((f(batch[0]) - batch[1]) ** 2).mean()

    if method == "sampled constraint":
        box = BoxSampler(BOX.lo, BOX.hi)
        opts = dict(n_samples=256, task_loss=mse, condition_weight=10.0, margin=1e-3)
        adapter = TrainingAdapter.for_dynamics(f, 2, V, rate=RATE, sampler=box, **opts)
    else:
        adapter = TrainingAdapter(f, task_loss=mse)
    t0 = time.perf_counter()
    opt = torch.optim.Adam(f.parameters(), lr=3e-3)
    adapter.fit(opt, epochs=steps, train_data=[(X, Y)], seed=seed, quiet=True)
    return f, time.perf_counter() - t0


def run(*, fast: bool = False, seed: int = 0) -> list[dict[str, float | str]]:
    """Train the three models and measure them; one dict per method (plus the truth)."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(seed)
    X, Y = make_data(8 if fast else 16, NOISE, g)
    A = torch.linalg.lstsq(X, Y).solution.T  # data-driven linear model for V
    V = lyactrl.Quadratic.from_linearization(lyactrl.LinearSystem(A))
    x_test = BOX.sample(32, generator=g)  # beyond the data: [-DATA, DATA]^2
    t_long = torch.linspace(0.0, 30.0, 301, dtype=torch.float64)  # 10x the training horizon
    truth = rollout(Pendulum(), x_test, t_long)
    train("unconstrained", V, X, Y, 3, seed)  # warm-up, so the timings compare like with like
    rows: list[dict[str, float | str]] = []
    for method in ["true pendulum", "unconstrained", "sampled constraint", "projection"]:
        if method == "true pendulum":
            f, secs = Pendulum(), 0.0
        else:
            f, secs = train(method, V, X, Y, 150 if fast else 600, seed)
        with torch.no_grad():
            fit_mse = float(((f(X) - Y) ** 2).mean())
        traj = rollout(f, x_test, t_long)
        cond = lyactrl.ExponentialStability(lyactrl.NeuralSystem(f, 2), V, rate=RATE)
        gen = torch.Generator().manual_seed(seed + 1)
        check = lyactrl.check_sampled(cond, BOX, n_samples=20_000, generator=gen)
        rows.append(
            dict(
                method=method,
                fit_mse=fit_mse,
                rollout_rmse=float(((traj - truth) ** 2).mean().sqrt()),
                final_norm_max=float(traj[:, -1].norm(dim=1).max()),
                violation_rate=check.violation_rate,
                violation_bound=check.violation_probability_bound,
                train_seconds=secs,
            )
        )
    return rows


def table(rows: list[dict[str, float | str]]) -> str:
    head = (
        "| method | fit MSE | rollout RMSE (t <= 30) | max final norm (t = 30) | sampled "
        "violation rate (99 % bound) | train s |\n|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r['method']} | {r['fit_mse']:.4f} | {r['rollout_rmse']:.4f} | "
        f"{r['final_norm_max']:.2e} | {r['violation_rate']:.4f} (<= {r['violation_bound']:.4f}) | "
        f"{r['train_seconds']:.1f} |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="fewer trajectories and steps (CI)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(table(run(fast=args.fast, seed=args.seed)))


if __name__ == "__main__":
    main()
