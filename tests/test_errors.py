"""Bad input: each case raises a LyactrlError subclass naming the argument, expected, received."""

import math

import numpy as np
import pytest
import torch

import lyactrl


@pytest.fixture
def vdp():
    return lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")


@pytest.fixture
def cond(vdp):
    return lyactrl.ExponentialStability(vdp, lyactrl.Quadratic(np.eye(2)), 0.1)


def _assert_message(exc, *parts):
    msg = str(exc.value)
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_or_inf_states(cond, bad):
    with pytest.raises(lyactrl.NonFiniteError) as exc:
        cond.residual(torch.tensor([[0.0, bad]], dtype=torch.float64))
    assert isinstance(exc.value, ValueError)
    _assert_message(exc, "x:", "finite", "NaN/Inf")


def test_wrong_state_shape(vdp):
    with pytest.raises(lyactrl.ShapeError) as exc:
        vdp(torch.zeros(4, 3, dtype=torch.float64))
    _assert_message(exc, "x:", "(batch, 2)", "(4, 3)")


def test_wrong_dtype(vdp):
    with pytest.raises(lyactrl.InvalidArgumentError) as exc:
        vdp(torch.zeros(4, 2, dtype=torch.int64))
    assert isinstance(exc.value, TypeError)
    _assert_message(exc, "x:", "floating-point", "torch.int64")


def test_wrong_type(vdp):
    with pytest.raises(lyactrl.InvalidArgumentError) as exc:
        vdp("not a tensor")
    _assert_message(exc, "x:", "expected a torch tensor", "str")


def test_p_not_symmetric():
    with pytest.raises(lyactrl.NotPositiveDefiniteError) as exc:
        lyactrl.Quadratic([[1.0, 0.5], [0.0, 1.0]])
    _assert_message(exc, "P:", "symmetric", "0.5")


def test_p_not_positive_definite():
    with pytest.raises(lyactrl.NotPositiveDefiniteError) as exc:
        lyactrl.Quadratic([[1.0, 0.0], [0.0, -1e-3]])
    _assert_message(exc, "P:", "positive definite", "-0.001")


def test_p_tolerance_scales_with_norm():
    # a tiny but well-conditioned P is positive definite; a nearly singular large one is not
    lyactrl.Quadratic(1e-9 * np.eye(2))
    with pytest.raises(lyactrl.NotPositiveDefiniteError):
        lyactrl.Quadratic(np.diag([1e6, 1e-15]))


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan])
def test_rate_not_positive(vdp, rate):
    with pytest.raises(lyactrl.InvalidValueError) as exc:
        lyactrl.ExponentialStability(vdp, lyactrl.Quadratic(np.eye(2)), rate)
    _assert_message(exc, "rate:", "> 0", str(rate))


def test_inverted_box():
    with pytest.raises(lyactrl.InvalidValueError) as exc:
        lyactrl.Box([0.0, 1.0], [1.0, -1.0])
    _assert_message(exc, "lo < hi", "lo[1] = 1.0", "hi[1] = -1.0")


def test_empty_box():
    with pytest.raises(lyactrl.InvalidValueError) as exc:
        lyactrl.Box([0.0, 1.0], [1.0, 1.0])
    _assert_message(exc, "empty or inverted")
    with pytest.raises(lyactrl.ShapeError):
        lyactrl.Box([], [])


def test_box_corner_shapes_differ():
    with pytest.raises(lyactrl.ShapeError) as exc:
        lyactrl.Box([0.0, 0.0], [1.0, 1.0, 1.0])
    _assert_message(exc, "hi:", "(2,)", "(3,)")


def test_module_output_shape_mismatch():
    with pytest.raises(lyactrl.ShapeError) as exc:
        lyactrl.NeuralSystem(torch.nn.Linear(2, 3), 2)(torch.zeros(2, 2))
    _assert_message(exc, "module:", "(2, 2)", "(2, 3)")


def test_module_input_width_mismatch():
    with pytest.raises(lyactrl.ShapeError) as exc:
        lyactrl.NeuralSystem(torch.nn.Linear(3, 3), 2)(torch.zeros(2, 2))
    _assert_message(exc, "module:", "(batch, 2)")


def test_not_a_module():
    with pytest.raises(lyactrl.InvalidArgumentError) as exc:
        lyactrl.NeuralSystem(lambda x: x, 2)
    _assert_message(exc, "module:", "nn.Module", "function")


def test_unknown_inputs_strategy():
    with pytest.raises(lyactrl.InvalidValueError) as exc:
        lyactrl.NeuralSystem(torch.nn.Linear(2, 2), 2, inputs="x,t")
    _assert_message(exc, "inputs:", "'t,x'", "'x,t'")


