"""StableDynamics: the Kolter-Manek projection satisfies the condition everywhere."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import lyactrl
from lyactrl._errors import InvalidArgumentError, InvalidValueError
from lyactrl.train import StableDynamics


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on the shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _mlp(n: int, width: int, seed: int, scale: float) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(n, width), nn.Tanh(), nn.Linear(width, n)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    return net


def _candidate(kind: str, n: int, seed: int):
    if kind == "quadratic":
        M = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        return lyactrl.Quadratic(M @ M.T + 0.1 * torch.eye(n, dtype=torch.float64))
    return lyactrl.NeuralLyapunov(n, hidden=(8, 8), generator=torch.Generator().manual_seed(seed))


@given(
    n=st.integers(1, 4),
    width=st.integers(2, 16),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 10.0),
    rate=st.floats(0.01, 5.0),
    kind=st.sampled_from(["quadratic", "neural"]),
)
def test_residual_is_nonpositive_for_any_f_hat(n, width, seed, scale, rate, kind):
    V = _candidate(kind, n, seed)
    f = StableDynamics(_mlp(n, width, seed, scale), V, rate=rate)
    cond = lyactrl.ExponentialStability(lyactrl.NeuralSystem(f, n), V, rate=rate)
    x = 3.0 * torch.randn(
        256, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1)
    )
    x = torch.cat([x, torch.zeros(1, n, dtype=torch.float64)])  # include x_eq
    r = cond.residual(x)
    # float tolerance relative to the size of the terms that cancel
    v, g = V.value_and_gradient(x)
    with torch.no_grad():
        f_hat = f.f_hat(x)
    scale_terms = (g * f_hat).abs().sum(-1) + rate * v.abs() + 1e-300
    assert bool(torch.isfinite(r).all())
    assert bool((r <= 1e-12 * scale_terms).all()), float((r / scale_terms).max())


def test_projection_leaves_a_satisfying_field_unchanged_and_fixes_a_bad_one():
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    good = nn.Linear(2, 2, bias=False, dtype=torch.float64)
    with torch.no_grad():
        good.weight.copy_(-2.0 * torch.eye(2))  # grad V . f + V = -3 |x|^2 <= 0
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(StableDynamics(good, V, rate=1.0)(x), good(x))
    bad = nn.Linear(2, 2, bias=False, dtype=torch.float64)
    with torch.no_grad():
        bad.weight.copy_(torch.eye(2))  # f_hat = x: projected to f = -rate/2 x
    out = StableDynamics(bad, V, rate=1.0)(x)
    assert torch.allclose(out, -0.5 * x, atol=1e-14)


def test_no_nan_at_the_equilibrium_in_values_or_gradients():
    f_hat = _mlp(2, 8, 0, 1.0)
    V = lyactrl.NeuralLyapunov(2, hidden=(8,), generator=torch.Generator().manual_seed(0))
    f = StableDynamics(f_hat, V, rate=1.0)
    x0 = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    out = f(x0)
    assert torch.equal(out, torch.zeros(3, 2, dtype=torch.float64))  # f(x_eq) = 0 exactly
    out.sum().backward()
    assert bool(torch.isfinite(x0.grad).all())
    assert all(bool(torch.isfinite(p.grad).all()) for p in f.parameters() if p.grad is not None)


@given(
    n=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 10.0),
    shift=st.floats(-3.0, 3.0),
    kind=st.sampled_from(["quadratic", "neural"]),
)
def test_the_equilibrium_is_kept_exactly_and_f_is_continuous_there(n, seed, scale, shift, kind):
    V = _candidate(kind, n, seed)
    if kind == "quadratic":  # an equilibrium away from the origin
        V = lyactrl.Quadratic(V.P, x_eq=torch.full((n,), shift, dtype=torch.float64))
    f = StableDynamics(_mlp(n, 8, seed, scale), V, rate=1.0)  # f_hat(x_eq) != 0 in general
    x_eq = V.x_eq.to(torch.float64)
    gen = torch.Generator().manual_seed(seed)
    d = torch.randn(1, n, dtype=torch.float64, generator=gen)
    x = torch.cat([torch.randn(5, n, dtype=torch.float64, generator=gen), x_eq[None]])
    with torch.no_grad():
        assert torch.equal(f(x)[-1], torch.zeros(n, dtype=torch.float64))
        # the limit is consistent: ||f(x_eq + t d)|| = O(t)
        norms = [float(f(x_eq + t * d).norm()) for t in (1e-2, 1e-4, 1e-6)]
        assert bool(torch.isfinite(torch.tensor(norms)).all())
        assert norms[2] <= 1e-3 * norms[0] + 1e-12, norms


def test_rounding_indicator_is_exact_in_floating_point():
    from lyactrl.train._projection import _at_zero

    values = [0.0, 2.0**-1074, 2.0**-600, 1e-20, 1.0, 1e300, float("inf")]
    q = torch.tensor(values, dtype=torch.float64)[:, None]
    assert _at_zero(q).flatten().tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        info = torch.finfo(dtype)
        small = info.tiny * info.eps  # the smallest positive subnormal
        q = torch.tensor([0.0, small, info.tiny, 1.0, info.max, float("inf")], dtype=dtype)
        assert _at_zero(q, dtype).tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0], dtype


def test_joint_training_keeps_the_guarantee_and_trains_V():
    f_hat = _mlp(2, 8, 1, 1.0)
    V = lyactrl.NeuralLyapunov(2, hidden=(8,), generator=torch.Generator().manual_seed(1))
    f = StableDynamics(f_hat, V, rate=0.5)
    assert {n.split(".")[0] for n, _ in f.named_parameters()} == {"f_hat", "V"}
    opt = torch.optim.Adam(f.parameters(), lr=0.01)
    x = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    target = torch.stack([x[:, 1], -x[:, 0] - 0.5 * x[:, 1]], dim=1)
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = ((f(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
    assert float(loss.detach()) < first
    cond = lyactrl.ExponentialStability(lyactrl.NeuralSystem(f, 2), V, rate=0.5)
    res = lyactrl.check_sampled(
        cond,
        lyactrl.Box([-2.0, -2.0], [2.0, 2.0]),
        n_samples=5000,
        generator=torch.Generator().manual_seed(3),
    )
    assert res.status == "holds_on_samples"


def test_bad_arguments():
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    with pytest.raises(InvalidArgumentError, match="f_hat"):
        StableDynamics(lambda x: x, V, rate=1.0)
    with pytest.raises(InvalidArgumentError, match="V"):
        StableDynamics(nn.Linear(2, 2), "V", rate=1.0)
    with pytest.raises(InvalidValueError, match="rate"):
        StableDynamics(nn.Linear(2, 2), V, rate=0.0)
    with pytest.raises(InvalidValueError, match="x_eq"):
        StableDynamics(nn.Linear(2, 2), lyactrl.CrossEntropy(0, n_classes=2), rate=1.0)


# --- a model fitted to a damped pendulum: sampled checks and certificates --------------------

RATE, HALF, HOLE = 0.5, 1.0, 0.1
BOX = lyactrl.Box([-HALF, -HALF], [HALF, HALF])


def _tiles(half: float, hole: float) -> list[lyactrl.Box]:
    """Four boxes covering ``[-half, half]^2`` minus the open cube ``(-hole, hole)^2``."""
    h, r = half, hole
    corners = [([r, -h], [h, h]), ([-h, -h], [-r, h]), ([-r, r], [r, h]), ([-r, -h], [r, -r])]
    return [lyactrl.Box(lo, hi) for lo, hi in corners]


@pytest.fixture(scope="module")
def pendulum_model():
    """StableDynamics fitted by regression to noisy pendulum derivatives; V from the data."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    X = BOX.sample(512, generator=g)
    Y = torch.stack([X[:, 1], -torch.sin(X[:, 0]) - 0.5 * X[:, 1]], 1)
    Y = Y + 0.01 * torch.randn(X.shape, generator=g, dtype=X.dtype)
    A = torch.linalg.lstsq(X, Y).solution.T
    V = lyactrl.Quadratic.from_linearization(lyactrl.LinearSystem(A))
    f = StableDynamics(_mlp(2, 16, 0, 1.0), V, rate=RATE)
    opt = torch.optim.Adam(f.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        loss = ((f(X) - Y) ** 2).mean()
        loss.backward()
        opt.step()
    return f, V


def _condition(f, V, rate):
    return lyactrl.ExponentialStability(lyactrl.NeuralSystem(f, 2), V, rate=rate)


def test_the_fitted_model_uses_the_projection(pendulum_model):
    f, V = pendulum_model
    x = BOX.sample(4000, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        v, g = V.value_and_gradient(x)
        shifted = f.f_hat(x) - f.f_hat(torch.zeros(1, 2, dtype=torch.float64))
        active = float((((g * shifted).sum(-1) + RATE * v) > 0).double().mean())
    # the along-grad-V part of f_hat gets no gradient where it is projected away, so the fit
    # stays on the active set: the checks below meet the exactly-zero residual there
    assert active > 0.5, active


def test_sampled_check_holds_with_the_default_rtol_and_rounding_is_not_a_violation(
    pendulum_model,
):
    f, V = pendulum_model
    cond = _condition(f, V, RATE)
    gen = torch.Generator().manual_seed(1)
    res = lyactrl.check_sampled(cond, BOX, n_samples=20_000, generator=gen)
    assert res.rtol == lyactrl.verify.RTOL
    assert res.status == "holds_on_samples" and res.n_violations == 0, str(res)
    # without the tolerance the active set shows rounding-level residuals, never a proof
    strict = lyactrl.check_sampled(
        cond, BOX, n_samples=20_000, rtol=0.0, generator=torch.Generator().manual_seed(1)
    )
    assert strict.status in ("holds_on_samples", "unknown")
    assert strict.worst_residual < 1e-12


def test_a_broken_projection_is_falsified_with_a_proved_counterexample(pendulum_model):
    f, V = pendulum_model
    cond = _condition(f, V, 2 * RATE)  # claims more decay than the projection enforces
    res = lyactrl.check_sampled(
        cond, BOX, n_samples=5000, generator=torch.Generator().manual_seed(2)
    )
    assert res.status == "falsified"
    assert bool(res.counterexamples_proved.any())
    proved = res.counterexamples[res.counterexamples_proved]
    with torch.no_grad():  # independent re-evaluation: grad V . f + 2 rate V > 0 there
        v, g = V.value_and_gradient(proved)
        direct = (g * f(proved)).sum(-1) + 2 * RATE * v
    assert bool((direct > 0).all())


def test_certified_outside_a_small_cube_at_a_slightly_smaller_rate(pendulum_model):
    f, V = pendulum_model
    cond = _condition(f, V, 0.8 * RATE)
    gen = torch.Generator().manual_seed(3)
    for tile in _tiles(HALF, HOLE):
        cert = lyactrl.certify(cond, tile, local=False, decay=False, time_limit=60.0)
        assert cert.status == "certified", str(cert)
        # cross-check by dense sampling: the residual is <= -(rate - rate') V < 0
        x = tile.sample(5000, generator=gen)
        r = cond.residual(x).detach()
        assert bool((r <= -0.2 * RATE * V(x).detach() * (1 - 1e-9)).all())


def test_certify_never_overclaims_at_the_equilibrium_or_at_the_own_rate(pendulum_model):
    f, V = pendulum_model
    small = lyactrl.Box([-0.2, -0.2], [0.2, 0.2])  # touches x_eq: the division has no bound
    cert = lyactrl.certify(_condition(f, V, 0.8 * RATE), small, max_boxes=2000, decay=False)
    assert cert.status == "unknown"
    # at the model's own rate the residual is exactly 0 where the projection is active:
    # outward-rounded bounds cannot prove <= 0 there, and nothing is falsified either
    tile = _tiles(HALF, HOLE)[0]
    own = lyactrl.certify(_condition(f, V, RATE), tile, local=False, max_boxes=2000, decay=False)
    assert own.status == "unknown"


def test_a_neural_candidate_is_refused_by_the_certifier():
    V = lyactrl.NeuralLyapunov(2, hidden=(4,), generator=torch.Generator().manual_seed(0))
    f = StableDynamics(_mlp(2, 4, 0, 1.0), V, rate=0.5)
    with pytest.raises(lyactrl.UnsupportedOperationError):
        lyactrl.certify(_condition(f, V, 0.4), lyactrl.Box([0.5, 0.5], [1.0, 1.0]))


def test_a_float32_model_keeps_the_equilibrium_and_the_condition():
    V = lyactrl.Quadratic(torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64))
    torch.manual_seed(0)
    f = StableDynamics(nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)), V, rate=1.0)
    x = torch.cat([torch.randn(200, 2), torch.zeros(1, 2)])
    with torch.no_grad():
        out = f(x)
        assert out.dtype == torch.float32
        assert torch.equal(out[-1], torch.zeros(2))
        v, g = V.value_and_gradient(x.double())
        r = (g * out.double()).sum(-1) + v
    assert bool((r <= 1e-5 * (1 + v)).all())
