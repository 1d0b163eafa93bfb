"""Soundness of every bound: enclosures contain values, gradients and Hessians of samples."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import lyactrl
from lyactrl.bounds import _functions as F
from lyactrl.bounds import bound_candidate, bound_residual, bound_system
from lyactrl.bounds._interval import iadd, ilinear, imul
from lyactrl.bounds.jets import Jet, candidate_jets, expr_jet, module_jet, residual_jet, system_jet
from tests.reference_systems import damped_pendulum

D = torch.float64
finite = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


def _box(draw_vals: list[float], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor(draw_vals[:n], dtype=D)
    b = torch.tensor(draw_vals[n:], dtype=D)
    return torch.minimum(a, b).unsqueeze(0), torch.maximum(a, b).unsqueeze(0)


def _samples(lo: torch.Tensor, hi: torch.Tensor, k: int = 300) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    u = torch.rand(k, lo.shape[1], generator=g, dtype=D)
    corners = torch.stack(
        [
            torch.where(
                torch.tensor([(i >> j) & 1 for j in range(lo.shape[1])]).bool(), hi[0], lo[0]
            )
            for i in range(2 ** lo.shape[1])
        ]
    )
    return torch.cat([lo + (hi - lo) * u, corners, 0.5 * (lo + hi)])


def _derivatives(fn, x: torch.Tensor):
    """Values, gradients and Hessians of a scalar function ``fn: (n,) -> ()`` per sample.

    ``fn`` acts on one sample; it is applied to the columns of the batch at once (samples are
    independent, so derivatives of the batch sum are the per-sample derivatives).
    """
    xr = x.clone().requires_grad_(True)
    v = fn(xr.T)
    (g,) = torch.autograd.grad(v.sum(), xr, create_graph=True)
    rows = []
    for i in range(x.shape[1]):
        if g.requires_grad:
            (r,) = torch.autograd.grad(g[:, i].sum(), xr, retain_graph=True, allow_unused=True)
        else:
            r = None
        rows.append(torch.zeros_like(x) if r is None else r)
    return v.detach(), g.detach(), torch.stack(rows, dim=1).detach()


def _inside(val: torch.Tensor, pair, slack: float = 0.0) -> bool:
    lo, hi = pair
    return bool(((val >= lo[0] - slack) & (val <= hi[0] + slack)).all())


UNARY = {
    "sin": (F.sin, torch.sin),
    "cos": (F.cos, torch.cos),
    "exp": (F.exp, torch.exp),
    "tanh": (F.tanh, torch.tanh),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "softplus": (lambda j: F.softplus(j, 1.0, 20.0), torch.nn.functional.softplus),
    "softplus_b2": (
        lambda j: F.softplus(j, 2.0, 3.0),
        lambda t: torch.nn.functional.softplus(t, 2.0, 3.0),
    ),
    "relu": (F.relu, torch.relu),
    "leaky": (lambda j: F.leaky_relu(j, 0.1), lambda t: torch.nn.functional.leaky_relu(t, 0.1)),
    "pow2": (lambda j: F.powi(j, 2), lambda t: t**2),
    "pow3": (lambda j: F.powi(j, 3), lambda t: t**3),
    "pow4": (lambda j: F.powi(j, 4), lambda t: t**4),
    "pow0": (lambda j: F.powi(j, 0), lambda t: torch.ones_like(t) + 0 * t),
    "inv": (lambda j: F.powi(j, -1), lambda t: 1.0 / t),
    "inv2": (lambda j: F.powi(j, -2), lambda t: t**-2),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(vals=st.lists(finite, min_size=4, max_size=4), scale=st.floats(0.05, 4.0))
def test_unary_enclosures(name: str, vals: list[float], scale: float) -> None:
    jet_fn, torch_fn = UNARY[name]
    lo, hi = _box(vals, 2)
    w = torch.tensor([scale, -0.7], dtype=D)

    def build(x: Jet) -> Jet:
        u = x.linear(w.reshape(1, 2), torch.tensor([0.3], dtype=D)).select(0)
        return jet_fn(u)

    jet = build(Jet.variables(lo, hi, 2))
    pts = _samples(lo, hi)
    v, g, h = _derivatives(lambda p: torch_fn(w @ p + 0.3), pts)
    ok = torch.isfinite(v)
    assert _inside(v[ok], jet.v)
    assert _inside(g[ok], jet.d)
    assert _inside(h[ok], jet.h)


@given(vals=st.lists(finite, min_size=4, max_size=4))
def test_products_sums_and_chain(vals: list[float]) -> None:
    lo, hi = _box(vals, 2)

    def build(x: Jet) -> Jet:
        a, b = x.select(0), x.select(1)
        return F.sin(a) * F.exp(b * 0.5) + F.tanh(a * b) - F.powi(a, 3) * b + 2.0

    def ref(p: torch.Tensor) -> torch.Tensor:
        a, b = p[0], p[1]
        return torch.sin(a) * torch.exp(b * 0.5) + torch.tanh(a * b) - a**3 * b + 2.0

    jet = build(Jet.variables(lo, hi, 2))
    v, g, h = _derivatives(ref, _samples(lo, hi))
    assert _inside(v, jet.v) and _inside(g, jet.d) and _inside(h, jet.h)


def _expr_strategy():
    x1, x2 = sp.symbols("x1 x2")
    leaves = st.sampled_from([x1, x2, sp.Integer(2), sp.Rational(1, 3), sp.Float(0.7)])

    def extend(children):
        return st.one_of(
            st.tuples(children, children).map(lambda t: t[0] + t[1]),
            st.tuples(children, children).map(lambda t: t[0] * t[1]),
            st.tuples(children, st.integers(2, 3)).map(lambda t: t[0] ** t[1]),
            children.map(sp.sin),
            children.map(sp.cos),
            children.map(sp.tanh),
            children.map(lambda c: sp.exp(c / 4)),
        )

    return st.recursive(leaves, extend, max_leaves=6)


@given(expr=_expr_strategy(), vals=st.lists(st.floats(-1.5, 1.5), min_size=4, max_size=4))
def test_sympy_expression_enclosures(expr, vals: list[float]) -> None:
    x1, x2 = sp.symbols("x1 x2")
    # torch's lambdified functions need tensor arguments (sin(1/3) fails in torch.sin)
    assume(all(f.args[0].free_symbols for f in expr.atoms(sp.sin, sp.cos, sp.tanh, sp.exp)))
    assume(expr.free_symbols)
    lo, hi = _box(vals, 2)
    X = Jet.variables(lo, hi, 2)
    jet = expr_jet(expr, {x1: X.select(0), x2: X.select(1)}, X.select(0))
    fn = sp.lambdify([x1, x2], expr, modules="torch")

    def ref(p: torch.Tensor) -> torch.Tensor:
        out = fn(p[0], p[1])
        return out if isinstance(out, torch.Tensor) else float(out) + 0 * p[0]

    v, g, h = _derivatives(ref, _samples(lo, hi, 100))
    assert _inside(v, jet.v) and _inside(g, jet.d) and _inside(h, jet.h)


ACTS = [nn.Tanh(), nn.Sigmoid(), nn.Softplus(), nn.ReLU(), nn.LeakyReLU(0.2), nn.Identity()]


@pytest.mark.parametrize("act", ACTS, ids=lambda a: type(a).__name__)
@given(seed=st.integers(0, 10_000), vals=st.lists(finite, min_size=4, max_size=4))
def test_mlp_enclosures(act: nn.Module, seed: int, vals: list[float]) -> None:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(2, 5), act, nn.Linear(5, 3, bias=False), act, nn.Linear(3, 2)
    ).double()
    lo, hi = _box(vals, 2)
    jet = module_jet(net, Jet.variables(lo, hi, 1))
    pts = _samples(lo, hi)
    out = net(pts)
    jac = torch.autograd.functional.jacobian(lambda z: net(z).sum(0), pts).permute(1, 0, 2)
    assert _inside(out, jet.v)
    assert _inside(jac, jet.d)


@pytest.mark.parametrize("activation", ["tanh", "softplus", "sigmoid", "relu", "leaky_relu"])
@given(seed=st.integers(0, 10_000), vals=st.lists(finite, min_size=4, max_size=4))
def test_neural_candidate_value_and_gradient(activation: str, seed: int, vals: list[float]) -> None:
    V = lyactrl.NeuralLyapunov(
        2,
        hidden=(6, 4),
        activation=activation,
        x_eq=[0.2, -0.1],
        generator=torch.Generator().manual_seed(seed),
    )
    lo, hi = _box(vals, 2)
    v, g = candidate_jets(V, Jet.variables(lo, hi, 1))
    pts = _samples(lo, hi)
    assert _inside(V(pts), v.v)
    assert _inside(V.grad(pts), g.v)
    b = bound_candidate(V, lo, hi)
    assert bool((V(pts) >= b.lower).all() & (V(pts) <= b.upper).all())


def test_neural_candidate_is_exactly_zero_at_x_eq() -> None:
    V = lyactrl.NeuralLyapunov(
        2, hidden=(8, 8), x_eq=[0.3, -0.2], generator=torch.Generator().manual_seed(1)
    )
    p = V.x_eq.unsqueeze(0).to(D)
    v, g = candidate_jets(V, Jet.variables(p, p, 1))
    assert float(v.v[0][0]) == 0.0 == float(v.v[1][0])
    assert bool((g.v[0] == 0).all() & (g.v[1] == 0).all())


def _conditions():
    pend = damped_pendulum()
    Vq = lyactrl.Quadratic.from_linearization(pend)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    torch.manual_seed(3)
    loop = lyactrl.ClosedLoop(
        lyactrl.SymbolicSystem(["x2", "sin(x1) + u"], "x1, x2", inputs="u"), [[3.0, 2.0]]
    )
    Vn = lyactrl.NeuralLyapunov(2, hidden=(6, 6), generator=torch.Generator().manual_seed(0))
    B = lyactrl.SymbolicCandidate("x1**2 + x1*x2 + 2*x2**2 - 1", "x1, x2")
    return [
        lyactrl.ExponentialStability(pend, Vq, rate=0.3),
        lyactrl.ExponentialStability(lyactrl.NeuralSystem(net, 2), Vq, rate=0.1),
        lyactrl.ExponentialStability(loop, Vn, rate=0.5),
        lyactrl.BarrierCondition(lyactrl.LinearSystem([[-1.0, 2.0], [-2.0, -1.0]]), B, rate=1.0),
        lyactrl.ExponentialStability(
            lyactrl.ClosedLoop(
                lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]]),
                nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)).double(),
            ),
            lyactrl.SquaredError([0.0, 0.0]),
            rate=0.2,
        ),
    ]


@pytest.mark.parametrize("k", range(5))
@given(vals=st.lists(finite, min_size=4, max_size=4))
def test_residual_bounds_contain_samples(k: int, vals: list[float]) -> None:
    cond = _conditions()[k]
    lo, hi = _box(vals, 2)
    b = bound_residual(cond, lo, hi)
    pts = _samples(lo, hi)
    r = cond.residual(pts)
    assert bool((r >= b.lower).all() & (r <= b.upper).all())
    fb = bound_system(cond.system, lo, hi)
    f = cond.system(pts)
    assert bool((f >= fb.lower).all() & (f <= fb.upper).all())


def test_mean_value_form_is_tight_on_small_boxes() -> None:
    cond = _conditions()[0]
    c = torch.tensor([[0.7, -0.4]], dtype=D)
    widths = []
    for h in (1e-1, 1e-2, 1e-3):
        b = bound_residual(cond, c - h, c + h)
        widths.append(float(b.upper - b.lower))
    # width shrinks at least linearly: the mean-value form, not the loose natural extension
    assert widths[2] < 0.02 * widths[0]


def test_residual_and_gradient_exactly_zero_at_equilibrium() -> None:
    cond = _conditions()[0]
    z = torch.zeros(1, 2, dtype=D)
    jet = residual_jet(cond, Jet.variables(z, z, 1))
    assert float(jet.v[0][0]) == 0.0 == float(jet.v[1][0])
    assert bool((jet.d[0] == 0).all() & (jet.d[1] == 0).all())
    f = system_jet(cond.system, Jet.variables(z, z, 0))
    assert bool((f.v[0] == 0).all() & (f.v[1] == 0).all())


@given(a=st.lists(st.floats(-1e3, 1e3), min_size=6, max_size=6))
def test_rounding_encloses_exact_rational_results(a: list[float]) -> None:
    t = torch.tensor(a, dtype=D)
    lo_s, hi_s = iadd((t[:3], t[:3]), (t[3:], t[3:]))
    lo_p, hi_p = imul((t[:3], t[:3]), (t[3:], t[3:]))
    for i in range(3):
        s = Fraction(a[i]) + Fraction(a[3 + i])
        p = Fraction(a[i]) * Fraction(a[3 + i])
        assert Fraction(float(lo_s[i])) <= s <= Fraction(float(hi_s[i]))
        assert Fraction(float(lo_p[i])) <= p <= Fraction(float(hi_p[i]))
    W = t[:6].reshape(2, 3)
    x = t[3:].reshape(1, 3) * 1e-3 + 0.1
    lo, hi = ilinear(W, (x, x), b=torch.tensor([0.1, -0.3], dtype=D))
    for o in range(2):
        exact = sum(Fraction(float(W[o, k])) * Fraction(float(x[0, k])) for k in range(3))
        exact += Fraction(0.1 if o == 0 else -0.3)
        assert Fraction(float(lo[0, o])) <= exact <= Fraction(float(hi[0, o]))


def test_unsupported_module_names_operation_and_lists_supported() -> None:
    net = nn.Sequential(nn.Linear(2, 4), nn.GELU(), nn.Linear(4, 2)).double()
    cond = lyactrl.ExponentialStability(
        lyactrl.NeuralSystem(net, 2), lyactrl.Quadratic(torch.eye(2)), rate=0.1
    )
    with pytest.raises(lyactrl.UnsupportedOperationError, match=r"GELU.*nn\.Tanh"):
        bound_residual(cond, [[-1.0, -1.0]], [[1.0, 1.0]])

    class AbsNet(nn.Module):
        def forward(self, x):
            return -torch.atan(x)

    cond2 = lyactrl.ExponentialStability(
        lyactrl.NeuralSystem(AbsNet(), 2), lyactrl.Quadratic(torch.eye(2)), rate=0.1
    )
    with pytest.raises(
        lyactrl.UnsupportedOperationError, match=r"torch\.atan in AbsNet.*nn\.Linear"
    ):
        lyactrl.certify(cond2, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]))


def test_unsupported_sympy_operation() -> None:
    sys = lyactrl.SymbolicSystem(["-x1 + atan(x2)", "-x2"], "x1, x2")
    cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=0.1)
    with pytest.raises(
        lyactrl.UnsupportedOperationError, match=r"atan.*supported sympy operations.*sin"
    ):
        bound_residual(cond, [[-1.0, -1.0]], [[1.0, 1.0]])
    sys2 = lyactrl.SymbolicSystem(["-x1 + sqrt(x2**2 + 1) - 1", "-x2"], "x1, x2")
    cond2 = lyactrl.ExponentialStability(sys2, lyactrl.Quadratic(torch.eye(2)), rate=0.1)
    with pytest.raises(lyactrl.UnsupportedOperationError, match="not an integer"):
        bound_residual(cond2, [[-1.0, -1.0]], [[1.0, 1.0]])


def test_unsupported_candidate() -> None:
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    V = lyactrl.CrossEntropy(torch.tensor([0, 1]), n_classes=2)  # one label per row
    cond = lyactrl.ExponentialStability(sys, V, rate=0.1)
    with pytest.raises(lyactrl.UnsupportedOperationError, match="CrossEntropy"):
        bound_residual(cond, [[-1.0, -1.0]], [[1.0, 1.0]])


@given(
    label=st.integers(0, 2),
    vals=st.lists(st.floats(-30.0, 30.0), min_size=6, max_size=6),
)
def test_cross_entropy_enclosures(label: int, vals: list[float]) -> None:
    V = lyactrl.CrossEntropy(label, n_classes=3)
    lo, hi = _box(vals, 3)
    v, g = candidate_jets(V, Jet.variables(lo, hi, 1))
    pts = _samples(lo, hi, 200)
    assert _inside(V(pts), v.v, 1e-12) and _inside(V.grad(pts), g.v, 1e-12)
    b = bound_candidate(V, lo, hi)
    assert bool((V(pts) >= b.lower).all() & (V(pts) <= b.upper).all())


def test_lyanet_style_condition_with_cross_entropy_is_sound() -> None:
    class Pull(nn.Module):
        def forward(self, eta, ctx):
            return ctx - eta

    sys = lyactrl.NeuralSystem(Pull(), 3, inputs="x,context", context=[3.0, -1.0, 0.0])
    cond = lyactrl.ExponentialStability(sys, lyactrl.CrossEntropy(0, n_classes=3), rate=0.2)
    # far from the target logits the cross-entropy decreases fast: certified; on a box around
    # them it cannot decay exponentially (V > 0 at the target): falsified, as sampling agrees
    for box, expected in (
        (lyactrl.Box([-1.0, 0.0, -1.0], [0.0, 1.0, 0.0]), "certified"),
        (lyactrl.Box([-2.0, -2.0, -2.0], [4.0, 2.0, 2.0]), "falsified"),
    ):
        res = lyactrl.certify(cond, box, max_boxes=20_000)
        sample = lyactrl.check_sampled(
            cond, box, n_samples=20_000, generator=torch.Generator().manual_seed(0)
        )
        assert res.status == expected
        assert (sample.n_violations == 0) == (expected == "certified")


def test_constants_pi_e_and_integral_float_exponents() -> None:
    sys = lyactrl.SymbolicSystem(["-x1 + pi*x2**2.0", "-x2*E + Rational(1, 3)*x1"], "x1, x2")
    lo, hi = torch.tensor([[0.5, -0.5]], dtype=D), torch.tensor([[0.6, 0.25]], dtype=D)
    b = bound_system(sys, lo, hi)
    f = sys(_samples(lo, hi))
    assert bool((f >= b.lower).all() & (f <= b.upper).all())
    # constants that are not floats are enclosed, not rounded: the interval has width > 0
    z = torch.zeros(1, 2, dtype=D)
    c = bound_system(lyactrl.SymbolicSystem(["-x1 + pi*x1", "-x2"], "x1, x2"), z + 1, z + 1)
    assert float(c.upper[0, 0] - c.lower[0, 0]) > 0


class _Custom(nn.Module):
    """A custom forward with a context: traced with torch.fx by the certifier."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Linear(4, 6)
        self.l2 = nn.Linear(6, 2)
        self.a = nn.Parameter(torch.tensor(0.5))

    def forward(self, x, ctx):
        h = torch.tanh(self.l1(torch.cat([x, ctx], dim=-1)))
        y = -x * self.a + 0.3 * self.l2(h) - x**3 / 2
        return y + torch.nn.functional.softplus(x) - torch.sigmoid(x).sin() + torch.relu(-x)


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), vals=st.lists(finite, min_size=4, max_size=4))
def test_traced_custom_modules(seed: int, vals: list[float]) -> None:
    torch.manual_seed(seed)
    net = _Custom().double()
    sys = lyactrl.NeuralSystem(net, 2, inputs="x,context", context=[0.3, -0.2])
    lo, hi = _box(vals, 2)
    jet = system_jet(sys, Jet.variables(lo, hi, 1))
    pts = _samples(lo, hi)
    f = sys(pts).detach()
    jac = torch.autograd.functional.jacobian(lambda z: sys(z).sum(0), pts).permute(1, 0, 2)
    assert _inside(f, jet.v) and _inside(jac, jet.d)


