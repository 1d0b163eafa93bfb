"""ConditionLoss: the hinge on sampled residuals, with factories, weights and contexts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lyactrl
from lyactrl._errors import InvalidArgumentError, InvalidValueError, ShapeError
from lyactrl.train import BoxSampler, ConditionLoss, LyaNetBallSampler

matrices = st.lists(st.floats(-3.0, 3.0), min_size=4, max_size=4)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on the shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cond(entries, rate):
    A = torch.tensor(entries, dtype=torch.float64).reshape(2, 2)
    return lyactrl.ExponentialStability(
        lyactrl.LinearSystem(A), lyactrl.Quadratic(torch.eye(2, dtype=torch.float64)), rate=rate
    )


@given(
    entries=matrices,
    rate=st.floats(0.01, 3.0),
    seed=st.integers(0, 2**31 - 1),
    squared=st.booleans(),
)
def test_loss_is_zero_exactly_when_every_residual_is_nonpositive(entries, rate, seed, squared):
    cond = _cond(entries, rate)
    closs = ConditionLoss(
        cond,
        BoxSampler([-1.0, -1.0], [1.0, 1.0]),
        n_samples=32,
        squared=squared,
        dtype=torch.float64,
    )
    loss, diag = closs.loss(generator=torch.Generator().manual_seed(seed))
    x = closs.draw(generator=torch.Generator().manual_seed(seed))
    r = cond.residual(x)
    assert (float(loss) == 0.0) == bool((r <= 0).all())
    assert float(loss) >= 0.0
    assert diag["violation_fraction"] == pytest.approx(float((r > 0).double().mean()))
    assert diag["max_residual"] == pytest.approx(float(r.max()))
    h = torch.relu(r)
    assert float(loss) == pytest.approx(
        float((h * h if squared else h).mean()), rel=1e-12, abs=1e-15
    )


def test_explicit_states_weights_and_margin():
    cond = _cond([-1.0, 0.0, 0.0, -1.0], 1.0)  # residual = (rate - 2) |x|^2 = -|x|^2
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    closs = ConditionLoss(cond, BoxSampler([-1.0, -1.0], [1.0, 1.0]))
    loss, diag = closs.loss(states=x)
    assert float(loss) == 0.0 and diag["violation_fraction"] == 0.0 and diag["n_samples"] == 2
    # margin 2: hinge(-1 + 2) = 1, hinge(-4 + 2) = 0
    loss, _ = ConditionLoss(cond, BoxSampler([-1.0, -1.0], [1.0, 1.0]), margin=2.0).loss(states=x)
    assert float(loss) == pytest.approx(0.5)
    # weights: only the first state counts
    w = ConditionLoss(
        cond,
        BoxSampler([-1.0, -1.0], [1.0, 1.0]),
        margin=2.0,
        weights=lambda s: (s[:, 0] > 0).double(),
    )
    assert float(w.loss(states=x)[0]) == pytest.approx(1.0)


def test_gradient_flows_into_a_module():
    f = torch.nn.Linear(2, 2, dtype=torch.float64)
    with torch.no_grad():
        f.weight.copy_(torch.eye(2))  # unstable: every residual > 0
        f.bias.zero_()
    cond = lyactrl.ExponentialStability(
        lyactrl.NeuralSystem(f, 2), lyactrl.Quadratic(torch.eye(2)), rate=1.0
    )
    loss, diag = ConditionLoss(
        cond, BoxSampler([-1.0, -1.0], [1.0, 1.0]), dtype=torch.float64
    ).loss(generator=torch.Generator().manual_seed(0))
    assert diag["violation_fraction"] == 1.0
    loss.backward()
    assert f.weight.grad is not None and float(f.weight.grad.norm()) > 0


def test_factory_with_context_and_batch_samples():
    """A data-controlled system x' = -x + context, V = 1/2 |x - target|^2 per row."""

    class F(torch.nn.Module):
        def forward(self, x, context):
            return -x + context

    system = lyactrl.NeuralSystem(F(), 2, inputs="x,context")

    def factory(batch):
        ctx, target = batch
        return lyactrl.ExponentialStability(
            system.bind(ctx), lyactrl.SquaredError(target), rate=1.0
        )

    closs = ConditionLoss(
        factory, LyaNetBallSampler([0.0, 0.0], 1.0), n_samples="batch", dtype=torch.float64
    )
    ctx = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # target = context: grad V . f = -2V, so residual = -V <= 0
    loss, diag = closs.loss((ctx, ctx), generator=torch.Generator().manual_seed(2))
    assert float(loss) == 0.0 and diag["n_samples"] == 5
    # target far from the context: violations
    loss, diag = closs.loss((ctx, ctx + 10.0), generator=torch.Generator().manual_seed(2))
    assert float(loss) > 0 and diag["violation_fraction"] > 0


