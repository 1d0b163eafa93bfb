"""``lyactrl robustness``: PGD attacks and certified radii of a trained classifier."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..robust import ATTACKS

__all__ = ["add_parser", "run", "robustness_report", "radius_label"]

_SHAPES = {(1, 8, 8): "digits", (1, 28, 28): "mnist"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "robustness",
        help="attack a trained classifier with PGD and report certified radii",
        description="Clean and PGD accuracy in pixel space [0, 1] (normalisation inside the "
        "model; random start; step size 2.5 eps / steps; gradients through the ODE solver; the "
        "same solver for clean and attacked accuracy), and the certified radii of "
        "lyactrl.robust.certified_radius on the test set.",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint from lyactrl train")
    p.add_argument("--dataset", default=None, help="digits or mnist (default: from the model)")
    p.add_argument("--data-dir", default=None, help="directory with the MNIST idx files")
    p.add_argument(
        "--attack",
        default="pgd",
        choices=[*ATTACKS, "none"],
        help="pgd, or the gradient-free square attack (L-inf only; --steps is its iterations)",
    )
    p.add_argument("--norm", default="inf", choices=["inf", "2"], help="threat norm")
    p.add_argument("--eps", type=float, nargs="+", default=None, help="attack radii")
    p.add_argument("--steps", type=int, default=40, help="PGD steps (default 40)")
    p.add_argument("--restarts", type=int, default=1, help="PGD random restarts (default 1)")
    p.add_argument("--n", type=int, default=500, help="test examples used (default 500)")
    p.add_argument("--solver", default="rk4", choices=["rk4", "dopri5"], help="ODE solver")
    p.add_argument("--solver-steps", type=int, default=10, help="RK4 steps (default 10)")
    p.add_argument("--radius", action="store_true", help="also report certified radii")
    p.add_argument(
        "--radii",
        type=float,
        nargs="+",
        default=None,
        help="radii at which to report certified accuracy",
    )
    p.add_argument(
        "--certify-premise",
        action="store_true",
        help="try to prove the rate with lyactrl.certify (slow)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _load(args: argparse.Namespace) -> tuple[Any, str, Any]:
    """The classifier of the checkpoint, its data set's name and that data set."""
    from .._errors import InvalidValueError
    from ..train.lyanet import load_classifier, load_dataset

    model, _ = load_classifier(args.checkpoint)
    shape = tuple(model.config.get("input_shape", ()))
    dataset = args.dataset or _SHAPES.get(shape)
    if dataset is None:
        raise InvalidValueError(
            f"--dataset: cannot infer the data set from input shape {shape}; pass --dataset"
        )
    if args.n < 1 or args.steps < 1 or args.restarts < 1 or args.solver_steps < 1:
        raise InvalidValueError(
            "--n, --steps, --restarts, --solver-steps: expected positive ints, received "
            f"{args.n}, {args.steps}, {args.restarts}, {args.solver_steps}"
        )
    return model, dataset, load_dataset(dataset, data_dir=args.data_dir, seed=0)


def robustness_report(args: argparse.Namespace) -> dict[str, Any]:
    """What ``lyactrl robustness`` computes, as a JSON-ready dict."""
    import torch

    from ..robust import attack_accuracy

    model, dataset, data = _load(args)
    x, y = data.x_test[: args.n], data.y_test[: args.n]
    solver = (
        f"rk4, {args.solver_steps} steps"
        if args.solver == "rk4"
        else "dopri5, rtol 1e-5, atol 1e-6"
    )

    def logits(z: torch.Tensor) -> torch.Tensor:
        return model(z, method=args.solver, steps=args.solver_steps)

    eps_list = args.eps or ([0.1, 0.3] if args.norm == "inf" else [1.0, 2.0])
    report: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "dataset": dataset,
        "n": int(x.shape[0]),
        "solver": solver,
        "norm": args.norm,
        "attacks": [],
    }
    g = torch.Generator().manual_seed(args.seed)
    if args.attack != "none":
        for eps in eps_list:
            r = attack_accuracy(
                logits,
                x,
                y,
                eps=eps,
                norm=args.norm,
                steps=args.steps,
                restarts=args.restarts,
                generator=g,
                solver=solver,
                attack=args.attack,
            )
            report["attacks"].append(r.to_dict())
    if args.radius:
        report["certified"] = _certified(args, model, x, y, g)
    return report


