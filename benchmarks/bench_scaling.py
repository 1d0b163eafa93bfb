"""Scaling of certification with the state dimension, for networks as training leaves them.

An ``n-64-64-n`` tanh network with biases on top of a stable linear part (``A x + MLP(x)``,
random weights scaled so that the linearisation stays stable), its equilibrium found and
proved by ``find_equilibrium`` (Newton + Krawczyk), a quadratic ``V`` from the linearisation
at that point, and 30 % of the local rate limit, certified on the box ``x_eq +- 0.3`` with the
equilibrium box as ``x_eq_box``, one process. ``--bounds off local all`` runs each row with
``lyactrl.bounds._torch.MLP_RELAXATION`` set to each: ``off``, interval jets alone; ``local``
(the certifier's default), the MLP's linear relaxation (values) and centred-form Jacobian in
the Jacobian tests of the local certificate and the segment test; ``all``, in every bound.
The local certificate (Jacobian test on the box, the pieces of its star split, their hulls)
is the same code in all three.

With ``--workers 1 2`` a second table compares one process with the sharded branch and bound
(``certify(workers=2)``, local processes) on the same rows: status, boxes, seconds (median of
``--repeats`` runs) and boxes per second.

Run: ``python benchmarks/bench_scaling.py [--dims 2 4 6 8 10 12] [--time-limit 60]
[--bounds off local all] [--workers 1 2 --repeats 3] [--radius 0.3] [--fraction 0.3]``;
``--pendulum`` runs the trained-pendulum case instead (:func:`trained_pendulum`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from _common import machine

import lyactrl
from lyactrl.bounds import _torch as torch_bounds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reference_systems import ResidualMLPField  # noqa: E402


def condition(
    n: int, radius: float = 0.3, fraction: float = 0.3
) -> tuple[str, lyactrl.ExponentialStability | None, lyactrl.Box | None]:
    """The row's condition and box (``None`` when the equilibrium is not proved)."""
    system = lyactrl.NeuralSystem(ResidualMLPField(n, seed=n), n)
    t0 = time.perf_counter()
    eq = lyactrl.find_equilibrium(system, torch.zeros(n, dtype=torch.float64))
    t_eq = time.perf_counter() - t0
    if eq.status != "certified":
        return f"equilibrium {eq.status}", None, None
    system = lyactrl.NeuralSystem(system.module, n, x_eq=eq.x)
    V = lyactrl.Quadratic.from_linearization(system)
    rate = fraction * lyactrl.verify.local_rate_limit(system, V)
    cond = lyactrl.ExponentialStability(system, V, rate, x_eq_box=eq)
    width = float((eq.hi - eq.lo).max())
    box = lyactrl.Box(eq.x - radius, eq.x + radius)
    return f"certified in {t_eq:.2f} s (box {width:.0e})", cond, box


def row(n: int, time_limit: float, bounds: str, shape: tuple[float, float]) -> str:
    eq, cond, box = condition(n, *shape)
    if cond is None:
        return f"| {n} | {eq} | | {bounds} | | | |"
    torch_bounds.MLP_RELAXATION = bounds
    try:
        res = lyactrl.certify(cond, box, time_limit=time_limit, max_boxes=10_000_000, decay=False)
    finally:
        torch_bounds.MLP_RELAXATION = "local"
    return (
        f"| {n} | {eq} | {cond.rate:.4f} | {bounds} | {res.status} | "
        f"{res.boxes_processed} | {res.seconds:.2f} |"
    )


def worker_rows(
    n: int, workers: list[int], time_limit: float, repeats: int, shape: tuple[float, float]
) -> list[str]:
    """One process against ``certify(workers=w)``: median seconds and boxes over repeats."""
    _, cond, box = condition(n, *shape)
    if cond is None:
        return [f"| {n} | equilibrium not proved | | | | |"]
    out = []
    for w in workers:
        runs = [
            lyactrl.certify(
                cond, box, time_limit=time_limit, max_boxes=10_000_000, decay=False, workers=w
            )
            for _ in range(repeats)
        ]
        statuses = sorted({r.status for r in runs})
        sec = statistics.median(r.seconds for r in runs)
        boxes = statistics.median(r.boxes_processed for r in runs)
        out.append(
            f"| {n} | {w} | {'/'.join(statuses)} | {boxes:.0f} | {sec:.2f} | "
            f"{boxes / sec:.0f} | {', '.join(f'{r.seconds:.2f}' for r in runs)} |"
        )
    return out


