"""``lyactrl robustness``: JSON report on a freshly trained digits checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from lyactrl._results import EXIT_BAD_INPUT
from lyactrl.cli import main
from lyactrl.cli._robustness import radius_label


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
    # without --certify-premise every premise is sampled: never called certified
    assert cert["premise_counts"]["certified"] == 0 and cert["premise_counts"]["sampled"] > 0
    assert cert["status"] == "holds_on_samples"
    assert cert["label"] == "radii (sampled premises)"


def test_text_report_says_sampled_unless_proved(
    checkpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ["robustness", checkpoint, "--attack", "none", "--n", "12", "--radius"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "radii (sampled premises)" in out
    assert "certified radii" not in out and "certified accuracy" not in out


def test_radius_label() -> None:
    r = torch.tensor([0.1, 0.0, 0.2])
    assert radius_label("certified", ["certified", "none", "certified"], r) == "certified radii"
    assert radius_label("holds_on_samples", ["certified", "none", "sampled"], r) == (
        "radii (sampled premises)"
    )
    # a sampled premise with radius 0 does not count
    assert radius_label("unknown", ["none", "sampled", "none"], r) == "radii (no proved premise)"
    assert radius_label("unknown", ["none"] * 3, torch.zeros(3)) == "radii (no proved premise)"


def test_text_report_and_errors(checkpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["robustness", checkpoint, "--eps", "0.1", "--n", "10", "--steps", "4"]) == 0
    assert "PGD Linf eps=0.1" in capsys.readouterr().out
    args = ["robustness", checkpoint, "--attack", "square", "--eps", "0.1", "--n", "10"]
    assert main([*args, "--steps", "20"]) == 0
    assert "Square Linf eps=0.1 (20 iterations)" in capsys.readouterr().out
    assert main([*args, "--norm", "2"]) == 3  # the Square attack is L-inf only
    assert "norm" in capsys.readouterr().err
    assert main(["robustness", checkpoint + ".missing"]) == EXIT_BAD_INPUT
    assert main(["robustness", checkpoint, "--n", "0"]) == EXIT_BAD_INPUT
    assert main(["robustness", checkpoint, "--norm", "1"]) == EXIT_BAD_INPUT
