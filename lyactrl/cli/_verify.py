"""``lyactrl verify``: check or certify a system from the shell.

Exit codes (documented in ``lyactrl verify --help``): 0 certified or holds on samples,
1 falsified, 2 unknown, 3 bad input.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run", "EXIT_CODES"]

#: Exit code of ``lyactrl verify`` for each status (bad input is 3).
EXIT_CODES = {"certified": 0, "holds_on_samples": 0, "falsified": 1, "unknown": 2}
EXIT_BAD_INPUT = 3
METHODS = ("sampled", "falsify", "certify", "roa")

EPILOG = """exit codes:
  0  certified, or holds on samples (method sampled)
  1  falsified: a concrete counterexample was found
  2  unknown: neither proved nor refuted within the budget
  3  bad input (the message says which argument and why)

examples:
  lyactrl verify --expr "-x2, x1 - (1 - x1**2)*x2" --states x1,x2 --box -0.5,0.5 -0.5,0.5
  lyactrl verify --expr "-x2, x1 - (1 - x1**2)*x2" --states x1,x2 \\
      --box -2.5,2.5 -3.5,3.5 --method roa --json
  lyactrl verify my_system.py:system --candidate quadratic --box -1,1 -1,1 --max-rate
"""


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
    p.add_argument("system", nargs="?", help="PATH.py:ATTR naming a lyactrl system or module")
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
        "--candidate",
        default="quadratic",
        help="quadratic (from the linearisation), sos, neural, or PATH.py:ATTR",
    )
    p.add_argument("--box", nargs="+", metavar="LO,HI", help="one LO,HI pair per state")
    p.add_argument(
        "--rate",
        type=float,
        help="decay rate (default: half the best rate of the "
        "linearisation for a quadratic V, 0.1 otherwise)",
    )
    p.add_argument("--max-rate", action="store_true", help="find the largest certified rate")
    p.add_argument("--method", choices=METHODS, default="certify")
    p.add_argument("--samples", type=int, default=100_000, help="states for --method sampled")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds for certification")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--plot", metavar="DIR", help="write figures (PNG and SVG) into DIR")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    # let "--box -2.5,2.5" read "-2.5,2.5" as a value, not as an option
    p._negative_number_matcher = _NUMBERS  # type: ignore[attr-defined]
    return p


_NUMBERS = re.compile(r"^-[\d.]+(e[-+]?\d+)?(,-?[\d.]+(e[-+]?\d+)?)*$")


class _BadInput(Exception):
    pass


def _load_attr(spec: str) -> Any:
    path, _, attr = spec.rpartition(":")
    if not path or not attr:
        raise _BadInput(f"expected PATH.py:ATTR, received {spec!r}")
    file = Path(path)
    if not file.is_file():
        raise _BadInput(f"{path!r} is not a file")
    module_spec = importlib.util.spec_from_file_location(file.stem, file)
    if module_spec is None or module_spec.loader is None:
        raise _BadInput(f"cannot import {path!r}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, attr):
        raise _BadInput(f"{path!r} has no attribute {attr!r}")
    return getattr(module, attr)


def _system(args: argparse.Namespace) -> Any:
    import torch

    from . import NeuralSystem, SymbolicSystem
    from .systems import AbstractSystem

    if (args.system is None) == (args.expr is None):
        raise _BadInput("give exactly one of SYSTEM (PATH.py:ATTR) and --expr")
    if args.expr is not None:
        if not args.states:
            raise _BadInput("--expr needs --states, e.g. --states x1,x2")
        params = {}
        for item in args.param:
            name, _, value = item.partition("=")
            try:
                params[name.strip()] = float(value)
            except ValueError as exc:
                raise _BadInput(f"--param: expected NAME=NUMBER, received {item!r}") from exc
        exprs = [e.strip() for e in args.expr.split(",")]
        return SymbolicSystem(exprs, args.states, parameters=params)
    obj = _load_attr(args.system)
    if callable(obj) and not isinstance(obj, (AbstractSystem, torch.nn.Module)):
        obj = obj()
    if isinstance(obj, AbstractSystem):
        return obj
    if isinstance(obj, torch.nn.Module):
        if args.n_states is None:
            raise _BadInput("an nn.Module system needs --n-states")
        return NeuralSystem(obj, args.n_states)
    raise _BadInput(
        f"SYSTEM: expected a lyactrl system or nn.Module, received {type(obj).__name__}"
    )


def _region(args: argparse.Namespace, n: int) -> Any:
    from . import Box

    if not args.box:
        raise _BadInput(f"--box: expected {n} LO,HI pairs, received none")
    if len(args.box) != n:
        raise _BadInput(
            f"--box: expected {n} LO,HI pairs (one per state), received {len(args.box)}"
        )
    lo, hi = [], []
    for pair in args.box:
        try:
            a, b = (float(v) for v in pair.split(","))
        except ValueError as exc:
            raise _BadInput(f"--box: expected LO,HI numbers, received {pair!r}") from exc
        lo.append(a)
        hi.append(b)
    return Box(lo, hi)


def _candidate(args: argparse.Namespace, system: Any, region: Any) -> Any:
    from . import Quadratic

    kind = args.candidate
    if kind == "quadratic":
        return Quadratic.from_linearization(system)
    if kind == "sos":
        from . import sos_lyapunov

        found = sos_lyapunov(system, degree=4)
        if found.candidate is None:
            raise _BadInput(f"--candidate sos: no SOS Lyapunov function found ({found.status})")
        return found.candidate
    if kind == "neural":
        from . import fit_lyapunov

        return fit_lyapunov(system, region, seed=args.seed).V
    return _load_attr(kind)


def _default_rate(system: Any, V: Any) -> float:
    from . import Quadratic, best_quadratic_rate, linearize

    if isinstance(V, Quadratic):
        return 0.5 * best_quadratic_rate(linearize(system), V.P)
    return 0.1


def run(args: argparse.Namespace) -> int:
    import torch

    from . import ExponentialStability, LyactrlError, check_sampled, falsify
    from ._report import Report
    from ._results import jsonable

    try:
        system = _system(args)
        region = _region(args, system.n_states)
        V = _candidate(args, system, region)
        rate = args.rate if args.rate is not None else _default_rate(system, V)
        gen = torch.Generator().manual_seed(args.seed)
        header = {
            "system": repr(system),
            "candidate": repr(V),
            "region": repr(region),
            "method": args.method,
        }
        if args.max_rate:
            from . import max_certified_rate

            result = max_certified_rate(system, V, region, time_limit=args.time_limit)
            rate = float(result.rate)
        elif args.method == "sampled":
            cond = ExponentialStability(system, V, rate)
            result = check_sampled(cond, region, n_samples=args.samples, generator=gen)
        elif args.method == "falsify":
            result = falsify(ExponentialStability(system, V, rate), region, generator=gen)
        elif args.method == "certify":
            from . import certify

            result = certify(
                ExponentialStability(system, V, rate), region, time_limit=args.time_limit
            )
        else:
            from . import region_of_attraction

            result = region_of_attraction(system, V, region, rate=rate, time_limit=args.time_limit)
    except (LyactrlError, _BadInput) as exc:
        print(f"lyactrl verify: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report = {**header, "rate": rate, **result.to_dict()}
    if args.plot:
        _plots(args.plot, system, V, region, rate, result)
    if args.json:
        print(json.dumps(jsonable(report), indent=2))
    else:
        shown = Report()
        shown.add(
            "lyactrl verify",
            **{k: v for k, v in report.items() if not isinstance(v, list) or len(v) <= 4},
        )
        print(shown.text(), end="")
    return EXIT_CODES.get(result.status, 2)


def _plots(directory: str, system: Any, V: Any, region: Any, rate: float, result: Any) -> None:
    from . import ExponentialStability
    from .plot import phase_portrait, residual_heatmap, save_figure

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
