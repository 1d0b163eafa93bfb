"""State samplers: distributions, shapes, reproducibility, counterexample buffer."""

from __future__ import annotations

import pytest
import scipy.stats
import torch

import lyactrl
from lyactrl._errors import (
    InvalidArgumentError,
    InvalidValueError,
    ShapeError,
    UnknownArgumentError,
)
from lyactrl.train import (
    BoxSampler,
    CounterexampleBuffer,
    GaussianSampler,
    LyaNetBallSampler,
    MixtureSampler,
    RegionSampler,
    TrajectorySampler,
    UniformBallSampler,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on the shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_lyanet_radius_is_uniform_unlike_uniform_ball():
    n, dim, R = 4000, 3, 2.0
    center = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    r_lyanet = (LyaNetBallSampler(center, R).sample(n, generator=_g(1)) - center).norm(dim=1)
    r_ball = (UniformBallSampler(center, R).sample(n, generator=_g(1)) - center).norm(dim=1)
    uniform = scipy.stats.uniform(loc=0.0, scale=R).cdf
    # LyaNet: radius ~ U(0, R)
    assert scipy.stats.kstest(r_lyanet.numpy(), uniform).pvalue > 0.01
    # uniform in volume: radius has CDF (r / R)^dim, so it is far from uniform
    assert scipy.stats.kstest(r_ball.numpy(), uniform).pvalue < 1e-10
    assert scipy.stats.kstest(r_ball.numpy(), lambda r: (r / R) ** dim).pvalue > 0.01
    assert float(r_lyanet.max()) <= R and float(r_ball.max()) <= R


def test_lyanet_directions_are_uniform():
    x = LyaNetBallSampler([0.0, 0.0], 1.0).sample(4000, generator=_g(2))
    angle = torch.atan2(x[:, 1], x[:, 0])
    cdf = scipy.stats.uniform(loc=-torch.pi, scale=2 * torch.pi).cdf
    assert scipy.stats.kstest(angle.numpy(), cdf).pvalue > 0.01


def test_box_and_region_samplers_reuse_regions():
    box = lyactrl.Box([-1.0, 0.0], [1.0, 3.0])
    a = BoxSampler([-1.0, 0.0], [1.0, 3.0]).sample(100, generator=_g(3))
    b = RegionSampler(box).sample(100, generator=_g(3))
    c = box.sample(100, generator=_g(3))
    assert torch.equal(a, b) and torch.equal(a, c)
    assert bool(box.contains(a).all())
    ball = lyactrl.Ball([0.0, 0.0], 2.0)
    assert torch.equal(
        UniformBallSampler([0.0, 0.0], 2.0).sample(50, generator=_g(4)),
        ball.sample(50, generator=_g(4)),
    )


def test_gaussian_moments():
    x = GaussianSampler([1.0, -2.0], [0.5, 2.0]).sample(20_000, generator=_g(5))
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0], dtype=torch.float64), atol=0.05)
    assert torch.allclose(x.std(0), torch.tensor([0.5, 2.0], dtype=torch.float64), rtol=0.03)


