"""Robustness benchmark (issue 5): LyaNet beside the Neural ODE baseline (same architecture).

Trains both with ``lyactrl train``'s settings (or loads ``--lyanet``/``--node`` checkpoints),
then reports clean accuracy, PGD accuracy (pixel space, random start, step 2.5 eps / steps,
gradients through RK4, the same solver for clean and attacked accuracy), accuracy-vs-eps
curves, certified accuracy at a few radii, the largest radius with certified accuracy >= 50 %,
and the time of LipSDP and of the certified radii. Writes a JSON report and two figures.

    python benchmarks/bench_robustness.py --dataset digits                  # measured table
    python benchmarks/bench_robustness.py --dataset mnist --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

from lyactrl.cli._train import train_and_evaluate
from lyactrl.robust import (
    attack_accuracy,
    certified_radius,
    classifier_sensitivity,
    lipschitz_bound,
    pgd_attack,
    square_attack,
)
from lyactrl.train.lyanet import load_classifier, load_dataset

LINF = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3]
L2 = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0]
CERT_RADII = {
    "2": [0.0, 5e-5, 1e-4, 2e-4, 5e-4, 0.001, 0.002, 0.005, 0.01],
    "inf": [0.0, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 0.001],
}
#: Settings of the proved-premise radii (``certify_premise=True``): one thin tube, whose chunk
#: boxes ``lyactrl.certify`` proves the rates on in seconds in 10 dimensions.
PROVED = {"margins": (0.25,), "time_limit": 3.0}


def _machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln)
    except Exception:  # pragma: no cover - lscpu missing
        name = platform.processor()
    return f"{name}, {torch.get_num_threads()} torch threads"


def _rk4(model):  # noqa: ANN001, ANN202
    """The model's logits through RK4 with 10 steps (clean and attacked accuracy alike)."""
    return lambda z: model(z, method="rk4", steps=10)


def _premise_counts(cr) -> dict[str, int]:  # noqa: ANN001
    """How many radii of a ``CertifiedRadius`` rest on each premise."""
    return {p: cr.premise.count(p) for p in ("certified", "sampled", "none")}


def _kept(logits, y, *advs) -> list[torch.Tensor]:  # noqa: ANN001
    """Per attack's inputs, which images keep their label."""
    with torch.no_grad():
        return [logits(a).argmax(-1) == y for a in advs]


def _median_time(fn, repeats: int) -> tuple[float, object]:  # noqa: ANN001
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], out


