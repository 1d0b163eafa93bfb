"""python-control interop beyond linear systems: names, linearisation with inputs, the symbolic
conversion of a ``NonlinearIOSystem`` and the certification of a python-control LQR loop."""

import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lyactrl

control = pytest.importorskip("control")

PARAMS = {"g": 9.81, "l": 1.0, "b": 0.1}


def inverted_pendulum(t, x, u, params):
    """Upright pendulum with torque input, written with torch operations."""
    g, length, b = params["g"], params["l"], params["b"]
    x, u = torch.as_tensor(x), torch.as_tensor(u)
    return torch.stack([x[1], g / length * torch.sin(x[0]) - b * x[1] + u[0]])


def pendulum_plant():
    return control.nlsys(
        inverted_pendulum,
        states=["theta", "omega"],
        inputs=["tau"],
        outputs=2,
        params=PARAMS,
        name="pendulum",
    )


def test_symbolic_conversion_is_the_closed_form_with_names():
    sys = lyactrl.from_control(pendulum_plant())
    assert isinstance(sys, lyactrl.SymbolicSystem)
    assert sys.state_names == ("theta", "omega") and sys.input_names == ("tau",)
    theta, omega, tau = sympy.symbols("theta omega tau", real=True)
    want = [omega, 9.81 * sympy.sin(theta) - 0.1 * omega + tau]
    assert [sympy.simplify(a - b) for a, b in zip(sys.exprs, want, strict=True)] == [0, 0]
    x = torch.tensor([[0.3, -0.2], [1.0, 2.0]], dtype=torch.float64)
    u = torch.tensor([[0.5], [-1.0]], dtype=torch.float64)
    want_num = torch.stack([x[:, 1], 9.81 * torch.sin(x[:, 0]) - 0.1 * x[:, 1] + u[:, 0]], 1)
    torch.testing.assert_close(sys(x, u), want_num)


@pytest.mark.parametrize(
    ("x_eq", "u_eq"), [([0.0, 0.0], [0.0]), ([0.4, -0.3], [1.5]), ([math.pi, 0.0], [0.0])]
)
def test_linearize_agrees_with_control_linearize_and_the_closed_form(x_eq, u_eq):
    plant = pendulum_plant()
    A, B = lyactrl.linearize(lyactrl.from_control(plant), x_eq, u_eq=u_eq)
    closed_A = np.array([[0.0, 1.0], [9.81 * math.cos(x_eq[0]), -0.1]])
    np.testing.assert_allclose(A.numpy(), closed_A, rtol=0, atol=1e-12)  # autograd: exact
    np.testing.assert_allclose(B.numpy(), [[0.0], [1.0]], rtol=0, atol=0)
    ref = control.linearize(plant, x_eq, u_eq)  # finite differences
    np.testing.assert_allclose(A.numpy(), ref.A, atol=1e-5)
    np.testing.assert_allclose(B.numpy(), ref.B, atol=1e-5)


def test_linearize_keeps_the_autonomous_convention_and_checks_u_eq():
    A = lyactrl.linearize(lyactrl.LinearSystem([[0.0, 1.0], [-2.0, -3.0]]))
    assert isinstance(A, torch.Tensor) and A.tolist() == [[0.0, 1.0], [-2.0, -3.0]]
    with pytest.raises(lyactrl.InvalidArgumentError, match="u_eq"):
        lyactrl.linearize(lyactrl.LinearSystem([[-1.0]]), u_eq=[1.0])
    plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
    with pytest.raises(lyactrl.ShapeError, match="u_eq"):
        lyactrl.linearize(plant, u_eq=[1.0, 2.0])


def test_names_round_trip_through_python_control():
    lin = lyactrl.LinearSystem(
        [[0.0, 1.0], [-1.0, -1.0]], B=[[0.0], [1.0]], state_names=["p", "v"], input_names=["F"]
    )
    ss = lyactrl.to_control(lin)
    assert ss.state_labels == ["p", "v"] and ss.input_labels == ["F"]
    assert ss.output_labels == ["p", "v"]
    back = lyactrl.from_control(ss)
    assert back.state_names == ("p", "v") and back.input_names == ("F",)
    sym = lyactrl.from_control(pendulum_plant())
    nl = lyactrl.to_control(sym)
    assert nl.state_labels == ["theta", "omega"] and nl.input_labels == ["tau"]
    assert lyactrl.from_control(nl) is sym  # made by to_control: the system it came from
    loop = lyactrl.ClosedLoop(sym, [[20.0, 6.0]])
    assert loop.state_names == ("theta", "omega") and loop.input_names == ()
    assert lyactrl.to_control(loop).state_labels == ["theta", "omega"]