@pytest.mark.parametrize(
    "sampler",
    [
        LyaNetBallSampler([0.0, 0.0], 1.0),
        UniformBallSampler([0.0, 0.0], 1.0),
        BoxSampler([-1.0, -1.0], [1.0, 1.0]),
        GaussianSampler([0.0, 0.0], 1.0),
        MixtureSampler([BoxSampler([-1.0, -1.0], [1.0, 1.0]), GaussianSampler([0.0, 0.0], 0.1)]),
    ],
)
def test_shape_dtype_and_reproducibility(sampler):
    a = sampler.sample(7, generator=_g(6), dtype=torch.float32)
    b = sampler.sample(7, generator=_g(6), dtype=torch.float32)
    assert a.shape == (7, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    with pytest.raises(InvalidValueError, match="n"):
        sampler.sample(0)


def test_mixture_counts_are_proportional():
    lo = BoxSampler([10.0], [11.0])
    hi = BoxSampler([-11.0], [-10.0])
    x = MixtureSampler([lo, hi], weights=[3.0, 1.0]).sample(10, generator=_g(7))
    assert int((x > 0).sum()) == 8 and int((x < 0).sum()) == 2  # 7.5/2.5 -> largest remainder
    x = MixtureSampler([lo, hi], weights=[0.0, 1.0]).sample(5, generator=_g(7))
    assert bool((x < 0).all())


def test_trajectory_sampler_visits_trajectory_states():
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    x0 = BoxSampler([0.5, 0.5], [1.0, 1.0])
    t = torch.linspace(0.0, 3.0, 7, dtype=torch.float64)
    x = TrajectorySampler(sys, x0, t).sample(70, generator=_g(8))
    assert x.shape == (70, 2)
    # states along x(t) = exp(-t) x0: inside [0.5 e^-3, 1] and on rays from the origin
    assert float(x.min()) >= 0.5 * float(torch.exp(torch.tensor(-3.0))) - 1e-4
    assert float(x.max()) <= 1.0 + 1e-12
    assert int((x < 0.45).all(dim=1).sum()) > 0  # some states come from later times


def test_counterexample_buffer():
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    region = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    base = BoxSampler([5.0, 5.0], [6.0, 6.0])  # far away: easy to tell apart
    buf = CounterexampleBuffer(8, base=base, fraction=0.5)
    assert len(buf) == 0
    assert bool((buf.sample(6, generator=_g(0)) >= 5.0).all())  # empty: all from base
    res = buf.refresh(lyactrl.ExponentialStability(sys, V, rate=2.5), region, generator=_g(1))
    assert res.status == "falsified" and 0 < len(buf) <= 8
    cond = lyactrl.ExponentialStability(sys, V, rate=2.5)
    assert bool((cond.residual(buf.states) > 0).all())  # real counterexamples
    x = buf.sample(10, generator=_g(2))
    assert int((x < 5.0).all(dim=1).sum()) == 5
    assert bool((cond.residual(x[:5]) > 0).all())
    # FIFO capacity
    buf.add(torch.zeros(20, 2, dtype=torch.float64))
    assert len(buf) == 8 and bool((buf.states == 0).all())
    # state round trip
    other = CounterexampleBuffer(8, base=base)
    other.load_state_dict(buf.state_dict())
    assert torch.equal(other.states, buf.states)
    # a satisfied condition adds nothing
    fresh = CounterexampleBuffer(8, base=base)
    r = fresh.refresh(
        lyactrl.ExponentialStability(sys, V, rate=1.0), region, generator=_g(3), steps=20
    )
    assert r.status == "unknown" and len(fresh) == 0


def test_bad_arguments():
    with pytest.raises(InvalidValueError, match="radius"):
        LyaNetBallSampler([0.0], -1.0)
    with pytest.raises(InvalidValueError, match="std"):
        GaussianSampler([0.0, 0.0], [1.0, 0.0])
    with pytest.raises(ShapeError, match="std"):
        GaussianSampler([0.0, 0.0], [1.0, 1.0, 1.0])
    with pytest.raises(ShapeError, match="samplers\\[1\\]"):
        MixtureSampler([BoxSampler([0.0], [1.0]), BoxSampler([0.0, 0.0], [1.0, 1.0])])
    with pytest.raises(InvalidArgumentError, match="samplers"):
        MixtureSampler([])
    with pytest.raises(InvalidValueError, match="fraction"):
        CounterexampleBuffer(4, base=BoxSampler([0.0], [1.0]), fraction=1.5)
    with pytest.raises(InvalidArgumentError, match="base"):
        CounterexampleBuffer(4, base="box")
    with pytest.raises(UnknownArgumentError, match="radius"):
        LyaNetBallSampler([0.0], radiuss=1.0)
    with pytest.raises(ShapeError, match="x0_sampler"):
        TrajectorySampler(
            lyactrl.LinearSystem([[-1.0]]), BoxSampler([0.0, 0.0], [1.0, 1.0]), [0.0, 1.0]
        )
