"""ModuleCandidate: a user's own nn.Module as V, bounded by the certifier, positivity proved."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lyactrl
from lyactrl.bounds.jets import Jet, candidate_jets
from tests.reference_systems import closed_form_rate, damped_pendulum, random_hurwitz

D = torch.float64
UNIT = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])


class QuadraticForm(nn.Module):
    """``x^T P x`` written as a user would: a custom forward over a buffer."""

    def __init__(self, P: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("P", torch.as_tensor(P, dtype=D))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x @ self.P) * x).sum(-1)


class Saddle(nn.Module):
    """``x1^2 - 0.5 x2^2``: not positive definite."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0] ** 2 - 0.5 * x[:, 1] ** 2


class Features(nn.Module):
    """``x^T P x + ||phi(x) - phi(0)||^2 + 3`` with a tanh MLP ``phi``: a Lyapunov network as
    another code base might train it, with an offset at ``x_eq``. With ``bias=False``,
    ``phi(0) = 0`` and the subtraction is dropped (it is exact)."""

    def __init__(self, P: torch.Tensor, *, bias: bool, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.bias = bias
        self.phi = nn.Sequential(
            nn.Linear(2, 8, bias=bias), nn.Tanh(), nn.Linear(8, 3, bias=bias)
        ).double()
        with torch.no_grad():
            for p in self.phi.parameters():
                p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=D))
        self.register_buffer("P", torch.as_tensor(P, dtype=D))
        self.register_buffer("zero", torch.zeros(1, 2, dtype=D))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.phi(x) - self.phi(self.zero) if self.bias else self.phi(x)
        return ((x @ self.P) * x).sum(-1) + (d * d).sum(-1) + 3.0


def test_quadratic_module_certifies_like_quadratic() -> None:
    rng = np.random.default_rng(3)
    A = random_hurwitz(rng, 2)
    P, best = closed_form_rate(A)
    sys = lyactrl.LinearSystem(A)
    Vq = lyactrl.Quadratic(P)
    Vm = lyactrl.ModuleCandidate(QuadraticForm(P), x_eq=[0.0, 0.0], n_states=2)
    for rate, expected in ((0.95 * best, "certified"), (1.05 * best, "falsified")):
        rq = lyactrl.certify(lyactrl.ExponentialStability(sys, Vq, rate), UNIT, max_boxes=20_000)
        rm = lyactrl.certify(lyactrl.ExponentialStability(sys, Vm, rate), UNIT, max_boxes=20_000)
        assert rq.status == rm.status == expected, rm.message
    assert rm.counterexamples.shape[0] >= 1  # proved violation above the closed-form rate


def test_quadratic_module_on_the_pendulum_same_decay() -> None:
    sys = damped_pendulum()
    Vq = lyactrl.Quadratic.from_linearization(sys)
    Vm = lyactrl.ModuleCandidate(QuadraticForm(Vq.P), x_eq=[0.0, 0.0], n_states=2)
    rq = lyactrl.certify(lyactrl.ExponentialStability(sys, Vq, 0.2), UNIT)
    rm = lyactrl.certify(lyactrl.ExponentialStability(sys, Vm, 0.2), UNIT)
    assert rq.status == rm.status == "certified"
    assert rm.boxes_processed == rq.boxes_processed
    assert rm.local_lo is not None  # the Hessian-Jacobian local certificate closed x_eq
    # the decay constants of a non-quadratic candidate are proved by branch and bound, so
    # they bracket the exact eigenvalues of P
    eig = torch.linalg.eigvalsh(Vq.P.to(D))
    assert 0 < rm.decay_bound.lambda_1 <= float(eig[0]) + 1e-9
    assert rm.decay_bound.lambda_2 >= float(eig[-1]) - 1e-9


def test_not_positive_definite_is_never_certified() -> None:
    # x' = (-x1, x2) is unstable, yet grad V . f + V = -x1^2 - 1.5 x2^2 <= 0 everywhere for
    # V = x1^2 - 0.5 x2^2: only the positivity proof stands between this and a false certificate
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, 1.0]])
    V = lyactrl.ModuleCandidate(Saddle(), x_eq=[0.0, 0.0], n_states=2)
    cond = lyactrl.ExponentialStability(sys, V, 1.0)
    sampled = lyactrl.check_sampled(cond, UNIT, n_samples=2000)
    assert sampled.status == "holds_on_samples"  # the decrease itself does hold
    res = lyactrl.certify(cond, UNIT)
    assert res.status == "unknown"
    assert "not proved positive definite" in res.message
    pd = lyactrl.prove_positive_definite(V, UNIT)
    assert pd.status == "falsified"
    x = pd.counterexamples
    assert x.shape[0] >= 1 and bool((V(x) <= 0).all()) and bool((x.norm(dim=1) > 0).all())
    roa = lyactrl.region_of_attraction(cond, UNIT)
    assert roa.status != "certified"