def test_bad_arguments():
    cond = _cond([-1.0, 0.0, 0.0, -1.0], 1.0)
    box = BoxSampler([-1.0, -1.0], [1.0, 1.0])
    with pytest.raises(InvalidArgumentError, match="sampler"):
        ConditionLoss(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]))
    with pytest.raises(ShapeError, match="sampler"):
        ConditionLoss(cond, BoxSampler([-1.0], [1.0]))
    with pytest.raises(InvalidValueError, match="n_samples"):
        ConditionLoss(cond, box, n_samples="all")
    with pytest.raises(InvalidValueError, match="n_samples"):
        ConditionLoss(cond, box, n_samples=0)
    with pytest.raises(InvalidArgumentError, match="condition"):
        ConditionLoss(3, box)
    with pytest.raises(InvalidArgumentError, match="factory"):
        ConditionLoss(lambda b: "nope", box).loss()
    with pytest.raises(InvalidArgumentError, match="batch"):
        ConditionLoss(cond, box, n_samples="batch").loss(None)
    with pytest.raises(InvalidValueError, match="weights"):
        ConditionLoss(cond, box, weights=lambda s: -torch.ones(s.shape[0])).loss()


def test_relative_residual_and_smooth_hinge():
    cond = _cond([0.5, 0.0, 0.0, -2.0], rate=1.0)  # residuals of both signs
    states = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1e-4, 0.0]], dtype=torch.float64)
    r = cond.residual(states)
    v = (states * states).sum(-1)
    box = BoxSampler([-1.0, -1.0], [1.0, 1.0])
    rel, diag = ConditionLoss(cond, box, relative=True).loss(states=states)
    torch.testing.assert_close(rel, torch.relu(r / v.clamp_min(1e-6)).mean())
    assert diag["violation_fraction"] == float((r > 0).double().mean())  # the sign is kept
    smooth, _ = ConditionLoss(cond, box, smooth=3.0, margin=0.1).loss(states=states)
    torch.testing.assert_close(smooth, torch.nn.functional.softplus(3.0 * (r + 0.1)).mean() / 3.0)
    assert float(smooth) > float(torch.relu(r + 0.1).mean())  # softplus bounds the hinge above
    sq, _ = ConditionLoss(cond, box, smooth=2.0, squared=True).loss(states=states)
    torch.testing.assert_close(sq, (torch.nn.functional.softplus(2.0 * r) / 2.0).pow(2).mean())
    with pytest.raises(InvalidValueError, match="smooth"):
        ConditionLoss(cond, box, smooth=0.0)
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    barrier = lyactrl.BarrierCondition(sys, lyactrl.SymbolicCandidate("x1**2 - 1", "x1, x2"), 1.0)
    with pytest.raises(InvalidArgumentError, match="relative"):
        ConditionLoss(barrier, box, relative=True).loss(states=states)


def test_per_batch_sampler_draws_per_row_states_for_each_batch():
    cond = _cond([-1.0, 0.0, 0.0, -1.0], rate=0.5)
    seen = []

    def sampler(batch):
        seen.append(batch.shape[0])
        return BoxSampler([float(batch.sum())] * 2, [float(batch.sum()) + 1e-9] * 2)

    closs = ConditionLoss(cond, sampler, n_samples="batch", per_row=3, dtype=torch.float64)
    x = closs.draw(torch.ones(4, 1), generator=torch.Generator().manual_seed(0))
    assert x.shape == (12, 2) and seen == [4]
    torch.testing.assert_close(x, torch.full((12, 2), 4.0, dtype=torch.float64))
    loss, diag = closs.loss(torch.zeros(2, 1))
    assert diag["n_samples"] == 6 and float(loss) == 0.0  # states at the origin: r = 0
    with pytest.raises(InvalidArgumentError, match="factory must return a sampler"):
        ConditionLoss(cond, lambda b: 3, n_samples=4).draw(None)
