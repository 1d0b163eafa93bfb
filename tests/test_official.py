"""The official LyaNet code's flow, gain schedule, optimiser and preset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_systems import three_stripes

from lyactrl.train import build_classifier, fit, train_classifier
from lyactrl.train.lyanet import (
    GainSchedule,
    OfficialDynamics,
    load_classifier,
    official_preset,
    official_rate,
)


def _official_model(seed: int = 0, gain: float = 100.0, encoder: str = "mlp"):
    return build_classifier(
        (1, 4, 4),
        3,
        encoder=encoder,
        dynamics="official",
        context_dim=16,
        hidden=16,
        dynamics_hidden=4,
        dynamics_dropout=0.5,
        scale=15.0,
        gain=gain,
        channels=(2, 3),
        seed=seed,
    )


def _reference_flow(f: OfficialDynamics, eta: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    """The official formula in numpy, from the module's weights (eval mode: no dropout)."""
    w = {k: v.detach().double().numpy() for k, v in f.state_dict().items()}

    def prelu(z):
        return np.where(z > 0, z, w["activation.weight"] * z)

    m, k = f.hidden, eta.shape[1]
    a = prelu(eta @ w["state_in.weight"].T + w["state_in.bias"])
    a = prelu(np.einsum("bij,bj->bi", ctx.reshape(-1, m, m), a))
    u = a @ w["state_out.weight"].T + w["state_out.bias"]
    d = u / np.linalg.norm(u, axis=1, keepdims=True)
    vertices = 15.0 * (2 * np.eye(k) - 1)
    diff = vertices[None] - eta[:, None, :]
    dots = np.einsum("bjk,bk->bj", diff, d)
    soft = np.exp(dots - dots.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    speed = (np.linalg.norm(diff, axis=2) * soft).mean(1, keepdims=True)
    return math.log(math.sqrt(k) * 15.0) * float(w["gain"]) * speed * d


def test_the_flow_is_the_official_formula():
    f = OfficialDynamics(3, 16, hidden=4, dropout=0.5).double().eval()
    g = torch.Generator().manual_seed(1)
    eta = 20 * torch.randn(50, 3, generator=g, dtype=torch.float64)
    ctx = torch.randn(50, 16, generator=g, dtype=torch.float64)
    np.testing.assert_allclose(
        f(eta, ctx).detach().numpy(), _reference_flow(f, eta.numpy(), ctx.numpy()), rtol=1e-10
    )
    f.train()
    assert not torch.equal(f(eta, ctx), f(eta, ctx))  # dropout acts while training


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(2, 6),
    gain=st.floats(0.5, 200.0),
    vertex=st.floats(1.0, 30.0),
    seed=st.integers(0, 10_000),
)
def test_speed_at_the_origin_is_closed_form(k, gain, vertex, seed):
    """At ``eta = 0`` every vertex is ``sqrt(K) vertex`` away, so the speed is
    ``rate * gain * vertex / sqrt(K)`` whatever the direction (any weights, any context)."""
    torch.manual_seed(seed)
    f = OfficialDynamics(k, 9, hidden=3, vertex=vertex, gain=gain).double().eval()
    ctx = torch.randn(7, 9, dtype=torch.float64)
    speed = f(torch.zeros(7, k, dtype=torch.float64), ctx).norm(dim=1)
    gain = float(f.gain)  # the buffer holds the gain in float32
    expected = math.log(math.sqrt(k) * vertex) * gain * vertex / math.sqrt(k)
    torch.testing.assert_close(speed, torch.full_like(speed, expected), rtol=1e-6, atol=0)


def test_rate_and_preset_follow_the_official_constants():
    assert official_rate(10) == pytest.approx(math.log(math.sqrt(10 * 15.0**2)))
    lya, node = official_preset(10), official_preset(10, method="node")
    assert lya["train"]["rate"] == pytest.approx(3.8593, abs=1e-4)
    assert lya["train"]["radius"] == pytest.approx(math.sqrt(10) * 15)
    assert lya["train"]["n_states"] == 512 and lya["train"]["gain_schedule"]
    assert (lya["model"]["gain"], node["model"]["gain"]) == (100.0, 1.0)
    assert node["train"]["batch_size"] == 128 and "gain_schedule" not in node["train"]
    assert lya["model"]["context_dim"] == lya["model"]["dynamics_hidden"] ** 2
    with pytest.raises(ValueError, match="method"):
        official_preset(10, method="sgd")


def test_gain_schedule_follows_the_official_rule():
    f = OfficialDynamics(3, 4, hidden=2, gain=10.0)
    sched = GainSchedule(f, epochs=4, steps_per_epoch=5)  # turns after epoch index 2
    sched(1, {"violation_fraction": 0.5})
    assert float(f.gain) == pytest.approx(10 * 0.9999)
    sched(2, {"violation_fraction": 0.8})  # too many violations: kept
    assert float(f.gain) == pytest.approx(10 * 0.9999)
    sched(15, {"violation_fraction": 0.5})  # epoch index 2 is still the first half
    assert float(f.gain) == pytest.approx(10 * 0.9999**2)
    sched(16, {"violation_fraction": 0.5})  # second half: raised
    assert float(f.gain) == pytest.approx(10 * 0.9999**2 * 1.0001)
    sched(17, {"violation_fraction": 0.05})  # few violations: kept
    assert float(f.gain) == pytest.approx(10 * 0.9999**2 * 1.0001)
    f.gain.fill_(10.0)
    sched(18, {"violation_fraction": 0.5})  # never above the initial gain
    assert float(f.gain) == 10.0
    f.gain.fill_(0.9)
    sched(1, {"violation_fraction": 0.0})  # never lowered below 1
    assert float(f.gain) == pytest.approx(0.9)


