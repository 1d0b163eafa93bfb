"""Scaling of certification with the state dimension, for networks as training leaves them.

An ``n-64-64-n`` tanh network with biases on top of a stable linear part (``A x + MLP(x)``,
random weights scaled so that the linearisation stays stable), its equilibrium found and
proved by ``find_equilibrium`` (Newton + Krawczyk), a quadratic ``V`` from the linearisation
at that point, and 30 % of the local rate limit, certified on the box ``x_eq +- 0.3`` with the
equilibrium box as ``x_eq_box``, one process. ``--bounds interval linear`` runs each row with
the interval jets alone and with the MLP values intersected with their linear relaxation
(``lyactrl.bounds._torch.RELAX_MLPS``, the certifier's default: values by the
linear relaxation, Jacobians by the centred form), alternating per row. The local certificate
(Jacobian test on the box, or on its 2^n orthant boxes) is the same in both.

With ``--workers 1 2`` a second table compares one process with the sharded branch and bound
(``certify(workers=2)``, local processes) on the same rows: status, boxes, seconds (median of
``--repeats`` runs) and boxes per second.

Run: ``python benchmarks/bench_scaling.py [--dims 2 4 6 8 10 12] [--time-limit 60]
[--bounds interval linear] [--workers 1 2 --repeats 3] [--radius 0.3] [--fraction 0.3]``.
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
    torch_bounds.RELAX_MLPS = bounds == "linear"
    try:
        res = lyactrl.certify(cond, box, time_limit=time_limit, max_boxes=10_000_000, decay=False)
    finally:
        torch_bounds.RELAX_MLPS = True
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", type=int, nargs="*", default=[2, 4, 6, 8, 10, 12])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, nargs="*", default=[])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--bounds", nargs="*", choices=["interval", "linear"], default=["interval", "linear"]
    )
    ap.add_argument("--radius", type=float, default=0.3, help="half-width of the box")
    ap.add_argument("--fraction", type=float, default=0.3, help="share of the local rate")
    args = ap.parse_args()
    shape = (args.radius, args.fraction)
    torch.set_num_threads(1)
    print(f"Machine: {machine()}\n")
    print(f"box x_eq +- {args.radius}, rate {args.fraction} x the local limit\n")
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
