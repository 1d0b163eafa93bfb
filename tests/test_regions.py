"""Regions: uniform sampling, membership, projection."""

import numpy as np
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st

import lyactrl

seeds = st.integers(0, 2**31 - 1)


def test_box_samples_are_uniform():
    box = lyactrl.Box([-1.0, 2.0], [3.0, 2.5])
    x = box.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert bool(box.contains(x).all())
    for i in range(2):
        u = ((x[:, i] - box.lo[i]) / (box.hi[i] - box.lo[i])).numpy()
        assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3


@given(seeds, st.integers(1, 5))
def test_ball_samples_are_uniform_in_volume(seed, n):
    ball = lyactrl.Ball(np.arange(n, dtype=float), 2.0)
    x = ball.sample(4000, generator=torch.Generator().manual_seed(seed))
    assert bool(ball.contains(x).all())
    r = (x - ball.center).norm(dim=1).numpy() / 2.0
    # uniform in volume: (r / R)^n is uniform on [0, 1]
    assert scipy.stats.kstest(r**n, "uniform").pvalue > 1e-4


def test_ball_projection_is_the_nearest_point():
    ball = lyactrl.Ball([1.0, 0.0], 1.0)
    p = ball.project(torch.tensor([[4.0, 4.0], [1.2, 0.1]], dtype=torch.float64))
    torch.testing.assert_close(p[0], torch.tensor([1.6, 0.8], dtype=torch.float64))
    torch.testing.assert_close(p[1], torch.tensor([1.2, 0.1], dtype=torch.float64))


def test_sublevel_samples_lie_in_the_set_and_cover_it():
    V = lyactrl.Quadratic(np.diag([1.0, 4.0]))
    S = lyactrl.Sublevel(V, 1.0, within=lyactrl.Box([-2.0, -2.0], [2.0, 2.0]))
    x = S.sample(5000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5000, 2)
    assert bool(S.contains(x).all())
    # the ellipse x1^2 + 4 x2^2 <= 1 has semi-axes 1 and 0.5
    assert 0.95 < float(x[:, 0].abs().max()) <= 1.0
    assert 0.45 < float(x[:, 1].abs().max()) <= 0.5


def test_sublevel_with_tiny_volume_is_a_clear_error():
    V = lyactrl.Quadratic(np.eye(2))
    S = lyactrl.Sublevel(V, 1e-12, within=lyactrl.Box([-10.0, -10.0], [10.0, 10.0]))
    try:
        S.sample(10, generator=torch.Generator().manual_seed(0))
    except lyactrl.InvalidValueError as exc:
        assert "c:" in str(exc) and "Raise c" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected InvalidValueError")


def test_bounding_boxes():
    assert lyactrl.Ball([1.0, -1.0], 0.5).bounding_box().lo.tolist() == [0.5, -1.5]
    box = lyactrl.Box([0.0], [1.0])
    assert lyactrl.Sublevel(lyactrl.Quadratic([[1.0]]), 0.1, within=box).bounding_box() is box
