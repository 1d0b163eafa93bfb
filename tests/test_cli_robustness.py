"""``lyactrl robustness``: JSON report on a freshly trained digits checkpoint."""

from __future__ import annotations

import json

import pytest

from lyactrl._results import EXIT_BAD_INPUT
from lyactrl.cli import main


@pytest.fixture
def checkpoint(trained_digits) -> str:  # noqa: ANN001
    """The checkpoint of the session's trained digits classifier."""
    return str(trained_digits.checkpoint)


def test_json_report(checkpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(
        [
            "robustness",
            checkpoint,
            "--norm",
            "2",
            "--eps",
            "0.5",
            "2.0",
            "--n",
            "40",
            "--steps",
            "8",
            "--radius",
            "--radii",
            "0.0",
            "1e-4",
            "--json",
        ]
    )
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["dataset"] == "digits" and rep["n"] == 40 and rep["solver"] == "rk4, 10 steps"
    a1, a2 = rep["attacks"]
    assert a1["clean_accuracy"] == a2["clean_accuracy"]
    assert a2["adversarial_accuracy"] <= a1["adversarial_accuracy"] <= a1["clean_accuracy"]
    assert a1["step_size"] * a1["steps"] >= a1["eps"]
    cert = rep["certified"]
    assert cert["certified_accuracy"]["0"] <= a1["clean_accuracy"] + 1e-12
    assert sum(cert["premise_counts"].values()) == 40


def test_text_report_and_errors(checkpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["robustness", checkpoint, "--eps", "0.1", "--n", "10", "--steps", "4"]) == 0
    assert "PGD Linf eps=0.1" in capsys.readouterr().out
    assert main(["robustness", checkpoint + ".missing"]) == EXIT_BAD_INPUT
    assert main(["robustness", checkpoint, "--n", "0"]) == EXIT_BAD_INPUT
    assert main(["robustness", checkpoint, "--norm", "1"]) == EXIT_BAD_INPUT
