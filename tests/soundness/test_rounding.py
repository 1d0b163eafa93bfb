"""Soundness rule "falsified only with a proved counterexample" (docs/soundness.md).

Each case is a condition whose float64 residual is positive at rounding level somewhere
(``exp(x) - 1`` that rounds to 0, an equilibrium that is a rounded decimal, a module computing
``(x*3)/3 - x``, exactly 0 in real arithmetic); each states its residual exactly as mpmath
code. Where the real residual is ``<= 0`` on the whole region, ``certify``, ``falsify`` and
``check_sampled`` must never answer ``falsified`` (also with ``rtol=0``, which hands every
rounding-level "violation" to the prover); everywhere, a ``falsified`` needs all its
counterexamples proved and positive at 50 digits. Clearly violated conditions must still be
``falsified`` by all three.
"""

from __future__ import annotations

import mpmath
import pytest
import torch
from _oracles import DIGITS, assert_falsified_soundly

import lyactrl

BUDGET = {"max_boxes": 5_000, "time_limit": 10.0}
XE = 0.1  # the float nearest 1/10: 0.1000000000000000055511151231257827...


class ThirdOfTriple(torch.nn.Module):
    """``-x + ((x * 3) / 3 - x)``: ``-x`` in real arithmetic, ``-x +- ulp`` in float64."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x + ((x * 3) / 3 - x)


class AddSubtractTenth(torch.nn.Module):
    """``-x + ((x + 0.1) - 0.1 - x)``: ``-x`` in real arithmetic; the rounding error of
    ``x + 0.1`` (up to 7e-18) is large relative to a small ``x``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x + ((x + 0.1) - 0.1 - x)


def _exp_system():
    return lyactrl.SymbolicSystem(["-(exp(x) - 1)"], "x")


def _mp(f, x_eq: float = 0.0):
    """The exact residual ``2 (x - x_eq) f(x) + rate (x - x_eq)^2`` of ``V = (x - x_eq)^2``."""

    def residual(rate: float):
        def at(x):
            with mpmath.workdps(DIGITS):
                p, e = mpmath.mpf(float(x[0])), mpmath.mpf(x_eq)
                return 2 * (p - e) * f(p) + mpmath.mpf(rate) * (p - e) ** 2

        return at

    return residual


def _exp_mp(p):
    return -(mpmath.exp(p) - 1)


CASES = {
    # name: (system, x_eq, exact f, rate, region, whether the real residual is <= 0 on it)
    # exp(x) rounds to 1 for |x| < 1e-16: f = 0 there and the float residual is rate x^2 > 0;
    # the real residual is <= -x^2 / 2 on [-1, 1] at rate 1 (2 (1 - e^-u) >= u on [0, 1])
    "exp-below-ulp": (_exp_system, 0.0, _exp_mp, 1.0, ([1e-18], [1e-17]), True),
    "exp-around-0": (_exp_system, 0.0, _exp_mp, 1.0, ([-1e-17], [1e-17]), True),
    "exp-unit": (_exp_system, 0.0, _exp_mp, 1.0, ([-1.0], [1.0]), True),
    # at rate 2 the real residual is ~ -x^3 > 0 for x < 0: true but tiny violations near 0
    "exp-rate-2-near-0": (_exp_system, 0.0, _exp_mp, 2.0, ([-1e-9], [1e-9]), False),
    # x_eq = 0.1 as a float, f = -(x - 0.1) with sympy's Float 0.1 (the same float): the real
    # residual is (rate - 2) (x - x_eq)^2, exactly 0 at rate 2
    "float-equilibrium": (
        lambda: lyactrl.SymbolicSystem(["-(x - 0.1)"], "x", x_eq=[XE]),
        XE,
        lambda p: -(p - mpmath.mpf(XE)),
        2.0,
        ([0.0], [0.2]),
        True,
    ),
    # f = -(x - 1/10) exactly, x_eq the float 0.1: f(x_eq) = -5.55e-18, not 0; the real
    # residual -0.01 d^2 - 2 d (x_eq - 1/10) is positive for -1.1e-15 < d < 0 only
    "shifted-equilibrium": (
        lambda: lyactrl.SymbolicSystem(["-(x - 1/10)"], "x", x_eq=[XE]),
        XE,
        lambda p: -(p - mpmath.mpf(1) / 10),
        1.99,
        ([XE - 1e-15], [XE + 1e-15]),
        False,
    ),
    "shifted-equilibrium-wide": (
        lambda: lyactrl.SymbolicSystem(["-(x - 1/10)"], "x", x_eq=[XE]),
        XE,
        lambda p: -(p - mpmath.mpf(1) / 10),
        1.0,
        ([0.0], [0.2]),
        False,
    ),
    # (x*3)/3 - x is 0 in real arithmetic, +-1.1e-16 in float64: the real residual at rate 2
    # is exactly 0 everywhere
    "third-of-triple": (
        lambda: lyactrl.NeuralSystem(ThirdOfTriple(), 1),
        0.0,
        lambda p: -p,
        2.0,
        ([-1.0], [1.0]),
        True,
    ),
    # (x + 0.1) - 0.1 - x is 0 in real arithmetic; near x = 0 its rounding error is above
    # RTOL relative to the residual's terms, so even the default rtol sees "violations"
    "add-subtract-tenth": (
        lambda: lyactrl.NeuralSystem(AddSubtractTenth(), 1),
        0.0,
        lambda p: -p,
        2.0,
        ([-1e-9], [1e-9]),
        True,
    ),
}