def radius_label(status: Any, premise: list[str], radius: Any) -> str:
    """How the command line names the radii: ``certified radii`` only when the result's status
    is ``certified`` (every positive radius rests on a proved premise)."""
    if str(status) == "certified":
        return "certified radii"
    used = [p for p, r in zip(premise, radius.tolist(), strict=True) if r > 0]
    if "sampled" in used:
        return "radii (sampled premises)"
    return "radii (no proved premise)"


def _certified(args: argparse.Namespace, model: Any, x: Any, y: Any, g: Any) -> dict[str, Any]:
    """Radii of the test examples and the accuracy at given radii.

    Each example gets the larger of the Lyapunov radius and the trajectory radius (always
    proved: the tube encloses the perturbed trajectory); the Lyapunov radius is proved when
    the result's status is ``certified``.
    """
    import torch

    from ..robust import certified_radius

    cr = certified_radius(
        model, x, y, norm=args.norm, certify_premise=args.certify_premise, generator=g
    )
    rad = torch.maximum(cr.radius, cr.radius_trajectory)
    quartiles = torch.quantile(rad, torch.tensor([0.25, 0.5, 0.75], dtype=rad.dtype))
    radii = args.radii or sorted({float(q) for q in quartiles.tolist()})
    ordered = torch.sort(torch.where(cr.correct, rad, -1.0), descending=True).values
    half = float(ordered[int((x.shape[0] + 1) // 2) - 1])
    return {
        "status": str(cr.status),
        "label": radius_label(cr.status, cr.premise, cr.radius),
        "norm": args.norm,
        "certified_accuracy": {
            f"{r:.6g}": float(((rad >= r) & cr.correct).double().mean()) for r in radii
        },
        "median_radius": float(rad.median()),
        "largest_radius_with_half_certified": max(half, 0.0) if half >= 0 else None,
        "premise_counts": {p: cr.premise.count(p) for p in ("certified", "sampled", "none")},
        "message": (
            f"{cr.message}. radius = max of the Lyapunov radius and the trajectory radius (the "
            "logit margin against the proved tube); 'sampled' premises are statistical (rate "
            "observed on samples), 'certified' ones proved by lyactrl.certify; the nominal "
            f"trajectory ({cr.trajectory_solver}) is enclosed by a proved tube"
        ),
        "sensitivity": cr.sensitivity,
        "seconds": cr.seconds,
    }


def run(args: argparse.Namespace) -> int:
    report = robustness_report(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['dataset']}, {report['n']} test examples, solver {report['solver']}")
    for a in report["attacks"]:
        how = (
            f"{a['steps']} steps of {a['step_size']:.4g}, {a['restarts']} restart(s)"
            if a["method"] == "pgd"
            else f"{a['steps']} iterations"
        )
        print(
            f"  {ATTACKS[a['method']]} L{a['norm']} "
            f"eps={a['eps']:g} ({how}): clean {a['clean_accuracy']:.4f}, attacked "
            f"{a['adversarial_accuracy']:.4f}"
        )
    if "certified" in report:
        c = report["certified"]
        half = c["largest_radius_with_half_certified"]
        shown = "none (fewer than half certified)" if half is None else f"{half:.4g}"
        print(
            f"  {c['label']} (L{c['norm']}, {c['status']}): median {c['median_radius']:.4g}, "
            f"largest with >= 50% covered {shown}"
        )
        word = "certified accuracy" if c["status"] == "certified" else "accuracy within radius"
        for r, acc in c["certified_accuracy"].items():
            print(f"    {word} at {r}: {acc:.4f}")
        print(f"    premises: {c['premise_counts']}")
    return 0
