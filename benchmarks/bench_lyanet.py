"""LyaNet vs the Neural ODE baseline, side by side (issue 4).

Same encoder, dynamics, data order, optimiser, schedule and epochs for both (the settings of
``lyactrl train``, with each rule's own tuned settings, ``RULE_DEFAULTS``); the training rule
differs (LyaNet: sampled Lyapunov hinge, no ODE solve; baseline: cross-entropy through 10
RK4 steps). Reports per seed and the mean: training seconds per epoch (median), test accuracy
vs solver (RK4 1/2/4/10/20 steps, dopri5 with its NFE), the sampled violation rate on held-out
states and the share of test points whose V decays at least at the rate; draws the first
seed's models with ``lyactrl.plot.lyanet_convergence_figure`` into
``docs/img/lyanet_<dataset>_convergence.png``.

    python benchmarks/bench_lyanet.py --dataset digits --seeds 0 1 2
    python benchmarks/bench_lyanet.py --dataset mnist --data-dir ../shared/data/mnist --seeds 0
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from lyactrl.cli._train import train_and_evaluate  # noqa: E402
from lyactrl.plot import lyanet_convergence_figure  # noqa: E402
from lyactrl.train import evaluate_classifier, load_classifier  # noqa: E402
from lyactrl.train.lyanet import (
    LYANET_DEFAULTS,  # noqa: E402
    load_dataset,  # noqa: E402
)

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("1", "2", "4", "10", "20")
STEP_COUNTS = tuple(int(s) for s in STEPS)


def step_times(dataset: str, data, repeats: int = 15) -> dict[str, float]:  # noqa: ANN001
    """Median seconds of one training step (forward, backward, Adam) per rule, interleaved,
    and of the encoder's part alone (its forward and backward pass on the batch, the rest of
    a step being the dynamics and the loss).

    The three run alternately on the same batch, so background load hits them alike.
    """
    from lyactrl.cli._train import MODEL_DEFAULTS
    from lyactrl.train import build_classifier, lyanet_loss, node_loss
    from lyactrl.train.lyanet import TRAIN_DEFAULTS

    bs = TRAIN_DEFAULTS[dataset]["batch_size"]
    x, y = data.x_train[:bs], data.y_train[:bs]
    model = build_classifier(data.input_shape, data.n_classes, seed=0, **MODEL_DEFAULTS[dataset])
    opt = torch.optim.Adam(model.parameters())
    kw = {k: v for k, v in LYANET_DEFAULTS.items()}
    g = torch.Generator().manual_seed(0)
    rules = {
        "lyanet": lambda: lyanet_loss(model, x, y, generator=g, **kw)[0],
        "node": lambda: node_loss(model, x, y)[0],
        "encoder": lambda: model.context(x).sum(),
    }
    times: dict[str, list[float]] = {k: [] for k in rules}
    for i in range(repeats + 2):
        for name, rule in rules.items():
            t0 = time.perf_counter()
            opt.zero_grad()
            rule().backward()
            opt.step()
            if i >= 2:
                times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def table(results: dict) -> str:
    head = (
        "| method | seed | s/epoch | train s | acc RK4 1 / 2 / 4 / 10 / 20 (%) | dopri5 % (NFE) "
        "| violation rate (path / ball 10) | V decays at rate |\n|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for method, runs in results.items():
        for r in runs + [None]:
            if r is None:
                if len(runs) < 2:
                    continue
                r = {
                    k: statistics.mean(x[k] for x in runs)
                    for k in (
                        "epoch_seconds_median",
                        "train_seconds",
                        "accuracy_dopri5",
                        "nfe_dopri5",
                        "violation_rate",
                        "violation_rate_ball",
                        "decay_fraction",
                    )
                }
                r["accuracy_rk4"] = {
                    s: statistics.mean(x["accuracy_rk4"][s] for x in runs) for s in STEPS
                }
                r["seed"] = "mean"
            accs = " / ".join(f"{100 * r['accuracy_rk4'][s]:.2f}" for s in STEPS)
            rows.append(
                f"| {method} | {r['seed']} | {r['epoch_seconds_median']:.3f} | "
                f"{r['train_seconds']:.1f} | {accs} | {100 * r['accuracy_dopri5']:.2f} "
                f"({r['nfe_dopri5']:.0f}) | {r['violation_rate']:.4f} / {r['violation_rate_ball']:.4f} | "
                f"{100 * r['decay_fraction']:.1f} % |"
            )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits", choices=("digits", "mnist"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="default: the benchmark's")
    ap.add_argument("--methods", nargs="+", default=["lyanet", "node"])
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument(
        "--step-timing",
        action="store_true",
        help="only time one training step of each rule, interleaved (robust to shared load)",
    )
    ap.add_argument("--keep", default=None, help="keep the checkpoints in this directory")
    ap.add_argument(
        "--merge",
        nargs="+",
        default=None,
        help="report from --json files of earlier runs (e.g. one per method, run in parallel) "
        "whose checkpoints were kept with --keep",
    )
    args = ap.parse_args()
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    models = {}
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    if args.step_timing:
        st = step_times(args.dataset, data)
        print(f"machine: {machine()}")
        print(
            f"{args.dataset}: median training step lyanet {st['lyanet'] * 1e3:.1f} ms, node "
            f"{st['node'] * 1e3:.1f} ms, ratio {st['node'] / st['lyanet']:.2f}x; the encoder's "
            f"forward and backward pass {st['encoder'] * 1e3:.1f} ms "
            f"({100 * st['encoder'] / st['lyanet']:.0f} % of a LyaNet step, "
            f"{100 * st['encoder'] / st['node']:.0f} % of a baseline step)"
        )
        return
    if args.merge:
        results = {}
        for path in args.merge:
            for method, runs in json.loads(Path(path).read_text()).items():
                results.setdefault(method, []).extend(runs)
        for method, runs in results.items():
            for i, run in enumerate(runs):  # re-evaluate with the current evaluation code
                model, meta = load_classifier(run["checkpoint"])
                tr = meta["config"]["training"]
                ev = evaluate_classifier(
                    model,
                    data.x_test,
                    data.y_test,
                    rate=LYANET_DEFAULTS["rate"],
                    radius=LYANET_DEFAULTS["radius"],
                    around=LYANET_DEFAULTS["around"],
                    seed=tr["seed"],
                )
                run.update(ev, rate=LYANET_DEFAULTS["rate"])
                if i == 0:
                    models[method] = model
        report(results, models, data, args.dataset)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for method in args.methods:
                out = Path(args.keep or tmp) / f"{method}_{seed}"
                m = train_and_evaluate(
                    args.dataset,
                    method,
                    str(out),
                    data_dir=args.data_dir,
                    epochs=args.epochs,
                    seed=seed,
                )
                m.pop("model", None)
                results[method].append(m)
                print(
                    f"{method} seed {seed}: acc {m['accuracy_rk4']}, "
                    f"{m['epoch_seconds_median']:.3f} s/epoch",
                    file=sys.stderr,
                    flush=True,
                )
                if seed == args.seeds[0]:
                    models[method], _ = load_classifier(out / "last.pt")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    report(results, models, data, args.dataset)


def report(results: dict, models: dict, data, dataset: str) -> None:  # noqa: ANN001
    first = next(iter(results.values()))[0]
    print(f"machine: {machine()}")
    print(f"dataset: {data.summary()}, epochs: {first['epochs']}")
    print(table(results))
    if set(results) == {"lyanet", "node"}:
        sp = [
            n["epoch_seconds_median"] / ly["epoch_seconds_median"]
            for ly, n in zip(results["lyanet"], results["node"], strict=True)
        ]
        print(
            f"\nLyaNet training speed-up per epoch (median over seeds): {statistics.median(sp):.2f}x"
        )
    path = ROOT / "docs" / "img" / f"lyanet_{dataset}_convergence"
    lyanet_convergence_figure(
        models, data.x_test, data.y_test, rate=first["rate"], steps=STEP_COUNTS, path=path
    )
    print(f"figure (first seed's models): {path.relative_to(ROOT)}.png")


if __name__ == "__main__":
    main()
