"""Saturated controllers are certified as written, and the certified set is a true region of
attraction: checked against scipy simulations of the saturated loop (no lyactrl code on the
reference side).

The plant is the inverted pendulum ``x1' = x2, x2' = sin(x1) - 0.1 x2 + u`` under
``u = clamp(-K x, -u_max, u_max)`` with ``u_max = 0.75 < 1``: the saturated loop has further
equilibria at ``sin(x1) = 0.75`` (``x1 = 0.848...``), so trajectories from part of the domain
do not return to the origin and a certificate that ignored the saturation would be wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from scipy.integrate import solve_ivp
from torch import nn

import lyactrl

D = torch.float64
# the LQR gain of the linearisation (Q = I, R = 1: [2.414, 2.316]) on a dyadic grid, so that
# all four spellings below carry exactly the same numbers
K1, K2 = 154 / 64, 148 / 64
K = torch.tensor([[K1, K2]], dtype=D)
U_MAX = 0.75
RATE = 0.1
DOMAIN = ([-3.0, -3.0], [3.0, 3.0])
PLANT = ["x2", "sin(x1) - 0.1*x2 + u"]


def _plant() -> lyactrl.SymbolicSystem:
    return lyactrl.SymbolicSystem(PLANT, "x1, x2", inputs="u")


class ClampForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("K", K.clone())

    def forward(self, x):
        return torch.clamp(-nn.functional.linear(x, self.K), -U_MAX, U_MAX)


def _linear(weight: torch.Tensor, bias: torch.Tensor | None = None) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None).double()
    with torch.no_grad():
        lin.weight.copy_(weight)
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


def saturated(x):
    """A plain function controller."""
    return torch.clamp(-x @ K.T, -U_MAX, U_MAX)


def _loops() -> dict[str, lyactrl.AbstractSystem]:
    sym = lyactrl.SymbolicSystem(
        ["x2", f"sin(x1) - 0.1*x2 + Min(Max(-{K1}*x1 - {K2}*x2, -{U_MAX}), {U_MAX})"], "x1, x2"
    )
    return {
        "torch.clamp in forward": lyactrl.ClosedLoop(_plant(), ClampForward()),
        "nn.Hardtanh after nn.Linear": lyactrl.ClosedLoop(
            _plant(), nn.Sequential(_linear(-K), nn.Hardtanh(-U_MAX, U_MAX))
        ),
        "plain function": lyactrl.ClosedLoop(_plant(), saturated),
        "sympy Min/Max": sym,
    }


def _pendulum_rhs(t: float, y: np.ndarray) -> np.ndarray:
    x = y.reshape(2, -1)
    u = np.clip(-(K1 * x[0] + K2 * x[1]), -U_MAX, U_MAX)
    return np.concatenate([x[1], np.sin(x[0]) - 0.1 * x[1] + u])


def _simulate(rhs, x0: np.ndarray, t_end: float, n_times: int = 200) -> np.ndarray:
    """States at ``n_times`` times for every initial state (rows of ``x0``): ``(times, k, 2)``."""
    times = np.linspace(0.0, t_end, n_times)
    sol = solve_ivp(rhs, (0.0, t_end), x0.T.reshape(-1), t_eval=times, rtol=1e-9, atol=1e-12)
    assert sol.success
    return sol.y.reshape(2, x0.shape[0], -1).transpose(2, 1, 0)


def _grid(n: int = 61) -> np.ndarray:
    axes = [np.linspace(a, b, n) for a, b in zip(*DOMAIN, strict=True)]
    return np.stack(np.meshgrid(*axes), -1).reshape(-1, 2)


def _check_region(P: np.ndarray, level: float, rhs, t_end: float) -> int:
    """Every grid point of ``{x^T P x <= level}`` converges to 0 with ``V`` decaying at the
    certified rate; points of the domain outside may do anything. Returns how many were
    checked."""
    g = _grid()
    v0 = np.einsum("ki,ij,kj->k", g, P, g)
    inside = g[v0 <= level]
    assert len(inside) > 50
    xs = _simulate(rhs, inside, t_end)
    v = np.einsum("tki,ij,tkj->tk", xs, P, xs)
    times = np.linspace(0.0, t_end, xs.shape[0])[:, None]
    assert np.all(v <= np.exp(-RATE * times) * v[0] * (1 + 1e-6) + 1e-12)
    assert np.all(np.linalg.norm(xs[-1], axis=1) < 1e-3)
    return len(inside)


@pytest.fixture(scope="module")
def certified() -> dict[str, lyactrl.RegionOfAttraction]:
    V = lyactrl.Quadratic.from_linearization(_loops()["nn.Hardtanh after nn.Linear"])
    box = lyactrl.Box(*DOMAIN)
    return {
        name: lyactrl.region_of_attraction(loop, V, box, rate=RATE, tol=1e-2, time_limit=30.0)
        for name, loop in _loops().items()
    }


def test_the_saturated_loop_certifies_as_written_in_four_spellings(certified) -> None:
    levels = {name: r.level for name, r in certified.items()}
    assert all(r.status == "certified" for r in certified.values()), certified
    ref = levels["nn.Hardtanh after nn.Linear"]
    assert levels["torch.clamp in forward"] == ref == levels["plain function"]
    assert abs(levels["sympy Min/Max"] - ref) <= 1e-6 * ref  # other rounding, same region
    # the saturation is active in the certified set: max |K x| over {x^T P x <= c}
    V = lyactrl.Quadratic.from_linearization(_loops()["plain function"])
    assert float(torch.sqrt(ref * K @ torch.linalg.inv(V.P) @ K.T)) > 1.2 * U_MAX


def test_the_certified_set_holds_no_diverging_trajectory(certified) -> None:
    V = lyactrl.Quadratic.from_linearization(_loops()["plain function"])
    P = V.P.numpy()
    for r in certified.values():
        _check_region(P, r.level, _pendulum_rhs, 60.0)
    # and the check can fail: the domain holds trajectories that do not return (the
    # saturated equilibrium at sin(x1) = u_max), all outside the certified set
    g = _grid(31)
    end = _simulate(_pendulum_rhs, g, 60.0, 2)[-1]
    lost = g[np.linalg.norm(end, axis=1) > 0.1]
    assert len(lost) > 0
    assert np.all(
        np.einsum("ki,ij,kj->k", lost, P, lost) > max(r.level for r in certified.values())
    )
    x_star = np.array([np.arcsin(U_MAX), 0.0])
    assert np.allclose(_pendulum_rhs(0.0, x_star.reshape(2, 1)).ravel(), 0.0, atol=1e-12)


def test_saturation_as_linear_relu_linear_is_not_falsified_on_rounding() -> None:
    """``clamp(z, -1, 1) = relu(z + 1) - relu(z - 1) - 1``: the same function, whose bounds at
    ``x_eq`` carry rounding; a rounding-level violation is never a counterexample."""
    first = _linear(torch.cat([-K, -K]), torch.tensor([U_MAX, -U_MAX], dtype=D))
    second = _linear(torch.tensor([[1.0, -1.0]], dtype=D), torch.tensor([-U_MAX], dtype=D))
    loop = lyactrl.ClosedLoop(_plant(), nn.Sequential(first, nn.ReLU(), second))
    x = torch.tensor([[0.3, -0.2], [2.0, 1.0], [0.0, 0.0]], dtype=D)
    with torch.no_grad():
        assert torch.equal(loop(x), _loops()["plain function"](x))
    V = lyactrl.Quadratic.from_linearization(loop)
    cond = lyactrl.ExponentialStability(loop, V, rate=RATE)
    res = lyactrl.certify(cond, lyactrl.Box([-0.2, -0.2], [0.2, 0.2]), time_limit=3.0)
    assert res.status in ("certified", "unknown"), res


def test_saturated_double_integrator() -> None:
    """Issue 11: ``x1' = x2, x2' = sat(-k x)``; the certified set never holds a trajectory that
    does not converge at the certified rate."""
    plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
    gain = torch.tensor([[1.0, 1.5]], dtype=D)
    loop = lyactrl.ClosedLoop(plant, nn.Sequential(_linear(-gain), nn.Hardtanh(-1.0, 1.0)))
    V = lyactrl.Quadratic.from_linearization(loop)
    res = lyactrl.region_of_attraction(
        loop, V, lyactrl.Box(*DOMAIN), rate=RATE, tol=1e-2, time_limit=30.0
    )
    assert res.status == "certified", res
    P = V.P.numpy()
    # saturation active in the set
    assert float(torch.sqrt(res.level * gain @ torch.linalg.inv(V.P) @ gain.T)) > 1.0

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        x = y.reshape(2, -1)
        return np.concatenate([x[1], np.clip(-(1.0 * x[0] + 1.5 * x[1]), -1.0, 1.0)])

    _check_region(P, res.level, rhs, 80.0)


def test_sympy_heaviside_controller_is_refused() -> None:
    x1 = sp.Symbol("x1")
    sys = lyactrl.SymbolicSystem(["x2", sp.sin(x1) - 2 * x1 * sp.Heaviside(x1)], "x1, x2")
    V = lyactrl.Quadratic(torch.eye(2))
    with pytest.raises(lyactrl.UnsupportedOperationError, match="discontinuous"):
        lyactrl.certify(lyactrl.ExponentialStability(sys, V, rate=RATE), lyactrl.Box(*DOMAIN))