def _condition(name: str, rate: float | None = None):
    make, x_eq, f, r0, (lo, hi), nonpositive = CASES[name]
    rate = r0 if rate is None else rate
    V = lyactrl.Quadratic([[1.0]], x_eq=[x_eq])
    cond = lyactrl.ExponentialStability(make(), V, rate)
    return cond, lyactrl.Box(lo, hi), _mp(f, x_eq)(rate), nonpositive


def _run(method: str, cond, region, rtol: float):
    gen = {"generator": torch.Generator().manual_seed(0)}
    if method == "certify":
        return lyactrl.certify(cond, region, **BUDGET)
    if method == "falsify":
        return lyactrl.falsify(cond, region, n_starts=64, steps=40, rtol=rtol, **gen)
    return lyactrl.check_sampled(cond, region, n_samples=4000, rtol=rtol, **gen)


def _rtols(method: str):
    return [None] if method == "certify" else [1e-9, 0.0]


PARAMS = [
    pytest.param(name, method, rtol, id=f"{name}-{method}-rtol{rtol}")
    for name in CASES
    for method in ("certify", "falsify", "check_sampled")
    for rtol in _rtols(method)
]


@pytest.mark.parametrize(("name", "method", "rtol"), PARAMS)
def test_rounding_level_violations_are_never_a_falsification(name, method, rtol):
    cond, region, mp_res, nonpositive = _condition(name)
    res = _run(method, cond, region, rtol)
    if nonpositive:
        assert res.status != "falsified", res
    if res.status == "falsified":
        assert_falsified_soundly(res, mp_res)


def test_the_cases_do_have_float_residuals_positive_at_rounding_level():
    # the premise of the cases above: lyactrl's float64 evaluation does see "violations"
    x = torch.tensor([[1e-17], [-3e-18]], dtype=torch.float64)
    cond, *_ = _condition("exp-below-ulp")
    assert bool((cond.residual(x) > 0).all())
    cond, *_ = _condition("third-of-triple")
    x = torch.linspace(-1, 1, 2001, dtype=torch.float64)[:, None]
    r = cond.residual(x)
    assert bool((r > 0).any()) and float(r.abs().max()) < 1e-15
    cond, *_ = _condition("add-subtract-tenth")
    x = torch.linspace(-1e-9, 1e-9, 2001, dtype=torch.float64)[:, None]
    r, scale = cond.evaluate_with_scale(x)
    assert bool((r > 1e-9 * scale).any())  # above the default rtol
    cond, _, mp_res, _ = _condition("shifted-equilibrium")
    just_below = [XE - 2**-56]  # one ulp of 0.1 below x_eq: the real residual is positive
    assert mp_res(just_below) > 0


# --- clearly violated conditions: all three say falsified, with proved counterexamples ----
# diag(-1, -3) with V = |x|^2: best rate 2; exp system: rate 2.5 > 2 = the local limit; the
# (x*3)/3 system at rate 3 > 2 (real residual x^2).


def _diagonal(rate: float):
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -3.0]])
    cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate)

    def mp_res(x):
        with mpmath.workdps(DIGITS):
            a, b = (mpmath.mpf(float(v)) for v in x)
            return (rate - 2) * a * a + (rate - 6) * b * b

    return cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), mp_res


VIOLATED = {
    "diagonal": lambda: _diagonal(3.0),
    "exp": lambda: _condition("exp-unit", 2.5)[:3],
    "third-of-triple": lambda: _condition("third-of-triple", 3.0)[:3],
}


@pytest.mark.parametrize("method", ["certify", "falsify", "check_sampled"])
@pytest.mark.parametrize("name", VIOLATED)
def test_clearly_violated_conditions_are_falsified_with_proof(name, method):
    cond, region, mp_res = VIOLATED[name]()
    res = _run(method, cond, region, 1e-9)
    assert_falsified_soundly(res, mp_res)
    if method != "certify":
        assert bool(res.counterexamples_proved.all())