@pytest.mark.parametrize(
    "call",
    [
        lambda c, r: lyactrl.check_sampled(c, r, n_sample=10),
        lambda c, r: lyactrl.falsify(c, r, nstarts=4),
        lambda c, r: lyactrl.Box([0.0], [1.0], low=0),
        lambda c, r: lyactrl.Quadratic(np.eye(2), xeq=None),
        lambda c, r: lyactrl.simulate(c.system, [0.0, 0.0], [0.0, 1.0], solver="rk4"),
    ],
)
def test_unknown_keyword_arguments(cond, call):
    region = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    with pytest.raises(lyactrl.UnknownArgumentError) as exc:
        call(cond, region)
    assert isinstance(exc.value, TypeError)
    _assert_message(exc, "unknown keyword argument", "expected one of")


def test_unknown_keyword_suggests_a_close_name(cond):
    with pytest.raises(lyactrl.UnknownArgumentError, match="Did you mean 'n_samples'"):
        lyactrl.check_sampled(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), n_sample=10)


def test_region_dimension_mismatch(cond):
    with pytest.raises(lyactrl.InvalidValueError) as exc:
        lyactrl.check_sampled(cond, lyactrl.Box([0.0], [1.0]))
    _assert_message(exc, "region:", "2 states", "1")


def test_candidate_dimension_mismatch(vdp):
    with pytest.raises(lyactrl.ShapeError) as exc:
        lyactrl.ExponentialStability(vdp, lyactrl.Quadratic(np.eye(3)), 1.0)
    _assert_message(exc, "V:", "2 states", "3")


def test_plant_with_inputs_is_not_autonomous():
    plant = lyactrl.LinearSystem([[0.0]], B=[[1.0]])
    with pytest.raises(lyactrl.InvalidArgumentError, match="ClosedLoop"):
        lyactrl.ExponentialStability(plant, lyactrl.Quadratic([[1.0]]), 1.0)
    with pytest.raises(lyactrl.InvalidArgumentError, match="u: this system has 1 inputs"):
        plant(torch.zeros(1, 1, dtype=torch.float64))


def test_symbolic_unknown_symbol():
    with pytest.raises(lyactrl.InvalidValueError) as exc:
        lyactrl.SymbolicSystem(["-x2", "x1 - mu*x2"], "x1, x2")
    _assert_message(exc, "exprs:", "unknown symbols ['mu']", "parameters=")


@pytest.mark.parametrize(
    "make",
    [
        lambda e: lyactrl.SymbolicCandidate(e, "x1, x2"),
        lambda e: lyactrl.SymbolicSystem([e, "-x2"], "x1, x2"),
    ],
)
def test_symbolic_unparsable_expression_names_the_argument(make):
    """A numpy repr pasted into an expression (``np.float64(1.5)``) is an attribute of a
    sympy Symbol: a clear error naming the argument, not an AttributeError."""
    with pytest.raises(lyactrl.InvalidValueError, match=r"expr(s\[0\])?: could not parse"):
        make("-np.float64(1.5)*x1**2")


def test_symbolic_x_eq_not_an_equilibrium():
    with pytest.raises(lyactrl.InvalidValueError, match="x_eq: expected an equilibrium"):
        lyactrl.SymbolicSystem(["-x1 + 1"], "x1")


def test_symbolic_expression_count():
    with pytest.raises(lyactrl.ShapeError, match="one expression per state"):
        lyactrl.SymbolicSystem(["-x1"], "x1, x2")


def test_controller_output_shape():
    plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
    calls = []
    ctrl = torch.nn.Linear(2, 2).double()
    ctrl.register_forward_hook(lambda *a: calls.append(1))
    loop = lyactrl.ClosedLoop(plant, ctrl)  # construction costs nothing: no probe call
    assert calls == []
    with pytest.raises(lyactrl.ShapeError, match=r"controller.*\(batch, 1\)"):
        loop([[0.0, 0.0]])


def test_confidence_out_of_range(cond):
    with pytest.raises(lyactrl.InvalidValueError, match="confidence"):
        lyactrl.check_sampled(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), confidence=1.0)


def test_cross_entropy_bad_label():
    with pytest.raises(lyactrl.InvalidArgumentError, match="label"):
        lyactrl.CrossEntropy(torch.tensor([0.5]))
    with pytest.raises(lyactrl.InvalidValueError, match="n_classes=3"):
        lyactrl.CrossEntropy(3, n_classes=3)


def test_simulate_bad_times(vdp):
    with pytest.raises(lyactrl.InvalidValueError, match="increasing"):
        lyactrl.simulate(vdp, [0.1, 0.0], [0.0, 1.0, 0.5])
    with pytest.raises(lyactrl.InvalidValueError, match="method"):
        lyactrl.simulate(vdp, [0.1, 0.0], [0.0, 1.0], method="rk45")


def test_errors_are_lyactrl_errors_and_builtins():
    assert issubclass(lyactrl.ShapeError, lyactrl.LyactrlError)
    assert issubclass(lyactrl.ShapeError, ValueError)
    assert issubclass(lyactrl.UnknownArgumentError, TypeError)
    assert issubclass(lyactrl.MissingDependencyError, ImportError)
