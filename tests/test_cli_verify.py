"""`lyactrl verify`: reports, JSON, exit codes."""

import json

import pytest
import torch
from reference_systems import BiasedField

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


# --- every --candidate kind: a stable system certifies (exit 0), an unstable one never does ---
STABLE = ["--expr", "-x1, -3*x2", "--states", "x1,x2", "--box", "-1,1", "-1,1"]
UNSTABLE = ["--expr", "x1, -x2", "--states", "x1,x2", "--box", "-1,1", "-1,1"]


def test_quadratic_candidate_certifies_a_stable_system(capsys):
    code = main(["verify", *STABLE, "--candidate", "quadratic", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "certified"
    assert report["candidate"].startswith("Quadratic")


def test_sos_candidate_certifies_van_der_pol_on_a_small_box(capsys):
    # the bug: --candidate sos read a `candidate` field the SOS result does not have
    code = main(["verify", *VDP, "--box", "-0.5,0.5", "-0.5,0.5", "--candidate", "sos", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "certified"
    assert report["candidate"].startswith("SymbolicCandidate") and "x1**4" in report["candidate"]
    assert report["rate"] == 0.1


def test_sos_candidate_of_an_unstable_system_is_unknown_exit_2(capsys):
    code = main(["verify", *UNSTABLE, "--candidate", "sos", "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 2 and report["status"] == "unknown"
    assert "no SOS Lyapunov function of degree 4" in report["message"]
    assert "Traceback" not in captured.err


def test_neural_candidate_with_a_tiny_budget_certifies_a_stable_system(capsys):
    argv = ["verify", *STABLE, "--candidate", "neural", "--neural-steps", "100"]
    code = main([*argv, "--neural-grid", "20", "--method", "roa", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "certified" and report["level"] > 0
    assert report["candidate"].startswith("NeuralLyapunov") and report["rate"] == 0.01


def test_neural_candidate_of_an_unstable_system_never_exits_0(capsys):
    argv = ["verify", *UNSTABLE, "--candidate", "neural", "--neural-steps", "20"]
    code = main([*argv, "--neural-grid", "10", "--method", "roa"])
    err = capsys.readouterr().err
    assert code == 3 and "error: domain" in err and "Traceback" not in err


@pytest.fixture
def identity_v(tmp_path):
    f = tmp_path / "myv.py"
    f.write_text("import lyactrl\nV = lyactrl.Quadratic([[1.0, 0.0], [0.0, 1.0]])\n")
    return f"{f}:V"


def test_file_candidate_certifies_a_stable_system(identity_v, capsys):
    # grad V . f = -2 x1^2 - 6 x2^2 <= -2 V: local limit 2, certified at the default rate
    # policy, half of it
    code = main(["verify", *STABLE, "--candidate", identity_v, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "certified" and report["rate"] == pytest.approx(1.0)


def test_file_candidate_of_an_unstable_system_is_falsified_exit_1(identity_v, capsys):
    # at (1, 0): grad V . f + 0.1 V = 2 + 0.1 > 0
    code = main(["verify", *UNSTABLE, "--candidate", identity_v, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (
        code == 1 and report["status"] == "falsified" and report["counterexample_residuals"][0] > 0
    )


def test_file_candidate_factory_is_called(tmp_path, capsys):
    f = tmp_path / "make_v.py"
    f.write_text(
        "import lyactrl\ndef make():\n    return lyactrl.Quadratic([[1.0, 0.0], [0.0, 1.0]])\n"
    )
    assert main(["verify", *STABLE, "--candidate", f"{f}:make"]) == 0


# --- errors of the user's own code are bad input (exit 3, no traceback) ---------------------
def _err(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err
    return err


def test_a_t_x_module_called_with_one_argument_is_bad_input_with_a_hint(tmp_path, capsys):
    f = tmp_path / "tx.py"
    f.write_text(
        "import torch\nclass F(torch.nn.Module):\n    def forward(self, t, x):\n"
        "        return -x\nmodel = F()\n"
    )
    err = _err(["verify", f"{f}:model", "--n-states", "2", "--box", "-1,1", "-1,1"], capsys)
    assert "error: SYSTEM" in err and "raised TypeError" in err and "--inputs t,x" in err
    argv = ["verify", f"{f}:model", "--n-states", "2", "--inputs", "t,x", "--box", "-1,1", "-1,1"]
    assert main([*argv, "--method", "sampled", "--samples", "1000"]) == 0


def test_errors_in_a_user_file_are_bad_input(tmp_path, capsys):
    f = tmp_path / "broken.py"
    f.write_text("raise ValueError('my setup is broken')\n")
    err = _err(["verify", f"{f}:system", "--box", "-1,1", "-1,1"], capsys)
    assert "raised ValueError: my setup is broken" in err


def test_late_errors_of_a_user_model_are_bad_input_naming_the_file(tmp_path, capsys):
    f = tmp_path / "big.py"
    f.write_text(
        "import torch\nclass F(torch.nn.Module):\n    def forward(self, x):\n"
        "        if x.shape[0] > 100:\n            raise ValueError('batch too large')\n"
        "        return -x\nmodel = F()\n"
    )
    argv = ["verify", f"{f}:model", "--n-states", "2", "--box", "-1,1", "-1,1"]
    err = _err([*argv, "--method", "sampled", "--samples", "1000"], capsys)
    assert "big.py, line 5: ValueError: batch too large" in err


def test_a_plain_function_is_not_a_candidate(tmp_path, capsys):
    f = tmp_path / "fv.py"
    f.write_text("def V(x):\n    return (x**2).sum(1)\n")
    err = _err(["verify", *STABLE, "--candidate", f"{f}:V"], capsys)
    assert "--candidate: expected a lyactrl candidate" in err and "received function" in err


def test_help_documents_the_exit_codes(capsys):
    assert main(["verify", "--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0  certified", "1  falsified", "2  unknown", "3  bad input"):
        assert line in out


# --- a torchdiffeq model (forward(t, x)) with its equilibrium away from 0 -------------------
ODE_FUNC = """import torch

class ODEFunc(torch.nn.Module):
    # torchdiffeq style: x' = A (x - c), equilibrium c = (1, 0)
    def __init__(self):
        super().__init__()
        self.register_buffer("A", torch.tensor([[0.0, 1.0], [-1.0, -1.0]], dtype=torch.float64))
        self.register_buffer("c", torch.tensor([1.0, 0.0], dtype=torch.float64))

    def forward(self, t, x):
        return torch.nn.functional.linear(x - self.c, self.A)

func = ODEFunc()
"""


@pytest.fixture
def ode_func(tmp_path):
    f = tmp_path / "ode_func.py"
    f.write_text(ODE_FUNC)
    return [f"{f}:func", "--n-states", "2", "--box", "0,2", "-1,1"]


def test_a_torchdiffeq_model_without_inputs_t_x_is_bad_input_naming_the_flag(ode_func, capsys):
    err = _err(["verify", *ode_func], capsys)
    assert "takes (t, x)" in err and "--inputs t,x" in err and "inputs='" not in err


def test_a_torchdiffeq_model_holds_at_its_equilibrium_with_x_eq(ode_func, capsys):
    argv = ["verify", *ode_func, "--inputs", "t,x", "--x-eq", "1,0", "--method", "sampled"]
    code = main([*argv, "--samples", "5000", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "holds_on_samples"
    assert "x_eq=[1.0, 0.0]" in report["system"] or report["n_samples"] == 5000


def test_a_torchdiffeq_model_without_x_eq_gets_its_equilibrium_found(ode_func, capsys):
    # f(0) != 0: the command line finds and proves the equilibrium (1, 0) and checks there
    argv = ["verify", *ode_func, "--inputs", "t,x", "--method", "sampled", "--samples", "5000"]
    code = main([*argv, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "holds_on_samples"
    assert report["equilibrium"]["status"] == "certified"
    assert report["equilibrium"]["x"] == pytest.approx([1.0, 0.0], abs=1e-12)


def test_a_torchdiffeq_model_is_certified_at_its_equilibrium_with_x_eq(ode_func, capsys):
    argv = ["verify", *ode_func, "--inputs", "t,x", "--x-eq", "1,0", "--json"]
    code = main(argv)
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "certified"
    assert report["local_lo"] == [0.0, -1.0] and report["local_hi"] == [2.0, 1.0]


def test_x_eq_for_an_expression_system(capsys):
    argv = ["verify", "--expr", "x2, -(x1 - 1) - x2", "--states", "x1,x2", "--box", "0,2", "-1,1"]
    assert main([*argv, "--x-eq", "1,0", "--method", "sampled", "--samples", "5000"]) == 0
    capsys.readouterr()
    err = _err([*argv, "--x-eq", "0.5,0"], capsys)
    assert "error: --x-eq: expected an equilibrium" in err


def test_an_expression_system_is_certified_at_its_equilibrium_with_x_eq():
    argv = ["verify", "--expr", "x2, -(x1 - 1) - x2", "--states", "x1,x2", "--box", "0,2", "-1,1"]
    # the bounds keep the cancelling sum 1 - x1 exact at x1 = 1, so the local certificate closes
    assert main([*argv, "--x-eq", "1,0", "--time-limit", "20"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--x-eq", "1"], "--x-eq: expected 2 numbers"),
        (["--x-eq", "a,b"], "--x-eq: expected 2 comma-separated numbers"),
    ],
)
def test_bad_x_eq_is_bad_input(ode_func, extra, message, capsys):
    assert message in _err(["verify", *ode_func, "--inputs", "t,x", *extra], capsys)


def test_x_eq_cannot_move_the_equilibrium_of_a_lyactrl_system_from_a_file(tmp_path, capsys):
    f = tmp_path / "lin.py"
    f.write_text("import lyactrl\nsystem = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])\n")
    argv = ["verify", f"{f}:system", "--box", "-1,1", "-1,1", "--x-eq", "0.5,0"]
    assert "give x_eq= to the lyactrl system's constructor" in _err(argv, capsys)


def test_a_python_control_system_from_a_file(tmp_path, capsys):
    pytest.importorskip("control")
    f = tmp_path / "ctl.py"
    f.write_text(
        "import control, torch\n"
        "def f(t, x, u, p):\n"
        "    return torch.stack([x[1], -torch.sin(x[0]) - x[1]])\n"
        "plant = control.nlsys(f, states=['theta', 'omega'], inputs=0, outputs=2)\n"
    )
    code = main(["verify", f"{f}:plant", "--box", "-1,1", "-1,1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "certified" and "sin(theta)" in report["system"]


BIASED = "from reference_systems import BiasedField\nmodel = BiasedField()\n"


def test_a_network_with_biases_gets_its_equilibrium_found_proved_and_certified(tmp_path, capsys):
    f = tmp_path / "biased.py"
    f.write_text(BIASED)
    argv = ["verify", f"{f}:model", "--n-states", "2", "--box", "-1,1", "-1,1", "--json"]
    code = main([*argv, "--method", "roa"])
    report = json.loads(capsys.readouterr().out)
    eq = report["equilibrium"]
    assert code == 0 and report["status"] == "certified" and eq["status"] == "certified"
    # the proved box holds a root of the file's own model (checked by direct evaluation)
    x = torch.tensor([eq["x"]], dtype=torch.float64)
    with torch.no_grad():
        assert float(BiasedField()(x).abs().max()) < 1e-12
    assert all(lo <= v <= hi for lo, v, hi in zip(eq["lo"], eq["x"], eq["hi"], strict=True))
    # an equilibrium at the default 0 is left alone (no equilibrium section)
    code = main(["verify", *STABLE, "--json"])
    assert code == 0 and "equilibrium" not in json.loads(capsys.readouterr().out)
