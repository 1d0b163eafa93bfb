"""Rule 2: a ``(t, x)`` NeuralSystem is bounded for every ``t >= 0``, never at ``t = 0`` only.

The reference side evaluates the module at explicit times with torch.
"""

from __future__ import annotations

import torch
from _checks import certify, grid, quadratic_residual, status
from torch import nn

import lyactrl
from lyactrl.bounds import bound_system

LO, HI = [-1.0, -1.0], [1.0, 1.0]
X = grid(LO, HI, 11)
TIMES = [0.0, 0.3, 1.0, 2.5, 10.0, 1e3]


class Weakening(nn.Module):
    """``x' = (t - 1) x``: stable at t = 0 (rate 1 holds), not at t = 1."""

    def forward(self, t, x):
        return t * x - x


class Wobble(nn.Module):
    """``x' = -x + 0.1 sin(t) x``: exponentially stable with rate 1 for every t."""

    def forward(self, t, x):
        return -x + 0.1 * torch.sin(t) * x


class IgnoresTime(nn.Module):
    def forward(self, t, x):
        return -x + 0.2 * torch.tanh(x)


def _at(module: nn.Module, t: float):
    return lambda x: module(torch.tensor(t, dtype=torch.float64), x)


def test_condition_failing_at_t1_is_never_certified():
    m = Weakening()
    pts = X[X.abs().sum(1) > 0]
    assert bool((quadratic_residual(_at(m, 0.0), pts, 1.0) < 0).all())  # holds at t = 0
    assert bool((quadratic_residual(_at(m, 1.0), pts, 1.0) > 0).all())  # fails at t = 1
    sys = lyactrl.NeuralSystem(m, 2, inputs="t,x")
    assert status(certify(sys, lyactrl.Quadratic(torch.eye(2)), 1.0, LO, HI)) != "certified"


def test_bounds_contain_the_module_at_every_time():
    for m in (Weakening(), Wobble()):
        b = bound_system(lyactrl.NeuralSystem(m, 2, inputs="t,x"), X, X)
        for t in TIMES:
            truth = _at(m, t)(X)
            assert bool(((b.lower <= truth) & (truth <= b.upper)).all()), (type(m).__name__, t)


def test_a_certificate_for_all_times_is_true_at_every_sampled_time():
    m = Wobble()
    res = certify(
        lyactrl.NeuralSystem(m, 2, inputs="t,x"), lyactrl.Quadratic(torch.eye(2)), 1.0, LO, HI
    )
    assert status(res) in ("certified", "unknown", "refused")
    if status(res) == "certified":
        for t in torch.linspace(0, 50, 101).tolist():
            assert bool((quadratic_residual(_at(m, t), X, 1.0) <= 0).all())
    assert status(res) == "certified"  # sin(t) is bounded, so the proof should go through


def test_a_module_that_ignores_time_is_bounded_as_before():
    m = IgnoresTime()
    b_tx = bound_system(lyactrl.NeuralSystem(m, 2, inputs="t,x"), X - 0.05, X + 0.05)

    class Autonomous(nn.Module):
        def forward(self, x):
            return -x + 0.2 * torch.tanh(x)

    b_x = bound_system(lyactrl.NeuralSystem(Autonomous(), 2), X - 0.05, X + 0.05)
    assert torch.equal(b_tx.lower, b_x.lower) and torch.equal(b_tx.upper, b_x.upper)


def test_unbounded_in_time_gives_infinite_bounds():
    b = bound_system(lyactrl.NeuralSystem(Weakening(), 2, inputs="t,x"), X[:3] + 2, X[:3] + 2.5)
    assert bool(torch.isinf(b.upper).any())