def test_official_training_resumes_exactly_with_nero_and_the_schedules(tmp_path):
    """Nero, the step learning-rate schedule and the gain schedule: a run resumed from its
    epoch-3 checkpoint (``last.pt.prev``, after the turn of both schedules) ends with the same
    weights and gain as the uninterrupted one."""
    preset = official_preset(3)
    kw = dict(preset["train"], epochs=4, batch_size=20, n_states=8, seed=3)
    ref = _official_model()
    torch.manual_seed(0)  # the flow's dropout draws from the global RNG, which fit restores
    res = train_classifier(ref, three_stripes(), out_dir=tmp_path / "ref", **kw)
    # each record holds the learning rate set for the next epoch: a tenth from epoch 2 on
    assert res.status == "completed" and [h["lr"] for h in res.history] == pytest.approx(
        [1e-2, 1e-3, 1e-3, 1e-3]
    )
    assert float(ref.dynamics.gain) < 100.0  # lowered in the first half
    resumed = _official_model(seed=9)  # everything must come from the checkpoint
    train_classifier(
        resumed,
        three_stripes(),
        out_dir=tmp_path / "run",
        resume=tmp_path / "ref" / "last.pt.prev",
        **kw,
    )
    for (name, a), b in zip(ref.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    loaded, meta = load_classifier(tmp_path / "ref" / "last.pt")
    assert float(loaded.dynamics.gain) == float(ref.dynamics.gain)
    assert meta["config"]["training"]["optimizer"] == "nero"


def test_nero_constrains_the_convolution_kernels_only():
    model = _official_model(encoder="cnn", gain=1.0)  # the baseline's gain
    res = train_classifier(model, three_stripes(), method="node", optimizer="nero", epochs=1)
    assert res.status == "completed" and res.steps == 1
    for name, p in model.named_parameters():
        if p.ndim > 2:  # centred and of unit norm per output channel
            rows = p.detach().reshape(p.shape[0], -1)
            torch.testing.assert_close(rows.mean(1), torch.zeros(p.shape[0]), atol=1e-6, rtol=0)
            torch.testing.assert_close(rows.norm(dim=1), torch.ones(p.shape[0]))
        elif p.ndim == 2 and name.endswith("weight"):
            assert not torch.allclose(p.detach().norm(dim=1), torch.ones(p.shape[0]))


def test_fit_calls_the_step_callback_after_every_step():
    model = _official_model()
    seen: list[tuple[int, float]] = []
    from lyactrl.train import TrainingAdapter
    from lyactrl.train.lyanet import lyanet_condition_loss

    adapter = TrainingAdapter(model, lyanet_condition_loss(model, n_states=4))
    batches = [
        (three_stripes().x_train[i : i + 10], three_stripes().y_train[i : i + 10])
        for i in (0, 10, 20)
    ]
    fit(
        adapter,
        torch.optim.SGD(model.parameters(), lr=1e-3),
        epochs=2,
        train_data=batches,
        quiet=True,
        step_callback=lambda step, diag: seen.append((step, diag["violation_fraction"])),
    )
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5, 6]
    assert all(0.0 <= v <= 1.0 for _, v in seen)


def test_misuse_is_named():
    with pytest.raises(ValueError, match=r"context_dim: expected hidden \*\* 2 = 16"):
        OfficialDynamics(3, 15, hidden=4)
    with pytest.raises(TypeError, match="dynamics: expected OfficialDynamics"):
        GainSchedule(torch.nn.Linear(2, 2), epochs=2, steps_per_epoch=1)
    vertex = build_classifier((1, 4, 4), 3, context_dim=8, hidden=16, dynamics_hidden=8)
    with pytest.raises(ValueError, match="gain_schedule: expected method='lyanet'"):
        train_classifier(vertex, three_stripes(), epochs=1, gain_schedule=True)
    with pytest.raises(ValueError, match="gain_schedule: expected method='lyanet'"):
        train_classifier(
            _official_model(), three_stripes(), method="node", epochs=1, gain_schedule=True
        )
    with pytest.raises(ValueError, match="optimizer"):
        train_classifier(vertex, three_stripes(), epochs=1, optimizer="sgd")
    with pytest.raises(ValueError, match="lr_schedule"):
        train_classifier(vertex, three_stripes(), epochs=1, lr_schedule="linear")
    with pytest.raises(ValueError, match="weight_decay: expected 0 with optimizer='nero'"):
        train_classifier(vertex, three_stripes(), epochs=1, optimizer="nero", weight_decay=1e-4)
