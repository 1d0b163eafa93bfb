"""S2: learn and certify a region of attraction for the reversed Van der Pol oscillator.

``fit_lyapunov`` trains a neural V (sampled hinge losses, no ODE solve), then
``region_of_attraction`` certifies its largest level by branch and bound; the volume ratio is
measured against a simulated region of attraction on a 200 x 200 grid of
[-2.5, 2.5] x [-3.5, 3.5] (SYSTEMS.md's protocol). Published yardstick: LyZNet (HSCC 2024),
neural V, 94.78 %, dReal verification 973 s on 32 jobs, training 494 s.

Run: ``python benchmarks/bench_fit_lyapunov.py [--seeds 0 1 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import machine

import lyactrl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4000)
    args = ap.parse_args()
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    reference = lyactrl.simulated_region_of_attraction(vdp, domain, grid=200)
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        fit = lyactrl.fit_lyapunov(vdp, domain, rounds=args.rounds, steps=args.steps, seed=seed)
        total = time.perf_counter() - t0
        with torch.no_grad():
            inside = fit.V.value(reference.points) <= fit.level
        ratio = lyactrl.volume_ratio(inside, reference)
        rows.append(
            (seed, fit.status, fit.level, ratio, fit.train_seconds, fit.certify_seconds, total)
        )
        print(rows[-1], flush=True)
    print(f"\nMachine: {machine()}")
    print(
        f"simulated region of attraction: {reference.fraction:.4f} of the domain "
        f"(grid 200 x 200, RK4 step {reference.step}, t_final {reference.t_final})\n"
    )
    print(
        "| seed | status | certified level | volume ratio | learning (s) | certification (s) "
        "| total (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]:.4f} | {100 * r[3]:.2f} % | {r[4]:.1f} | {r[5]:.1f} "
            f"| {r[6]:.1f} |"
        )
    if len(rows) > 1:
        print(
            f"\nmedian volume ratio {100 * statistics.median(r[3] for r in rows):.2f} %, "
            f"median total {statistics.median(r[6] for r in rows):.1f} s"
        )


if __name__ == "__main__":
    main()
