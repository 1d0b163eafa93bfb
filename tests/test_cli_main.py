"""The command line's one error boundary (``lyactrl.cli._main.run_subcommand``) and parser."""

import argparse
import subprocess
import sys

import pytest

from lyactrl import InvalidValueError
from lyactrl._results import EXIT_BAD_INPUT
from lyactrl.cli import main
from lyactrl.cli._main import SUBCOMMANDS, build_parser, run_subcommand


def test_lyactrl_errors_exit_3_with_the_message_on_stderr(capsys):
    def bad(args):
        raise InvalidValueError("--box: expected LO < HI, received 1,-1")

    assert run_subcommand("verify", bad, argparse.Namespace()) == EXIT_BAD_INPUT == 3
    captured = capsys.readouterr()
    assert captured.err == "lyactrl verify: error: --box: expected LO < HI, received 1,-1\n"
    assert captured.out == ""


def test_bugs_of_lyactrl_itself_keep_their_traceback():
    def buggy(args):
        raise RuntimeError("internal")

    with pytest.raises(RuntimeError, match="internal"):
        run_subcommand("verify", buggy, argparse.Namespace())


def test_the_exit_code_of_a_subcommand_is_passed_through():
    assert run_subcommand("verify", lambda args: 2, argparse.Namespace()) == 2
    assert run_subcommand("demo", lambda args: None, argparse.Namespace()) == 0


def test_usage_errors_exit_3_and_no_command_prints_help(capsys):
    assert main(["nope"]) == 3
    assert main(["train", "--dataset", "digits"]) == 3  # --method and --out are required
    assert main([]) == 0 and "COMMAND" in capsys.readouterr().out


def test_every_registered_subcommand_has_a_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(SUBCOMMANDS)


def test_python_dash_m_runs_the_command_line():
    out = subprocess.run(
        [sys.executable, "-m", "lyactrl.cli", "verify", "--expr=-x1", "--states", "x1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 3 and "error: --box" in out.stderr
    assert "Traceback" not in out.stderr