def test_a_trained_style_network_is_proved_positive_and_certified() -> None:
    sys = damped_pendulum()
    P = lyactrl.Quadratic.from_linearization(sys).P
    V = lyactrl.ModuleCandidate(Features(P, bias=False), x_eq=[0.0, 0.0], n_states=2)
    assert float(V(torch.zeros(1, 2, dtype=D)).detach()[0]) == 0.0  # the offset 3 is removed
    pd = lyactrl.prove_positive_definite(V, UNIT)
    assert pd.status == "certified", pd.message
    pts = UNIT.sample(4000, generator=torch.Generator().manual_seed(1))
    assert bool((V(pts).detach() >= pd.lambda_1 * (pts**2).sum(1)).all())
    rate = 0.5 * lyactrl.verify.local_rate_limit(sys, V)
    res = lyactrl.certify(lyactrl.ExponentialStability(sys, V, rate), UNIT, time_limit=30.0)
    assert res.status == "certified", res.message


def test_a_cancellation_lost_by_intervals_is_unknown_not_certified() -> None:
    # phi(x) - phi(0) with biases: exactly 0 at x_eq in real arithmetic, but the two interval
    # evaluations are independent, so grad V(x_eq) = 0 is not provable: unknown, with the reason
    sys = damped_pendulum()
    P = lyactrl.Quadratic.from_linearization(sys).P
    V = lyactrl.ModuleCandidate(Features(P, bias=True), x_eq=[0.0, 0.0], n_states=2)
    pd = lyactrl.prove_positive_definite(V, UNIT)
    assert pd.status == "unknown" and "grad V(x_eq)" in pd.message
    res = lyactrl.certify(lyactrl.ExponentialStability(sys, V, 0.1), UNIT, time_limit=2.0)
    assert res.status == "unknown"


def test_minimum_away_from_x_eq_is_not_proved() -> None:
    # a network whose minimum is not at x_eq: grad V(x_eq) != 0, so V takes values < V(x_eq)
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    V = lyactrl.ModuleCandidate(net, x_eq=[0.0, 0.0], n_states=2)
    pd = lyactrl.prove_positive_definite(V, UNIT)
    assert pd.status == "falsified"
    cond = lyactrl.ExponentialStability(lyactrl.LinearSystem(-torch.eye(2, dtype=D)), V, 0.1)
    assert lyactrl.certify(cond, UNIT, max_boxes=20_000).status != "certified"


def test_gradient_matches_autograd_and_jets_enclose_samples() -> None:
    module = Features(torch.eye(2, dtype=D), bias=True, seed=4)
    V = lyactrl.ModuleCandidate(module, x_eq=[0.0, 0.0], n_states=2)
    x = torch.randn(64, 2, dtype=D, generator=torch.Generator().manual_seed(0))
    xr = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(module(xr).sum(), xr)
    torch.testing.assert_close(V.grad(x), auto, rtol=0, atol=0)
    lo = x - 0.05
    hi = x + 0.05
    for order in (0, 1):
        v, g = candidate_jets(V, Jet.variables(lo, hi, order))
        pts = lo + (hi - lo) * torch.rand(
            64, 2, dtype=D, generator=torch.Generator().manual_seed(2)
        )
        val, grad = V.value_and_gradient(pts)
        assert bool((v.v[0] <= val).all() and (val <= v.v[1]).all())
        assert bool((g.v[0] <= grad).all() and (grad <= g.v[1]).all())


@pytest.mark.parametrize(
    ("module", "error"),
    [
        (nn.Linear(2, 2).double(), lyactrl.ShapeError),  # (batch, 2) is not a scalar
        ("x1**2", lyactrl.InvalidArgumentError),
    ],
)
def test_bad_modules_are_named(module, error) -> None:
    with pytest.raises(error, match="module"):
        lyactrl.ModuleCandidate(module, x_eq=[0.0, 0.0], n_states=2)


def test_bad_x_eq_is_named() -> None:
    with pytest.raises(lyactrl.ShapeError, match="x_eq"):
        lyactrl.ModuleCandidate(Saddle(), x_eq=[0.0, 0.0, 0.0], n_states=2)
    with pytest.raises(lyactrl.InvalidValueError, match="x_eq"):
        lyactrl.ModuleCandidate(Saddle(), x_eq=[0.0, float("nan")], n_states=2)
