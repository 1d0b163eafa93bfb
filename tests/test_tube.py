"""The proved tube of ``lyactrl.robust._tube``: perturbed trajectories stay inside it, whatever
solver computed the points it is built around; and the piecewise-rate radius of
``lyactrl.robust._radius``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import expm

import lyactrl
from lyactrl.robust import radius_from_rate, rates_delta
from lyactrl.robust._tube import enclose_tube

#: log-norm -1 (symmetric part -I): a rotation that contracts
A = [[-1.0, 2.0], [-2.0, -1.0]]
X0 = [1.0, -0.5]


def _exact(times: torch.Tensor, delta: float, u: list[float]) -> torch.Tensor:
    """x' = A x + delta u from X0, in closed form: x(t) = e^(At) x0 + A^-1 (e^(At) - I) delta u."""
    a = np.array(A)
    inv = np.linalg.inv(a)
    push = delta * np.array(u)
    out = [expm(a * t) @ X0 + inv @ (expm(a * t) - np.eye(2)) @ push for t in times.tolist()]
    return torch.tensor(np.array(out), dtype=torch.float64)


def _euler(times: torch.Tensor) -> torch.Tensor:
    """A deliberately poor computed trajectory: explicit Euler."""
    a = torch.tensor(A, dtype=torch.float64)
    pts = [torch.tensor(X0, dtype=torch.float64)]
    for h in (times[1:] - times[:-1]).tolist():
        pts.append(pts[-1] + h * (a @ pts[-1]))
    return torch.stack(pts)


def test_the_exact_trajectory_gives_a_tight_tube_and_the_closed_form_log_norm() -> None:
    system = lyactrl.LinearSystem(A)
    times = torch.linspace(0.0, 2.0, 513, dtype=torch.float64)
    tube = enclose_tube(system, times, _exact(times, 0.0, [0.0, 0.0]), m=0.2, n_chunks=4)
    # the symmetric part of A is -I on every box: mu = -1 up to rounding
    assert torch.allclose(tube.log_norm, torch.full((4,), -1.0, dtype=torch.float64), atol=1e-9)
    # b(T) = (1 - e^(-T)) exactly for mu = -1, a(T) <= D (1 - e^(-T)) for the largest defect
    # D, which is small for a fine interpolant (about h |A| |f| from the segment boxes)
    assert math.isclose(float(tube.b[-1]), 1.0 - math.exp(-2.0), rel_tol=1e-6)
    assert tube.defect < 0.05 and float(tube.a[-1]) <= tube.defect * float(tube.b[-1]) * 1.001
    assert len(tube.boxes) == 4 and float(tube.chunk_times[-1]) == 2.0


@given(
    delta=st.floats(0.0, 0.15),
    angle=st.floats(0.0, 2 * math.pi),
    coarse=st.booleans(),
)
def test_perturbed_trajectories_stay_within_the_proved_deviation(delta, angle, coarse) -> None:  # noqa: ANN001
    """For the worst kind of perturbation (a constant push of size delta in any direction) the
    exact perturbed trajectory is within a_k + b_k delta of the computed points, even when
    those come from a poor solver; and inside the chunk boxes while delta < delta_max."""
    system = lyactrl.LinearSystem(A)
    times = torch.linspace(0.0, 2.0, 65 if coarse else 257, dtype=torch.float64)
    points = _euler(times) if coarse else _exact(times, 0.0, [0.0, 0.0])
    tube = enclose_tube(system, times, points, m=0.5, n_chunks=4)
    u = [math.cos(angle), math.sin(angle)]
    exact = _exact(times, delta, u)
    dev = torch.linalg.vector_norm(exact - points, dim=1)
    assert bool((dev <= tube.a + tube.b * delta + 1e-12).all())
    if delta < tube.delta_max():
        fine = torch.linspace(0.0, 2.0, 1025, dtype=torch.float64)
        traj = _exact(fine, delta, u)
        ends = tube.chunk_times.tolist()
        for (lo, hi), t0, t1 in zip(tube.boxes, ends[:-1], ends[1:], strict=True):
            on = traj[(fine >= t0) & (fine <= t1)]
            assert bool(((on >= lo) & (on <= hi)).all())


def test_a_poor_solver_widens_the_tube_instead_of_breaking_it() -> None:
    system = lyactrl.LinearSystem(A)
    times = torch.linspace(0.0, 2.0, 33, dtype=torch.float64)
    good = enclose_tube(system, times, _exact(times, 0.0, [0.0, 0.0]), m=0.5, n_chunks=4)
    poor = enclose_tube(system, times, _euler(times), m=0.5, n_chunks=4)
    assert float(poor.a[-1]) > float(good.a[-1]) and poor.delta_max() < good.delta_max()
    # a tube too thin for the computed points' defect proves nothing
    assert enclose_tube(system, times, _euler(times), m=1e-4, n_chunks=4).delta_max() == 0.0


@given(
    v0=st.floats(0.7, 5.0),
    rate=st.floats(0.05, 8.0),
    horizon=st.floats(0.2, 3.0),
    pieces=st.integers(1, 6),
)
def test_splitting_a_rate_into_pieces_gives_the_same_radius(v0, rate, horizon, pieces) -> None:  # noqa: ANN001
    one = radius_from_rate(v0, rate, horizon)
    split = rates_delta(v0, [rate] * pieces, [horizon / pieces] * pieces)
    assert math.isclose(one, split, rel_tol=1e-9, abs_tol=1e-12)


@given(
    rates=st.lists(st.floats(0.2, 6.0), min_size=1, max_size=5),
    v0=st.floats(0.8, 3.0),
)
def test_the_piecewise_radius_keeps_the_worst_case_potential_below_log_2(rates, v0) -> None:  # noqa: ANN001
    """V' = -kappa_j V + sqrt(2) delta min(1, V), the worst case the argument allows, ends
    below log 2 at 0.999 of the radius (integrated with many small steps)."""
    durations = [0.3] * len(rates)
    delta = rates_delta(v0, rates, durations)
    if not 0 < delta < math.inf:
        return
    d, v = 0.999 * delta, v0
    for r, t in zip(rates, durations, strict=True):
        n = 3000
        for _ in range(n):
            v += (t / n) * (-r * v + math.sqrt(2) * d * min(1.0, v))
    assert v < math.log(2.0)


def test_misuse_names_the_argument() -> None:
    system = lyactrl.LinearSystem(A)
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    pts = torch.zeros(5, 2, dtype=torch.float64)
    with pytest.raises(lyactrl.InvalidValueError, match="m"):
        enclose_tube(system, t, pts, m=0.0)
    with pytest.raises(lyactrl.ShapeError, match="points"):
        enclose_tube(system, t, pts[:, :1], m=0.1)
    with pytest.raises(lyactrl.InvalidValueError, match="times"):
        enclose_tube(system, t.flip(0), pts, m=0.1)
    with pytest.raises(lyactrl.InvalidArgumentError, match="system"):
        enclose_tube("A", t, pts, m=0.1)
