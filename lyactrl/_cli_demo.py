"""``lyactrl demo``: the embedded end-to-end example."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="run the embedded end-to-end example (reversed Van der Pol)",
        description="Reversed Van der Pol (mu = 1): a quadratic V from the linearisation, a "
        "sampled check on a small box, falsification on the full domain, a certified region "
        "of attraction with its decay bound; then a LyaNet classifier on digits.",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-lyanet", action="store_true", help="skip the LyaNet classifier part")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from .demo import run_demo

    report = run_demo(seed=args.seed, lyanet=not args.no_lyanet)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.text())
    return 0
