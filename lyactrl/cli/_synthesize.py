"""``lyactrl synthesize``: learn a saturated controller with its certificate from the shell.

Exit codes follow the status of the result (:func:`lyactrl._results.exit_code`): 0 certified,
2 unknown, 3 bad input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._errors import InvalidArgumentError, InvalidValueError
from .._results import exit_code, jsonable
from ._load import call_factory, load_attr
from ._report import Report
from ._verify_inputs import build_region, parse_params, progress_option

__all__ = ["add_parser", "run"]

EPILOG = """exit codes:
  0  certified: the learned (or the LQR) closed loop's region of attraction is proved
  2  unknown: nothing was certified within the budget
  3  bad input (the message says which argument and why)

examples:
  lyactrl synthesize --expr "x2, u" --states x1,x2 --inputs u --box -2,2 -2,2 \\
      --u-max 1 --controller linear --json
  lyactrl synthesize --expr "x2, (0.73575*sin(x1) - 0.1*x2 + u)/0.0375" --states x1,x2 \\
      --inputs u --box -1.57,1.57 -4,4 --u-max 0.5 --controller neural
  lyactrl synthesize plant.py:plant --box -1,1 -1,1 --u-bounds -0.5,1 --discrete-dt 0.05
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from ._verify import _NUMBERS

    p = sub.add_parser(
        "synthesize",
        help="learn a saturated controller and certify its region of attraction",
        description="Learn a state-feedback controller under input limits together with a "
        "Lyapunov function, certify the closed loop's region of attraction soundly, and "
        "compare it with the saturated LQR controller.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("plant", nargs="?", help="PATH.py:ATTR naming a lyactrl plant with inputs")
    p.add_argument("--expr", help='right-hand sides, comma separated: "x2, u"')
    p.add_argument("--states", help="state names for --expr, comma separated: x1,x2")
    p.add_argument("--inputs", help="input names for --expr, comma separated: u")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameter value for --expr (repeatable)",
    )
    p.add_argument("--box", nargs="+", metavar="LO,HI", help="one LO,HI pair per state")
    p.add_argument("--u-max", type=float, help="input limit |u_i| <= U_MAX")
    p.add_argument("--u-bounds", metavar="LO,HI", help="input limits LO <= u_i <= HI")
    p.add_argument("--controller", choices=("linear", "neural"), default="neural")
    p.add_argument(
        "--discrete-dt",
        type=float,
        metavar="DT",
        help="discretise the plant by explicit Euler with step DT (a discrete-time loop)",
    )
    p.add_argument("--rate", type=float, default=0.01, help="decay rate to certify (0.01)")
    p.add_argument("--steps", type=int, default=1000, help="training steps per round (1000)")
    p.add_argument("--rounds", type=int, default=2, help="training rounds (2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per certification")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p._negative_number_matcher = _NUMBERS  # type: ignore[attr-defined]
    return p


def _plant(args: argparse.Namespace) -> Any:
    from .. import DiscreteSystem, SymbolicSystem
    from ..systems import AbstractSystem

    if (args.plant is None) == (args.expr is None):
        raise InvalidArgumentError("PLANT, --expr: give exactly one of PATH.py:ATTR and --expr")
    if args.expr is not None:
        if not args.states or not args.inputs:
            raise InvalidValueError("--expr: needs --states and --inputs, e.g. --inputs u")
        params = parse_params(args.param)
        exprs = [e.strip() for e in args.expr.split(",")]
        plant = SymbolicSystem(exprs, args.states, inputs=args.inputs, parameters=params)
    else:
        plant = call_factory(load_attr(args.plant, name="PLANT"), f"PLANT {args.plant}")
        if not isinstance(plant, AbstractSystem):
            raise InvalidArgumentError(
                f"PLANT: expected a lyactrl system with inputs, received {type(plant).__name__}"
            )
    if args.discrete_dt is not None:
        if not args.discrete_dt > 0:
            raise InvalidValueError(f"--discrete-dt: expected DT > 0, received {args.discrete_dt}")
        plant = DiscreteSystem.discretize(plant, dt=args.discrete_dt)
    return plant


def _u_bounds(args: argparse.Namespace) -> Any:
    if (args.u_max is None) == (args.u_bounds is None):
        raise InvalidArgumentError("--u-max, --u-bounds: give exactly one")
    if args.u_max is not None:
        return args.u_max
    try:
        lo, hi = (float(v) for v in args.u_bounds.split(","))
    except ValueError as exc:
        raise InvalidValueError(
            f"--u-bounds: expected LO,HI numbers, received {args.u_bounds!r}"
        ) from exc
    return (lo, hi)


def _figures(fit: Any) -> dict[str, Any]:
    def decay(d: Any) -> Any:
        return None if d is None else {"c": d.c, "alpha": d.alpha, "message": d.message}

    return {
        "learned": {
            "status": fit.status,
            "level": fit.level,
            "volume_share": fit.volume_share,
            "decay_bound": decay(fit.decay_bound),
            "V": type(fit.V).__name__,
            "controller": repr(fit.controller),
        },
        "lqr": {
            "status": fit.lqr_status,
            "level": fit.lqr_level,
            "volume_share": fit.lqr_volume_share,
            "decay_bound": decay(fit.lqr_decay_bound),
            "gain": fit.lqr_gain,
        },
    }


def run(args: argparse.Namespace) -> int:
    from .. import fit_controller

    plant = _plant(args)
    domain = build_region(args, plant.n_states)
    fit = fit_controller(
        plant,
        domain,
        u_bounds=_u_bounds(args),
        controller=args.controller,
        rate=args.rate,
        steps=args.steps,
        rounds=args.rounds,
        seed=args.seed,
        time_limit=args.time_limit,
        progress=progress_option(args),
    )
    figures = _figures(fit)
    header = {
        "plant": repr(plant),
        "domain": repr(domain),
        "status": fit.status,
        "message": fit.message,
        "rate": fit.rate,
        "seconds": fit.seconds,
        "train_seconds": fit.train_seconds,
        "counterexamples_added": fit.counterexamples_added,
    }
    if args.json:
        print(json.dumps(jsonable({**header, **figures}), indent=2))
    else:
        shown = Report()
        shown.add("lyactrl synthesize", **header)
        shown.add("learned controller", **figures["learned"])
        shown.add("saturated LQR controller", **figures["lqr"])
        print(shown.text(), end="")
    return exit_code(fit.status)
