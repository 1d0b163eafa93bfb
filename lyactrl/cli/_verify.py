"""``lyactrl verify``: check or certify a system from the shell.

Exit codes (documented in ``lyactrl verify --help``) follow the status of the result
(:func:`lyactrl._results.exit_code`): 0 certified or holds on samples, 1 falsified, 2 unknown,
3 bad input.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from .._results import Status, exit_code, jsonable
from ._report import Report
from ._verify_inputs import (
    CANDIDATES,
    build_candidate,
    build_region,
    build_system,
    locate_equilibrium,
    probe_system,
    progress_option,
)

__all__ = ["add_parser", "run", "METHODS"]

#: Values of ``--method``.
METHODS = ("sampled", "falsify", "certify", "roa")

EPILOG = """exit codes:
  0  certified, or holds on samples (method sampled)
  1  falsified: a concrete counterexample was found
  2  unknown: neither proved nor refuted within the budget (or no candidate V was found)
  3  bad input (the message says which argument and why)

examples:
  lyactrl verify --expr "-x2, x1 - (1 - x1**2)*x2" --states x1,x2 --box -0.5,0.5 -0.5,0.5
  lyactrl verify --expr "-x2, x1 - (1 - x1**2)*x2" --states x1,x2 \\
      --box -2.5,2.5 -3.5,3.5 --method roa --json
  lyactrl verify my_system.py:system --candidate quadratic --box -1,1 -1,1 --max-rate
  lyactrl verify ode_func.py:func --n-states 2 --inputs t,x --x-eq 1,0 --box 0,2 -1,1
