"""Rule 3 (constants): exact sympy constants evaluate in torch and are enclosed soundly.

References: mpmath at 50 digits, and numpy float64.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch
from _checks import certify, grid, status
from scipy.linalg import solve_continuous_lyapunov

import lyactrl
from lyactrl.bounds import bound_system
from lyactrl.bounds.jets import Jet, expr_jet

CONSTANTS = [
    sp.pi,
    sp.E,
    sp.sqrt(3) / 2,
    -sp.sqrt(3) / 2,
    sp.sqrt(2) * sp.pi,
    sp.log(2),
    sp.sin(sp.pi / 7),
    sp.exp(sp.Rational(1, 3)),
    sp.Rational(1, 3),
    sp.Integer(2) ** sp.Rational(1, 3),
    sp.cos(1),
]


def _like() -> Jet:
    z = torch.zeros(1, 1, dtype=torch.float64)
    return Jet.variables(z, z, 0).select(0)


@pytest.mark.parametrize("c", CONSTANTS, ids=str)
def test_enclosure_contains_the_50_digit_value(c):
    j = expr_jet(c, {}, _like())
    lo, hi = float(j.v[0][0]), float(j.v[1][0])
    with mpmath.workdps(50):
        exact = mpmath.mpf(str(sp.N(c, 50)))
        assert mpmath.mpf(lo) <= exact <= mpmath.mpf(hi)
    assert hi - lo <= 4 * np.spacing(abs(float(c)))  # tight: a few ulp


def _pendulum() -> lyactrl.SymbolicSystem:
    # sympy keeps sin(pi/3) as sqrt(3)/2: the torch code must not call torch.sqrt(3)
    return lyactrl.SymbolicSystem(["x2", "-sin(x1 + pi/3) + sin(pi/3) - x2"], "x1, x2")


def test_symbolic_system_with_exact_constants_evaluates():
    sys = _pendulum()
    assert any(e.has(sp.sqrt(3)) for e in sys.exprs)
    x = grid([-1.0, -1.0], [1.0, 1.0], 9)
    out = sys(x)
    x1, x2 = x[:, 0].numpy(), x[:, 1].numpy()
    ref = -np.sin(x1 + np.pi / 3) + np.sin(np.pi / 3) - x2
    assert np.allclose(out[:, 1].numpy(), ref, rtol=0, atol=1e-15)


def test_bounds_of_symbolic_system_contain_the_exact_value():
    sys = _pendulum()
    x = grid([-1.0, -1.0], [1.0, 1.0], 5)
    b = bound_system(sys, x, x)
    with mpmath.workdps(50):
        for i, (a1, a2) in enumerate(x.tolist()):
            exact = -mpmath.sin(mpmath.mpf(a1) + mpmath.pi / 3) + mpmath.sqrt(3) / 2 - a2
            assert mpmath.mpf(float(b.lower[i, 1])) <= exact <= mpmath.mpf(float(b.upper[i, 1]))


def test_certifier_works_on_exact_constants():
    sys = _pendulum()
    # V = x^T P x with A^T P + P A = -I for the linearisation A = [[0, 1], [-cos(pi/3), -1]]
    A = np.array([[0.0, 1.0], [-0.5, -1.0]])
    P = torch.tensor(solve_continuous_lyapunov(A.T, -np.eye(2)), dtype=torch.float64)
    V = lyactrl.Quadratic(P)
    res = certify(sys, V, 0.05, [-0.3, -0.3], [0.3, 0.3])
    # no crash; near x_eq the enclosure of f(x_eq) = -sin(pi/3) + sqrt(3)/2 is a few ulp wide
    # (not exactly 0), so the verdict may stay short of a proof; it must never be a false one
    assert status(res) in ("certified", "unknown", "falsified")
    if status(res) == "certified":  # independent check on a dense grid (float64, closed form)
        x = grid([-0.3, -0.3], [0.3, 0.3], 41).numpy()
        f = np.stack([x[:, 1], -np.sin(x[:, 0] + math.pi / 3) + math.sqrt(3) / 2 - x[:, 1]], 1)
        Pn = P.numpy()
        r = 2 * np.einsum("bi,ij,bj->b", x, Pn, f) + 0.05 * np.einsum("bi,ij,bj->b", x, Pn, x)
        assert (r <= 1e-12).all()


def test_symbolic_candidate_with_exact_constants_evaluates_and_is_enclosed():
    V = lyactrl.SymbolicCandidate("x1**2 + sqrt(2)*x2**2", "x1, x2")
    x = grid([-1.0, -1.0], [1.0, 1.0], 5)
    ref = x[:, 0].numpy() ** 2 + np.sqrt(2) * x[:, 1].numpy() ** 2
    assert np.allclose(V(x).numpy(), ref, rtol=1e-15, atol=0)
    b = lyactrl.bounds.bound_candidate(V, x, x)
    with mpmath.workdps(50):
        for i, (a1, a2) in enumerate(x.tolist()):
            exact = mpmath.mpf(a1) ** 2 + mpmath.sqrt(2) * mpmath.mpf(a2) ** 2
            assert mpmath.mpf(float(b.lower[i])) <= exact <= mpmath.mpf(float(b.upper[i]))
