"""Discrete-time systems through the one condition: closed forms, cross-checks with
simulation, the image premise, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_systems import ahmadi_map, closed_form_discrete_rate, random_schur

import lyactrl
from lyactrl.verify._invariance import image_premise

BOX = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])


def _map(A: np.ndarray) -> lyactrl.DiscreteSystem:
    return lyactrl.DiscreteSystem(torch.tensor(A, dtype=torch.float64))


# --- systems -----------------------------------------------------------------------------------


def test_iteration_is_the_matrix_power():
    A = np.array([[0.5, 0.2], [-0.1, 0.7]])
    traj = lyactrl.simulate(_map(A), [1.0, -2.0], 6)
    expected = np.linalg.matrix_power(A, 6) @ np.array([1.0, -2.0])
    assert traj.x.shape == (7, 2)
    assert np.allclose(traj.final.numpy(), expected, rtol=1e-14)
    assert traj.t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_euler_and_rk4_steps_of_a_linear_flow():
    A = torch.tensor([[0.0, 1.0], [-2.0, -3.0]], dtype=torch.float64)
    flow, dt = lyactrl.LinearSystem(A), 0.05
    x = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    euler = lyactrl.DiscreteSystem.discretize(flow, dt=dt)
    assert torch.allclose(euler(x), x + dt * x @ A.T, rtol=0, atol=1e-15)
    rk4 = lyactrl.DiscreteSystem.discretize(flow, dt=dt, method="rk4")
    exact = x @ torch.linalg.matrix_exp(dt * A).T
    assert float((rk4(x) - exact).abs().max()) < 1e-7  # local error O(dt^5)
    traj = lyactrl.simulate(rk4, x[0], 20)
    assert traj.t[-1] == pytest.approx(1.0)
    assert torch.allclose(linearize_map(rk4), rk4(torch.eye(2, dtype=torch.float64)).T)


def linearize_map(system):
    return lyactrl.linearize(system)


def test_discrete_plant_closed_by_a_controller():
    plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
    d = lyactrl.DiscreteSystem.discretize(plant, dt=0.1)
    loop = lyactrl.ClosedLoop(d, [[1.0, 1.5]])
    assert d.n_inputs == 1 and loop.is_discrete and loop.dt == 0.1
    A = torch.eye(2, dtype=torch.float64) + 0.1 * torch.tensor([[0.0, 1.0], [-1.0, -1.5]])
    assert torch.allclose(lyactrl.linearize(loop), A)


def test_discrete_lyapunov_equation():
    rng = np.random.default_rng(0)
    A = random_schur(rng, 3)
    V = lyactrl.Quadratic.from_linearization(_map(A))
    P = V.P.numpy()
    assert np.allclose(A.T @ P @ A - P, -np.eye(3), atol=1e-10)
    with pytest.raises(lyactrl.NotHurwitzError, match="Schur"):
        lyactrl.Quadratic.from_linearization(_map(np.diag([1.1, 0.5])))


# --- the condition, certified: closed form of linear maps -------------------------------------


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 3))
def test_linear_map_rate_closed_form(seed, n):
    """2 % below the generalised-eigenvalue rate certifies; 2 % above is falsified."""
    A = random_schur(np.random.default_rng(seed), n)
    P, k = closed_form_discrete_rate(A)
    system, V = _map(A), lyactrl.Quadratic(P)
    assert lyactrl.best_quadratic_rate(A, P, discrete=True) == pytest.approx(k, rel=1e-9)
    box = lyactrl.Box([-1.0] * n, [1.0] * n)
    below = lyactrl.certify(lyactrl.ExponentialStability(system, V, 0.98 * k), box)
    assert below.status == "certified"
    above = lyactrl.certify(lyactrl.ExponentialStability(system, V, min(1.0, 1.02 * k)), box)
    assert above.status == "falsified"
    assert bool((above.counterexample_residuals > 0).all())


def test_max_certified_rate_brackets_the_closed_form_and_stays_below_one():
    A = random_schur(np.random.default_rng(3), 2, radius=0.5)
    P, k = closed_form_discrete_rate(A)
    res = lyactrl.max_certified_rate(_map(A), lyactrl.Quadratic(P), BOX)
    assert res.status == "certified" and 0.99 * k <= res.rate <= k
    # x+ = 0: V(F(x)) = 0, every rate in (0, 1] holds; the search stops at 1
    zero = lyactrl.max_certified_rate(_map(np.zeros((2, 2))), lyactrl.Quadratic(np.eye(2)), BOX)
    # (rate 1 itself leaves a zero Hessian at x_eq, which the local certificate cannot use)
    assert zero.status == "certified" and 0.99 <= zero.rate <= 1.0


def test_ahmadi_region_of_attraction_with_the_equilibrium():
    system = ahmadi_map()
    V = lyactrl.Quadratic.from_linearization(system)
    roa = lyactrl.region_of_attraction(system, V, lyactrl.Box([-10.0, -10.0], [10.0, 10.0]))
    assert roa.status == "certified" and roa.local_lo is not None  # x_eq inside, no ball cut
    dec = roa.decay_bound
    assert dec.discrete and "(1 - " in dec.message
    # every simulated trajectory from the set obeys ||x_k|| <= c (1 - alpha)^k ||x_0||
    x0 = roa.region.sample(256, generator=torch.Generator().manual_seed(0))
    traj = lyactrl.simulate(system, x0, 40)
    k = torch.arange(41, dtype=torch.float64)
    bound = dec.c * (1 - dec.alpha) ** k * x0.norm(dim=1, keepdim=True)
    assert bool((traj.x.norm(dim=2) <= bound * (1 + 1e-12)).all())


def test_saturated_controller_certified_set_has_no_divergent_point():
    """Discrete double integrator with a saturated linear controller: every point of the
    certified set converges in simulation (dense grid)."""
    plant = lyactrl.DiscreteSystem.discretize(
        lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]]), dt=0.1
    )
    K = torch.tensor([[1.0, 1.7]], dtype=torch.float64)
    loop = lyactrl.ClosedLoop(plant, lambda x: torch.clamp(-x @ K.T, -1.0, 1.0))
    V = lyactrl.Quadratic.from_linearization(loop)
    roa = lyactrl.region_of_attraction(loop, V, lyactrl.Box([-4.0, -4.0], [4.0, 4.0]))
    assert roa.status == "certified" and roa.level > 0
    g = torch.linspace(-4, 4, 121, dtype=torch.float64)
    grid = torch.cartesian_prod(g, g)
    inside = grid[roa.region.contains(grid)]
    assert inside.shape[0] > 100
    final = lyactrl.simulate(loop, inside, 600).x[:, -1]
    assert float(final.norm(dim=1).max()) < 1e-3
    # the saturation is active somewhere in the set: the certificate is not the linear one's
    assert float((inside @ K.T).abs().max()) > 1.0


def test_discrete_decay_bound_closed_form():
    V = lyactrl.Quadratic(torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64)))
    d = lyactrl.verify.decay_bound(V, 0.19, discrete=True)
    assert d.c == pytest.approx(2.0) and d.alpha == pytest.approx(0.1, rel=1e-12)
    assert d.alpha <= 1 - math.sqrt(1 - 0.19)  # rounded towards the safe side


# --- the image premise -------------------------------------------------------------------------


def test_image_premise_proves_and_refutes():
    V = lyactrl.SymbolicCandidate("x1**2 + x2**2 + 0.1*x1**4", "x1, x2")  # not quadratic
    within = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    S = lyactrl.Sublevel(V, 0.9, within=within)
    shrink = lyactrl.DiscreteSystem(["0.5*x1", "0.5*x2 + 0.1*x1**2"], states="x1, x2")
    ok, why = image_premise(shrink, S, max_boxes=20_000, time_limit=20.0)
    assert ok, why
    grow = lyactrl.DiscreteSystem(["1.5*x1", "0.5*x2"], states="x1, x2")
    ok, why = image_premise(grow, S, max_boxes=20_000, time_limit=20.0)
    assert not ok and "outside" in why


def test_certify_on_a_sublevel_of_a_map_reports_invariance():
    system = ahmadi_map()
    V = lyactrl.SymbolicCandidate("2.6*x**2 + 4.5*y**2 + 0.01*x**4", "x, y", x_eq=[0.0, 0.0])
    cond = lyactrl.ExponentialStability(system, V, 0.05)
    S = lyactrl.Sublevel(V, 1.0, within=lyactrl.Box([-2.0, -2.0], [2.0, 2.0]))
    cert = lyactrl.certify(cond, S)
    assert cert.status == "certified" and cert.invariant is True
    assert cert.decay_bound is not None and cert.decay_bound.discrete
    # a level reaching the domain's boundary: certified decrease, but not called invariant
    wide = lyactrl.certify(cond, lyactrl.Sublevel(V, 30.0, within=S.within))
    assert wide.status == "certified" and wide.invariant is False
    assert "not proved forward invariant" in wide.message


# --- training and sampling go through the same condition ---------------------------------------


def test_sampled_check_and_loss_on_a_map():
    A = random_schur(np.random.default_rng(5), 2)
    P, k = closed_form_discrete_rate(A)
    cond = lyactrl.ExponentialStability(_map(A), lyactrl.Quadratic(P), min(1.0, 1.5 * k))
    res = lyactrl.check_sampled(
        cond, BOX, n_samples=4000, generator=torch.Generator().manual_seed(0)
    )
    assert res.violation_rate > 0  # above the closed-form rate some states violate
    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    v = cond.V(x)
    direct = cond.V(cond.system(x)) - v + cond.rate * v
    assert torch.allclose(cond.residual(x), direct)


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input():
    system = ahmadi_map()
    V = lyactrl.Quadratic.from_linearization(system)
    with pytest.raises(lyactrl.InvalidValueError, match="rate.*\\(0, 1\\]"):
        lyactrl.ExponentialStability(system, V, 1.5)
    flow = lyactrl.LinearSystem([[-1.0]])
    for dt in (0.0, -0.1):
        with pytest.raises(lyactrl.InvalidValueError, match="dt"):
            lyactrl.DiscreteSystem.discretize(flow, dt=dt)
    with pytest.raises(lyactrl.InvalidValueError, match="method"):
        lyactrl.DiscreteSystem.discretize(flow, dt=0.1, method="heun")
    with pytest.raises(lyactrl.InvalidArgumentError, match="continuous"):
        lyactrl.DiscreteSystem.discretize(system, dt=0.1)
    with pytest.raises(lyactrl.InvalidValueError, match="fixed point"):
        lyactrl.DiscreteSystem(["x + 1"], states="x")
    with pytest.raises(lyactrl.InvalidArgumentError, match="n_states"):
        lyactrl.DiscreteSystem(torch.nn.Linear(2, 2))
    with pytest.raises(lyactrl.InvalidArgumentError, match="steps"):
        lyactrl.simulate(system, [1.0, 0.0], 1.5)
    with pytest.raises(lyactrl.InvalidArgumentError, match="x_eq_box"):
        lyactrl.ExponentialStability(system, V, 0.1, x_eq_box=(torch.zeros(2), torch.zeros(2)))


def test_condition_loss_trains_a_discrete_controller_that_then_certifies():
    """ConditionLoss on the discrete closed loop: a linear gain learned from sampled states
    (no simulation) until the sampled condition holds; the certifier then proves it."""
    from lyactrl.train import BoxSampler, ConditionLoss

    torch.manual_seed(0)
    plant = lyactrl.DiscreteSystem.discretize(
        lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]]), dt=0.1
    )
    gain = torch.nn.Linear(2, 1, bias=False).double()
    torch.nn.init.zeros_(gain.weight)  # u = 0: the double integrator does not decay
    loop = lyactrl.ClosedLoop(plant, gain)
    V = lyactrl.Quadratic([[2.0, 0.5], [0.5, 1.0]])
    cond = lyactrl.ExponentialStability(loop, V, 0.02)
    closs = ConditionLoss(
        cond, BoxSampler([-1.0, -1.0], [1.0, 1.0]), n_samples=256, margin=1e-3, dtype=torch.float64
    )
    opt = torch.optim.Adam(gain.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    assert closs.loss(generator=g)[1]["violation_fraction"] > 0
    for _ in range(300):
        loss, diag = closs.loss(generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert diag["violation_fraction"] == 0.0
    assert lyactrl.certify(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0])).status == "certified"


def test_module_candidate_on_a_map_matches_the_closed_form():
    """A user's module computing x^T P x on a linear map: the generic second-order local
    certificate (V's value jets chained on the image), 2 % either side of the closed form."""
    A = random_schur(np.random.default_rng(11), 2)
    P, k = closed_form_discrete_rate(A)
    Pt = torch.tensor(P, dtype=torch.float64)

    class Energy(torch.nn.Module):
        def forward(self, x):
            return ((x @ Pt) * x).sum(-1)

    V = lyactrl.ModuleCandidate(Energy(), x_eq=[0.0, 0.0], n_states=2)
    system = _map(A)
    below = lyactrl.certify(lyactrl.ExponentialStability(system, V, 0.98 * k), BOX)
    assert below.status == "certified"
    above = lyactrl.certify(lyactrl.ExponentialStability(system, V, 1.02 * k), BOX)
    assert above.status == "falsified"