"""

_NUMBERS = re.compile(r"^-[\d.]+(e[-+]?\d+)?(,-?[\d.]+(e[-+]?\d+)?)*$")


def _system_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "system",
        nargs="?",
        help="PATH.py:ATTR naming a lyactrl system, an autonomous python-control system or "
        "an nn.Module",
    )
    p.add_argument("--expr", help='right-hand sides, comma separated: "-x2, x1 - x2"')
    p.add_argument("--states", help="state names for --expr, comma separated: x1,x2")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameter value for --expr (repeatable)",
    )
    p.add_argument("--n-states", type=int, help="state dimension of an nn.Module system")
    p.add_argument(
        "--inputs",
        choices=("x", "t,x"),
        default="x",
        help="how an nn.Module system is called: module(x) (default) or module(t, x) (torchdiffeq)",
    )
    p.add_argument(
        "--x-eq",
        metavar="X1,X2,...",
        help="the equilibrium, one number per state (default 0); given to the system (--expr or "
        "an nn.Module) and so to the quadratic candidate from its linearisation there",
    )
    p.add_argument("--box", nargs="+", metavar="LO,HI", help="one LO,HI pair per state")


def _candidate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--candidate",
        default="quadratic",
        help=f"{', '.join(CANDIDATES)} (quadratic from the linearisation, an SOS search on the "
        "box, fit_lyapunov on the box), or PATH.py:ATTR naming a lyactrl candidate",
    )
    p.add_argument("--sos-degree", type=int, default=4, help="degree of an SOS V (default 4)")
    p.add_argument(
        "--neural-steps", type=int, default=4000, help="training steps of a neural V (4000)"
    )
    p.add_argument(
        "--neural-grid", type=int, default=120, help="grid per axis of a neural V's data (120)"
    )


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify",
        help="check, falsify or certify exponential stability of a system",
        description="Check the exponential-decrease condition grad V . f + rate V <= 0 of a "
        "system on a region: on samples, by falsification, by sound certification, or by "
        "computing a certified region of attraction.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _system_arguments(p)
    _candidate_arguments(p)
    p.add_argument(
        "--rate",
        type=float,
        help="decay rate (default: half the best rate of the linearisation for a quadratic V, "
        "0.01 for a neural V, 0.1 otherwise)",
    )
    p.add_argument("--max-rate", action="store_true", help="find the largest certified rate")
    p.add_argument("--method", choices=METHODS, default="certify")
    p.add_argument("--samples", type=int, default=100_000, help="states for --method sampled")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds for certification")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--plot", metavar="DIR", help="write figures (PNG and SVG) into DIR")
    p.add_argument(
        "--quiet", action="store_true", help="no progress bars (they go to stderr on a terminal)"
    )
    # let "--box -2.5,2.5" read "-2.5,2.5" as a value, not as an option
    p._negative_number_matcher = _NUMBERS  # type: ignore[attr-defined]
    return p


def _check(
    args: argparse.Namespace, system: Any, V: Any, region: Any, rate: float, box: Any = None
) -> Any:
    """Run ``--method`` (or ``--max-rate``); returns the result and the rate it is about.

    ``box`` is a proved equilibrium box (from :func:`locate_equilibrium`) for the condition's
    ``x_eq_box``."""
    import torch

    from .. import (
        ExponentialStability,
        certify,
        check_sampled,
        falsify,
        max_certified_rate,
        region_of_attraction,
    )

    cond = ExponentialStability(system, V, rate, x_eq_box=box)
    if args.max_rate:
        result = max_certified_rate(cond, region, time_limit=args.time_limit)
        return result, float(result.rate)
    gen = torch.Generator().manual_seed(args.seed)
    progress = progress_option(args)
    if args.method == "sampled":
        return check_sampled(cond, region, n_samples=args.samples, generator=gen), rate
    if args.method == "falsify":
        return falsify(cond, region, generator=gen), rate
    if args.method == "certify":
        return certify(cond, region, time_limit=args.time_limit, progress=progress), rate
    result = region_of_attraction(cond, region, time_limit=args.time_limit, progress=progress)
    return result, rate


def run(args: argparse.Namespace) -> int:
    system = build_system(args)
    region = build_region(args, system.n_states)
    probe_system(args, system, region)
    system, eq = locate_equilibrium(args, system, region)
    candidate = build_candidate(args, system, region)
    rate = args.rate if args.rate is not None else candidate.rate
    from .. import Quadratic

    header = {
        "system": repr(system),
        "candidate": repr(candidate.V) if candidate.V is not None else args.candidate,
        "region": repr(region),
        "method": args.method,
    }
    if eq is not None:
        header["equilibrium"] = eq.to_dict()
    box = eq if eq is not None and str(eq.status) == "certified" else None
    if box is not None and not isinstance(candidate.V, Quadratic):
        box = None  # only a quadratic V is bounded with an interval centre
    if candidate.V is None:  # no V to check: neither proved nor refuted
        status = Status.UNKNOWN
        report = {**header, "rate": rate, "status": status, "message": candidate.message}
    else:
        result, rate = _check(args, system, candidate.V, region, rate, box)
        status = Status.of(result.status)
        report = {**header, "rate": rate, **result.to_dict()}
        if args.plot:
            _plots(args.plot, system, candidate.V, region, rate, result)
    _print(report, as_json=args.json)
    return exit_code(status)


def _print(report: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(jsonable(report), indent=2))
        return
    shown = Report()
    shown.add(
        "lyactrl verify",
        **{k: v for k, v in report.items() if not isinstance(v, list) or len(v) <= 4},
    )
    print(shown.text(), end="")


def _plots(directory: str, system: Any, V: Any, region: Any, rate: float, result: Any) -> None:
    from .. import ExponentialStability
    from ..plot import phase_portrait, residual_heatmap, save_figure

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if system.n_states != 2:
        return
    level = getattr(result, "level", None)
    cex = getattr(result, "counterexamples", None)
    save_figure(
        phase_portrait(system, region, V=V, certified_level=level, counterexamples=cex),
        out / "phase_portrait",
    )
    save_figure(residual_heatmap(ExponentialStability(system, V, rate), region), out / "residual")
