"""The ``lyactrl`` command line.

Subcommands register themselves in :data:`SUBCOMMANDS`: a name mapped to the module that
defines ``add_parser(subparsers)`` and ``run(args) -> int``. Modules are imported lazily so
``lyactrl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "SUBCOMMANDS", "EXIT_BAD_USAGE"]

#: Exit code for bad usage or bad input, in every subcommand.
EXIT_BAD_USAGE = 3

#: Subcommand name -> module defining ``add_parser(subparsers)`` and ``run(args)``.
SUBCOMMANDS = {
    "demo": "lyactrl._cli_demo",
    "verify": "lyactrl._cli_verify",
    "train": "lyactrl._cli_train",
    "robustness": "lyactrl._cli_robustness",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lyactrl",
        description="Treat a trained neural network as a dynamical system: check, certify, train.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"lyactrl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        mod = importlib.import_module(module)
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits with 2 on bad usage; lyactrl reserves 3 for it
        return EXIT_BAD_USAGE if exc.code == 2 else int(exc.code or 0)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