def test_data_controlled_system_certifies() -> None:
    class Pull(nn.Module):
        def forward(self, eta, ctx):
            return ctx - eta

    target = [0.5, -0.25]
    sys = lyactrl.NeuralSystem(Pull(), 2, inputs="x,context", context=target)
    cond = lyactrl.ExponentialStability(sys, lyactrl.SquaredError(target), rate=1.5)
    res = lyactrl.certify(cond, lyactrl.Box([-2.0, -2.0], [2.0, 2.0]))
    assert res.status == "certified" and res.local_lo is not None
    bad = lyactrl.certify(cond.with_rate(2.5), lyactrl.Box([-2.0, -2.0], [2.0, 2.0]))
    assert bad.status == "falsified"
    unbound = lyactrl.NeuralSystem(Pull(), 2, inputs="x,context")
    with pytest.raises((lyactrl.UnsupportedOperationError, lyactrl.InvalidArgumentError)):
        bound_system(unbound, [[0.0, 0.0]], [[1.0, 1.0]])


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(-1e6, 1e6, allow_nan=False, width=64),
    b=st.floats(-1e6, 1e6, allow_nan=False, width=64),
)
def test_exact_float_sums_and_products_are_not_widened_and_others_enclose(a, b):
    from fractions import Fraction

    from lyactrl.bounds._rounding import add_dn, add_up, mul_dn, mul_up

    ta, tb = torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    for op, lo_f, hi_f in (
        (lambda x, y: x + y, add_dn, add_up),
        (lambda x, y: x * y, mul_dn, mul_up),
    ):
        exact = op(Fraction(a), Fraction(b))
        lo, hi = float(lo_f(ta, tb)[0]), float(hi_f(ta, tb)[0])
        assert Fraction(lo) <= exact <= Fraction(hi)  # sound
        in_range = all(x == 0 or 2.0**-400 <= abs(x) <= 2.0**400 for x in (a, b))
        if Fraction(float(op(ta, tb)[0])) == exact and (hi_f is not mul_up or in_range):
            assert lo == hi == float(exact)  # an exact float result is kept exact