def evaluate(model, x, y, *, steps: int, restarts: int, n_cert: int, seed: int) -> dict:  # noqa: ANN001
    logits = _rk4(model)
    g = torch.Generator().manual_seed(seed)
    res: dict = {
        "solver": "rk4, 10 steps (clean and attacked)",
        "pgd": {"steps": steps, "restarts": restarts},
        "curves": {},
    }
    for norm, grid in (("inf", LINF), ("2", L2)):
        res["curves"][norm] = [
            attack_accuracy(
                logits,
                x,
                y,
                eps=e,
                norm=norm,
                steps=steps,
                restarts=restarts,
                generator=g,
                solver="rk4, 10 steps",
            ).to_dict()
            for e in grid
        ]
    res["clean_accuracy"] = res["curves"]["inf"][0]["clean_accuracy"]
    cert = {}
    for norm in ("2", "inf"):
        t0 = time.perf_counter()
        cr = certified_radius(model, x[:n_cert], y[:n_cert], norm=norm, generator=g)
        secs = time.perf_counter() - t0
        kinds = {
            "lyapunov": torch.where(cr.correct, cr.radius, -1.0),
            "lyapunov or trajectory": torch.where(
                cr.correct, torch.maximum(cr.radius, cr.radius_trajectory), -1.0
            ),
        }
        entry: dict = {
            "seconds": secs,
            "seconds_per_example": secs / n_cert,
            "status": str(cr.status),
            "message": cr.message,
            "premise_counts": _premise_counts(cr),
            "sensitivity": cr.sensitivity,
        }
        for kind, rad in kinds.items():
            ordered = torch.sort(rad, descending=True).values
            half = float(ordered[(n_cert + 1) // 2 - 1])
            entry[kind] = {
                "largest_radius_with_half_certified": half if half >= 0 else None,
                "certified_accuracy": {
                    f"{r:g}": float((rad >= r).double().mean()) for r in CERT_RADII[norm]
                },
                "radii_sorted": sorted(rad.clamp_min(0).tolist()),
            }
        cert[norm] = entry
    res["certified"] = cert
    return res


def proved_radii(model, x, y, *, n: int, seed: int) -> dict:  # noqa: ANN001
    """Radii with proved premises on the first ``n`` images, beside the sampled ones.

    The proof (the tube and the rates) does not depend on the input norm: only the gain
    ``K`` does, so the L-inf radius of each example is its L2 radius times ``K_2 / K_inf``.
    """
    x, y = x[:n], y[:n]
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    proved = certified_radius(model, x, y, norm="2", certify_premise=True, generator=g, **PROVED)
    secs = time.perf_counter() - t0
    sampled = certified_radius(model, x, y, norm="2", generator=g)
    k_2 = proved.sensitivity["context_gain"]
    k_inf = classifier_sensitivity(model, norm="inf").context_gain
    is_proved = torch.tensor([p == "certified" for p in proved.premise])
    is_sampled = torch.tensor([p == "sampled" for p in sampled.premise])
    kinds = {
        "lyapunov, proved premise": torch.where(proved.correct & is_proved, proved.radius, -1.0),
        "lyapunov, sampled premise": torch.where(
            sampled.correct & is_sampled, sampled.radius, -1.0
        ),
        "trajectory (proved tube, no rate)": torch.where(
            proved.correct, proved.radius_trajectory, -1.0
        ),
    }
    out: dict = {
        "n": n,
        "seconds": secs,
        "seconds_per_example": secs / n,
        "status": str(proved.status),
        "message": proved.message,
        "premise_counts": _premise_counts(proved),
        "sampled_premise_counts": _premise_counts(sampled),
        "gain": {"2": k_2, "inf": k_inf},
        "tube": sorted(set(proved.tube.tolist())),
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in PROVED.items()},
    }
    for kind, rad in kinds.items():
        out[kind] = {}
        for norm, scale in (("2", 1.0), ("inf", k_2 / k_inf)):
            r = torch.where(rad >= 0, rad * scale, -1.0)
            out[kind][norm] = {
                "share_with_this_premise": float((rad >= 0).double().mean()),
                "certified_accuracy": {
                    f"{e:g}": float((r >= e).double().mean()) for e in CERT_RADII[norm]
                },
                "median_radius": float(r.clamp_min(0).median()),
            }
    return out


#: L-inf radii of the gradient-masking check, and the Square attack's iterations.
MASKING_EPS = [0.02, 0.05, 0.1, 0.2, 0.3]
SQUARE_ITERATIONS = 1000


def masking_check(model, x, y, *, n: int, steps: int, seed: int) -> dict:  # noqa: ANN001
    """PGD beside the gradient-free Square attack on the first ``n`` images (L-inf, RK4 with
    10 steps for both): if the solver's gradients were masked, Square would break clearly
    more images than PGD. Also the images broken by either (the accuracy under both)."""

    logits = _rk4(model)
    x, y = x[:n], y[:n]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        clean = logits(x).argmax(-1) == y
    rows = []
    for eps in MASKING_EPS:
        t0 = time.perf_counter()
        adv_p = pgd_attack(logits, x, y, eps=eps, norm="inf", steps=steps, generator=g)
        t1 = time.perf_counter()
        adv_s = square_attack(logits, x, y, eps=eps, iterations=SQUARE_ITERATIONS, generator=g)
        t2 = time.perf_counter()
        ok_p, ok_s = _kept(logits, y, adv_p, adv_s)
        rows.append(
            {
                "eps": eps,
                "pgd": float((ok_p & clean).double().mean()),
                "square": float((ok_s & clean).double().mean()),
                "both": float((ok_p & ok_s & clean).double().mean()),
                "square_only_breaks": int((ok_p & ~ok_s & clean).sum()),
                "pgd_seconds": t1 - t0,
                "square_seconds": t2 - t1,
            }
        )
    return {
        "n": n,
        "clean": float(clean.double().mean()),
        "pgd_steps": steps,
        "square_iterations": SQUARE_ITERATIONS,
        "rows": rows,
    }


#: (norm, eps) of the attack-strength check: PGD at the benchmark's settings against a stronger
#: PGD (2.5x the steps, 2 more restarts) on the same images.
STRENGTH = [("inf", 0.1), ("inf", 0.2), ("2", 0.5), ("2", 1.0), ("2", 2.0), ("2", 4.0)]


def strength_check(model, x, y, *, n: int, steps: int, restarts: int, seed: int) -> dict:  # noqa: ANN001
    """How much a stronger PGD changes the accuracy (RK4, 10 steps): if the benchmark's PGD
    were too weak for a model (small or misleading gradients), the stronger one would break
    clearly more of its images."""

    logits = _rk4(model)
    x, y = x[:n], y[:n]
    g = torch.Generator().manual_seed(seed)
    rows = []
    for norm, eps in STRENGTH:
        t0 = time.perf_counter()
        weak = pgd_attack(
            logits, x, y, eps=eps, norm=norm, steps=steps, restarts=restarts, generator=g
        )
        t1 = time.perf_counter()
        strong = pgd_attack(
            logits,
            x,
            y,
            eps=eps,
            norm=norm,
            steps=int(2.5 * steps),
            restarts=restarts + 2,
            generator=g,
        )
        t2 = time.perf_counter()
        ok_w, ok_s = _kept(logits, y, weak, strong)
        rows.append(
            {
                "norm": norm,
                "eps": eps,
                "pgd": float(ok_w.double().mean()),
                "strong_pgd": float(ok_s.double().mean()),
                "both": float((ok_w & ok_s).double().mean()),
                "pgd_seconds": t1 - t0,
                "strong_seconds": t2 - t1,
            }
        )
    return {
        "n": n,
        "steps": steps,
        "restarts": restarts,
        "strong_steps": int(2.5 * steps),
        "strong_restarts": restarts + 2,
        "rows": rows,
    }


def lipschitz_timings(model, repeats: int) -> dict:  # noqa: ANN001
    out = {}
    enc = model.encoder
    shape = tuple(model.config["input_shape"])
    for method in ("product", "lipsdp-split", "lipsdp"):
        try:
            secs, b = _median_time(
                lambda m=method: lipschitz_bound(enc, method=m, input_shape=shape),
                repeats if method == "product" else 1,
            )
            out[f"encoder {method}"] = {
                "value": b.value,
                "status": str(b.status),
                "seconds": secs,
                "exact": b.exact,
                "solver_value": b.solver_value,
            }
        except Exception as exc:  # reported, not hidden
            out[f"encoder {method}"] = {"error": str(exc)}
    return out


def plots(results: dict, outdir: Path, dataset: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, norm, grid in ((axes[0], "inf", LINF), (axes[1], "2", L2)):
        for name, r in results["models"].items():
            ax.plot(grid, [c["adversarial_accuracy"] for c in r["curves"][norm]], "o-", label=name)
        ax.set_xlabel(f"eps (L{norm}, pixel space)")
        ax.set_ylabel("PGD accuracy")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{dataset}: accuracy under PGD (RK4, 10 steps)")
    fig.tight_layout()
    p1 = outdir / "robust_accuracy_vs_eps.png"
    fig.savefig(p1, dpi=120)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, norm in ((axes[0], "2"), (axes[1], "inf")):
        top = max(
            max(r["certified"][norm][k]["radii_sorted"])
            for r in results["models"].values()
            for k in ("lyapunov", "lyapunov or trajectory")
        )
        grid = torch.linspace(0, top * 1.05 + 1e-12, 200)
        for name, r in results["models"].items():
            for kind, style in (("lyapunov", "-"), ("lyapunov or trajectory", "--")):
                rad = torch.tensor(r["certified"][norm][kind]["radii_sorted"])
                acc = [(rad >= g).double().mean().item() for g in grid]
                ax.plot(grid, acc, style, label=f"{name}, {kind}")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.set_xlabel(f"radius (L{norm}, pixel space)")
        ax.set_ylabel("certified accuracy")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{dataset}: certified accuracy (sampled rate premise)")
    fig.tight_layout()
    p2 = outdir / "robust_certified.png"
    fig.savefig(p2, dpi=120)
    plt.close(fig)
    return [str(p1), str(p2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--lyanet", default=None, help="existing LyaNet checkpoint")
    ap.add_argument("--node", default=None, help="existing Neural ODE checkpoint")
    ap.add_argument("--work", default="/tmp/bench_robustness")
    ap.add_argument("--n-attack", type=int, default=360)
    ap.add_argument("--n-cert", type=int, default=200)
    ap.add_argument("--steps", type=int, default=100, help="PGD steps of the sweeps")
    ap.add_argument("--restarts", type=int, default=3, help="PGD restarts of the sweeps")
    ap.add_argument("--n-proved", type=int, default=20, help="images with proved premises")
    ap.add_argument("--masking", type=int, default=100, help="images for PGD beside Square")
    ap.add_argument("--masking-only", action="store_true", help="only the masking check")
    ap.add_argument("--strength-only", action="store_true", help="only the PGD strength check")
    ap.add_argument("--proved-only", action="store_true", help="only the proved-premise radii")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--img", default="docs/img")
    ap.add_argument("--json", default="/tmp/bench_robustness.json")
    ap.add_argument("--replot", action="store_true", help="only redraw the figures from --json")
    args = ap.parse_args()
    if args.replot:
        print(plots(json.loads(Path(args.json).read_text()), Path(args.img), args.dataset))
        return
    torch.manual_seed(0)
    work = Path(args.work)
    results: dict = {"dataset": args.dataset, "machine": _machine(), "models": {}, "train": {}}
    data = load_dataset(args.dataset, data_dir=args.data_dir, seed=0)
    x, y = data.x_test[: args.n_attack], data.y_test[: args.n_attack]
    for method, given in (("lyanet", args.lyanet), ("node", args.node)):
        ck = given
        if ck is None:
            m = train_and_evaluate(
                args.dataset, method, str(work / method), data_dir=args.data_dir, epochs=args.epochs
            )
            results["train"][method] = {
                k: m[k] for k in ("test_accuracy", "train_seconds", "epochs")
            }
            ck = m["checkpoint"]
        model, _ = load_classifier(ck)
        name = "LyaNet" if method == "lyanet" else "Neural ODE"
        if args.proved_only:
            results["models"][name] = {
                "proved": proved_radii(model, x, y, n=min(args.n_proved, x.shape[0]), seed=0)
            }
            print(json.dumps({name: results["models"][name]}), flush=True)
            continue
        if args.strength_only:
            results["models"][name] = {
                "strength": strength_check(
                    model,
                    x,
                    y,
                    n=min(args.masking, x.shape[0]),
                    steps=args.steps,
                    restarts=args.restarts,
                    seed=0,
                )
            }
            print(json.dumps({name: results["models"][name]}), flush=True)
            continue
        if args.masking > 0:
            check = masking_check(
                model, x, y, n=min(args.masking, x.shape[0]), steps=args.steps, seed=0
            )
            print(json.dumps({name: {"masking": check}}), flush=True)
            if args.masking_only:
                results["models"][name] = {"masking": check}
                continue
        r = evaluate(
            model,
            x,
            y,
            steps=args.steps,
            restarts=args.restarts,
            n_cert=min(args.n_cert, x.shape[0]),
            seed=0,
        )
        if args.n_proved > 0:
            r["proved"] = proved_radii(model, x, y, n=min(args.n_proved, x.shape[0]), seed=0)
            print(json.dumps({method: r["proved"]}), flush=True)
        r["lipschitz"] = lipschitz_timings(model, args.repeats)
        if args.masking > 0:
            r["masking"] = check
        results["models"][name] = r
    if args.masking_only or args.strength_only or args.proved_only:
        Path(args.json).write_text(json.dumps(results, indent=1))
        return
    Path(args.img).mkdir(parents=True, exist_ok=True)
    results["figures"] = plots(results, Path(args.img), args.dataset)
    Path(args.json).write_text(json.dumps(results, indent=1))
    summary = {
        name: {
            "clean": r["clean_accuracy"],
            "pgd": {
                f"L{n} {c['eps']:g}": c["adversarial_accuracy"]
                for n in ("inf", "2")
                for c in r["curves"][n]
            },
            "cert": {
                n: {k: v for k, v in r["certified"][n].items() if k != "radii_sorted"}
                for n in ("2", "inf")
            },
            "lipschitz": r["lipschitz"],
            "proved": r.get("proved"),
        }
        for name, r in results["models"].items()
    }
    print(
        json.dumps(
            {"machine": results["machine"], "train": results["train"], "summary": summary}, indent=1
        )
    )


if __name__ == "__main__":
    main()
