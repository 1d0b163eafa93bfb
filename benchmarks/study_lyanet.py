"""Issue 14: LyaNet against its Neural ODE baseline over seeds and data splits, paired.

Every run trains one classifier with ``build_classifier`` and ``train_classifier`` (the code
path of ``lyactrl train``): the same encoder, dynamics, initial weights (``seed``), data order,
optimiser, schedule and epochs for every configuration of a seed; only the training rule and
the configuration's own settings differ. Configurations are named in ``CONFIGS``.

``--split S --val 0.2`` holds 20 % of the training images of split ``S`` out for validation
and scores on them (tuning: the test images are not looked at); ``--val 0`` trains on the
whole training split and scores on the test images (the final rows). MNIST has its own fixed
validation split (6 000 of the training images), scored whenever ``--val`` > 0. Each run appends one
JSON line to ``--out`` (so a study can be spread over processes and resumed: runs already in
the file are skipped); ``--summary`` prints the table of a file: per configuration mean +-
std of accuracy (RK4, 10 and 1 steps), median training seconds, and each configuration paired
with ``--reference`` on the same (split, seed): mean difference, its standard error, the
paired t-test's p-value, and wins / ties / losses.

    python benchmarks/study_lyanet.py --configs lyanet node --seeds 0 1 2 --val 0.2 \
        --out runs/tune.jsonl
    python benchmarks/study_lyanet.py --summary runs/tune.jsonl --reference node
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from lyactrl.cli._train import MODEL_DEFAULTS  # noqa: E402
from lyactrl.train import build_classifier, evaluate_classifier, train_classifier  # noqa: E402
from lyactrl.train.lyanet import (  # noqa: E402
    LYANET_DEFAULTS,
    TRAIN_DEFAULTS,
    load_dataset,
    official_preset,
    official_rate,
)


def _official(method: str, hidden: int) -> tuple[str, dict, dict]:
    """The official code's setting of a rule (``official_preset``), with a flow of ``hidden``
    units (the preset's 128 costs 20x more per LyaNet step on 2 CPU cores); the decay check
    uses the official rate for both rules."""
    preset = official_preset(10, method=method)
    model = dict(preset["model"], dynamics_hidden=hidden, context_dim=hidden * hidden)
    train = dict(preset["train"], rate=official_rate(10))
    return train.pop("method"), model, train


#: name -> (training rule, build_classifier overrides, train_classifier overrides)
CONFIGS: dict[str, tuple[str, dict, dict]] = {
    "lyanet": ("lyanet", {}, {}),
    "lyanet-d0.5": ("lyanet", {"dynamics_dropout": 0.5}, {}),
    "lyanet-d0.3": ("lyanet", {"dynamics_dropout": 0.3}, {}),
    "lyanet-r3": ("lyanet", {}, {"rate": 3.0}),
    "lyanet-d0.5-r3": ("lyanet", {"dynamics_dropout": 0.5}, {"rate": 3.0}),
    "lyanet-d0.5-s16": ("lyanet", {"dynamics_dropout": 0.5}, {"n_states": 16}),
    "lyanet-d0.5-rad1": ("lyanet", {"dynamics_dropout": 0.5}, {"radius": 1.0}),
    "lyanet-d0.5-lr6e-3": ("lyanet", {"dynamics_dropout": 0.5}, {"lr": 6e-3}),
    "lyanet-d0.5-lr1.5e-3": ("lyanet", {"dynamics_dropout": 0.5}, {"lr": 1.5e-3}),
    "lyanet-d0.5-lr1e-2": ("lyanet", {"dynamics_dropout": 0.5}, {"lr": 1e-2}),
    "lyanet-d0.5-rad1-lr6e-3": ("lyanet", {"dynamics_dropout": 0.5}, {"radius": 1.0, "lr": 6e-3}),
    "lyanet-lr6e-3": ("lyanet", {}, {"lr": 6e-3}),
    "lyanet-d0.5-lr2e-2": ("lyanet", {"dynamics_dropout": 0.5}, {"lr": 2e-2}),
    "lyanet-d0.5-lr1e-2-sh1": (
        "lyanet",
        {"dynamics_dropout": 0.5},
        {"lr": 1e-2, "augment_shift": 1},
    ),
    "lyanet-d0.5-rad1-sh1": (
        "lyanet",
        {"dynamics_dropout": 0.5},
        {"radius": 1.0, "augment_shift": 1},
    ),
    "lyanet-d0.5-rad1-sh2": (
        "lyanet",
        {"dynamics_dropout": 0.5},
        {"radius": 1.0, "augment_shift": 2},
    ),
    "lyanet-rad1-sh1": ("lyanet", {}, {"radius": 1.0, "augment_shift": 1}),
    "lyanet-d0.3-rad1-sh1": (
        "lyanet",
        {"dynamics_dropout": 0.3},
        {"radius": 1.0, "augment_shift": 1},
    ),
    "lyanet-d0.5-rad1-sh1-r3": (
        "lyanet",
        {"dynamics_dropout": 0.5},
        {"radius": 1.0, "augment_shift": 1, "rate": 3.0},
    ),
    "lyanet-d0.5-rad1-sh1-lr4e-3": (
        "lyanet",
        {"dynamics_dropout": 0.5},
        {"radius": 1.0, "augment_shift": 1, "lr": 4e-3},
    ),
    "node": ("node", {}, {}),
    "node-lr6e-3-sh1": ("node", {}, {"lr": 6e-3, "augment_shift": 1}),
    "node-lr6e-3-sh2": ("node", {}, {"lr": 6e-3, "augment_shift": 2}),
    "node-lr6e-3": ("node", {}, {"lr": 6e-3}),
    "node-lr1e-2": ("node", {}, {"lr": 1e-2}),
    "node-lr1e-2-sh1": ("node", {}, {"lr": 1e-2, "augment_shift": 1}),
    "node-d0.5-lr1e-2": ("node", {"dynamics_dropout": 0.5}, {"lr": 1e-2}),
    "node-d0.5-lr6e-3": ("node", {"dynamics_dropout": 0.5}, {"lr": 6e-3}),
    "node-d0.5-lr1.5e-3": ("node", {"dynamics_dropout": 0.5}, {"lr": 1.5e-3}),
    "node-d0.5": ("node", {"dynamics_dropout": 0.5}, {}),
    "node-d0.3": ("node", {"dynamics_dropout": 0.3}, {}),
    "official-lyanet-h32": _official("lyanet", 32),
    "official-node-h32": _official("node", 32),
}
#: times (fractions of T) at which argmax eta(t) is reported (dopri5), the paper's
#: convergence figure
TIMES = (0.05, 0.1, 0.25, 0.5, 1.0)


def run(dataset: str, config: str, seed: int, split: int, val: float, data_dir, epochs) -> dict:
    """Train and score one configuration on one (split, seed)."""
    method, model_kw, train_kw = CONFIGS[config]
    if dataset == "digits":
        from lyactrl.train.lyanet import load_digits

        data = load_digits(seed=split, val_fraction=val)
    else:
        data = load_dataset(dataset, data_dir=data_dir, seed=split)
    x_eval, y_eval = (data.x_val, data.y_val) if val > 0 else (data.x_test, data.y_test)
    mean = data.x_train.mean(dim=(0, 2, 3)).tolist()
    std = data.x_train.std(dim=(0, 2, 3)).tolist()
    arch = dict(MODEL_DEFAULTS[dataset], **model_kw)
    model = build_classifier(
        data.input_shape, data.n_classes, mean=mean, std=std, seed=seed, **arch
    )
    train = dict(TRAIN_DEFAULTS[dataset], **LYANET_DEFAULTS)
    train.update(train_kw)
    if epochs is not None:
        train["epochs"] = epochs
    start = time.perf_counter()
    res = train_classifier(model, data, method=method, seed=seed, quiet=True, **train)
    seconds = time.perf_counter() - start
    ev = evaluate_classifier(model, x_eval, y_eval, steps=(1, 2, 4, 10, 20), rate=train["rate"])
    # TIMES (fractions of T) lie on evaluate_classifier's grid of 21 times in [0, T]
    acc_t = {str(t): ev["accuracy_along"][f"{t * model.horizon:g}"] for t in TIMES}
    return {
        "dataset": dataset,
        "config": config,
        "seed": seed,
        "split": split,
        "val": val,
        "scored_on": "validation" if val > 0 else "test",
        "n_scored": int(y_eval.shape[0]),
        "epochs": train["epochs"],
        "acc10": ev["accuracy_rk4"]["10"],
        "acc1": ev["accuracy_rk4"]["1"],
        "acc_rk4": ev["accuracy_rk4"],
        "acc_dopri5": ev["accuracy_dopri5"],
        "nfe_dopri5": ev["nfe_dopri5"],
        "acc_t": acc_t,
        "gain": float(getattr(model.dynamics, "gain", float("nan"))),
        "decay_fraction": ev["decay_fraction"],
        "train_seconds": seconds,
        "epoch_seconds_median": statistics.median(h["epoch_seconds"] for h in res.history),
    }


def _paired(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean difference, its standard error and the two-sided paired t-test p-value."""
    from scipy import stats

    d = [x - y for x, y in zip(a, b, strict=True)]
    mean = statistics.mean(d)
    if len(d) < 2:
        return mean, math.nan, math.nan
    se = statistics.stdev(d) / math.sqrt(len(d))
    p = float(stats.ttest_rel(a, b).pvalue) if se > 0 else (1.0 if mean == 0 else 0.0)
    return mean, se, p


def summary(path: Path, reference: str) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by: dict[str, dict[tuple[int, int], dict]] = {}
    for r in rows:
        by.setdefault(r["config"], {})[(r["split"], r["seed"])] = r
    scored = {r["scored_on"] for r in rows}
    out = [
        f"{len(rows)} runs from {path.name}, scored on the {'/'.join(sorted(scored))} images; "
        f"paired with `{reference}` on the same (split, seed)",
        "",
        "| config | runs | acc RK4 10 (%) | acc RK4 1 (%) | train s (median) | "
        f"paired diff vs {reference} (pt) | se | p (paired t) | wins / ties / losses |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ref = by.get(reference, {})
    for name, runs in by.items():
        acc = [100 * r["acc10"] for r in runs.values()]
        acc1 = [100 * r["acc1"] for r in runs.values()]
        sec = statistics.median(r["train_seconds"] for r in runs.values())
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        sd1 = statistics.stdev(acc1) if len(acc1) > 1 else 0.0
        keys = sorted(set(runs) & set(ref))
        if name != reference and keys:
            a = [100 * runs[k]["acc10"] for k in keys]
            b = [100 * ref[k]["acc10"] for k in keys]
            m, se, p = _paired(a, b)
            w = sum(x > y for x, y in zip(a, b, strict=True))
            t = sum(x == y for x, y in zip(a, b, strict=True))
            paired = f"{m:+.2f} | {se:.2f} | {p:.3f} | {w} / {t} / {len(keys) - w - t}"
        else:
            paired = " | | | "
        out.append(
            f"| {name} | {len(runs)} | {statistics.mean(acc):.2f} +- {sd:.2f} | "
            f"{statistics.mean(acc1):.2f} +- {sd1:.2f} | {sec:.1f} | {paired} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", default="digits", choices=list(MODEL_DEFAULTS))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--configs", nargs="+", default=["lyanet", "node"], choices=list(CONFIGS))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--splits", type=int, nargs="+", default=[0])
    ap.add_argument("--val", type=float, default=0.0, help="validation share (0: score on test)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="JSON-lines file of the runs")
    ap.add_argument("--summary", type=Path, default=None, help="print the table of a file")
    ap.add_argument("--reference", default="node")
    args = ap.parse_args()
    if args.summary is not None:
        print(summary(args.summary, args.reference))
        return
    if args.out is None:
        ap.error("--out is required to run")
    torch.set_num_threads(1)
    print(machine(), flush=True)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["config"], r["split"], r["seed"], r["val"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for split in args.splits:
        for seed in args.seeds:
            for config in args.configs:
                if (config, split, seed, args.val) in done:
                    continue
                r = run(args.dataset, config, seed, split, args.val, args.data_dir, args.epochs)
                with args.out.open("a") as fh:
                    fh.write(json.dumps(r) + "\n")
                print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
