"""Candidates: closed forms, positive definiteness, gradients against autograd."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from reference_systems import closed_form_rate, random_hurwitz, random_spd, random_unstable

import lyactrl

seeds = st.integers(0, 2**31 - 1)


@given(seeds, st.integers(1, 5))
def test_from_linearization_solves_the_lyapunov_equation(seed, n):
    rng = np.random.default_rng(seed)
    A = random_hurwitz(rng, n)
    Q = random_spd(rng, n)
    V = lyactrl.Quadratic.from_linearization(lyactrl.LinearSystem(A), Q)
    P = V.P.numpy()
    np.testing.assert_allclose(A.T @ P + P @ A, -Q, atol=1e-8 * np.abs(Q).max() * n)
    P_ref, rate = closed_form_rate(A, Q)
    np.testing.assert_allclose(P, P_ref, rtol=1e-9, atol=1e-12)
    assert math.isclose(lyactrl.best_quadratic_rate(A, P), rate, rel_tol=1e-9)


def test_best_rate_known_answer():
    # A = -diag(1, 3), P = I: V' = -2x1^2 - 6x2^2 <= -2 V, best rate 2
    assert math.isclose(lyactrl.best_quadratic_rate(np.diag([-1.0, -3.0]), np.eye(2)), 2.0)
    # from_linearization with Q = I on A = -a I gives P = I/(2a) and rate 2a
    V = lyactrl.Quadratic.from_linearization(lyactrl.LinearSystem(-1.5 * np.eye(3)))
    np.testing.assert_allclose(V.P.numpy(), np.eye(3) / 3.0)


@given(seeds, st.integers(1, 4))
def test_unstable_linearisation_raises_with_eigenvalues(seed, n):
    A = random_unstable(np.random.default_rng(seed), n)
    with pytest.raises(lyactrl.NotHurwitzError, match="eigenvalues"):
        lyactrl.Quadratic.from_linearization(lyactrl.LinearSystem(A))


@given(seeds, st.integers(1, 4))
def test_quadratic_gradient_matches_autograd(seed, n):
    rng = np.random.default_rng(seed)
    V = lyactrl.Quadratic(random_spd(rng, n), x_eq=rng.normal(size=n))
    x = torch.tensor(rng.normal(size=(7, n)), requires_grad=True)
    V.value(x).sum().backward()
    torch.testing.assert_close(V.grad(x.detach()), x.grad)
    assert float(V(V.x_eq.unsqueeze(0))[0]) == 0.0


def _autograd(V, x):
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(V.value(xr).sum(), xr)
    return g


@given(seeds, st.integers(2, 6))
def test_potential_gradients_match_autograd(seed, n):
    g = torch.Generator().manual_seed(seed)
    eta = 3 * torch.randn(9, n, generator=g, dtype=torch.float64)
    labels = torch.randint(0, n, (9,), generator=g)
    for V in (
        lyactrl.CrossEntropy(labels, n_classes=n),
        lyactrl.CrossEntropy(int(labels[0])),
        lyactrl.SquaredError(torch.randn(n, generator=g, dtype=torch.float64)),
        lyactrl.SquaredError(torch.randn(9, n, generator=g, dtype=torch.float64)),
    ):
        torch.testing.assert_close(V.grad(eta), _autograd(V, eta))


def test_potentials_gradcheck():
    eta = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    ce = lyactrl.CrossEntropy(torch.tensor([0, 2, 1, 1]))
    assert torch.autograd.gradcheck(lambda e: ce.value_and_gradient(e)[1], (eta,))
    se = lyactrl.SquaredError([1.0, 0.0, 0.0])
    assert torch.autograd.gradcheck(lambda e: se.value(e), (eta,))


@given(seeds)
def test_cross_entropy_below_log2_implies_correct_argmax(seed):
    g = torch.Generator().manual_seed(seed)
    eta = 4 * torch.randn(256, 4, generator=g, dtype=torch.float64)
    V = lyactrl.CrossEntropy(2)
    v = V(eta)
    assert bool((v > 0).all())
    assert bool((eta[v < math.log(2)].argmax(1) == 2).all())


@given(seeds, st.sampled_from(["tanh", "softplus", "sigmoid", "relu", "leaky_relu"]))
def test_neural_lyapunov_is_positive_definite(seed, activation):
    g = torch.Generator().manual_seed(seed)
    x_eq = torch.randn(3, generator=g, dtype=torch.float64)
    V = lyactrl.NeuralLyapunov(
        3, hidden=(8, 8), activation=activation, eps=0.05, x_eq=x_eq, generator=g
    )
    assert float(V(x_eq.unsqueeze(0)).detach()[0]) == 0.0
    x = 5 * torch.randn(200, 3, generator=g, dtype=torch.float64)
    assert bool((V(x) >= 0.05 * ((x - x_eq) ** 2).sum(1) * (1 - 1e-12)).all())


def test_neural_lyapunov_gradient_matches_autograd_and_trains():
    V = lyactrl.NeuralLyapunov(2, hidden=(16, 8), generator=torch.Generator().manual_seed(1))
    x = torch.randn(10, 2, dtype=torch.float64)
    torch.testing.assert_close(V.grad(x), _autograd(V, x))
    assert torch.autograd.gradcheck(lambda z: V.value(z), (x.clone().requires_grad_(True),))
    # the gradient keeps its graph when gradients are enabled: a loss on grad V trains V
    _, g = V.value_and_gradient(x)
    g.pow(2).sum().backward()
    # (the last bias cancels in phi(x) - phi(x_eq), so only weights are checked)
    weights = [p for name, p in V.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


def test_symbolic_candidate_gradient_matches_autograd():
    V = lyactrl.SymbolicCandidate("x1**4 + x1*x2 + 2*x2**2 + sin(x1)**2", "x1, x2", x_eq=[0.0, 0.0])
    x = torch.randn(12, 2, dtype=torch.float64)
    torch.testing.assert_close(V.grad(x), _autograd(V, x))