def trained_pendulum(time_limit: float, steps: int = 3000) -> str:
    """The issue's first case: a 2-64-64-2 tanh network with biases regressed on the damped
    pendulum ``x1' = x2, x2' = -sin(x1) - 0.5 x2`` over ``[-1.5, 1.5]^2`` (Adam, ``steps``
    steps, seed 0), its equilibrium found and proved, a quadratic ``V`` from the linearisation
    there, half the local rate, certified on ``x_eq +- 0.5``; 400,000 random states of that box
    checked by direct evaluation beside it."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 2),
    ).double()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    t0 = time.perf_counter()
    for _ in range(steps):
        x = 3 * torch.rand(512, 2, dtype=torch.float64) - 1.5
        target = torch.stack([x[:, 1], -torch.sin(x[:, 0]) - 0.5 * x[:, 1]], 1)
        loss = (net(x) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    t_train = time.perf_counter() - t0
    net.eval()
    system = lyactrl.NeuralSystem(net, 2)
    eq = lyactrl.find_equilibrium(system, torch.zeros(2, dtype=torch.float64))
    if eq.status != "certified":
        return f"| trained pendulum | equilibrium {eq.status}: {eq.message} |"
    with torch.no_grad():
        f_eq = float(net(eq.x.unsqueeze(0)).abs().max())
    system = lyactrl.NeuralSystem(net, 2, x_eq=eq.x)
    V = lyactrl.Quadratic.from_linearization(system)
    cond = lyactrl.ExponentialStability(
        system, V, 0.5 * lyactrl.verify.local_rate_limit(system, V), x_eq_box=eq
    )
    box = lyactrl.Box(eq.x - 0.5, eq.x + 0.5)
    x = eq.x + 0.5 * (2 * torch.rand(400_000, 2, dtype=torch.float64) - 1)
    with torch.no_grad():
        worst = float(cond.residual(x).max())
    res = lyactrl.certify(cond, box, time_limit=time_limit, decay=False)
    return (
        f"| trained pendulum (loss {loss.item():.1e}, {t_train:.1f} s) | x_eq "
        f"({float(eq.x[0]):.2e}, {float(eq.x[1]):.2e}), |f(x_eq)| {f_eq:.1e}, box "
        f"{float((eq.hi - eq.lo).max()):.0e} | {cond.rate:.4f} | max residual on 400k samples "
        f"{worst:.2e} | {res.status} | {res.boxes_processed} | {res.seconds:.2f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", type=int, nargs="*", default=[2, 4, 6, 8, 10, 12])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, nargs="*", default=[])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--bounds", nargs="*", choices=list(torch_bounds.MLP_RELAXATIONS), default=["off", "local"]
    )
    ap.add_argument("--radius", type=float, default=0.3, help="half-width of the box")
    ap.add_argument("--fraction", type=float, default=0.3, help="share of the local rate")
    ap.add_argument("--pendulum", action="store_true", help="the trained-pendulum row only")
    args = ap.parse_args()
    shape = (args.radius, args.fraction)
    torch.set_num_threads(1)
    print(f"Machine: {machine()}\n")
    print(f"box x_eq +- {args.radius}, rate {args.fraction} x the local limit\n")
    if args.pendulum:
        print("| case | equilibrium | rate | sampled | certify | boxes | s |")
        print("|---|---|---|---|---|---|---|")
        print(trained_pendulum(args.time_limit))
        return
    if args.workers:
        print(f"load average before: {os.getloadavg()}\n")
        print("| n | workers | certify | boxes (median) | s (median) | boxes/s | s, each run |")
        print("|---|---|---|---|---|---|---|")
        for n in args.dims:
            for line in worker_rows(n, args.workers, args.time_limit, args.repeats, shape):
                print(line, flush=True)
        print(f"\nload average after: {os.getloadavg()}")
        return
    print("| n | equilibrium (find_equilibrium) | rate | bounds | certify | boxes | s |")
    print("|---|---|---|---|---|---|---|")
    for n in args.dims:
        for bounds in args.bounds:
            print(row(n, args.time_limit, bounds, shape), flush=True)


if __name__ == "__main__":
    main()
