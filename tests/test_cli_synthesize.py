"""`lyactrl synthesize`: the report, JSON with the learned and LQR figures, exit codes."""

from __future__ import annotations

import json
import math

import pytest

from lyactrl.cli import main

DI = [
    "synthesize",
    "--expr",
    "x2, u",
    "--states",
    "x1,x2",
    "--inputs",
    "u",
    "--box",
    "-2,2",
    "-2,2",
]
FAST = ["--steps", "10", "--rounds", "1", "--time-limit", "3", "--controller", "linear"]


def test_json_reports_learned_and_lqr(capsys):
    code = main([*DI, "--u-max", "1", *FAST, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "certified"
    learned, lqr = report["learned"], report["lqr"]
    assert lqr["status"] == "certified" and learned["volume_share"] >= lqr["volume_share"] > 0
    # the LQR gain of the double integrator with Q = I, R = 1 is [1, sqrt(3)]
    assert lqr["gain"][0] == pytest.approx([1.0, math.sqrt(3.0)], rel=1e-9)
    assert learned["decay_bound"]["alpha"] > 0


def test_discrete_text_report(capsys):
    code = main([*DI, "--u-bounds", "-1,1", "--discrete-dt", "0.1", *FAST])
    out = capsys.readouterr().out
    assert code == 0
    assert "DiscreteSystem" in out and "saturated LQR controller" in out


def test_plant_from_file(tmp_path, capsys):
    path = tmp_path / "plant.py"
    path.write_text(
        "import lyactrl\nplant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])\n"
    )
    code = main(["synthesize", f"{path}:plant", "--box", "-1,1", "-1,1", "--u-max", "1", *FAST])
    assert code == 0 and "certified" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["--u-bounds", "1,-1"], "u_bounds"),
        (["--u-bounds", "0.1,1"], "u_bounds"),
        (["--u-max", "1", "--u-bounds", "-1,1"], "--u-max"),
        ([], "--u-max"),
        (["--u-max", "1", "--discrete-dt", "0"], "--discrete-dt"),
        (["--u-max", "1", "--rate", "-1"], "rate"),
    ],
)
def test_bad_input_exit_3(extra, pattern, capsys):
    code = main([*DI, *extra, "--steps", "1"])
    assert code == 3 and pattern in capsys.readouterr().err


def test_expr_needs_inputs(capsys):
    code = main(
        [
            "synthesize",
            "--expr",
            "x2, -x1",
            "--states",
            "x1,x2",
            "--box",
            "-1,1",
            "-1,1",
            "--u-max",
            "1",
        ]
    )
    assert code == 3 and "--inputs" in capsys.readouterr().err


def test_uncontrollable_plant_exit_3(capsys):
    code = main(
        [
            "synthesize",
            "--expr",
            "x1, -x2 + u",
            "--states",
            "x1,x2",
            "--inputs",
            "u",
            "--box",
            "-1,1",
            "-1,1",
            "--u-max",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3 and "uncontrollable mode" in err and "lambda = 1" in err
