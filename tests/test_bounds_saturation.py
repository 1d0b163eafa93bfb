"""Saturation in the certifier's vocabulary: jets of clamp / hardtanh / relu / abs / min / max,
and their spellings in modules, traced forwards, plain functions and sympy."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import lyactrl
from lyactrl.bounds import FX_OPERATIONS, SUPPORTED, SYMPY_OPERATIONS, bound_system
from lyactrl.bounds import _functions as F
from lyactrl.bounds.jets import Jet, candidate_jets, expr_jet
from tests.test_bounds import _box, _derivatives, _inside, _samples

D = torch.float64
# values around the kinks (-1, 0, 0.5, 1), the kinks themselves included exactly
near_kinks = st.one_of(
    st.floats(-3.0, 3.0, allow_nan=False), st.sampled_from([-1.0, 0.0, 0.5, 1.0])
)

UNARY = {
    "clamp": (lambda j: F.clamp(j, -1.0, 0.5), lambda t: torch.clamp(t, -1.0, 0.5)),
    "clamp_min": (lambda j: F.clamp(j, 0.5), lambda t: torch.clamp(t, min=0.5)),
    "clamp_max": (lambda j: F.clamp(j, None, -1.0), lambda t: torch.clamp(t, max=-1.0)),
    "clamp_crossed": (lambda j: F.clamp(j, 1.0, -1.0), lambda t: torch.clamp(t, 1.0, -1.0)),
    "hardtanh": (F.hardtanh, TF.hardtanh),
    "relu6": (lambda j: F.hardtanh(j, 0.0, 6.0), TF.relu6),
    "relu": (F.relu, torch.relu),
    "leaky": (lambda j: F.leaky_relu(j, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
    "abs": (F.absolute, torch.abs),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(vals=st.lists(near_kinks, min_size=4, max_size=4), scale=st.floats(0.05, 4.0))
def test_piecewise_enclosures_contain_values_and_autograd_derivatives(name, vals, scale):
    jet_fn, torch_fn = UNARY[name]
    lo, hi = _box(vals, 2)
    w = torch.tensor([scale, -0.7], dtype=D)

    def build(x: Jet) -> Jet:
        return jet_fn(x.linear(w.reshape(1, 2), torch.tensor([0.3], dtype=D)).select(0))

    jet = build(Jet.variables(lo, hi, 2))
    v, g, h = _derivatives(lambda p: torch_fn(w @ p + 0.3), _samples(lo, hi))
    assert _inside(v, jet.v) and _inside(g, jet.d) and _inside(h, jet.h)


@pytest.mark.parametrize("largest", [True, False])
@given(vals=st.lists(near_kinks, min_size=4, max_size=4))
def test_min_max_of_two_bounded_operands(largest: bool, vals: list[float]) -> None:
    lo, hi = _box(vals, 2)
    pick, ref = (F.maximum, torch.maximum) if largest else (F.minimum, torch.minimum)

    def build(x: Jet) -> Jet:
        a, b = x.select(0), x.select(1)
        return pick(F.sin(a) + b, a * b) * 2.0

    jet = build(Jet.variables(lo, hi, 2))
    v, g, h = _derivatives(
        lambda p: ref(torch.sin(p[0]) + p[1], p[0] * p[1]) * 2.0, _samples(lo, hi)
    )
    assert _inside(v, jet.v) and _inside(g, jet.d) and _inside(h, jet.h)


def _clamp_1d(lo: float, hi: float) -> Jet:
    x = Jet.variables(torch.tensor([[lo]], dtype=D), torch.tensor([[hi]], dtype=D), 2)
    return F.clamp(x.select(0), -1.0, 1.0)


def test_hand_checked_clamp() -> None:
    # [-3, 0.5]: the value [-1, 0.5]; slopes 0 (below -1) and 1: hull [0, 1]; kink inside
    y = _clamp_1d(-3.0, 0.5)
    assert (float(y.v[0][0]), float(y.v[1][0])) == (-1.0, 0.5)
    assert float(y.d[0][0, 0]) == 0.0 and 1.0 <= float(y.d[1][0, 0]) < 1.0 + 1e-12
    assert float(y.h[0][0, 0, 0]) == -float("inf") and float(y.h[1][0, 0, 0]) == float("inf")
    # [-0.5, 0.5]: the identity, slope exactly 1, no curvature
    y = _clamp_1d(-0.5, 0.5)
    assert (float(y.v[0][0]), float(y.v[1][0])) == (-0.5, 0.5)
    assert abs(float(y.d[0][0, 0]) - 1.0) < 1e-12 and abs(float(y.d[1][0, 0]) - 1.0) < 1e-12
    assert float(y.h[0][0, 0, 0]) == 0.0 == float(y.h[1][0, 0, 0])
    # [2, 3]: the constant 1
    y = _clamp_1d(2.0, 3.0)
    assert (float(y.v[0][0]), float(y.v[1][0])) == (1.0, 1.0)
    assert float(y.d[0][0, 0]) == 0.0 == float(y.d[1][0, 0])
    # [1, 3]: touches the kink: slopes hull [0, 1] (torch's derivative at 1 is 1), no curvature
    y = _clamp_1d(1.0, 3.0)
    assert float(y.d[0][0, 0]) == 0.0 and float(y.d[1][0, 0]) >= 1.0
    assert float(y.h[0][0, 0, 0]) == 0.0 == float(y.h[1][0, 0, 0])


@given(a=near_kinks, b=near_kinks)
def test_hessian_unbounded_exactly_when_a_kink_is_inside(a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    y = _clamp_1d(lo, hi)
    kink = any(lo < k < hi for k in (-1.0, 1.0))
    assert bool(torch.isinf(y.h[0]).any() or torch.isinf(y.h[1]).any()) == kink
    z = F.maximum(
        Jet.variables(torch.tensor([[lo]], dtype=D), torch.tensor([[hi]], dtype=D), 2).select(0),
        0.5,
    )
    assert bool(torch.isinf(z.h[1]).any()) == (lo < 0.5 < hi)


# --- spellings ------------------------------------------------------------------------------
K = torch.tensor([[2.5, 1.5]], dtype=D)


class ClampForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("K", K.clone())
        self.register_buffer("u_max", torch.tensor([0.75], dtype=D))

    def forward(self, x):
        return torch.clamp(-TF.linear(x, self.K), -self.u_max, self.u_max)


def _spellings() -> dict[str, object]:
    lin = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(-K)

    def fn(x):
        return torch.clamp(-x @ K.T, -0.75, 0.75)

    class Methods(nn.Module):
        def forward(self, x):
            z = -(x @ K.T)
            return z.clamp(min=-0.75).clip(max=0.75)

    class MinMax(nn.Module):
        def forward(self, x):
            z = -(x @ K.T)
            lo = torch.tensor([-0.75], dtype=torch.float64)
            return torch.min(torch.maximum(z, lo), -lo)

    class Hard(nn.Module):
        def forward(self, x):
            return TF.hardtanh(-(x @ K.T), -0.75, 0.75)

    return {
        "clamp in forward": ClampForward(),
        "hardtanh module": nn.Sequential(lin, nn.Hardtanh(-0.75, 0.75)),
        "plain function": fn,
        "lambda": lambda x: torch.clip(-x @ K.T, -0.75, 0.75),
        "tensor methods": Methods(),
        "torch.min/maximum": MinMax(),
        "F.hardtanh": Hard(),
    }


@pytest.mark.parametrize("name", sorted(_spellings()))
def test_every_spelling_of_saturation_is_bounded_soundly(name: str) -> None:
    plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
    loop = lyactrl.ClosedLoop(plant, _spellings()[name])
    g = torch.Generator().manual_seed(1)
    c = 2 * torch.rand(64, 2, generator=g, dtype=D) - 1
    lo, hi = c - 0.2, c + 0.2
    b = bound_system(loop, lo, hi)
    pts = lo + (hi - lo) * torch.rand(64, 2, generator=g, dtype=D)
    with torch.no_grad():
        f = loop(pts)
    assert bool((b.lower <= f).all() and (f <= b.upper).all())
    ref = bound_system(lyactrl.ClosedLoop(plant, _spellings()["hardtanh module"]), lo, hi)
    assert torch.allclose(b.lower, ref.lower, atol=1e-12) and torch.allclose(
        b.upper, ref.upper, atol=1e-12
    )


def test_relu_spellings_in_a_traced_forward() -> None:
    class Net(nn.Module):
        def forward(self, x):
            return TF.relu(x) - torch.relu(-x) + x.relu() * 0.0 + TF.relu6(x) * 0.0 + abs(x) * 0.0

    x = torch.tensor([[-0.5, 0.3]], dtype=D)
    b = bound_system(lyactrl.NeuralSystem(Net(), 2), x - 0.1, x + 0.1)
    assert bool((b.lower <= x - 0.1 + 1e-12).all() and (b.upper >= x + 0.1 - 1e-12).all())


def test_refused_saturation_forms_name_what_to_change() -> None:
    class InPlace(nn.Module):
        def forward(self, x):
            return TF.relu(x, inplace=True)

    class Reduction(nn.Module):
        def forward(self, x):
            return x - torch.max(x, 1, keepdim=True)[0]

    for net, msg in [(InPlace(), "inplace=True"), (Reduction(), "reduction")]:
        with pytest.raises(lyactrl.UnsupportedOperationError, match=msg):
            bound_system(lyactrl.NeuralSystem(net, 2), torch.zeros(1, 2), torch.ones(1, 2))


def test_untraceable_function_controller_is_refused_with_a_hint() -> None:
    plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])

    def branchy(x):
        return -x[:, :1] if float(x.sum()) > 0 else x[:, :1]

    with pytest.raises(lyactrl.UnsupportedOperationError, match="could not be traced.*nn.Module"):
        bound_system(lyactrl.ClosedLoop(plant, branchy), torch.zeros(1, 2), torch.ones(1, 2))

    def indexing(x):
        return -x[:, :1]

    with pytest.raises(lyactrl.UnsupportedOperationError, match="in the function .*indexing"):
        bound_system(lyactrl.ClosedLoop(plant, indexing), torch.zeros(1, 2), torch.ones(1, 2))


def _fold(op):
    def fn(*args):
        like = next(a for a in args if isinstance(a, torch.Tensor))
        out = torch.as_tensor(args[0], dtype=like.dtype)
        for a in args[1:]:
            out = op(out, torch.as_tensor(a, dtype=like.dtype))
        return out

    return fn


def test_sympy_min_max_abs_and_heaviside_refused() -> None:
    x1, x2 = sp.symbols("x1 x2")
    lo, hi = torch.tensor([[-2.0, -0.5]], dtype=D), torch.tensor([[1.5, 0.7]], dtype=D)
    x = Jet.variables(lo, hi, 2)
    env = {x1: x.select(0), x2: x.select(1)}
    expr = (
        sp.Min(sp.Max(-3 * x1 - x2, -1), 1, x1 + 2)
        + sp.Abs(x2) * x1
        + sp.Max(x1, x2, sp.sqrt(2) / 4)
    )
    jet = expr_jet(expr, env, x.select(0))
    names = {"min": _fold(torch.minimum), "max": _fold(torch.maximum)}
    fn = sp.lambdify([x1, x2], expr.evalf(), [names, "torch"])  # constants: nearest floats
    pts = _samples(lo, hi)
    v, g, _ = _derivatives(lambda p: fn(p[0], p[1]), pts)
    assert _inside(v, jet.v) and _inside(g, jet.d)
    with pytest.raises(lyactrl.UnsupportedOperationError, match="Heaviside.*discontinuous"):
        expr_jet(sp.Heaviside(x1), env, x.select(0))


def test_supported_lists_name_what_is_supported() -> None:
    fx = " ".join(FX_OPERATIONS)
    for name in ("F.relu", "torch.clamp", "F.hardtanh", "torch.minimum", "torch.max(a, b)"):
        assert name in fx
    assert any("Min, Max" in s for s in SYMPY_OPERATIONS)
    assert any("Hardtanh" in s for s in SUPPORTED["torch modules"])
    assert any("plain" in s for s in SUPPORTED["systems"])


def test_hardtanh_and_relu6_in_a_neural_candidate_network() -> None:
    V = lyactrl.NeuralLyapunov(2, hidden=(3,))
    V.phi = nn.Sequential(
        nn.Linear(2, 3), nn.Hardtanh(-0.5, 0.5), nn.Linear(3, 2), nn.ReLU6()
    ).double()
    lo, hi = torch.tensor([[-1.0, -1.0]], dtype=D), torch.tensor([[1.0, 0.5]], dtype=D)
    value, grad = candidate_jets(V, Jet.variables(lo, hi, 1))
    pts = _samples(lo, hi)
    assert _inside(V(pts).detach(), value.v)
    assert _inside(V.grad(pts).detach(), grad.v)
