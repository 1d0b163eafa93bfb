"""Reference systems with known answers, shared by the tests."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

import lyactrl


def random_hurwitz(rng: np.random.Generator, n: int, *, margin: float = 0.2) -> np.ndarray:
    """A random Hurwitz matrix whose eigenvalues have real part <= -margin."""
    M = rng.normal(size=(n, n))
    shift = max(np.linalg.eigvals(M).real) + margin + rng.uniform(0.0, 1.0)
    return M - shift * np.eye(n)


def random_unstable(rng: np.random.Generator, n: int, *, margin: float = 0.2) -> np.ndarray:
    """A random matrix with at least one eigenvalue of real part >= margin."""
    M = rng.normal(size=(n, n))
    shift = max(np.linalg.eigvals(M).real) - margin - rng.uniform(0.0, 1.0)
    return M - shift * np.eye(n)


def random_spd(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random symmetric positive definite matrix with condition number below ~100."""
    M = rng.normal(size=(n, n))
    return M @ M.T + 0.1 * np.trace(M @ M.T) / n * np.eye(n)


def closed_form_rate(A: np.ndarray, Q: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``P`` solving ``A^T P + P A = -Q`` and the best rate: min generalised eig of (Q, P)."""
    n = A.shape[0]
    Q = np.eye(n) if Q is None else Q
    P = scipy.linalg.solve_continuous_lyapunov(A.T, -Q)
    P = 0.5 * (P + P.T)
    return P, float(scipy.linalg.eigh(Q, P, eigvals_only=True)[0])


def random_schur(rng: np.random.Generator, n: int, *, radius: float = 0.9) -> np.ndarray:
    """A random matrix whose spectral radius is ``radius * u`` for ``u`` in ``[0.5, 1]``."""
    M = rng.normal(size=(n, n))
    return M * (radius * rng.uniform(0.5, 1.0) / max(abs(np.linalg.eigvals(M))))


def closed_form_discrete_rate(A: np.ndarray) -> tuple[np.ndarray, float]:
    """``P`` solving ``A^T P A - P = -I`` and the best rate of ``V(Ax) <= (1 - k) V(x)``:
    ``1 - lambda_max(A^T P A, P)``, a generalised eigenvalue problem."""
    P = scipy.linalg.solve_discrete_lyapunov(A.T, np.eye(A.shape[0]))
    P = 0.5 * (P + P.T)
    return P, 1.0 - float(scipy.linalg.eigh(A.T @ P @ A, P, eigvals_only=True)[-1])


def ahmadi_map() -> lyactrl.DiscreteSystem:
    """FOSSIL's discrete-time Ahmadi system (a stable map with a cross term)."""
    return lyactrl.DiscreteSystem(
        ["0.687*x + 0.558*y - 0.0001*x*y", "-0.292*x + 0.773*y"], states="x, y"
    )


def reversed_van_der_pol(mu: float = 1.0) -> lyactrl.SymbolicSystem:
    """x1' = -x2, x2' = x1 - mu (1 - x1^2) x2 (stable origin, bounded ROA)."""
    return lyactrl.SymbolicSystem(
        ["-x2", "x1 - mu*(1 - x1**2)*x2"], "x1, x2", parameters={"mu": mu}
    )


def damped_pendulum(damping: float = 1.0) -> lyactrl.SymbolicSystem:
    """x1' = x2, x2' = -sin(x1) - damping x2 (linearisation [[0, 1], [-1, -damping]])."""
    return lyactrl.SymbolicSystem(["x2", "-sin(x1) - b*x2"], "x1, x2", parameters={"b": damping})


def vdp_torch(x: torch.Tensor, mu: float = 1.0) -> torch.Tensor:
    """Hand-written torch version of the reversed Van der Pol vector field."""
    x1, x2 = x[:, 0], x[:, 1]
    return torch.stack([-x2, x1 - mu * (1 - x1**2) * x2], dim=1)


def pendulum_torch(x: torch.Tensor, damping: float = 1.0) -> torch.Tensor:
    """Hand-written torch version of the damped pendulum."""
    return torch.stack([x[:, 1], -torch.sin(x[:, 0]) - damping * x[:, 1]], dim=1)


def fossil_poly2() -> lyactrl.SymbolicSystem:
    """FOSSIL Poly2 (S5): x' = -x^3 + y, y' = -x - y (globally asymptotically stable)."""
    return lyactrl.SymbolicSystem(["-x**3 + y", "-x - y"], "x, y")


def cubic_1d() -> lyactrl.SymbolicSystem:
    """x' = -x + x^3: stable origin with region of attraction exactly (-1, 1)."""
    return lyactrl.SymbolicSystem(["-x + x**3"], "x")


class BiasedField(torch.nn.Module):
    """``A x + b + MLP(x)``: a 2-16-2 tanh network with biases everywhere on a stable linear
    part, whose equilibrium is known only numerically (near (0.118, 0.224)), as training
    leaves a model. Deterministic (its own generator)."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.A = torch.nn.Linear(2, 2).double()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
        ).double()
        with torch.no_grad():
            self.A.weight.copy_(torch.tensor([[-1.0, 0.5], [-0.5, -1.0]], dtype=torch.float64))
            self.A.bias.copy_(torch.tensor([0.1, -0.2], dtype=torch.float64))
            for p in self.net.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x) + self.net(x)


class ResidualMLPField(torch.nn.Module):
    """``A x + b + W3 tanh(W2 tanh(W1 x + b1) + b2) + b3`` in ``n`` states, every bias present:
    a stable linear part (``-1.5 I`` plus a skew part) and a ``n-width-width-n`` tanh network
    with random weights (its output layer scaled by 0.1), the field of
    ``benchmarks/bench_scaling.py``. Deterministic (its own generator)."""

    def __init__(self, n: int, seed: int, width: int = 64) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.A = torch.nn.Linear(n, n).double()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n, width),
            torch.nn.Tanh(),
            torch.nn.Linear(width, width),
            torch.nn.Tanh(),
            torch.nn.Linear(width, n),
        ).double()
        with torch.no_grad():
            M = torch.randn(n, n, generator=g, dtype=torch.float64) / n**0.5
            self.A.weight.copy_(-1.5 * torch.eye(n, dtype=torch.float64) + 0.5 * (M - M.T))
            self.A.bias.copy_(0.1 * torch.randn(n, generator=g, dtype=torch.float64))
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / p.shape[-1] ** 0.5)
            self.net[-1].weight.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x) + self.net(x)


def three_stripes(n: int = 40, seed: int = 0):  # noqa: ANN201
    """A tiny separable image data set: 4 x 4 images, class ``k`` lights row ``k`` (3
    classes); the first 12 images double as the test set."""
    from lyactrl.train.lyanet import Dataset

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.15 * torch.rand(n, 1, 4, 4, generator=g)
    for k in range(3):
        x[:, 0, k, :] += (y == k).float().unsqueeze(1) * 0.8
    return Dataset("tiny", x, y, x[:0], y[:0], x[:12], y[:12], 3)
