"""LyaNet classifier: potentials, the residual, training, the bridge to lyactrl's checks."""

from __future__ import annotations

import re

import pytest
import torch
from reference_systems import three_stripes

import lyactrl
from lyactrl.train import (
    LyaNetBallSampler,
    LyaNetClassifier,
    build_classifier,
    evaluate_classifier,
    load_classifier,
    lyanet_loss,
    lyapunov_residual,
    node_loss,
    sample_states,
    train_classifier,
)


def _model(seed: int = 0, **kw) -> LyaNetClassifier:
    return build_classifier(
        (1, 4, 4), 3, context_dim=8, hidden=16, dynamics_hidden=8, seed=seed, **kw
    )


@pytest.mark.parametrize("seed", range(3))
def test_potential_gradients_match_autograd(seed):
    g = torch.Generator().manual_seed(seed)
    eta = (5 * torch.randn(6, 4, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, 4, (6,), generator=g)
    for V in (
        lyactrl.CrossEntropy(y, n_classes=4),
        lyactrl.SquaredError(torch.randn(6, 4, generator=g, dtype=torch.float64)),
    ):
        v, grad = V.value_and_gradient(eta)
        (auto,) = torch.autograd.grad(v.sum(), eta)
        torch.testing.assert_close(grad, auto, rtol=1e-12, atol=1e-12)
        assert torch.autograd.gradcheck(lambda e, V=V: V.value(e), (eta,))


def test_residual_matches_exponential_stability():
    model = _model(potential="cross_entropy")
    data = three_stripes()
    x, y = data.x_train[:1], int(data.y_train[0])
    eta = LyaNetBallSampler(torch.zeros(3), 8.0).sample(
        50, generator=torch.Generator().manual_seed(0)
    )
    cond = model.condition_for(x, y, rate=2.0)
    ref = cond.residual(eta)
    with torch.no_grad():
        ctx = model.context(x).expand(50, -1)
        mine = lyapunov_residual(model, eta.float(), ctx, torch.full((50,), y), 2.0)
    torch.testing.assert_close(mine.double(), ref, rtol=1e-4, atol=1e-4)
    rel = lyapunov_residual(model, eta.float(), ctx, torch.full((50,), y), 2.0, relative=True)
    assert torch.equal(rel > 0, mine > 0)  # dividing by V > 0 keeps the sign


def test_squared_error_potential_targets_the_vertex():
    model = _model(potential="squared_error", scale=5.0)
    V = model.potential_for(torch.tensor([2, 0]))
    assert V(torch.tensor([[0.0, 0.0, 5.0], [5.0, 0.0, 0.0]])).tolist() == [0.0, 0.0]


def test_training_lowers_the_violation_rate():
    data = three_stripes()
    model = _model(seed=1)
    before = evaluate_classifier(model, data.x_train, data.y_train, steps=(2,), radius=6.0)
    train_classifier(model, data, method="lyanet", epochs=25, batch_size=10, lr=3e-2, radius=6.0)
    after = evaluate_classifier(model, data.x_train, data.y_train, steps=(2,), radius=6.0)
    assert after["violation_rate"] < before["violation_rate"] - 0.2
    assert after["accuracy_rk4"]["2"] == 1.0


def test_lyanet_loss_solves_no_ode_and_node_loss_backprops_through_rk4():
    model = _model()
    data = three_stripes()
    calls = {"n": 0}
    hook = model.dynamics.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    loss, frac = lyanet_loss(model, data.x_train[:5], data.y_train[:5], n_states=4)
    assert calls["n"] == 1 and loss.requires_grad and 0 <= float(frac) <= 1
    calls["n"] = 0
    loss, _ = node_loss(model, data.x_train[:5], data.y_train[:5], steps=3)
    assert calls["n"] == 12  # RK4: four evaluations a step
    hook.remove()
    loss.backward()
    assert model.dynamics.out.weight.grad is not None
    with pytest.raises(ValueError, match="around"):
        lyanet_loss(model, data.x_train[:2], data.y_train[:2], around="nowhere")


def test_system_for_works_with_check_sampled():
    data = three_stripes()
    model = _model(seed=2)
    train_classifier(model, data, epochs=25, batch_size=10, lr=3e-2, radius=6.0)
    x, y = data.x_test[:1], int(data.y_test[0])
    system = model.system_for(x)
    assert isinstance(system, lyactrl.NeuralSystem) and system.n_states == 3
    cond = lyactrl.ExponentialStability(system, model.potential_for(y), rate=2.0)
    res = lyactrl.check_sampled(
        cond,
        lyactrl.Ball([0.0, 0.0, 0.0], 3.0),
        n_samples=2000,
        generator=torch.Generator().manual_seed(0),
    )
    assert res.n_samples == 2000 and res.violation_rate < 0.5
    eta = torch.randn(7, 3, dtype=torch.float64)
    with torch.no_grad():  # the flow bound to x's context, the same at every time
        direct = model.dynamics(eta.float(), model.context(x).expand(7, -1)).double()
        assert torch.allclose(system(eta), direct, rtol=1e-5, atol=1e-6)
        assert torch.equal(system.vector_field(3.0, eta), system.vector_field(0.0, eta))
    traj = lyactrl.simulate(
        system, torch.zeros(3, dtype=torch.float64), torch.linspace(0, 1, 3, dtype=torch.float64)
    )
    assert int(traj.final.argmax()) == int(model.predict(x, steps=20)[0])


def test_solvers_count_evaluations_and_agree():
    model = _model()
    x = three_stripes().x_test
    ctx = model.context(x)
    _, nfe = model.integrate(ctx, method="rk4", steps=5)
    assert nfe == 20
    fine, _ = model.integrate(ctx, method="rk4", steps=50)
    adaptive, nfe = model.integrate(ctx, method="dopri5")
    assert nfe > 0
    torch.testing.assert_close(adaptive[:, -1], fine[:, -1], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="method"):
        model.integrate(ctx, method="leapfrog")


def test_checkpoint_round_trip(tmp_path):
    data = three_stripes()
    model = _model()
    res = train_classifier(model, data, epochs=2, batch_size=20, out_dir=tmp_path)
    assert res.epochs == 2 and (tmp_path / "last.pt").is_file()
    loaded, meta = load_classifier(tmp_path / "last.pt")
    assert meta["config"]["training"]["method"] == "lyanet"
    torch.testing.assert_close(loaded(data.x_test), model.eval()(data.x_test))
    torch.load(tmp_path / "last.pt", weights_only=True)  # never needs to run code


def test_bad_arguments():
    with pytest.raises(ValueError, match="encoder"):
        build_classifier((1, 4, 4), 3, encoder="resnet")
    with pytest.raises(ValueError, match="input_shape"):
        build_classifier((4, 4), 3)
    with pytest.raises(TypeError, match="encoder"):
        LyaNetClassifier("not a module", torch.nn.Linear(2, 2), 2)
    with pytest.raises(ValueError, match="method"):
        train_classifier(_model(), three_stripes(), method="sgd", epochs=1)
    with pytest.raises(TypeError, match="data"):
        train_classifier(_model(), [1, 2], epochs=1)
    with pytest.raises(lyactrl.UnknownArgumentError):
        train_classifier(_model(), three_stripes(), epochz=1)


def test_classifier_is_attackable_in_pixel_space():
    data = three_stripes()
    model = _model(seed=3)
    train_classifier(model, data, epochs=10, batch_size=10, lr=3e-2, radius=6.0)
    model.eval()
    g = torch.Generator().manual_seed(0)
    clean = lyactrl.attack_accuracy(model, data.x_test, data.y_test, eps=0.0, steps=2, generator=g)
    hard = lyactrl.attack_accuracy(model, data.x_test, data.y_test, eps=0.5, steps=10, generator=g)
    assert hard.adversarial_accuracy <= clean.adversarial_accuracy


def test_load_classifier_refuses_other_checkpoints(tmp_path):
    p = lyactrl.save_checkpoint(tmp_path / "x.pt", {"w": torch.ones(1)})
    with pytest.raises(lyactrl.CheckpointError, match="build_classifier"):
        load_classifier(p)


def test_run_lyanet_demo_reports_the_figures():
    from lyactrl.train import run_lyanet_demo

    r = run_lyanet_demo(seed=0, epochs=2)
    assert {"accuracy", "accuracy_rk4_1", "accuracy_rk4_2", "decay_fraction", "seconds"} <= set(r)
    assert r["accuracy"] > 0.5 and 0.0 <= r["decay_fraction"] <= 1.0 and r["n_test"] == 360


def _direct_lyanet_loss(model, x, y, *, rate, radius, n, around, relative, smooth, seed):
    """LyaNet's loss written out: states by hand, ``grad V . f + rate V``, the (smooth) hinge."""
    g = torch.Generator().manual_seed(seed)
    k = model.n_classes
    y_rep = y.repeat_interleave(n)
    center = torch.zeros(y_rep.shape[0], k)
    if around == "path":
        u = torch.rand(y_rep.shape[0], 1, generator=g)
        center = u * model.target_scale * torch.nn.functional.one_hot(y_rep, k).float()
    offset = LyaNetBallSampler(torch.zeros(k), radius).sample(
        y_rep.shape[0], generator=g, dtype=torch.float32
    )
    if around == "origin":
        offset.view(-1, n, k)[:, 0] = 0.0
    eta = center + offset
    onehot = torch.nn.functional.one_hot(y_rep, k).float()
    if model.potential == "cross_entropy":  # closed forms (checked against autograd above)
        v = torch.logsumexp(eta, -1) - (eta * onehot).sum(-1)
        grad_v = torch.softmax(eta, -1) - onehot
    else:
        v = 0.5 * ((eta - model.target_scale * onehot) ** 2).sum(-1)
        grad_v = eta - model.target_scale * onehot
    f = model.dynamics(eta, model.context(x).repeat_interleave(n, dim=0))
    res = (grad_v * f).sum(-1) + rate * v
    if relative:
        res = res / v.clamp_min(1e-6)
    if smooth is None:
        return torch.relu(res).mean(), (res > 0).float().mean()
    return torch.nn.functional.softplus(smooth * res).mean() / smooth, (res > 0).float().mean()


@pytest.mark.parametrize(
    "around, relative, smooth, potential",
    [
        ("path", True, 4.0, "cross_entropy"),
        ("origin", False, None, "cross_entropy"),
        ("path", False, 2.0, "squared_error"),
        ("origin", True, None, "squared_error"),
    ],
)
def test_lyanet_loss_is_the_hinge_of_grad_v_dot_f_plus_rate_v(around, relative, smooth, potential):
    data = three_stripes()
    x, y = data.x_train[:6], data.y_train[:6]
    opts = dict(rate=1.5, radius=3.0, around=around, relative=relative, smooth=smooth)
    grads = []
    for how in ("lyactrl", "direct"):
        model = _model(seed=4, potential=potential)
        if how == "lyactrl":
            g = torch.Generator().manual_seed(7)
            loss, frac = lyanet_loss(model, x, y, n_states=5, generator=g, **opts)
        else:
            loss, frac = _direct_lyanet_loss(model, x, y, n=5, seed=7, **opts)
        loss.backward()
        grads.append((loss.detach(), frac, [p.grad.clone() for p in model.parameters()]))
    (la, fa, ga), (lb, fb, gb) = grads
    assert float(la) > 0 and 0.0 < float(fa) <= 1.0
    torch.testing.assert_close(la, lb, rtol=1e-6, atol=1e-7)
    assert float(fa) == float(fb)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_lyanet_loss_is_a_condition_loss_of_exponential_stability():
    model, data = _model(seed=5), three_stripes()
    x, y = data.x_train[:4], data.y_train[:4]
    states = sample_states(model, y, 3, radius=2.0, generator=torch.Generator().manual_seed(1))
    cond = model.condition_for_contexts(
        model.context(x).repeat_interleave(3, 0), y.repeat_interleave(3), 2.0
    )
    assert isinstance(cond, lyactrl.ExponentialStability)
    closs = lyactrl.ConditionLoss(cond, LyaNetBallSampler(torch.zeros(3), 1.0), n_samples=12)
    by_states, _ = closs.loss(states=states)
    loss, _ = lyanet_loss(
        model,
        x,
        y,
        n_states=3,
        relative=False,
        smooth=None,
        generator=torch.Generator().manual_seed(1),
    )
    torch.testing.assert_close(loss, by_states)


def test_build_classifier_honours_channels():
    def n_params(**kw):
        m = build_classifier((1, 8, 8), 4, encoder="cnn", context_dim=8, seed=0, **kw)
        return sum(p.numel() for p in m.encoder.parameters())

    # conv1 (1 -> a), conv2 (a -> b), linear (b * 2 * 2 -> 8), all with biases
    for a, b in ((32, 64), (4, 6), (2, 3)):
        assert n_params(channels=(a, b)) == (9 * a + a) + (9 * a * b + b) + (4 * b * 8 + 8)
    model = build_classifier((1, 8, 8), 4, encoder="cnn", channels=(3, 5), seed=0)
    assert model.encoder[0].out_channels == 3 and model.encoder[3].out_channels == 5
    loaded = build_classifier(
        model.config.pop("input_shape"),
        4,
        **{k: v for k, v in model.config.items() if k != "n_classes"},
    )
    assert loaded.encoder[3].out_channels == 5  # the config rebuilds the same architecture
    with pytest.raises(ValueError, match="channels"):
        build_classifier((1, 8, 8), 4, channels=(3,))


def test_dynamics_dropout_acts_while_training_only_and_survives_a_checkpoint(tmp_path):
    """Dropout in the vertex flow's hidden layer: the flow is random in ``train()`` mode (and
    zeroes about ``p`` of the hidden units), the same as without dropout in ``eval()`` mode
    (equal weights), and a checkpoint rebuilds it with its probability."""
    drop, plain = _model(dynamics_dropout=0.5), _model()
    eta, ctx = torch.randn(64, 3), torch.randn(64, 8)
    drop.train()
    f1, f2 = drop.dynamics(eta, ctx), drop.dynamics(eta, ctx)
    assert not torch.allclose(f1, f2)
    h = torch.relu(drop.dynamics.state_in(eta / 10.0) + drop.dynamics.context_in(ctx))
    alive = h > 0
    zeroed = float((drop.dynamics.dropout(h)[alive] == 0).float().mean())
    assert 0.35 < zeroed < 0.65  # about 260 live units, p = 0.5
    drop.eval()
    plain.eval()
    assert torch.equal(drop.dynamics(eta, ctx), plain.dynamics(eta, ctx))
    res = train_classifier(drop, three_stripes(), epochs=1, batch_size=20, out_dir=tmp_path)
    assert res.status == "completed"
    loaded, _ = load_classifier(tmp_path / "last.pt")
    assert loaded.config["dynamics_dropout"] == 0.5
    assert loaded.dynamics.dropout.p == 0.5 and not loaded.training
    with pytest.raises(ValueError, match=r"dynamics_dropout: expected a number in \[0, 1\)"):
        _model(dynamics_dropout=1.0)
    with pytest.raises(ValueError, match="dynamics_dropout: expected 0 with dynamics='mlp'"):
        _model(dynamics="mlp", dynamics_dropout=0.2)


def test_seeded_building_and_training_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = build_classifier((1, 4, 4), 3, seed=11)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = build_classifier((1, 4, 4), 3, seed=11)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    train_classifier(a, three_stripes(), epochs=1, batch_size=20)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_strategies_are_validated_against_their_registry():
    from lyactrl.train import lyanet

    for kw, registry in (
        ({"encoder": "resnet"}, lyanet.ENCODERS),
        ({"dynamics": "ode"}, lyanet.DYNAMICS),
        ({"potential": "hinge"}, lyanet.POTENTIALS),
    ):
        with pytest.raises(lyactrl.InvalidValueError, match=re.escape(str(registry))):
            build_classifier((1, 4, 4), 3, **kw)
    with pytest.raises(lyactrl.InvalidValueError, match="Did you mean 'lyanet'"):
        train_classifier(_model(), three_stripes(), method="lyanat", epochs=1)
    with pytest.raises(lyactrl.InvalidValueError, match="method"):
        _model().integrate(torch.zeros(2, 8), method="rk5")


def test_the_trained_digits_classifier_is_accurate_and_decays(trained_digits):
    model, data, s = trained_digits.model, trained_digits.data, trained_digits.settings
    ev = evaluate_classifier(
        model, data.x_test, data.y_test, steps=(2, 10), rate=s["rate"], radius=s["radius"]
    )
    assert ev["accuracy_rk4"]["10"] > 0.8 and ev["accuracy_rk4"]["2"] > 0.8  # chance: 0.1
    assert ev["violation_rate"] < 0.4 and ev["decay_fraction"] > 0.6
    loaded, meta = load_classifier(trained_digits.checkpoint)
    assert meta["config"]["training"]["rate"] == s["rate"]
    torch.testing.assert_close(loaded(data.x_test[:5]), model(data.x_test[:5]))
