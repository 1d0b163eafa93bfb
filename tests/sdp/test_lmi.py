"""LMI rates for linear systems: closed forms, spectral abscissa, infeasibility, soundness."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_systems import closed_form_rate, random_hurwitz, random_spd, random_unstable

import lyactrl
from lyactrl._results import Status
from lyactrl.sdp import verify_quadratic_rate


def _lmi_max_eig(A: np.ndarray, P: np.ndarray, rate: float) -> float:
    M = A.T @ P + P @ A + rate * P
    return float(np.linalg.eigvalsh(0.5 * (M + M.T))[-1])


@settings(max_examples=6)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 4))
def test_fixed_P_matches_closed_form(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    A = random_hurwitz(rng, n)
    P, exact = closed_form_rate(A, random_spd(rng, n))
    res = lyactrl.lmi_rate(A, P=P)
    assert res.status == "certified"
    assert res.reference_rate == pytest.approx(exact, rel=1e-9)
    assert res.rate <= exact * (1 + 1e-9)  # never above the true optimum
    assert res.rate >= exact - 1e-6 * max(1.0, abs(exact))
    assert _lmi_max_eig(A, P, res.rate) <= 0.0
    assert res.V is not None and isinstance(res.V, lyactrl.Quadratic)


@settings(max_examples=4)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 4))
def test_free_P_reaches_spectral_abscissa(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    A = random_hurwitz(rng, n)
    abscissa = float(np.max(np.linalg.eigvals(A).real))
    res = lyactrl.lmi_rate(A)
    assert res.status == "certified"
    assert res.reference_rate == pytest.approx(-2 * abscissa)
    assert res.rate <= -2 * abscissa * (1 + 1e-9)
    assert res.rate >= -2 * abscissa * (1 - 2e-3)
    P = res.P.numpy()
    assert _lmi_max_eig(A, P, res.rate) <= 0.0
    # the closed form for the returned P agrees
    assert lyactrl.best_quadratic_rate(A, P) >= res.rate * (1 - 1e-9)


def test_free_P_non_normal_example_and_linear_system_input() -> None:
    A = np.array([[-1.0, 10.0], [0.0, -2.0]])  # P = I certifies much less than 2
    res = lyactrl.lmi_rate(lyactrl.LinearSystem(A))
    assert res.status == "certified"
    assert 2.0 * (1 - 2e-3) <= res.rate <= 2.0
    fixed = lyactrl.lmi_rate(A, P=np.eye(2))
    assert fixed.status == "infeasible"  # A + A^T is indefinite: V = |x|^2 grows somewhere


@pytest.mark.parametrize("seed", [0, 1])
def test_unstable_is_infeasible_not_an_exception(seed: int) -> None:
    A = random_unstable(np.random.default_rng(seed), 3)
    res = lyactrl.lmi_rate(A)
    assert res.status == "infeasible"
    assert np.isnan(res.rate) and res.P is None and res.message
    fixed = lyactrl.lmi_rate(A, P=np.eye(3))
    assert fixed.status == "infeasible" and fixed.solver_rate <= 0
    marginal = lyactrl.lmi_rate([[0.0, 1.0], [-1.0, 0.0]])  # centre: no exponential rate
    assert marginal.status == "infeasible"


def test_scs_is_sound() -> None:
    A = random_hurwitz(np.random.default_rng(3), 3)
    P, exact = closed_form_rate(A)
    res = lyactrl.lmi_rate(A, P=P, solver="scs")
    assert res.status in ("certified", "unknown")
    if res.status == "certified":
        assert res.rate <= exact and _lmi_max_eig(A, P, res.rate) <= 0


def test_verify_shrinks_an_overstated_rate() -> None:
    A = np.array([[-1.0, 0.0], [0.0, -3.0]])
    rate, lam, margin = verify_quadratic_rate(A, np.eye(2), 2.5)
    assert rate <= 2.0 and rate > 1.9 and lam <= -margin
    nan_rate, _, _ = verify_quadratic_rate(A, -np.eye(2), 1.0)
    assert np.isnan(nan_rate)


def test_result_to_dict_is_json() -> None:
    res = lyactrl.lmi_rate([[-1.0, 0.0], [0.0, -2.0]])
    d = res.to_dict()
    json.dumps(d)
    assert d["status"] == "certified" and d["method"] == "lmi-bisection" and d["seconds"] > 0
    assert res.status is Status.CERTIFIED and d["message"] == res.message
    assert "certified" in str(res)


def test_bad_arguments() -> None:
    with pytest.raises(lyactrl.InvalidValueError, match="solver"):
        lyactrl.lmi_rate([[-1.0]], solver="mosek")
    with pytest.raises(lyactrl.UnknownArgumentError):
        lyactrl.lmi_rate([[-1.0]], tolerance=1.0)
    with pytest.raises(lyactrl.ShapeError):
        lyactrl.lmi_rate([[-1.0, 0.0]])
    with pytest.raises(lyactrl.NotPositiveDefiniteError):
        lyactrl.lmi_rate([[-1.0]], P=[[-1.0]])
    with pytest.raises(lyactrl.InvalidValueError, match="P"):
        lyactrl.lmi_rate([[-1.0]], P=np.eye(2))
    with pytest.raises(lyactrl.InvalidArgumentError, match="inputs"):
        lyactrl.lmi_rate(lyactrl.LinearSystem([[-1.0]], B=[[1.0]]))
