"""TrainingAdapter and fit: training lowers violations, exact resume, early stopping, metrics."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import lyactrl
from lyactrl import CheckpointError
from lyactrl._errors import InvalidArgumentError, InvalidValueError
from lyactrl._results import Status
from lyactrl.train import (
    BoxSampler,
    ConditionLoss,
    CounterexampleBuffer,
    LyaNetBallSampler,
    TrainingAdapter,
    fit,
    load_checkpoint,
)

BOX = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on the shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _mlp(seed: int, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Linear(2, 16), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, 2))
    return nn.Sequential(*layers).double()


def _violation_rate(f: nn.Module, V, rate: float) -> float:
    cond = lyactrl.ExponentialStability(lyactrl.NeuralSystem(f, 2), V, rate=rate)
    res = lyactrl.check_sampled(
        cond, BOX, n_samples=4000, generator=torch.Generator().manual_seed(9)
    )
    return res.violation_rate


def test_training_lowers_the_violation_rate():
    f = _mlp(0)
    with torch.no_grad():  # start from an unstable field: f(x) ~ x + MLP
        f[2].bias.zero_()
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    before = _violation_rate(f, V, 0.5)
    adapter = TrainingAdapter.for_dynamics(
        f, 2, V, rate=0.5, sampler=BoxSampler([-1.0, -1.0], [1.0, 1.0]), n_samples=128
    )
    opt = torch.optim.Adam(f.parameters(), lr=0.02)
    res = fit(adapter, opt, epochs=4, steps_per_epoch=25, quiet=True)
    after = _violation_rate(f, V, 0.5)
    assert res.status == "completed" and res.steps == 100
    assert before > 0.1
    assert after < 0.5 * before
    assert res.history[-1]["condition_loss"] < res.history[0]["condition_loss"]


def test_plain_loop_with_a_jointly_trained_neural_lyapunov():
    f = _mlp(1)
    V = lyactrl.NeuralLyapunov(2, hidden=(8,), generator=torch.Generator().manual_seed(0))
    adapter = TrainingAdapter.for_dynamics(
        f, 2, V, rate=0.3, sampler=LyaNetBallSampler([0.0, 0.0], 1.0), n_samples=64
    )
    names = {n.split(".")[0] for n, _ in adapter.model.named_parameters()}
    assert names == {"dynamics", "V"}
    opt = torch.optim.Adam(adapter.model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    v0 = V.phi[0].weight.detach().clone()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss, diag = adapter.loss(generator=g)
        loss.backward()
        opt.step()
        losses.append(diag["condition_loss"])
    assert not torch.equal(v0, V.phi[0].weight)  # V is trained through its gradient
    assert sum(losses[-5:]) < sum(losses[:5])


def test_data_controlled_dynamics_with_context():
    """f(x, c) = W [x, c]: learn to make V_c(x) = 1/2 |x - c|^2 decrease at every context."""

    class F(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2, dtype=torch.float64)

        def forward(self, x, c):
            return self.lin(torch.cat([x, c], dim=1))

    torch.manual_seed(0)
    f = F()
    adapter = TrainingAdapter.for_dynamics(
        f,
        2,
        lambda batch: lyactrl.SquaredError(batch[0]),
        rate=0.5,
        sampler=LyaNetBallSampler([0.0, 0.0], 2.0),
        inputs="x,context",
        n_samples="batch",
    )
    data = [
        (torch.randn(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(i)),)
        for i in range(4)
    ]
    res = fit(
        adapter, torch.optim.Adam(f.parameters(), lr=0.05), epochs=15, train_data=data, quiet=True
    )
    assert (
        res.history[-1]["violation_fraction"] < 0.5 * res.history[0]["violation_fraction"] + 1e-12
    )
    assert res.history[-1]["n_samples"] == 32


def _setup(tmp_path, seed=0):
    """A run that exercises every piece of state resume must restore."""
    f = _mlp(seed, dropout=0.1)  # dropout draws from the global torch RNG
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    buf = CounterexampleBuffer(32, base=BoxSampler([-1.0, -1.0], [1.0, 1.0]), fraction=0.25)
    cond = lyactrl.ExponentialStability(lyactrl.NeuralSystem(f, 2), V, rate=0.5)
    xs = torch.randn(48, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    ys = -xs
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(xs, ys),
        batch_size=16,
        shuffle=True,
        generator=torch.Generator().manual_seed(11),
    )

    def task(batch):
        x, y = batch
        return ((f(x) - y) ** 2).mean()

    adapter = TrainingAdapter(
        f, ConditionLoss(cond, buf, n_samples=64, dtype=torch.float64), task_loss=task
    )
    opt = torch.optim.SGD(f.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def refresh(epoch, record, gen):
        buf.refresh(cond, BOX, generator=gen, n_starts=16, steps=5)

    kwargs = dict(
        epochs=5,
        train_data=loader,
        scheduler=sched,
        extra_state={"buffer": buf},
        callback=refresh,
        seed=123,
        quiet=True,
        validate=lambda: float(task((xs, ys))),
    )
    return f, adapter, opt, kwargs


def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path):
    f_ref, adapter, opt, kw = _setup(tmp_path)
    ref = fit(adapter, opt, checkpoint_dir=tmp_path / "ref", **kw)
    assert ref.status == "completed" and ref.epochs == 5

    f_int, adapter, opt, kw = _setup(tmp_path)
    inner = kw["callback"]

    def interrupt(epoch, record, gen):
        inner(epoch, record, gen)
        if epoch == 3:  # interrupted after 3 epochs, before the 3rd checkpoint is written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(adapter, opt, checkpoint_dir=tmp_path / "run", **{**kw, "callback": interrupt})
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ck.metadata["epoch"] == 2

    f_new, adapter, opt, kw = _setup(
        tmp_path, seed=99
    )  # different init: everything must come from the checkpoint
    res = fit(
        adapter, opt, checkpoint_dir=tmp_path / "run", resume=tmp_path / "run" / "last.pt", **kw
    )
    assert res.epochs == 5 and res.steps == ref.steps
    for a, b in zip(f_ref.state_dict().values(), f_new.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert [h["loss"] for h in res.history] == [h["loss"] for h in ref.history]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 5 and len(metrics["history"]) == 5


def test_resume_from_corrupted_checkpoint_is_an_error_and_prev_survives(tmp_path):
    f, adapter, opt, kw = _setup(tmp_path)
    fit(adapter, opt, checkpoint_dir=tmp_path, **{**kw, "epochs": 2})
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="previous checkpoint"):
        fit(adapter, opt, resume=last, **kw)
    assert load_checkpoint(tmp_path / "last.pt.prev").metadata["epoch"] == 1
    with pytest.raises(CheckpointError, match="not a checkpoint written by fit"):
        fit(adapter, opt, resume=tmp_path / "best.pt", **kw)


def test_early_stopping_best_checkpoint_and_metrics(tmp_path):
    f = _mlp(3)
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    adapter = TrainingAdapter.for_dynamics(
        f, 2, V, rate=0.5, sampler=BoxSampler([-1.0, -1.0], [1.0, 1.0]), n_samples=32
    )
    scores = iter([3.0, 1.0, 2.0, 1.5, 1.2, 0.5])
    weights_at = {}

    def validate():
        return {"val_loss": next(scores), "val_other": 7.0}

    def remember(epoch, record, gen):
        weights_at[epoch] = f[0].weight.detach().clone()

    res = fit(
        adapter,
        torch.optim.Adam(f.parameters(), lr=0.01),
        epochs=6,
        steps_per_epoch=3,
        validate=validate,
        patience=3,
        restore_best=True,
        callback=remember,
        checkpoint_dir=tmp_path,
        config={"lr": 0.01},
        quiet=True,
    )
    assert res.status == "stopped_early" and res.epochs == 5
    assert "for 3 epochs" in res.message and "best epoch 2" in res.message
    assert res.best_epoch == 2 and res.best_metric == 1.0
    assert torch.equal(f[0].weight, weights_at[2])  # restore_best
    best = load_checkpoint(tmp_path / "best.pt")
    assert best.metadata["epoch"] == 2 and torch.equal(
        best.state["model"]["0.weight"], weights_at[2]
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "stopped_early" and metrics["config"] == {"lr": 0.01}
    assert metrics["history"][0]["val_other"] == 7.0 and "train_seconds" in metrics
    assert res.to_dict()["history"][1]["val_loss"] == 1.0


def test_divergence_is_a_status():
    f = _mlp(4)
    adapter = TrainingAdapter(
        f, task_loss=lambda b: f(torch.zeros(1, 2, dtype=torch.float64)).sum() * float("nan")
    )
    res = fit(
        adapter, torch.optim.SGD(f.parameters(), lr=0.1), epochs=3, steps_per_epoch=2, quiet=True
    )
    assert res.status == "diverged" and res.steps == 0
    assert isinstance(res.status, Status) and "nan" in res.message
    assert res.to_dict()["status"] == "diverged" and res.method == "fit" and res.seconds >= 0


def test_fit_leaves_the_global_rng_alone_and_its_seed_drives_the_samples():
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    runs = []
    for _ in range(2):
        f = _mlp(6)
        adapter = TrainingAdapter.for_dynamics(
            f, 2, V, rate=0.5, sampler=BoxSampler([-1.0, -1.0], [1.0, 1.0]), n_samples=16
        )
        state = torch.random.get_rng_state()
        res = fit(
            adapter,
            torch.optim.SGD(f.parameters(), lr=0.1),
            epochs=2,
            steps_per_epoch=3,
            seed=5,
            quiet=True,
        )
        assert torch.equal(torch.random.get_rng_state(), state)
        assert res.status is Status.COMPLETED and res.message == ""
        runs.append([h["loss"] for h in res.history])
        torch.rand(3)  # the global RNG moves on: the runs still agree (the seed is local)
    assert runs[0] == runs[1]


def test_bad_arguments(tmp_path):
    f = _mlp(5)
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    box = BoxSampler([-1.0, -1.0], [1.0, 1.0])
    with pytest.raises(InvalidArgumentError, match="model"):
        TrainingAdapter("net", task_loss=lambda b: 0)
    with pytest.raises(InvalidValueError, match="neither"):
        TrainingAdapter(f)
    with pytest.raises(InvalidArgumentError, match="condition_loss"):
        TrainingAdapter(f, condition_loss=lambda b: 0)
    adapter = TrainingAdapter.for_dynamics(f, 2, V, rate=1.0, sampler=box)
    opt = torch.optim.SGD(f.parameters(), lr=0.1)
    with pytest.raises(InvalidValueError, match="steps_per_epoch"):
        fit(adapter, opt, epochs=1)
    with pytest.raises(InvalidValueError, match="validate"):
        fit(adapter, opt, epochs=1, steps_per_epoch=1, patience=2)
    with pytest.raises(InvalidArgumentError, match="extra_state"):
        fit(adapter, opt, epochs=1, steps_per_epoch=1, extra_state={"x": 3})
    with pytest.raises(InvalidValueError, match="val_loss"):
        fit(adapter, opt, epochs=1, steps_per_epoch=1, validate=lambda: {"acc": 1.0})
    with pytest.raises(InvalidValueError, match="task_loss"):
        TrainingAdapter(f, task_loss=lambda b: torch.ones(3)).loss()


def test_progress_bar_only_on_a_terminal_and_not_quiet(monkeypatch, capsys):
    f = _mlp(6)
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    box = BoxSampler([-1.0, -1.0], [1.0, 1.0])
    adapter = TrainingAdapter.for_dynamics(f, 2, V, rate=1.0, sampler=box, n_samples=8)
    opt = torch.optim.SGD(f.parameters(), lr=0.01)
    fit(adapter, opt, epochs=2, steps_per_epoch=1)  # stderr is captured: not a terminal
    assert "fit" not in capsys.readouterr().err
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    fit(adapter, opt, epochs=2, steps_per_epoch=1, quiet=True)
    assert "fit" not in capsys.readouterr().err
    fit(adapter, opt, epochs=2, steps_per_epoch=1)
    assert "fit" in capsys.readouterr().err