def test_cancelling_terms_at_a_shifted_equilibrium_enclose_to_zero():
    s = lyactrl.SymbolicSystem(
        ["-1.0*x1 + 2.0*x2 + 1.0", "-x2 - 0.25"], "x1, x2", x_eq=[0.5, -0.25]
    )
    b = bound_system(s, [[0.5, -0.25]], [[0.5, -0.25]])
    assert b.lower.abs().max() == 0 and b.upper.abs().max() == 0
    V = lyactrl.Quadratic.from_linearization(s)
    res = lyactrl.certify(lyactrl.ExponentialStability(s, V, 0.3), lyactrl.Box([0, -1], [1, 0.5]))
    assert res.status == "certified"


def _vdp_neural_condition(seed: int) -> lyactrl.ExponentialStability:
    """A 2-16-16-1 tanh ``V`` (a ``ModuleCandidate``) on the reversed Van der Pol."""
    from tests.reference_systems import reversed_van_der_pol

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    V = lyactrl.ModuleCandidate(net.double().eval(), x_eq=[0.0, 0.0], n_states=2)
    return lyactrl.ExponentialStability(reversed_van_der_pol(), V, rate=0.1)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 1000),
    centre=st.lists(finite, min_size=2, max_size=2),
    radius=st.floats(1e-3, 0.5),
    splits=st.integers(2, 5),
)
def test_split_bounds_contain_samples_and_are_never_looser(seed, centre, radius, splits):
    """``splits = k``: the hull of the ``k^2`` pieces' bounds, intersected with the box's own,
    holds every sample and is inside the one-box bound."""
    cond = _vdp_neural_condition(seed)
    c = torch.tensor([centre], dtype=D)
    lo, hi = c - radius, c + radius
    one = bound_residual(cond, lo, hi)
    split = bound_residual(cond, lo, hi, splits=splits)
    r = cond.residual(_samples(lo, hi)).detach()
    assert float(split.lower[0]) <= float(r.min()) and float(r.max()) <= float(split.upper[0])
    assert float(one.lower[0]) <= float(split.lower[0]) <= float(split.upper[0])
    assert float(split.upper[0]) <= float(one.upper[0])
    assert bool((split.gradient_abs <= one.gradient_abs).all())