def test_default_names_and_python_control_labels():
    assert lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]]).state_names == ("x1", "x2")
    plant = lyactrl.LinearSystem([[-1.0]], B=[[1.0, 2.0]])
    assert plant.input_names == ("u1", "u2")
    ss = control.ss([[0.0, 1.0], [-2.0, -3.0]], [[0.0], [1.0]], [[1.0, 0.0]], 0)
    assert lyactrl.from_control(ss).state_names == ("x[0]", "x[1]")
    with pytest.raises(lyactrl.ShapeError, match="state_names"):
        lyactrl.LinearSystem([[-1.0]], state_names=["a", "b"])
    with pytest.raises(lyactrl.InvalidValueError, match="distinct"):
        lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]], state_names=["a", "a"])
    with pytest.raises(lyactrl.InvalidArgumentError, match="no inputs"):
        lyactrl.LinearSystem([[-1.0]], input_names=["u"])


def test_numpy_and_arithmetic_update_functions_convert_too():
    def cubic(t, x, u, params):  # numpy arithmetic, a numpy constant matrix, np.sin
        A = np.array([[0.0, 1.0], [-2.0, -3.0]])
        return A @ x + np.array([0.0, 1.0]) * (u[0] - x[0] ** 3 + np.sin(x[1]))

    sys = lyactrl.from_control(control.nlsys(cubic, states=2, inputs=1, outputs=2))
    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    u = torch.tensor([[0.25]], dtype=torch.float64)
    want = [-1.0, -2 * 0.5 + 3.0 + 0.25 - 0.125 + math.sin(-1.0)]
    torch.testing.assert_close(sys(x, u), torch.tensor([want], dtype=torch.float64))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (lambda x, u: np.array([x[1], np.arctan2(x[0], 1.0) + u[0]]), "calls arctan2"),
        (lambda x, u: [x[1], math.sin(x[0]) + u[0]], "concrete number"),
        (lambda x, u: [x[1], x[0] if x[0] > 0 else -x[0]], "compares a state"),
        (lambda x, u: [x[1], x[0] * torch.rand(()) + u[0]], "random"),
        (lambda x, u: [x[1]], "returns 1 values"),
    ],
)
def test_an_unconvertible_update_function_is_refused_with_the_reason(body, reason):
    nl = control.nlsys(lambda t, x, u, p: body(x, u), states=2, inputs=1, outputs=2)
    with pytest.raises(lyactrl.UnsupportedOperationError, match=reason) as info:
        lyactrl.from_control(nl)
    assert "method='numpy'" in str(info.value)
    fallback = lyactrl.from_control(nl, method="auto")
    assert (
        isinstance(fallback, lyactrl.systems.ControlFunctionSystem) and reason in fallback.message
    )


def test_a_time_varying_update_function_is_refused():
    nl = control.nlsys(lambda t, x, u, p: [x[1], -x[0] * (1 + t) + u[0]], states=2, inputs=1)
    with pytest.raises(lyactrl.UnsupportedOperationError, match="time t"):
        lyactrl.from_control(nl)


def test_numpy_method_keeps_sampled_checks():
    nl = control.nlsys(lambda t, x, u, p: [x[1], -x[0] - x[1]], states=2, inputs=0, outputs=2)
    sys = lyactrl.from_control(nl, method="numpy")
    assert isinstance(sys, lyactrl.systems.ControlFunctionSystem) and sys.state_names == (
        "x[0]",
        "x[1]",
    )
    V = lyactrl.Quadratic([[1.5, 0.5], [0.5, 1.0]])
    res = lyactrl.check_sampled(
        lyactrl.ExponentialStability(sys, V, 0.1),
        lyactrl.Box([-1.0, -1.0], [1.0, 1.0]),
        n_samples=500,
    )
    assert res.status == "holds_on_samples"


def test_global_state_that_the_symbolic_run_misses_is_refused():
    calls = {"n": 0}

    def drifting(t, x, u, params):  # a different function on every call
        calls["n"] += 1
        return [x[1], -x[0] * calls["n"] + u[0]]

    nl = control.nlsys(drifting, states=2, inputs=1, outputs=2)
    with pytest.raises(lyactrl.UnsupportedOperationError, match="symbolic run gives"):
        lyactrl.from_control(nl)


