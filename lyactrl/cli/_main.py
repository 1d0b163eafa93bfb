"""The ``lyactrl`` command line: one parser, one registry of subcommands, one error boundary.

Subcommands register themselves in :data:`SUBCOMMANDS`: a name mapped to the module that
defines ``add_parser(subparsers)`` and ``run(args) -> int``. Modules are imported lazily so
``lyactrl --help`` stays fast. :func:`run_subcommand` is the one place where errors become exit
codes: bad input (any :class:`~lyactrl.LyactrlError`, or an exception raised by code in a file
the user gave) exits with :data:`~lyactrl._results.EXIT_BAD_INPUT`, the message on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from .._errors import LyactrlError
from .._results import EXIT_BAD_INPUT
from ._load import describe_user_error, forget_user_files, raised_in_user_file

__all__ = ["main", "build_parser", "run_subcommand", "SUBCOMMANDS"]

#: Subcommand name -> module defining ``add_parser(subparsers)`` and ``run(args)``.
SUBCOMMANDS = {
    "demo": "lyactrl.cli._demo",
    "verify": "lyactrl.cli._verify",
    "train": "lyactrl.cli._train",
    "robustness": "lyactrl.cli._robustness",
    "synthesize": "lyactrl.cli._synthesize",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Examples
    --------
    >>> from lyactrl.cli._main import build_parser
    >>> build_parser().parse_args(["demo", "--no-lyanet"]).command
    'demo'
    """
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="lyactrl",
        description="Treat a trained neural network as a dynamical system: check, certify, train.",
    )
    parser.add_argument("--version", action="version", version=f"lyactrl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        mod = importlib.import_module(module)
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def _bad_input(command: str, message: str) -> int:
    print(f"lyactrl {command}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_subcommand(
    command: str, run: Callable[[argparse.Namespace], int | None], args: argparse.Namespace
) -> int:
    """Run one subcommand; bad input becomes exit code 3 with ``error: <message>`` on stderr.

    Bad input is any :class:`~lyactrl.LyactrlError`, or any exception whose traceback passes
    through a file loaded from the command line (the user's own system or candidate code).
    Other exceptions are lyactrl bugs and propagate with their traceback.

    Examples
    --------
    >>> import argparse
    >>> from lyactrl import InvalidValueError
    >>> from lyactrl.cli._main import run_subcommand
    >>> def bad(args):
    ...     raise InvalidValueError("--box: expected LO < HI, received 1,-1")
    >>> run_subcommand("verify", bad, argparse.Namespace())
    3
    """
    try:
        return int(run(args) or 0)
    except LyactrlError as exc:
        return _bad_input(command, str(exc))
    except Exception as exc:
        if not raised_in_user_file(exc):
            raise
        return _bad_input(command, describe_user_error(exc))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``lyactrl`` (``["verify", "--help"]``); ``sys.argv[1:]`` by
        default.

    Returns
    -------
    int
        0 on success, 3 on bad input; ``lyactrl verify`` derives the others from the status
        of its result.

    Examples
    --------
    >>> from lyactrl.cli import main
    >>> main(["verify", "--expr=-x1", "--states", "x1", "--box", "1,-1"])  # inverted box
    3
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits with 2 on bad usage; lyactrl reserves 3 for it
        return EXIT_BAD_INPUT if exc.code == 2 else int(exc.code or 0)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    forget_user_files()
    return run_subcommand(args.command, args._run, args)