def test_split_bounds_approach_the_range():
    """The mean-value form's excess over the range shrinks like ``1 / k^2``: on a box of
    radius 0.1 (CROWN's published Vdot example), 8 x 8 pieces are within 15 % of the range on
    a 201 x 201 grid (an inner estimate), one box is not within 100 %."""
    cond = _vdp_neural_condition(0)
    c = torch.tensor([[-0.8, 0.3]], dtype=D)
    lo, hi = c - 0.1, c + 0.1
    g = torch.linspace(-0.1, 0.1, 201, dtype=D)
    r = cond.residual(c + torch.cartesian_prod(g, g)).detach()
    width = float(r.max() - r.min())
    ratios = []
    for k in (1, 2, 4, 8):
        b = bound_residual(cond, lo, hi, splits=k)
        ratios.append(float(b.upper[0] - b.lower[0]) / width)
    assert ratios == sorted(ratios, reverse=True)
    assert ratios[0] > 2.0 and 1.0 <= ratios[-1] < 1.15


@pytest.mark.parametrize("splits", [0, 2.0, True, 100])
def test_bad_splits_are_refused(splits):
    cond = _vdp_neural_condition(0)
    with pytest.raises(lyactrl.InvalidValueError, match="splits"):
        bound_residual(cond, [[0.0, 0.0]], [[0.1, 0.1]], splits=splits)
