"""Systems: agreement between representations, linearisation, simulation, interop."""

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st
from reference_systems import (
    damped_pendulum,
    pendulum_torch,
    random_hurwitz,
    reversed_van_der_pol,
    vdp_torch,
)

import lyactrl

seeds = st.integers(0, 2**31 - 1)


@given(seeds, st.integers(1, 6))
def test_neural_linear_layer_agrees_with_linear_system(seed, n):
    torch.manual_seed(seed)
    layer = torch.nn.Linear(n, n, bias=False).double()
    neural = lyactrl.NeuralSystem(layer, n)
    linear = lyactrl.LinearSystem(layer.weight.detach())
    x = torch.randn(32, n, dtype=torch.float64)
    torch.testing.assert_close(neural(x), linear(x))
    torch.testing.assert_close(lyactrl.linearize(neural), linear.A)


@given(seeds)
def test_symbolic_agrees_with_hand_written_torch(seed):
    g = torch.Generator().manual_seed(seed)
    x = 4 * torch.rand(64, 2, generator=g, dtype=torch.float64) - 2
    torch.testing.assert_close(reversed_van_der_pol()(x), vdp_torch(x))
    torch.testing.assert_close(damped_pendulum(0.3)(x), pendulum_torch(x, 0.3))


def test_symbolic_is_differentiable_and_batched():
    sys = damped_pendulum()
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    sys(x).sum().backward()
    expected = torch.stack([-torch.cos(x[:, 0]), 1 - torch.ones(5, dtype=torch.float64)], 1)
    torch.testing.assert_close(x.grad, expected.detach())


def test_symbolic_constant_right_hand_side_broadcasts():
    sys = lyactrl.SymbolicSystem(["0", "-x2"], "x1, x2")
    out = sys(torch.ones(3, 2, dtype=torch.float64))
    assert out.shape == (3, 2)
    assert out[:, 0].abs().max() == 0


def test_linearize_matches_analytic_jacobians():
    torch.testing.assert_close(
        lyactrl.linearize(reversed_van_der_pol(2.0)),
        torch.tensor([[0.0, -1.0], [1.0, -2.0]], dtype=torch.float64),
    )
    # pendulum at the upright position: d/dx1 (-sin x1) = -cos(pi) = 1
    J = lyactrl.linearize(damped_pendulum(0.5), x_eq=[np.pi, 0.0])
    torch.testing.assert_close(J, torch.tensor([[0.0, 1.0], [1.0, -0.5]], dtype=torch.float64))


@given(seeds, st.integers(1, 4))
def test_simulate_linear_matches_matrix_exponential(seed, n):
    rng = np.random.default_rng(seed)
    A = random_hurwitz(rng, n)
    x0 = rng.normal(size=(3, n))
    t = torch.linspace(0, 2, 11, dtype=torch.float64)
    traj = lyactrl.simulate(lyactrl.LinearSystem(A), x0, t)
    assert traj.x.shape == (3, 11, n)
    expected = np.stack([x0 @ scipy.linalg.expm(A * float(ti)).T for ti in t], axis=1)
    np.testing.assert_allclose(traj.x.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_simulate_single_state_and_fixed_step():
    sys = lyactrl.LinearSystem([[-1.0]])
    t = torch.linspace(0, 1, 21, dtype=torch.float64)
    traj = lyactrl.simulate(sys, [1.0], t, method="rk4")
    assert traj.x.shape == (21, 1)
    assert abs(float(traj.final[0]) - np.exp(-1.0)) < 1e-6


class _TimeModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 2).double()

    def forward(self, t, x):
        return self.lin(x) * (1 + 0 * t)


class _ContextModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2).double()

    def forward(self, x, context):
        return self.lin(torch.cat([x, context], dim=1)) - x


def test_time_module_is_wrapped_not_mutated():
    m = _TimeModule()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    attrs = set(vars(m))
    sys = lyactrl.NeuralSystem(m, 2, inputs="t,x")
    x = torch.randn(4, 2, dtype=torch.float64)
    torch.testing.assert_close(sys(x), m(torch.tensor(0.0), x))
    lyactrl.simulate(sys, x, torch.linspace(0, 0.1, 3, dtype=torch.float64))
    assert set(vars(m)) == attrs
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k])
    assert m.training  # the mode is left alone


def test_data_controlled_system_binds_a_context():
    m = _ContextModule()
    unbound = lyactrl.NeuralSystem(m, 2, inputs="x,context")
    assert not unbound.is_bound
    with pytest.raises(lyactrl.InvalidArgumentError, match="unbound"):
        unbound(torch.zeros(1, 2, dtype=torch.float64))
    ctx = torch.tensor([0.5, -1.0], dtype=torch.float64)
    bound = unbound.bind(ctx)
    x = torch.randn(6, 2, dtype=torch.float64)
    torch.testing.assert_close(bound(x), m(x, ctx.expand(6, 2)))
    per_row = unbound.bind(ctx.expand(6, 2))
    torch.testing.assert_close(per_row(x), bound(x))


