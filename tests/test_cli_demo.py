"""`lyactrl demo` end to end, through the console script and through main()."""

import json
import shutil
import subprocess
import sys

import pytest

from lyactrl.cli import main


def test_demo_json_report(capsys):
    assert main(["demo", "--json", "--no-lyanet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["Sampled check on a small box"]["status"] == "holds_on_samples"
    bound = report["Sampled check on a small box"]["violation_probability_bound"]
    assert 0 < bound < 1e-4
    fals = report["Falsification on the full domain"]
    assert fals["status"] == "falsified" and all(r > 0 for r in fals["residuals"])
    assert report["System"]["best_linear_rate"] > 0
    roa = report["Certified region of attraction"]
    assert roa["status"] == "certified" and roa["c"] >= 1 and roa["alpha"] > 0
    # alpha is half the certified rate
    assert abs(roa["alpha"] - roa["rate"] / 2) < 1e-12


@pytest.mark.skipif(shutil.which("lyactrl") is None, reason="console script not installed")
def test_demo_console_script_prints_a_readable_report():
    out = subprocess.run(["lyactrl", "demo"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "holds_on_samples" in out.stdout and "falsified" in out.stdout
    assert "not a proof" in out.stdout
    assert "Certified region of attraction" in out.stdout
    assert "LyaNet on digits" in out.stdout and "test_accuracy_rk4_2_steps" in out.stdout


def test_help_lists_the_demo():
    out = subprocess.run(
        [sys.executable, "-m", "lyactrl.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "demo" in out.stdout
