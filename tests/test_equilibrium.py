"""find_equilibrium and the Krawczyk test: roots checked against mpmath at 50 digits, the
uniqueness the test proves checked against boxes that hold two roots."""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
import torch
from reference_systems import BiasedField
from torch import nn

import lyactrl
from lyactrl._results import Status
from lyactrl.verify import krawczyk

mpmath.mp.dps = 50

SQRT2 = lyactrl.SymbolicSystem(["x**2 - 2"], "x", x_eq=[1.4142135624])
# x1^2 + x2^2 = 1 and x2 = tan(1) x1: the roots (cos 1, sin 1) and (-cos 1, -sin 1)
CIRCLE = lyactrl.SymbolicSystem(
    ["x1**2 + x2**2 - 1", "x2 - tan(1)*x1"], "x1, x2", x_eq=[math.cos(1.0), math.sin(1.0)]
)


def _contains(eq: lyactrl.Equilibrium, root: list) -> bool:
    """Whether the proved box holds ``root`` (mpmath numbers), compared exactly."""
    lo, hi = eq.lo.tolist(), eq.hi.tolist()
    return all(mpmath.mpf(a) <= r <= mpmath.mpf(b) for a, b, r in zip(lo, hi, root, strict=True))


def test_sqrt2_box_holds_the_50_digit_root_and_is_small():
    eq = lyactrl.find_equilibrium(SQRT2, region=lyactrl.Box([0.5], [3.0]))
    assert eq.status == Status.CERTIFIED
    assert _contains(eq, [mpmath.sqrt(2)])
    assert float((eq.hi - eq.lo).max()) < 1e-9
    assert bool((eq.lo <= eq.x).all() and (eq.x <= eq.hi).all())
    assert eq.hyperbolic and eq.eigenvalues[0, 0] == pytest.approx(2 * math.sqrt(2))


def test_a_box_off_the_true_root_is_refused():
    # sqrt(2) shifted by 1e-9: a box of half-width 1e-11 there holds no root
    assert not krawczyk(SQRT2, [math.sqrt(2) + 1e-9], 1e-11)[0]
    assert krawczyk(SQRT2, [math.sqrt(2)], 1e-11)[0]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_two_dimensional_roots_with_exact_constants(sign):
    box = lyactrl.Box([0.0, 0.0], [1.0, 1.0]) if sign > 0 else lyactrl.Box([-1.0, -1.0], [0, 0])
    eq = lyactrl.find_equilibrium(CIRCLE, region=box)
    assert eq.status == Status.CERTIFIED, eq.message
    assert _contains(eq, [sign * mpmath.cos(1), sign * mpmath.sin(1)])
    assert float((eq.hi - eq.lo).max()) < 1e-9
    assert eq.residual_norm < 1e-14


def test_a_box_with_two_equilibria_is_not_certified():
    assert not krawczyk(SQRT2, [0.0], 2.0)[0]  # -sqrt(2) and sqrt(2)
    close = lyactrl.SymbolicSystem(["x**2 - 1e-12"], "x", x_eq=[1e-6])  # roots +-1e-6
    assert not krawczyk(close, [0.0], 1e-5)[0]
    assert not krawczyk(close, [1e-6], 1e-5)[0]
    eq = lyactrl.find_equilibrium(close, [0.9e-6])  # each root alone is proved
    assert eq.status == Status.CERTIFIED
    assert float(eq.lo[0]) > 0 and _contains(eq, [mpmath.mpf("1e-6")])


def test_neural_system_with_biases_is_found_and_proved():
    system = lyactrl.NeuralSystem(BiasedField(), 2)
    eq = lyactrl.find_equilibrium(system, region=lyactrl.Box([-3.0, -3.0], [3.0, 3.0]))
    assert eq.status == Status.CERTIFIED, eq.message
    x = eq.x.unsqueeze(0)
    assert float(system(x).detach().norm()) < 1e-12 and float(x.norm()) > 1e-3  # not the origin
    assert bool((eq.lo <= eq.x).all() and (eq.x <= eq.hi).all())
    assert bool((eq.eigenvalues[:, 0] < 0).all()) and eq.hyperbolic


def test_stock_sequential_network_and_closed_loop():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    with torch.no_grad():
        net[2].weight.mul_(0.1)
    # x' = 0.1 W2 tanh(W1 x + b1) + b2 has a root when the network is a contraction of x' = -x
    system = lyactrl.ClosedLoop(
        lyactrl.SymbolicSystem(["-x1 + u1", "-x2 + u2"], "x1, x2", inputs="u1, u2"),
        net,
    )
    eq = lyactrl.find_equilibrium(system, [0.0, 0.0])
    assert eq.status == Status.CERTIFIED, eq.message
    assert float(system(eq.x.unsqueeze(0)).detach().norm()) < 1e-12 and float(eq.x.norm()) > 0


def test_saddle_is_found_and_proved():
    saddle = lyactrl.SymbolicSystem(["x1**2 - 2", "-x2"], "x1, x2", x_eq=[1.4142135624, 0.0])
    eq = lyactrl.find_equilibrium(saddle, [1.0, 0.3])
    assert eq.status == Status.CERTIFIED
    assert _contains(eq, [mpmath.sqrt(2), mpmath.mpf(0)])
    re = sorted(eq.eigenvalues[:, 0].tolist())
    assert re[0] == pytest.approx(-1.0) and re[1] == pytest.approx(2 * math.sqrt(2))
    assert eq.hyperbolic