def test_closed_loop_with_gain_matches_a_minus_bk():
    A = np.array([[0.0, 1.0], [2.0, -1.0]])
    B = np.array([[0.0], [1.0]])
    K = np.array([[5.0, 2.0]])
    loop = lyactrl.ClosedLoop(lyactrl.LinearSystem(A, B=B), K)
    torch.testing.assert_close(lyactrl.linearize(loop), torch.tensor(A - B @ K))


def test_closed_loop_with_module_controller_and_symbolic_plant():
    plant = lyactrl.SymbolicSystem(["x2", "sin(x1) - 0.1*x2 + u"], "x1, x2", inputs="u")
    ctrl = torch.nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        ctrl.weight.copy_(torch.tensor([[-3.0, -1.0]]))
    loop = lyactrl.ClosedLoop(plant, ctrl)
    x = torch.randn(8, 2, dtype=torch.float64)
    u = ctrl(x)
    torch.testing.assert_close(loop(x), plant(x, u))
    torch.testing.assert_close(
        lyactrl.linearize(loop), torch.tensor([[0.0, 1.0], [-2.0, -1.1]], dtype=torch.float64)
    )


def test_python_control_round_trip():
    control = pytest.importorskip("control")
    A = [[0.0, 1.0], [-2.0, -3.0]]
    B = [[0.0], [1.0]]
    ss = control.ss(A, B, [[1.0, 0.0]], [[0.0]])
    sys = lyactrl.from_control(ss)
    assert isinstance(sys, lyactrl.LinearSystem) and sys.n_inputs == 1
    back = lyactrl.to_control(sys)
    np.testing.assert_allclose(back.A, A)
    np.testing.assert_allclose(back.B, B)


def test_python_control_nonlinear_round_trip_agrees():
    control = pytest.importorskip("control")
    vdp = reversed_van_der_pol()
    nl = lyactrl.to_control(vdp)
    back = lyactrl.from_control(nl)
    x = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(back(x), vdp(x))
    # python-control's own simulation agrees with ours
    t = np.linspace(0, 1, 11)
    resp = control.input_output_response(nl, t, 0, X0=[0.5, -0.3], solve_ivp_kwargs={"rtol": 1e-9})
    ours = lyactrl.simulate(vdp, [0.5, -0.3], torch.tensor(t))
    np.testing.assert_allclose(ours.x.numpy().T, resp.states, rtol=1e-5, atol=1e-6)


def test_from_control_rejects_discrete_time():
    control = pytest.importorskip("control")
    with pytest.raises(lyactrl.InvalidValueError, match="continuous-time"):
        lyactrl.from_control(control.ss([[0.5]], [[1.0]], [[1.0]], 0, dt=0.1))


class _TorchdiffeqFunc(torch.nn.Module):
    def forward(self, t, x):
        return -x


def test_a_t_x_module_without_inputs_t_x_names_the_fix():
    sys = lyactrl.NeuralSystem(_TorchdiffeqFunc(), 2)  # construction never calls the module
    with pytest.raises(lyactrl.InvalidArgumentError, match=r"takes \(t, x\).*inputs='t,x'"):
        sys(torch.zeros(3, 2))
    ok = lyactrl.NeuralSystem(_TorchdiffeqFunc(), 2, inputs="t,x")
    torch.testing.assert_close(ok(torch.ones(3, 2)), -torch.ones(3, 2))
    wrong = lyactrl.NeuralSystem(torch.nn.Linear(2, 2), 2, inputs="t,x")
    with pytest.raises(lyactrl.InvalidArgumentError, match="pass inputs='x'"):
        wrong(torch.zeros(1, 2))


def test_a_type_error_inside_forward_is_not_mistaken_for_a_signature_mismatch():
    class Broken(torch.nn.Module):
        def forward(self, x):
            return x + "oops"

    with pytest.raises(TypeError) as info:
        lyactrl.NeuralSystem(Broken(), 2)(torch.zeros(1, 2))
    assert not isinstance(info.value, lyactrl.LyactrlError)


def test_names_of_symbolic_neural_and_closed_loop_systems():
    plant = lyactrl.SymbolicSystem(["omega", "sin(theta) + tau"], "theta, omega", inputs="tau")
    assert plant.state_names == ("theta", "omega") and plant.input_names == ("tau",)
    renamed = lyactrl.SymbolicSystem(
        ["x2", "-x1"], "x1, x2", state_names=["angle (rad)", "rate (rad/s)"]
    )
    assert renamed.state_names == ("angle (rad)", "rate (rad/s)")
    loop = lyactrl.ClosedLoop(plant, [[3.0, 1.0]])
    assert loop.state_names == ("theta", "omega") and loop.input_names == ()
    neural = lyactrl.NeuralSystem(torch.nn.Linear(2, 2), 2, state_names=["p", "q"])
    assert neural.state_names == ("p", "q")
    assert lyactrl.NeuralSystem(torch.nn.Linear(2, 2), 2).state_names == ("x1", "x2")
