"""Learned stable dynamics (issue 4): three ways to learn stable dynamics, on two tasks.

Runs ``examples/05_learn_stable_dynamics.py`` for several seeds and writes the medians into
``docs/benchmarks.md`` under "Learned stable dynamics (issue 4)".

Run: ``python benchmarks/bench_stable_dynamics.py [--seeds 3] [--fast] [--no-write]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
from pathlib import Path

from _common import machine

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Learned stable dynamics (issue 4)"
KEYS = [
    "fit_mse",
    "rollout_rmse",
    "final_norm_max",
    "violation_rate",
    "violation_bound",
    "train_seconds",
]


def load_example():
    spec = importlib.util.spec_from_file_location(
        "ex05", ROOT / "examples" / "05_learn_stable_dynamics.py"
    )
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def write_section(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{HEADING}\n\n{text.strip()}\n"
    if HEADING in doc:
        start = doc.index(HEADING)
        nxt = doc.find("\n## ", start + len(HEADING))
        doc = doc[:start] + block + ("\n" + doc[nxt + 1 :] if nxt != -1 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + block
    path.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    ex = load_example()
    tables = []
    for task in ex.TASKS.values():
        runs = [ex.run(fast=args.fast, seed=s, task=task.name) for s in range(args.seeds)]
        rows = []
        for i, first in enumerate(runs[0]):
            row = {"method": first["method"]}
            for k in KEYS:
                row[k] = statistics.median(float(r[i][k]) for r in runs)
            rows.append(row)
        per_seed = "; ".join(
            f"seed {s}: " + ", ".join(f"{r['method']} {r['violation_rate']:.4f}" for r in run[1:])
            for s, run in enumerate(runs)
        )
        tables.append(
            f"**Task `{task.name}`** (rate {task.rate}, box [-{task.half}, {task.half}]^2, data "
            f"from [-{task.data}, {task.data}]^2, noise {task.noise}).\n\n{ex.table(rows)}\n\n"
            f"Per-seed sampled violation rates: {per_seed}."
        )
    body = "\n\n".join(tables)
    text = f"""Script: `benchmarks/bench_stable_dynamics.py` (runs `examples/05_learn_stable_dynamics.py`).
Machine: {machine()}; the machine was shared with other jobs while this ran, so the training
times are indicative only. Medians over {args.seeds} seeds{" (--fast settings)" if args.fast else ""}.

Two tasks. `pendulum`: the damped pendulum theta'' = -sin(theta) - 0.5 theta', learned from
noisy trajectories started in [-0.8, 0.8]^2; the condition grad V . f + 0.05 V <= 0 on
[-1.5, 1.5]^2. There the unconstrained fit already meets the condition, so this task shows
that the constraint costs no accuracy, not that it is needed. `extrapolate`: the damped
linear oscillator theta'' = -theta - 0.5 theta', seen only from [-0.5, 0.5]^2, with the
condition at rate 0.2 on [-2, 2]^2, which the true system meets everywhere there: the
unconstrained fit, extrapolating, violates it. Both learn from 16 trajectories (horizon 3 s,
finite-difference derivatives). V is the quadratic from a least-squares linear fit of the
same data (A^T P + P A = -I). Rollouts start in the whole box (beyond the data) and run for
30 s, ten times the training horizon. Violation rates are sampled (`check_sampled`, 20 000
uniform states, tolerance 1e-9): statistical statements with a 99 % Clopper-Pearson bound,
not proofs.

{body}
"""
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
