"""Learn stable dynamics from noisy trajectories three ways: ``unconstrained`` (an MLP fitted
to finite-difference derivatives), ``sampled constraint`` (plus the hinge on
``grad V . f + rate V`` at states sampled in the box: TrainingAdapter) and ``projection``
(StableDynamics, stable by construction). V is a quadratic from the data alone (a least-squares
linear fit ``A``, ``A^T P + P A = -I``). Reported: fit error, rollout error against the truth
at 10x the training horizon, final distance to the equilibrium, and the sampled violation rate
of the condition (a statistical statement, not a proof). Tasks: ``pendulum`` (data cover most
of the box) and ``extrapolate`` (a linear oscillator seen only near the origin, where the truth
meets the condition on the whole box and an unconstrained fit does not).

Run: ``python examples/05_learn_stable_dynamics.py [--task extrapolate]`` (``--fast`` for CI).
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import torch
from torch import nn

import lyactrl
from lyactrl.train import BoxSampler, StableDynamics, TrainingAdapter

DAMPING = 0.5


class Task(NamedTuple):
    name: str
    linear: bool  # restoring force -theta (a linear oscillator) or -sin(theta)
    rate: float  # the condition's rate, on the box [-half, half]^2 (rollouts start there)
    half: float
    data: float  # initial states of the data in [-data, data]^2
    noise: float


TASKS = {
    "pendulum": Task("pendulum", linear=False, rate=0.05, half=1.5, data=0.8, noise=0.03),
    "extrapolate": Task("extrapolate", linear=True, rate=0.2, half=2.0, data=0.5, noise=0.05),
}


class Truth(nn.Module):
    """theta'' = -sin(theta) - DAMPING theta' (or -theta for the linear oscillator)."""

    def __init__(self, linear: bool) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pull = x[:, 0] if self.linear else torch.sin(x[:, 0])
        return torch.stack([x[:, 1], -pull - DAMPING * x[:, 1]], dim=1)


def rollout(f: nn.Module, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return lyactrl.simulate(lyactrl.NeuralSystem(f, 2), x0, t, method="rk4").x


def make_data(task: Task, n_traj: int, g: torch.Generator):
    """Noisy states on trajectories from [-data, data]^2 and central-difference derivatives."""
    t = torch.linspace(0.0, 3.0, 31, dtype=torch.float64)
    x0 = lyactrl.Box.symmetric([task.data] * 2).sample(n_traj, generator=g)
    xs = rollout(Truth(task.linear), x0, t)
    xs = xs + task.noise * torch.randn(xs.shape, generator=g, dtype=xs.dtype)
    dx = (xs[:, 2:] - xs[:, :-2]) / (2 * float(t[1] - t[0]))
    return xs[:, 1:-1].reshape(-1, 2), dx.reshape(-1, 2)


def train(task: Task, method: str, V, X, Y, steps: int, seed: int) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
    net.double()
    f = StableDynamics(net, V, rate=task.rate) if method == "projection" else net

    def mse(batch):
        return ((f(batch[0]) - batch[1]) ** 2).mean()

    if method == "sampled constraint":
        box = BoxSampler([-task.half] * 2, [task.half] * 2)
        opts = dict(n_samples=256, task_loss=mse, condition_weight=10.0, margin=1e-3)
        adapter = TrainingAdapter.for_dynamics(f, 2, V, rate=task.rate, sampler=box, **opts)
    else:
        adapter = TrainingAdapter(f, task_loss=mse)
    t0 = time.perf_counter()
    opt = torch.optim.Adam(f.parameters(), lr=3e-3)
    adapter.fit(opt, epochs=steps, train_data=[(X, Y)], seed=seed, quiet=True)
    return f, time.perf_counter() - t0


def run(*, fast: bool = False, seed: int = 0, task: str = "pendulum") -> list[dict]:
    """Train the three models and measure them; one dict per method (plus the truth)."""
    torch.set_num_threads(1)
    tk = TASKS[task]
    box = lyactrl.Box.symmetric([tk.half] * 2)
    g = torch.Generator().manual_seed(seed)
    X, Y = make_data(tk, 8 if fast else 16, g)
    A = torch.linalg.lstsq(X, Y).solution.T  # data-driven linear model for V
    V = lyactrl.Quadratic.from_linearization(lyactrl.LinearSystem(A))
    x_test = box.sample(32, generator=g)  # beyond the data: [-data, data]^2
    t_long = torch.linspace(0.0, 30.0, 301, dtype=torch.float64)  # 10x the training horizon
    truth = rollout(Truth(tk.linear), x_test, t_long)
    train(tk, "unconstrained", V, X, Y, 3, seed)  # warm-up: timings compare like with like
    rows: list[dict[str, float | str]] = []
    for method in ["true system", "unconstrained", "sampled constraint", "projection"]:
        if method == "true system":
            f, secs = Truth(tk.linear), 0.0
        else:
            f, secs = train(tk, method, V, X, Y, 150 if fast else 600, seed)
        with torch.no_grad():
            fit_mse = float(((f(X) - Y) ** 2).mean())
        traj = rollout(f, x_test, t_long)
        cond = lyactrl.ExponentialStability(lyactrl.NeuralSystem(f, 2), V, rate=tk.rate)
        gen = torch.Generator().manual_seed(seed + 1)
        check = lyactrl.check_sampled(cond, box, n_samples=20_000, generator=gen)
        rmse, final = float(((traj - truth) ** 2).mean().sqrt()), traj[:, -1].norm(dim=1)
        rows.append(
            dict(method=method, fit_mse=fit_mse, rollout_rmse=rmse, train_seconds=secs)
            | dict(final_norm_max=float(final.max()), violation_rate=check.violation_rate)
            | dict(violation_bound=check.violation_probability_bound)
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
    ap.add_argument("--task", default="pendulum", choices=list(TASKS))
    args = ap.parse_args()
    print(table(run(fast=args.fast, seed=args.seed, task=args.task)))


if __name__ == "__main__":
    main()
