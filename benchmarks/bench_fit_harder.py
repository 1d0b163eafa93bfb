"""Issue 13: learn and certify regions of attraction of 2-D systems harder than S2.

Four systems, each on its own domain (``--systems`` picks a subset):

- ``vdp3``: reversed Van der Pol with mu = 3 on [-2.5, 2.5] x [-6, 6] (stronger nonlinearity
  than S2's mu = 1; the simulated region of attraction lies inside the domain with margin),
  trained twice as long as the default (8000 steps).
- ``power``: the two-machine power system of LyZNet, x1' = x2,
  x2' = -0.5 x2 - (sin(x1 + delta) - sin(delta)), delta = pi / 3, on the asymmetric domain
  [-2, 3] x [-4, 1.5]. Written as ``-0.5 x2 - 2 cos(x1 / 2 + delta) sin(x1 / 2)`` (the same
  function, by sin a - sin b = 2 cos((a + b) / 2) sin((a - b) / 2)), whose interval enclosure at
  the equilibrium is exactly [0, 0] (``sin(0)`` is kept exact), as the local certificate at
  ``x_eq`` needs.
- ``vdp2asym``: reversed Van der Pol with mu = 2 on the asymmetric domain [-2.5, 3.5] x [-5, 6].
- ``trigvdp``: a reversed Van der Pol with a trigonometric restoring term, x1' = -x2,
  x2' = sin(x1) - (1 - x1^2) x2, on [-3, 3]^2: its region of attraction is bounded by an
  unstable limit cycle (inside the domain with margin), with saddles at (+-pi, 0) outside it.

Each system's ``fit_lyapunov`` keywords are in ``SYSTEMS`` (``--options`` replaces them).

The reference region of attraction is simulated on a 200 x 200 grid with RK4 (step 0.01) up to
``--t-final`` (40 by default: the power system converges slowly, 20 under-counts it); the
volume ratio is grid points of the certified set {V <= level} / grid points of the simulated
region (as in bench_fit_lyapunov.py).

Run: ``python benchmarks/bench_fit_harder.py [--seeds 0 1 2 3 4] [--systems vdp3 power]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import machine

import lyactrl

# right-hand side, domain corners, fit_lyapunov keywords (beyond t_final and seed)
SYSTEMS = {
    "vdp3": (
        ["-x2", "x1 - 3*(1 - x1**2)*x2"],
        [-2.5, -6.0],
        [2.5, 6.0],
        {"hidden": (64, 64), "steps": 8000},
    ),
    "power": (
        ["x2", "-0.5*x2 - 2*cos(x1/2 + pi/3)*sin(x1/2)"],
        [-2.0, -4.0],
        [3.0, 1.5],
        {"hidden": (64, 64), "erode": 3},
    ),
    "vdp2asym": (["-x2", "x1 - 2*(1 - x1**2)*x2"], [-2.5, -5.0], [3.5, 6.0], {}),
    "trigvdp": (["-x2", "sin(x1) - (1 - x1**2)*x2"], [-3.0, -3.0], [3.0, 3.0], {}),
}


def run_system(name: str, seeds: list[int], args: argparse.Namespace) -> None:
    """Fit every seed on one system and print its table."""
    rhs, lo, hi, options = SYSTEMS[name]
    system = lyactrl.SymbolicSystem(rhs, "x1, x2")
    domain = lyactrl.Box(lo, hi)
    reference = lyactrl.simulated_region_of_attraction(
        system, domain, grid=200, t_final=args.t_final, progress=False
    )
    if args.options is not None:
        options = eval(f"dict({args.options})")  # noqa: S307
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        fit = lyactrl.fit_lyapunov(
            system, domain, t_final=args.t_final, seed=seed, progress=False, **options
        )
        total = time.perf_counter() - t0
        with torch.no_grad():
            inside = fit.V.value(reference.points) <= fit.level
        ratio = lyactrl.volume_ratio(inside, reference) if fit.level > 0 else 0.0
        rows.append(
            (seed, fit.status, fit.level, ratio, fit.train_seconds, fit.certify_seconds, total)
        )
        print(name, rows[-1], flush=True)
    print(f"\n### {name}: {rhs} on [{lo}, {hi}]\n")
    print(f"Machine: {machine()}")
    print(f"options: {options or 'defaults'}")
    print(
        f"simulated region of attraction: {reference.fraction:.4f} of the domain "
        f"(grid 200 x 200, RK4 step {reference.step}, t_final {reference.t_final})\n"
    )
    print("| seed | status | certified level | volume ratio | learning (s) | certification (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.4f} | {100 * r[3]:.2f} % | {r[4]:.1f} | {r[5]:.1f} |")
    print(
        f"\nmedian volume ratio {100 * statistics.median(r[3] for r in rows):.2f} %, "
        f"min {100 * min(r[3] for r in rows):.2f} %, "
        f"median total {statistics.median(r[6] for r in rows):.1f} s\n",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    ap.add_argument("--t-final", type=float, default=40.0)
    ap.add_argument(
        "--options", default=None, help="fit_lyapunov keywords replacing the system's own"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.systems:
        run_system(name, args.seeds, args)


if __name__ == "__main__":
    main()