def test_no_root_in_the_region_is_unknown():
    eq = lyactrl.find_equilibrium(SQRT2, region=lyactrl.Box([-1.0], [1.0]))
    assert eq.status == Status.UNKNOWN and eq.lo is None and eq.hi is None
    assert "no equilibrium" in eq.message
    eq = lyactrl.find_equilibrium(CIRCLE, region=lyactrl.Ball([0.0, 0.0], 0.5))
    assert eq.status == Status.UNKNOWN and "no equilibrium" in eq.message


def test_singular_jacobian_is_unknown_not_hyperbolic():
    cubic = lyactrl.SymbolicSystem(["-x**3"], "x")
    eq = lyactrl.find_equilibrium(cubic, [0.5])
    assert eq.status == Status.UNKNOWN and not eq.hyperbolic
    assert "not hyperbolic" in eq.message and "singular" in eq.message
    eq = lyactrl.find_equilibrium(cubic, [0.0])  # the exact root: still not isolated
    assert eq.status == Status.UNKNOWN and "not hyperbolic" in eq.message


def test_centre_is_proved_but_not_hyperbolic():
    centre = lyactrl.SymbolicSystem(["x2", "-x1 + x1**2"], "x1, x2", x_eq=[1.0, 0.0])
    eq = lyactrl.find_equilibrium(centre, [0.1, 0.1])  # the centre (0, 0)
    assert eq.status == Status.CERTIFIED and not eq.hyperbolic
    assert "not hyperbolic" in eq.message


def test_unboundable_system_still_gets_newton():
    control = pytest.importorskip("control")
    sys = control.nlsys(
        lambda t, x, u, p: np.array([x[0] ** 2 - 2, -x[1]]), None, states=2, inputs=0, outputs=2
    )
    eq = lyactrl.find_equilibrium(lyactrl.from_control(sys, method="numpy"), [1.0, 0.5])
    assert eq.status == Status.UNKNOWN and "cannot bound" in eq.message
    assert eq.x[0] == pytest.approx(math.sqrt(2), abs=1e-12) and eq.residual_norm < 1e-12


def test_result_is_json_serialisable():
    eq = lyactrl.find_equilibrium(SQRT2, [1.0])
    d = json.loads(json.dumps(eq.to_dict()))
    assert d["status"] == "certified" and d["method"] == "newton+krawczyk"
    assert len(d["eigenvalues"]) == 1 and len(d["eigenvalues"][0]) == 2


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        ({"guess": [1.0, 2.0]}, lyactrl.ShapeError, "guess"),
        ({"guess": [float("nan")]}, lyactrl.NonFiniteError, "guess"),
        ({"guess": [float("inf")]}, lyactrl.NonFiniteError, "guess"),
        ({"region": (0.0, 1.0)}, lyactrl.InvalidArgumentError, "region"),
        ({"region": lyactrl.Box([0, 0], [1, 1])}, lyactrl.ShapeError, "region"),
        ({"starts": 0}, lyactrl.InvalidValueError, "starts"),
        ({"tol": 1e-3}, lyactrl.UnknownArgumentError, "tol"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, error, word):
    with pytest.raises(error, match=word):
        lyactrl.find_equilibrium(SQRT2, **kwargs)


def test_system_with_inputs_is_refused():
    plant = lyactrl.LinearSystem([[0.0]], B=[[1.0]])
    with pytest.raises(lyactrl.InvalidArgumentError, match="system"):
        lyactrl.find_equilibrium(plant)


@pytest.mark.parametrize(
    "radius, error",
    [
        (0.0, lyactrl.InvalidValueError),
        ([1e-3, 1e-3], lyactrl.ShapeError),
        ([-1e-3], lyactrl.InvalidValueError),
        (float("nan"), lyactrl.InvalidValueError),
    ],
)
def test_krawczyk_bad_radius_raises(radius, error):
    with pytest.raises(error, match="radius"):
        krawczyk(SQRT2, [1.4], radius)


def test_krawczyk_radius_per_coordinate():
    proved, klo, khi = krawczyk(CIRCLE, [math.cos(1.0), math.sin(1.0)], [1e-9, 2e-9])
    assert proved and bool((khi - klo < 2e-9).all())
    assert mpmath.mpf(float(klo[0])) <= mpmath.cos(1) <= mpmath.mpf(float(khi[0]))


def test_proved_box_feeds_a_certificate_at_the_true_equilibrium():
    system = lyactrl.NeuralSystem(BiasedField(), 2)
    eq = lyactrl.find_equilibrium(system, region=lyactrl.Box([-3.0, -3.0], [3.0, 3.0]))
    V = lyactrl.Quadratic.from_linearization(system, x_eq=eq.x)
    region = lyactrl.Box(eq.x - 0.5, eq.x + 0.5)
    plain = lyactrl.ExponentialStability(system, V, 0.5)
    assert lyactrl.certify(plain, region, time_limit=5.0).status != "certified"
    boxed = lyactrl.ExponentialStability(system, V, 0.5, x_eq_box=eq)
    assert lyactrl.certify(boxed, region, time_limit=20.0).status == "certified"
