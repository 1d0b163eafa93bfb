"""`lyactrl verify`: reports, JSON, exit codes."""

import json

import pytest

from lyactrl.cli import main

VDP = ["--expr", "-x2, x1 - mu*(1 - x1**2)*x2", "--states", "x1,x2", "--param", "mu=1"]


def test_sampled_holds_exit_0(capsys):
    code = main(
        [
            "verify",
            *VDP,
            "--box",
            "-0.5,0.5",
            "-0.5,0.5",
            "--method",
            "sampled",
            "--samples",
            "20000",
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "holds_on_samples"
    assert report["n_samples"] == 20000 and "not a proof" in report["message"]


def test_falsified_exit_1(capsys):
    code = main(["verify", *VDP, "--box", "-2.5,2.5", "-3.5,3.5", "--method", "falsify"])
    out = capsys.readouterr().out
    assert code == 1 and "falsified" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--expr", "-x2, x1", "--box", "-1,1", "-1,1"],  # no --states
        ["verify", *VDP, "--box", "-1,1"],  # one pair for two states
        ["verify", *VDP, "--box", "1,-1", "-1,1", "--method", "sampled"],  # inverted
        ["verify", *VDP, "--box", "a,b", "-1,1"],
        ["verify", "--expr", "-x2, x1 - mu*x2", "--states", "x1,x2", "--box", "-1,1", "-1,1"],
        ["verify", *VDP, "--box", "-1,1", "-1,1", "--method", "nope"],  # argparse error
        ["verify", "missing_file.py:sys", "--box", "-1,1", "-1,1"],
    ],
)
def test_bad_input_exit_3(argv, capsys):
    assert main(argv) == 3
    assert "error" in capsys.readouterr().err


def test_unstable_linearisation_is_bad_input_with_eigenvalues(capsys):
    code = main(["verify", "--expr", "x1, -x2", "--states", "x1,x2", "--box", "-1,1", "-1,1"])
    assert code == 3 and "eigenvalues" in capsys.readouterr().err


def test_system_from_a_python_file(tmp_path, capsys):
    f = tmp_path / "mysys.py"
    f.write_text("import lyactrl\nsystem = lyactrl.LinearSystem([[-1.0, 2.0], [0.0, -3.0]])\n")
    code = main(
        [
            "verify",
            f"{f}:system",
            "--box",
            "-1,1",
            "-1,1",
            "--method",
            "sampled",
            "--samples",
            "5000",
            "--json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["status"] == "holds_on_samples"


def test_roa_certified_exit_0_with_level_and_decay_constants(capsys):
    code = main(["verify", *VDP, "--box", "-2.5,2.5", "-3.5,3.5", "--method", "roa", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "certified"
    assert report["level"] > 0 and report["decay_bound"]["c"] >= 1


def test_certify_on_the_full_domain_is_falsified_exit_1(capsys):
    code = main(["verify", *VDP, "--box", "-2.5,2.5", "-3.5,3.5", "--method", "certify", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["status"] == "falsified"
    assert report["counterexample_residuals"][0] > 0


def test_max_rate_of_a_linear_system_matches_the_closed_form(capsys):
    import numpy as np

    import lyactrl

    code = main(
        [
            "verify",
            "--expr",
            "-x1, -3*x2",
            "--states",
            "x1,x2",
            "--box",
            "-1,1",
            "-1,1",
            "--max-rate",
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    V = lyactrl.Quadratic.from_linearization(lyactrl.LinearSystem(np.diag([-1.0, -3.0])))
    best = lyactrl.best_quadratic_rate(np.diag([-1.0, -3.0]), V.P)
    assert code == 0 and 0.99 * best <= report["rate"] <= best


def test_plots_are_written(tmp_path, capsys):
    code = main(
        [
            "verify",
            *VDP,
            "--box",
            "-0.5,0.5",
            "-0.5,0.5",
            "--method",
            "sampled",
            "--samples",
            "2000",
            "--plot",
            str(tmp_path),
        ]
    )
    assert code == 0
    assert (tmp_path / "phase_portrait.png").stat().st_size > 10_000
    assert (tmp_path / "residual.svg").exists()
