"""The falsification rule (``lyactrl/verify/_counterexamples.py``): a counterexample counts only
when its residual enclosure is strictly positive."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lyactrl
from lyactrl.bounds import proved_positive
from lyactrl.verify import RTOL
from lyactrl.verify._counterexamples import (
    Counterexamples,
    centre_counterexamples,
    prove_counterexamples,
    verdict,
    violations,
)

T = torch.float64


def expanding() -> lyactrl.ExponentialStability:
    """``x' = x`` with ``V = ||x||^2``, rate 1: residual ``3 ||x||^2``, zero only at 0."""
    return lyactrl.ExponentialStability(
        lyactrl.LinearSystem(np.eye(2)), lyactrl.Quadratic(np.eye(2)), rate=1.0
    )


def saddle() -> lyactrl.ExponentialStability:
    """``x' = diag(1, -2) x``, ``V = ||x||^2``, rate 1: residual ``3 x1^2 - 3 x2^2``."""
    return lyactrl.ExponentialStability(
        lyactrl.LinearSystem([[1.0, 0.0], [0.0, -2.0]]), lyactrl.Quadratic(np.eye(2)), rate=1.0
    )


@given(st.integers(0, 2**31 - 1), st.integers(1, 40))
def test_worst_first_and_only_strictly_positive_enclosures_are_proved(seed, k):
    cond = saddle()
    x = torch.randn(k, 2, generator=torch.Generator().manual_seed(seed), dtype=T)
    x[::3, 1] = x[::3, 0]  # on the diagonals the residual is exactly 0: not proved
    r = cond.residual(x)
    found = prove_counterexamples(cond, x, r)
    assert isinstance(found, Counterexamples)
    assert bool((found.residuals[:-1] >= found.residuals[1:]).all())  # worst first
    # the states were permuted with their residuals
    torch.testing.assert_close(cond.residual(found.states), found.residuals, rtol=0, atol=0)
    assert sorted(map(tuple, found.states.tolist())) == sorted(map(tuple, x.tolist()))
    # proved exactly where the true residual 3 (x1^2 - x2^2) is positive
    truth = found.states[:, 0].abs() > found.states[:, 1].abs()
    assert torch.equal(found.proved, truth)
    assert torch.equal(found.proved, proved_positive(cond, found.states))
    assert found.any_proved == bool(truth.any())
    only = found.only_proved()
    assert bool(only.proved.all()) and only.states.shape[0] == int(truth.sum())
    torch.testing.assert_close(only.residuals, found.residuals[found.proved], rtol=0, atol=0)


def test_the_equilibrium_is_never_a_proved_counterexample():
    cond = expanding()
    x = torch.tensor([[0.0, 0.0], [0.5, -0.5], [1e-3, 0.0]], dtype=T)
    found = prove_counterexamples(cond, x, cond.residual(x))
    assert found.states.tolist() == [[0.5, -0.5], [1e-3, 0.0], [0.0, 0.0]]
    assert found.proved.tolist() == [True, True, False]
    assert found.message == ""


def rounding_condition() -> lyactrl.ExponentialStability:
    """``x' = -x/3``, ``V = x^2``, rate ``2/3``: the real residual (with the float constants)
    is exactly 0 everywhere; float evaluation leaves rounding noise of either sign."""
    third = 1.0 / 3.0
    return lyactrl.ExponentialStability(
        lyactrl.LinearSystem([[-third]]), lyactrl.Quadratic([[1.0]]), rate=2.0 * third
    )


def test_a_rounding_level_positive_residual_is_not_proved():
    cond = rounding_condition()
    x = torch.linspace(0.1, 10.0, 2000, dtype=T).reshape(-1, 1)
    r, scale = cond.evaluate_with_scale(x)
    pos = r > 0
    assert bool(pos.any()), "expected rounding noise with a positive sign at some states"
    assert float(r.abs().max()) <= 1e-14 * float(scale.max())
    found = prove_counterexamples(cond, x[pos], r[pos])
    assert not found.any_proved and found.states.shape[0] == int(pos.sum())
    assert "within rounding" in found.message and "enclosure contains 0" in found.message
    # the sampled checks do not even count them: below the relative tolerance
    _, mask = violations(cond, x, RTOL)
    assert not bool(mask.any())
    status, why = verdict(found, int(pos.sum()))
    assert status == "unknown" and "none is proved" in why and found.message in why


def test_an_unsupported_operation_gives_an_unproved_result_with_a_message():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU()).double()
    cond = lyactrl.ExponentialStability(
        lyactrl.NeuralSystem(net, 2), lyactrl.Quadratic(np.eye(2)), rate=1.0
    )
    with pytest.raises(lyactrl.UnsupportedOperationError):
        proved_positive(cond, torch.ones(1, 2, dtype=T))
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=T)
    r = torch.arange(5, dtype=T)
    found = prove_counterexamples(cond, x, r)  # no exception
    assert found.proved.tolist() == [False] * 5 and not found.any_proved
    assert found.residuals.tolist() == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert found.message.startswith("the violations cannot be proved:")
    assert "GELU" in found.message
    status, why = verdict(found, 5)
    assert status == "unknown" and "5 violation(s)" in why


def test_no_states_give_an_empty_unproved_result():
    found = prove_counterexamples(expanding(), torch.zeros(0, 2, dtype=T), torch.zeros(0))
    assert found.states.shape == (0, 2) and not found.any_proved and found.message == ""


def test_verdict_is_falsified_with_a_proved_counterexample():
    cond = saddle()
    x = torch.tensor([[1.0, 0.0]], dtype=T)
    found = prove_counterexamples(cond, x, cond.residual(x))
    assert verdict(found, 1) == ("falsified", "")


def test_violations_use_the_relative_tolerance():
    cond = saddle()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=T)
    r, mask = violations(cond, x, RTOL)
    assert r.tolist() == [3.0, -3.0, 0.0] and mask.tolist() == [True, False, False]
    # at (1, 0) residual 2 + 1 and scale |2||1| + 1: a violation for rtol < 1 only
    _, loose = violations(cond, x, rtol=0.6)
    assert loose.tolist() == [True, False, False]
    _, none = violations(cond, x, rtol=1.0)
    assert none.tolist() == [False, False, False]


def test_centre_counterexamples_are_proved_and_in_the_region():
    cond = saddle()
    region = lyactrl.Ball([0.0, 0.0], 1.0)
    # centres (0.5, 0) (violates, inside), (2, 0) (violates, outside), (0, 0.5) (holds)
    lo = torch.tensor([[0.4, -0.1], [1.9, -0.1], [-0.1, 0.4]], dtype=T)
    hi = torch.tensor([[0.6, 0.1], [2.1, 0.1], [0.1, 0.6]], dtype=T)
    found = centre_counterexamples(cond, region, lo, hi)
    assert found is not None and found.states.tolist() == [[0.5, 0.0]]
    assert bool(found.proved.all())
    assert centre_counterexamples(cond, region, lo[2:], hi[2:]) is None
    # rounding-level positive centres are not counterexamples
    a = torch.linspace(0.1, 9.0, 500, dtype=T)[:, None]
    assert bool((rounding_condition().residual(a) > 0).any())
    assert centre_counterexamples(rounding_condition(), lyactrl.Ball([0.0], 10.0), a, a) is None