def _closed_loop_response(K, x0, t):
    """The loop simulated by python-control itself, on the user's update function."""
    loop = control.nlsys(
        lambda t, x, u, p: inverted_pendulum(t, x, -K @ x, p),
        states=2,
        inputs=0,
        outputs=2,
        params=PARAMS,
    )
    resp = control.input_output_response(
        loop, t, 0, X0=x0, solve_ivp_kwargs={"rtol": 1e-9, "atol": 1e-12}
    )
    return resp.states.T


def test_lqr_loop_of_a_python_control_pendulum_is_certified_and_simulation_agrees():
    plant = pendulum_plant()
    lin = control.linearize(plant, [0.0, 0.0], [0.0])
    K, S, _ = control.lqr(lin.A, lin.B, np.eye(2), [[1.0]])
    loop = lyactrl.ClosedLoop(lyactrl.from_control(plant), K)
    V = lyactrl.Quadratic(S)
    roa = lyactrl.region_of_attraction(
        loop, V, lyactrl.Box([-2.0, -4.0], [2.0, 4.0]), time_limit=60
    )
    assert roa.status == "certified" and roa.level > 0.5
    # states on the boundary of the certified set {V <= level}: V(x(t)) <= exp(-rate t) V(x0)
    L = np.linalg.cholesky(np.linalg.inv(S))
    angles = np.linspace(0.0, 2 * np.pi, 12, endpoint=False)
    t = np.linspace(0.0, 4.0, 41)
    for a in angles:
        x0 = math.sqrt(roa.level) * (L @ np.array([math.cos(a), math.sin(a)]))
        assert float(x0 @ S @ x0) == pytest.approx(roa.level)
        xs = _closed_loop_response(K, x0, t)
        v = np.einsum("ti,ij,tj->t", xs, S, xs)
        assert np.all(v <= roa.level * np.exp(-roa.rate * t) * (1 + 1e-6) + 1e-12)
        assert np.linalg.norm(xs[-1]) < 0.1 * np.linalg.norm(x0)


def test_a_plant_without_an_equilibrium_at_the_origin_is_refused_with_the_fix():
    nl = control.nlsys(lambda t, x, u, p: [x[1], 1.0 - x[0] + u[0]], states=2, inputs=1)
    with pytest.raises(lyactrl.UnsupportedOperationError, match="shifted to the operating"):
        lyactrl.from_control(nl)
    # the labels need not be valid Python names: the symbols are then x1, x2, u1
    ok = control.nlsys(lambda t, x, u, p: [x[1], -x[0] + u[0]], states=["lambda", "w"], inputs=1)
    sys = lyactrl.from_control(ok)
    assert sys.state_names == ("lambda", "w") and [str(e) for e in sys.exprs] == ["x2", "u1 - x1"]


def _mixed(t, x, u, params):
    """Every kind of supported operation, on numpy input (as python-control calls it)."""
    x, u = torch.as_tensor(x), torch.as_tensor(u)
    W = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)
    h = torch.tanh(W @ x) * params["k"] + (torch.exp(-(x[0] ** 2)) - 1.0) / 3.0
    sat = torch.clamp(u[0], min=-1.0, max=1.0)
    return torch.stack([h[0] - x[1] ** 3, h[1] * torch.cos(x[1]) + sat - torch.sigmoid(x[0]) + 0.5])


@given(
    st.lists(st.floats(-3.0, 3.0), min_size=2, max_size=2),
    st.floats(-3.0, 3.0),
)
@settings(max_examples=50, deadline=None)
def test_the_symbolic_conversion_computes_what_updfcn_computes(x, u):
    nl = control.nlsys(_mixed, states=2, inputs=1, outputs=2, params={"k": 0.7})
    sys = _converted(nl)
    want = np.asarray(nl.updfcn(0.0, np.array(x), np.array([u]), {"k": 0.7}), dtype=np.float64)
    got = sys(torch.tensor([x], dtype=torch.float64), torch.tensor([[u]], dtype=torch.float64))
    np.testing.assert_allclose(got.numpy()[0], want, rtol=1e-12, atol=1e-12)


_CACHE: dict = {}


def _converted(nl):
    if "mixed" not in _CACHE:
        _CACHE["mixed"] = lyactrl.from_control(nl)
    return _CACHE["mixed"]
