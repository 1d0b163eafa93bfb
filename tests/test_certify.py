"""certify: soundness (never certify a false condition), known answers, budgets, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import lyactrl
from lyactrl.verify._boxed_equilibrium import (
    LOCAL_SEGMENT_PIECES,
    _box_eig,
    _radial_pieces,
    _segment_eig,
    _star_eig,
    _star_halves,
    jacobian_certificate,
    segment_bounds,
)
from lyactrl.verify._local import local_certificate
from tests.reference_systems import (
    ResidualMLPField,
    closed_form_rate,
    damped_pendulum,
    random_hurwitz,
    random_spd,
    random_unstable,
)

D = torch.float64


def _box(n: int, r: float = 1.0) -> lyactrl.Box:
    return lyactrl.Box([-r] * n, [r] * n)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 3), random_p=st.booleans())
def test_linear_rate_never_certified_above_closed_form(seed: int, n: int, random_p: bool) -> None:
    rng = np.random.default_rng(seed)
    A = random_hurwitz(rng, n)
    if random_p:
        P = random_spd(rng, n)
        best = lyactrl.best_quadratic_rate(A, P)
    else:
        P, best = closed_form_rate(A)
    sys = lyactrl.LinearSystem(A)
    V = lyactrl.Quadratic(P)
    box = _box(n)
    if best > 0:
        below = lyactrl.certify(lyactrl.ExponentialStability(sys, V, 0.95 * best), box)
        assert below.status == "certified"
        assert below.decay_bound is not None
        eig = np.linalg.eigvalsh(P)
        assert below.decay_bound.c == pytest.approx(np.sqrt(eig[-1] / eig[0]), rel=1e-9)
    above_rate = 1.05 * best if best > 0 else 0.05
    above = lyactrl.certify(lyactrl.ExponentialStability(sys, V, above_rate), box, max_boxes=20_000)
    assert above.status != "certified"
    if above.status == "falsified":
        cx = above.counterexamples[:1]
        assert float(lyactrl.ExponentialStability(sys, V, above_rate).residual(cx)[0]) > 0


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 3))
def test_unstable_systems_never_certify(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    sys = lyactrl.LinearSystem(random_unstable(rng, n))
    V = lyactrl.Quadratic(random_spd(rng, n))
    res = lyactrl.certify(lyactrl.ExponentialStability(sys, V, 0.01), _box(n), max_boxes=20_000)
    assert res.status in ("falsified", "unknown")


def test_unstable_pocket_is_not_certified() -> None:
    # a stable system with a small bump that pushes away from 0 near (0.5, 0)
    bump = "4*exp(-200*((x1 - 1/2)**2 + x2**2))"
    sys = lyactrl.SymbolicSystem([f"-x1 + {bump}", "-x2"], "x1, x2")
    V = lyactrl.Quadratic(torch.eye(2, dtype=D))
    cond = lyactrl.ExponentialStability(sys, V, rate=0.5)
    # sampling can miss the pocket; the certifier must not
    res = lyactrl.certify(cond, _box(2))
    assert res.status == "falsified"
    assert float(cond.residual(res.counterexamples[:1]).detach()[0]) > 0
    assert float(res.counterexample_residuals[0]) > 0
    smooth = lyactrl.SymbolicSystem(["-x1", "-x2"], "x1, x2")
    ok = lyactrl.certify(lyactrl.ExponentialStability(smooth, V, rate=0.5), _box(2))
    assert ok.status == "certified"


def test_pendulum_local_certificate_and_region() -> None:
    pend = damped_pendulum()
    V = lyactrl.Quadratic.from_linearization(pend)
    A = lyactrl.linearize(pend).numpy()
    best = lyactrl.best_quadratic_rate(A, V.P)
    cond = lyactrl.ExponentialStability(pend, V, rate=0.5 * best)
    loc = local_certificate(cond, torch.ones(2, dtype=D))
    assert loc.status == "certified" and loc.eig_bound < 0
    # the local box is real: the residual is <= 0 on samples inside it
    pts = loc.lo + (loc.hi - loc.lo) * torch.rand(
        2000, 2, dtype=D, generator=torch.Generator().manual_seed(0)
    )
    assert bool((cond.residual(pts) <= 0).all())
    res = lyactrl.certify(cond, _box(2))
    assert res.status == "certified"
    assert res.local_lo is not None
    # above the linearisation's best rate the residual is positive near 0: never certified
    bad = lyactrl.certify(lyactrl.ExponentialStability(pend, V, rate=1.02 * best), _box(2))
    assert bad.status == "falsified"
    assert (
        local_certificate(
            lyactrl.ExponentialStability(pend, V, rate=1.02 * best), torch.ones(2, dtype=D)
        ).status
        == "unknown"
    )


def test_regions_ball_and_sublevel() -> None:
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(vdp)
    cond = lyactrl.ExponentialStability(vdp, V, rate=0.1)
    # the box [-1, 1]^2 is too large (falsified), the ball of radius 0.8 and a sublevel set hold
    assert lyactrl.certify(cond, _box(2)).status == "falsified"
    assert lyactrl.certify(cond, lyactrl.Ball([0.0, 0.0], 0.8)).status == "certified"
    S = lyactrl.Sublevel(V, 1.0, within=lyactrl.Box([-2.5, -3.5], [2.5, 3.5]))
    res = lyactrl.certify(cond, S)
    assert res.status == "certified"
    assert res.decay_bound is not None and res.decay_bound.alpha == pytest.approx(0.05)


def test_barrier_condition() -> None:
    sys = lyactrl.LinearSystem([[-1.0, 2.0], [-2.0, -1.0]])
    B = lyactrl.SymbolicCandidate("x1**2 + x2**2 - 1", "x1, x2")
    # residual = -2|x|^2 + rate (|x|^2 - 1) < 0 for rate < 2 on any box
    good = lyactrl.certify(lyactrl.BarrierCondition(sys, B, rate=1.0), _box(2, 3.0))
    assert good.status == "certified" and good.decay_bound is None
    bad = lyactrl.certify(lyactrl.BarrierCondition(sys, B, rate=3.0), _box(2, 3.0))
    assert bad.status == "falsified"


def test_neural_candidate_and_controller() -> None:
    plant = lyactrl.SymbolicSystem(["x2", "sin(x1) + u"], "x1, x2", inputs="u")
    ctrl = nn.Sequential(nn.Linear(2, 1, bias=False)).double()
    with torch.no_grad():
        ctrl[0].weight.copy_(torch.tensor([[-4.0, -3.0]]))
    loop = lyactrl.ClosedLoop(plant, ctrl)
    V = lyactrl.NeuralLyapunov(
        2, hidden=(8, 4), eps=1.0, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():  # phi constant: V = |x|^2, gradient still flows through the layers
        V.phi[-1].weight.zero_()
    Vq = lyactrl.Quadratic.from_linearization(loop)
    for cand in (V, Vq):
        res = lyactrl.certify(lyactrl.ExponentialStability(loop, cand, rate=0.2), _box(2, 0.5))
        if res.status == "certified":
            check = lyactrl.check_sampled(
                lyactrl.ExponentialStability(loop, cand, rate=0.2),
                _box(2, 0.5),
                n_samples=20_000,
                generator=torch.Generator().manual_seed(0),
            )
            assert check.n_violations == 0
    res = lyactrl.certify(lyactrl.ExponentialStability(loop, Vq, rate=0.2), _box(2, 0.5))
    assert res.status == "certified"


@settings(max_examples=8)
@given(seed=st.integers(0, 10_000))
def test_random_neural_candidates_sound(seed: int) -> None:
    sys = lyactrl.LinearSystem([[-1.0, 1.0], [-1.0, -1.0]])
    V = lyactrl.NeuralLyapunov(2, hidden=(6, 6), generator=torch.Generator().manual_seed(seed))
    cond = lyactrl.ExponentialStability(sys, V, rate=0.1)
    res = lyactrl.certify(cond, _box(2, 0.5), max_boxes=3000)
    if res.status == "certified":
        check = lyactrl.check_sampled(
            cond, _box(2, 0.5), n_samples=20_000, generator=torch.Generator().manual_seed(1)
        )
        assert check.n_violations == 0
    elif res.status == "falsified":
        assert float(cond.residual(res.counterexamples[:1]).detach()[0]) > 0


def test_zero_budget_is_unknown_not_an_error() -> None:
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    for kwargs in ({"max_boxes": 0}, {"time_limit": 0.0}):
        res = lyactrl.certify(cond, _box(2), **kwargs)
        assert res.status == "unknown"
        assert res.undecided_lo.shape == (1, 2)
    # a tiny budget on a hard problem: unknown with the undecided boxes reported
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(vdp)
    res = lyactrl.certify(
        lyactrl.ExponentialStability(vdp, V, 0.1),
        lyactrl.Ball([0.0, 0.0], 0.8),
        max_boxes=3,
        local=False,
    )
    assert res.status == "unknown" and res.undecided_lo.shape[0] >= 1


def test_result_to_dict_and_bad_arguments() -> None:
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    res = lyactrl.certify(cond, _box(2))
    d = res.to_dict()
    json.dumps(d)
    assert d["status"] == "certified" and d["method"] == "certify"
    assert "eps" in d["fp_margin"] and d["decay_bound"]["c"] == pytest.approx(1.0)
    with pytest.raises(lyactrl.UnknownArgumentError):
        lyactrl.certify(cond, _box(2), max_box=3)
    with pytest.raises(lyactrl.InvalidValueError):
        lyactrl.certify(cond, _box(2), max_boxes=-1)
    with pytest.raises(lyactrl.InvalidValueError):
        lyactrl.certify(cond, _box(3))
    with pytest.raises(lyactrl.InvalidArgumentError):
        lyactrl.certify(cond, "box")


@settings(max_examples=10)
@given(
    seed=st.integers(0, 2**31 - 1),
    coeffs=st.lists(st.floats(-2.0, 2.0), min_size=4, max_size=4),
    rate_frac=st.floats(0.05, 0.9),
)
def test_random_nonlinear_systems_agree_with_sampling(
    seed: int, coeffs: list[float], rate_frac: float
) -> None:
    A = random_hurwitz(np.random.default_rng(seed), 2)
    a, b, c, d = coeffs
    sys = lyactrl.SymbolicSystem(
        [
            f"{A[0, 0]}*x1 + {A[0, 1]}*x2 + {a}*x1*x2 + {b}*sin(x2)**3",
            f"{A[1, 0]}*x1 + {A[1, 1]}*x2 + {c}*x1**3 + {d}*x1*tanh(x2)",
        ],
        "x1, x2",
    )
    V = lyactrl.Quadratic.from_linearization(sys)
    best = lyactrl.verify.local_rate_limit(sys, V)
    cond = lyactrl.ExponentialStability(sys, V, rate_frac * best)
    box = _box(2, 0.8)
    res = lyactrl.certify(cond, box, max_boxes=20_000)
    sample = lyactrl.check_sampled(
        cond, box, n_samples=20_000, generator=torch.Generator().manual_seed(seed % 1000)
    )
    if res.status == "certified":
        assert sample.n_violations == 0
    if res.status == "falsified":
        assert float(cond.residual(res.counterexamples[:1]).detach()[0]) > 0
    if sample.n_violations:
        assert res.status != "certified"


def test_float32_bias_free_network_system() -> None:
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Tanh())  # float32 weights
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[-1.0, 0.5], [-0.5, -1.0]]))
    sys = lyactrl.NeuralSystem(net, 2)
    V = lyactrl.Quadratic(torch.eye(2, dtype=D))
    # f(0) = tanh(0) = 0 exactly, so the local certificate applies; tanh(s) s <= s^2 keeps
    # the decrease of the linear part away from 0
    res = lyactrl.certify(lyactrl.ExponentialStability(sys, V, rate=0.5), _box(2))
    assert res.status == "certified" and res.local_lo is not None
    bad = lyactrl.certify(lyactrl.ExponentialStability(sys, V, rate=2.5), _box(2))
    assert bad.status == "falsified"


def _residual_mlp(n: int, fraction: float) -> lyactrl.ExponentialStability:
    system = lyactrl.NeuralSystem(ResidualMLPField(n, seed=n), n)
    eq = lyactrl.find_equilibrium(system, torch.zeros(n, dtype=D))
    system = lyactrl.NeuralSystem(system.module, n, x_eq=eq.x)
    V = lyactrl.Quadratic.from_linearization(system)
    rate = fraction * lyactrl.verify.local_rate_limit(system, V)
    return lyactrl.ExponentialStability(system, V, rate, x_eq_box=eq)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.integers(1, 5))
def test_star_halves_cover_the_box_and_hold_the_equilibrium_box(seed: int, cuts: int) -> None:
    """Cut ``min(cuts, n)`` times at ``x0`` (every piece each time): the pieces hold ``E`` (so every
    segment from ``x*`` to a piece's point stays in it), cover the box without overlap, and
    after ``n`` cuts they are the ``2^n`` orthant boxes, each with a corner at ``x0``."""
    g = torch.Generator().manual_seed(seed)
    n = 3
    x0 = torch.randn(1, n, generator=g, dtype=D)
    r = 0.05 + torch.rand(1, n, generator=g, dtype=D)
    lo_e, hi_e = x0 - 1e-9, x0 + 1e-9
    lo, hi = x0 - r, x0 + r
    cut = torch.zeros(1, n, dtype=torch.bool)
    k = min(cuts, n)
    for _ in range(k):
        lo, hi, cut = _star_halves(lo, hi, cut, x0, lo_e, hi_e)
    assert lo.shape == (2**k, n) and bool((cut.sum(1) == k).all())
    assert bool(((lo <= lo_e) & (hi_e <= hi)).all())
    x = x0 + r * (2 * torch.rand(2000, n, generator=g, dtype=D) - 1)
    inside = ((x.unsqueeze(1) >= lo) & (x.unsqueeze(1) <= hi)).all(-1)
    assert bool(inside.any(1).all())
    assert torch.allclose((hi - lo).prod(1).sum(), (2 * r).prod(), rtol=1e-6)  # no overlap
    if k == n:  # orthants: x0 is a corner of each
        at_corner = (torch.isclose(lo, x0, atol=2e-9) | torch.isclose(hi, x0, atol=2e-9)).all(1)
        assert bool(at_corner.all())


def test_star_split_jacobian_certificate_where_both_box_tests_fail() -> None:
    """A 4-64-64-4 network with biases, half its local rate on x_eq +- 0.7: the Jacobian test
    on the whole box fails, and so does the averaged-Jacobian test along the segments; on the
    pieces of its star split (cut at x_eq) the certificate holds, so it covers the box and
    certify needs one box; dense sampling agrees (the condition holds)."""
    cond = _residual_mlp(4, 0.5)
    x0 = cond.x_eq.unsqueeze(0)
    lo_e, hi_e = (t.reshape(1, -1) for t in cond.x_eq_box)
    r = 0.7
    assert float(_box_eig(cond, x0 - r, x0 + r)[0]) > 0
    assert float(_segment_eig(cond, x0 - r, x0 + r, LOCAL_SEGMENT_PIECES)[0]) > 0
    assert _star_eig(cond, x0 - r, x0 + r, x0, lo_e, hi_e) < 0
    loc = jacobian_certificate(cond, torch.full((4,), r, dtype=D))
    assert loc.status == "certified" and float((loc.hi - cond.x_eq).min()) == pytest.approx(r)
    region = lyactrl.Box(cond.x_eq - r, cond.x_eq + r)
    res = lyactrl.certify(cond, region, decay=False)
    assert res.status == "certified" and res.boxes_processed <= 1
    x = cond.x_eq + r * (2 * torch.rand(100_000, 4, dtype=D) - 1)
    assert float(cond.residual(x).detach().max()) <= 0
    # a rate above the linearisation's limit is never certified near x_eq
    over = _residual_mlp(4, 1.05)
    assert jacobian_certificate(over, torch.full((4,), 0.3, dtype=D)).status == "unknown"
    assert lyactrl.certify(over, region, decay=False, time_limit=20).status != "certified"


def test_averaged_jacobian_proves_the_box_where_the_box_enclosure_fails() -> None:
    """On x_eq +- 0.3 (same network, half its local rate) the Jacobian enclosure of the whole
    box fails the eigenvalue test; the Jacobian averaged along the segments from ``E`` (the
    mean of the enclosures on the radial cover, tight near ``E``) passes, and never above
    the linearisation's limit."""
    cond = _residual_mlp(4, 0.5)
    x0 = cond.x_eq.unsqueeze(0)
    assert float(_box_eig(cond, x0 - 0.3, x0 + 0.3)[0]) > 0
    assert float(_segment_eig(cond, x0 - 0.3, x0 + 0.3, 4)[0]) < 0
    small = 1e-3
    over = _residual_mlp(4, 1.05)
    assert float(_segment_eig(over, x0 - small, x0 + small, LOCAL_SEGMENT_PIECES)[0]) > 0


def test_segment_bounds_prove_boxes_at_the_equilibrium_only_where_it_holds() -> None:
    """A box with ``x_eq`` at a corner: the residual's own bounds cannot be negative (it
    vanishes at ``x*``); the mean-value argument along the segments from ``E`` proves it, and
    never for a rate above the linearisation's limit."""
    from lyactrl.bounds import bound_residual

    x0 = _residual_mlp(4, 0.5).x_eq.unsqueeze(0)
    lo, hi = torch.cat([x0, x0 - 0.1]), torch.cat([x0 + 0.1, x0])
    for fraction, proved in ((0.5, True), (1.05, False)):
        cond = _residual_mlp(4, fraction)
        own = bound_residual(cond, lo, hi)
        assert bool((own.upper > 0).all())
        got = segment_bounds(cond, own, lo, hi)
        assert bool((got.upper <= 0).all()) is proved
        assert torch.equal(got.lower, own.lower)


def test_jacobian_certificate_past_its_deadline_keeps_the_box_proved_so_far() -> None:
    cond = _residual_mlp(4, 0.5)
    w = torch.full((4,), 0.7, dtype=D)
    late = jacobian_certificate(cond, w, deadline=0.0)  # long past: no star split
    assert late.status == "certified"
    assert float((late.hi - cond.x_eq).max()) < 0.7
    assert float((jacobian_certificate(cond, w).hi - cond.x_eq).max()) == pytest.approx(0.7)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 6))
def test_radial_pieces_cover_every_segment_from_the_equilibrium_box(seed: int, m: int) -> None:
    g = torch.Generator().manual_seed(seed)
    lo_e = torch.randn(1, 3, generator=g, dtype=D)
    hi_e = lo_e + 0.1 * torch.rand(1, 3, generator=g, dtype=D)
    lo = 3 * torch.randn(2, 3, generator=g, dtype=D)
    hi = lo + torch.rand(2, 3, generator=g, dtype=D)
    p_lo, p_hi = _radial_pieces(lo, hi, lo_e, hi_e, m)
    assert p_lo.shape == (m, 2, 3)
    e = lo_e + (hi_e - lo_e) * torch.rand(500, 2, 3, generator=g, dtype=D)
    x = lo + (hi - lo) * torch.rand(500, 2, 3, generator=g, dtype=D)
    t = torch.rand(500, 1, 1, generator=g, dtype=D)
    y = (1 - t) * e + t * x
    k = (t * m).floor().long().clamp(max=m - 1).reshape(-1)
    assert bool(((y >= p_lo[k]) & (y <= p_hi[k])).all())
