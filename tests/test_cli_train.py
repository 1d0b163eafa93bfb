"""``lyactrl train`` end to end on digits, and its error messages."""

from __future__ import annotations

import json

import pytest
import torch

from lyactrl._results import EXIT_BAD_INPUT
from lyactrl.cli import main
from lyactrl.cli._train import RULE_DEFAULTS, _settings
from lyactrl.train import load_checkpoint, load_classifier
from lyactrl.train.lyanet import load_digits

KEYS = {
    "test_accuracy",
    "train_seconds",
    "epochs",
    "accuracy_rk4",
    "accuracy_dopri5",
    "nfe_dopri5",
    "violation_rate",
    "decay_fraction",
    "checkpoint",
    "epoch_seconds_median",
}


@pytest.mark.parametrize("method", ["lyanet", "node"])
def test_train_digits_one_epoch(tmp_path, capsys, method):
    out = tmp_path / method
    code = main(
        [
            "train",
            "--dataset",
            "digits",
            "--method",
            method,
            "--epochs",
            "1",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["epochs"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert KEYS <= set(metrics)
    assert set(metrics["accuracy_rk4"]) == {"1", "2", "4", "10", "20"}
    assert metrics["test_accuracy"] == metrics["accuracy_rk4"]["10"]
    assert 0.3 < metrics["test_accuracy"] <= 1.0  # one epoch already beats chance (0.1)
    assert 0.0 <= metrics["violation_rate"] <= 1.0 and metrics["nfe_dopri5"] > 0
    assert metrics["training"]["method"] == method and metrics["epochs"] == 1
    ck = load_checkpoint(out / "last.pt")
    assert ck.metadata["config"]["training"]["method"] == method
    own = RULE_DEFAULTS["digits"][method]  # each rule's tuned settings are applied
    assert ck.metadata["config"]["training"]["lr"] == own["lr"]
    assert ck.metadata["config"]["model"]["dynamics_dropout"] == own.get("dynamics_dropout", 0.0)
    model, _ = load_classifier(out / "last.pt")
    torch.load(out / "last.pt", weights_only=True)

    data = load_digits()
    acc = float((model.predict(data.x_test, steps=10) == data.y_test).double().mean())
    assert acc == pytest.approx(metrics["test_accuracy"])


def test_train_bad_inputs(tmp_path, capsys):
    code = main(["train", "--dataset", "imagenet", "--method", "lyanet", "--out", str(tmp_path)])
    assert code == EXIT_BAD_INPUT
    assert "--dataset: expected one of" in capsys.readouterr().err
    code = main(["train", "--dataset", "digits", "--method", "sgd", "--out", str(tmp_path)])
    assert code == EXIT_BAD_INPUT and "--method" in capsys.readouterr().err
    code = main(["train", "--dataset", "mnist", "--method", "lyanet", "--out", str(tmp_path)])
    assert code == EXIT_BAD_INPUT and "data_dir" in capsys.readouterr().err
    code = main(
        [
            "train",
            "--dataset",
            "mnist",
            "--method",
            "lyanet",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(tmp_path / "missing"),
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "expected a directory" in err and "missing" in err
    code = main(
        [
            "train",
            "--dataset",
            "digits",
            "--method",
            "lyanet",
            "--out",
            str(tmp_path),
            "--epochs",
            "0",
        ]
    )
    assert code == EXIT_BAD_INPUT and "--epochs" in capsys.readouterr().err


def test_train_settings_replace_the_defaults_and_are_checked(tmp_path, capsys):
    base = ["train", "--dataset", "digits", "--epochs", "1", "--quiet"]
    out = tmp_path / "set"
    extra = ["--lr", "0.006", "--dynamics-dropout", "0.5", "--rate", "3", "--n-states", "4"]
    code = main([*base, "--method", "lyanet", "--out", str(out), *extra])
    assert code == 0
    cfg = load_checkpoint(out / "last.pt").metadata["config"]
    assert cfg["model"]["dynamics_dropout"] == 0.5
    tr = cfg["training"]
    assert (tr["lr"], tr["rate"], tr["n_states"], tr["radius"]) == (0.006, 3.0, 4, 2.0)
    model, _ = load_classifier(out / "last.pt")
    assert model.dynamics.dropout.p == 0.5
    capsys.readouterr()
    code = main([*base, "--method", "node", "--out", str(tmp_path / "n"), "--rate", "3"])
    assert code == EXIT_BAD_INPUT
    assert "--rate: expected only with --method lyanet" in capsys.readouterr().err
    code = main(
        [*base, "--method", "node", "--out", str(tmp_path / "d"), "--dynamics-dropout", "1.5"]
    )
    assert code == EXIT_BAD_INPUT
    assert "dynamics_dropout: expected a number in [0, 1), received 1.5" in capsys.readouterr().err


def test_resume_picks_up_the_checkpoint(tmp_path, capsys):
    # bitwise-exact resume of an interrupted run is tested in test_train_adapter.py; here: the
    # command line hands DIR/last.pt to the trainer, so a finished run has nothing left to do
    def train(*extra):
        argv = [
            "train",
            "--dataset",
            "digits",
            "--method",
            "lyanet",
            "--epochs",
            "2",
            "--out",
            str(tmp_path),
            "--quiet",
            *extra,
        ]
        assert main(argv) == 0
        return json.loads((tmp_path / "metrics.json").read_text())

    first = train()
    before = load_checkpoint(tmp_path / "last.pt").state["model"]
    again = train("--resume", "--seed", "1")  # a fresh run with seed 1 would differ
    capsys.readouterr()
    after = load_checkpoint(tmp_path / "last.pt").state["model"]
    assert again["epochs"] == 2
    for key in before:
        assert torch.equal(before[key], after[key])
    assert again["test_accuracy"] == first["test_accuracy"]


def test_official_preset_replaces_the_tuned_settings(tmp_path, capsys):
    """LyaNet's official settings replace the tuned ones (and explicit options still apply);
    end to end, the baseline's official preset (gain 1: a flow cheap to solve) trains, is
    scored at the official tolerance and reloads."""
    arch, train, _ = _settings("digits", "lyanet", 1, {"n_states": 4}, "official")
    assert (arch["dynamics"], arch["context_dim"], arch["gain"]) == ("official", 128 * 128, 100.0)
    assert (train["optimizer"], train["lr_schedule"], train["gain_schedule"]) == (
        "nero",
        "step",
        True,
    )
    assert train["rate"] == pytest.approx(3.8593, abs=1e-4) and train["n_states"] == 4
    assert "dynamics_dropout" in arch and train["lr"] == 1e-2  # not the tuned lr
    base = ["train", "--dataset", "digits", "--epochs", "1", "--quiet", "--preset", "official"]
    out = tmp_path / "official"
    assert main([*base, "--method", "node", "--out", str(out)]) == 0
    cfg = load_checkpoint(out / "last.pt").metadata["config"]
    assert (cfg["model"]["dynamics"], cfg["model"]["gain"]) == ("official", 1.0)
    assert (cfg["training"]["optimizer"], cfg["training"]["batch_size"]) == ("nero", 128)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dopri5_tolerance"] == {"rtol": 1e-3, "atol": 1e-3}
    assert 0.2 < metrics["test_accuracy"] <= 1.0  # one epoch beats chance (0.1)
    model, _ = load_classifier(out / "last.pt")
    acc = float(
        (model.predict(load_digits().x_test, steps=10) == load_digits().y_test).double().mean()
    )
    assert acc == pytest.approx(metrics["test_accuracy"])
    capsys.readouterr()
    code = main(
        [*base[:-2], "--method", "lyanet", "--out", str(tmp_path / "bad"), "--preset", "paper"]
    )
    assert code == EXIT_BAD_INPUT
    assert "--preset: expected one of ('tuned', 'official'), received 'paper'" in (
        capsys.readouterr().err
    )
