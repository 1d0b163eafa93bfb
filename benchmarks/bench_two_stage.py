"""Benchmark: the published Two-Stage controllers and Lyapunov functions (issue 13).

For each system and spec file (the published levels and the adjusted ones of ``SPEC.md``),
certify ``grad V . f <= 1e-6`` on ``{x in box : c1 <= V <= c2}`` with a time limit, one spec at
a time in one thread, and print status, seconds, boxes and where a counterexample lies, beside
alpha-beta-CROWN's figures quoted in ``shared/benchmarks/two-stage/SPEC.md``.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_two_stage.py [--time-limit 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import two_stage  # noqa: E402
from _common import machine  # noqa: E402

import lyactrl  # noqa: E402

#: alpha-beta-CROWN on the published spec files, as quoted in SPEC.md (2-core CPU, 600 s).
CROWN = {
    "van_spec.vnnlib": "verified, 69.1 s",
    "pendulum_smalltorque_spec.vnnlib": "verified, 308.1 s",
    "pendulum_bigtorque_spec.vnnlib": "timeout 600 s (spec false)",
    "double_spec.vnnlib": "not run (spec false)",
    "path_tracking_smalltorque_spec.vnnlib": "not run here (spec false)",
    "2dquadrotor_spec.vnnlib": "not run (spec false)",
}


#: Level variants without a file: (system, spec index, levels, note).
EXTRA = [
    # the published pendulum_smalltorque spec has a proved counterexample below V(x_eq) =
    # 0.010268 (measured here); c1 = V(x_eq) + 0.001, the rule of the bigtorque variant
    ("pendulum_smalltorque", 0, {"c1": 0.0113}),
]


def run(system: str, variant: int, time_limit: float, levels: dict | None = None) -> str:
    spec = two_stage.load(system, variant, **(levels or {}))
    start = time.perf_counter()
    res = lyactrl.certify(
        spec.condition, spec.region, time_limit=time_limit, max_boxes=10**9, progress=False
    )
    wall = time.perf_counter() - start
    where = ""
    if res.counterexamples.shape[0]:
        x = res.counterexamples[:1]
        v = float(spec.V.value(x).detach()[0])
        where = (
            f"x = {[round(float(t), 4) for t in x[0]]}, V = {v:.5f}, "
            f"Vdot = {float(spec.vdot(x)[0]):+.3g}"
        )
    elif res.undecided_lo.shape[0]:
        c = 0.5 * (res.undecided_lo + res.undecided_hi)
        v = spec.V.value(c).detach()
        width = (res.undecided_hi - res.undecided_lo).amax(1)
        where = (
            f"{c.shape[0]} boxes left, V at their centres in [{float(v.min()):.4f}, "
            f"{float(v.max()):.4f}], widths down to {float(width.min()):.2g}"
        )
    file, crown = spec.file, CROWN.get(spec.file, "not run")
    if levels:
        file, crown = f"{spec.file} with {levels} (no file)", "not run"
    return (
        f"| {system} | {file} | {spec.c1:g}..{spec.c2:g} | {res.status} | {wall:.1f} | "
        f"{res.boxes_processed} | {where} | {crown} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--only", default=None, help="one system name")
    parser.add_argument("--extra-only", action="store_true", help="only the EXTRA variants")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine())
    print("| system | spec | c1..c2 | status | s | boxes | where | alpha-beta-CROWN |")
    print("|---|---|---|---|---|---|---|---|")
    for system, files in two_stage.SPECS.items():
        if args.only and system != args.only:
            continue
        for variant in range(0 if args.extra_only else len(files)):
            print(run(system, variant, args.time_limit), flush=True)
        for name, variant, levels in EXTRA:
            if name == system:
                print(run(system, variant, args.time_limit, levels), flush=True)


if __name__ == "__main__":
    main()
