"""Softmax jets (lyactrl.bounds): enclosures of value, gradient and Hessian; the certifier on
the LyaNet classifier's VertexDynamics with a CrossEntropy potential."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import lyactrl
from lyactrl.bounds import _functions as F
from lyactrl.bounds.jets import Jet, module_jet
from lyactrl.train import build_classifier

# samples are evaluated in float64, the enclosures are of the real value: allow float noise
_TOL = 1e-12


def _boxes(seed: int, batch: int, k: int, scale: float, width: float):
    g = torch.Generator().manual_seed(seed)
    c = scale * torch.randn(batch, k, generator=g, dtype=torch.float64)
    w = width * torch.rand(batch, k, generator=g, dtype=torch.float64)
    return c - w, c + w, g


def _samples(lo: torch.Tensor, hi: torch.Tensor, g: torch.Generator, m: int) -> torch.Tensor:
    """``m`` uniform points per box plus every box's two extreme corners per coordinate."""
    u = torch.rand(m, *lo.shape, generator=g, dtype=torch.float64)
    pts = lo + u * (hi - lo)  # (m, batch, k)
    k = lo.shape[1]
    corners = []
    for i in range(k):  # the corners where softmax_i is extreme
        a, b = hi.clone(), lo.clone()
        a[:, i], b[:, i] = lo[:, i], hi[:, i]
        corners += [a, b]
    return torch.cat([pts, torch.stack(corners)], 0)


def _encloses(bounds, values: torch.Tensor) -> bool:
    lo, hi = bounds
    tol = _TOL * (1.0 + values.abs())
    return bool(((lo - tol <= values) & (values <= hi + tol)).all())


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(2, 5),
    scale=st.sampled_from([0.5, 3.0, 30.0]),
    width=st.sampled_from([0.0, 0.01, 0.5, 3.0]),
)
def test_softmax_jet_encloses_values_gradients_and_hessians(seed, k, scale, width):
    lo, hi, g = _boxes(seed, 3, k, scale, width)
    jet = F.softmax(Jet.variables(lo, hi, 2))
    assert jet.v[0].shape == (3, k) and jet.d[0].shape == (3, k, k)
    assert jet.h[0].shape == (3, k, k, k)
    pts = _samples(lo, hi, g, 40)
    vals = torch.softmax(pts, dim=-1)
    assert _encloses(jet.v, vals)
    assert bool((jet.v[0] >= 0).all() and (jet.v[1] <= 1).all())
    flat = pts[:6].reshape(-1, k)  # autograd Jacobians and Hessians at samples
    rows = torch.arange(3).repeat(6)
    jac = torch.func.vmap(torch.func.jacrev(lambda z: torch.softmax(z, -1)))(flat)
    hes = torch.func.vmap(torch.func.hessian(lambda z: torch.softmax(z, -1)))(flat)
    d_lo, d_hi = jet.d[0][rows], jet.d[1][rows]
    h_lo, h_hi = jet.h[0][rows], jet.h[1][rows]
    assert _encloses((d_lo, d_hi), jac)
    assert _encloses((h_lo, h_hi), hes)


def test_softmax_value_range_is_tight_at_corners():
    lo = torch.tensor([[0.0, -1.0, 2.0]], dtype=torch.float64)
    hi = torch.tensor([[0.5, 1.0, 2.5]], dtype=torch.float64)
    jet = F.softmax(Jet.variables(lo, hi, 0))
    for i in range(3):
        a, b = hi.clone(), lo.clone()
        a[0, i], b[0, i] = lo[0, i], hi[0, i]
        torch.testing.assert_close(jet.v[0][0, i], torch.softmax(a, -1)[0, i], rtol=1e-12, atol=0)
        torch.testing.assert_close(jet.v[1][0, i], torch.softmax(b, -1)[0, i], rtol=1e-12, atol=0)


def test_softmax_through_a_network_encloses_autograd():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 4), nn.Softmax(dim=-1)).double()
    lo, hi, g = _boxes(1, 4, 2, 1.0, 0.3)
    jet = module_jet(net, Jet.variables(lo, hi, 1))
    pts = _samples(lo, hi, g, 30)
    with torch.no_grad():
        assert _encloses(jet.v, net(pts))
    flat = pts.reshape(-1, 2)
    rows = torch.arange(4).repeat(pts.shape[0])
    jac = torch.func.vmap(torch.func.jacrev(net))(flat)
    assert _encloses((jet.d[0][rows], jet.d[1][rows]), jac)


class _Soft(nn.Module):
    def __init__(self, how: str, dim: int = -1) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.how, self.dim = how, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.lin(x)
        if self.how == "torch":
            return torch.softmax(z, dim=self.dim)
        if self.how == "functional":
            return nn.functional.softmax(z, dim=self.dim)
        return z.softmax(self.dim)


@pytest.mark.parametrize("how", ["torch", "functional", "method"])
def test_traced_softmax_is_supported(how):
    torch.manual_seed(1)
    mod = _Soft(how).double()
    lo, hi, g = _boxes(2, 2, 3, 1.0, 0.2)
    jet = module_jet(mod, Jet.variables(lo, hi, 1))
    with torch.no_grad():
        assert _encloses(jet.v, mod(_samples(lo, hi, g, 30)))


@pytest.mark.parametrize("how", ["torch", "functional", "method"])
def test_softmax_over_the_batch_is_unsupported(how):
    mod = _Soft(how, dim=0).double()
    lo, hi, _ = _boxes(2, 2, 3, 1.0, 0.2)
    with pytest.raises(lyactrl.UnsupportedOperationError, match="softmax"):
        module_jet(mod, Jet.variables(lo, hi, 1))
    with pytest.raises(lyactrl.UnsupportedOperationError, match="Softmax"):
        module_jet(nn.Softmax(dim=0), Jet.variables(lo, hi, 1))


def test_softmax_is_listed_as_supported():
    sup = lyactrl.bounds.SUPPORTED
    assert any("Softmax" in s for s in sup["torch modules"])
    assert any("softmax" in s for s in sup["operations in a traced custom forward"])


def _classifier_condition(rate: float, y: int = 3):
    model = build_classifier((1, 8, 8), 10, seed=0)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    system = model.system_for(x)
    return lyactrl.ExponentialStability(system, model.potential_for(y), rate)


def _cross_check(cond, region, seed: int = 0):
    res = lyactrl.certify(cond, region, time_limit=20.0)
    assert res.status in ("certified", "falsified", "unknown")
    if res.status == "certified":
        chk = lyactrl.check_sampled(
            cond, region, n_samples=3000, generator=torch.Generator().manual_seed(seed)
        )
        assert chk.n_violations == 0
    if res.status == "falsified":
        assert float(res.counterexample_residuals[0]) > 0
        assert region.contains(res.counterexamples[:1]).all()
        with torch.no_grad():
            assert float(cond.evaluate(res.counterexamples[:1].double())[0]) > 0
    return res


def test_certify_vertex_dynamics_with_cross_entropy():
    """Logits pushed away from label 3 flow back towards the (near-uniform) soft vertex: V_3
    decreases there; around eta(0) = 0 it does not (the untrained flow ignores the label)."""
    cond = _classifier_condition(0.5)
    c = torch.full((10,), 5.0, dtype=torch.float64)
    c[3] = -5.0
    for w in (0.2, 2.0):
        res = _cross_check(cond, lyactrl.Box((c - w).tolist(), (c + w).tolist()))
        assert res.status == "certified"
    zero = torch.zeros(10, dtype=torch.float64)
    res = _cross_check(cond, lyactrl.Box((zero - 0.5).tolist(), (zero + 0.5).tolist()))
    assert res.status == "falsified"


def test_certify_vertex_dynamics_after_branching():
    """Cases that need bisection (thousands of boxes): a proof and a refutation."""
    c = torch.full((10,), 3.0, dtype=torch.float64)
    c[3] = -3.0
    box = lyactrl.Box((c - 1.5).tolist(), (c + 1.5).tolist())
    res = _cross_check(_classifier_condition(0.5), box, seed=1)
    assert res.status == "certified" and res.boxes_processed > 1
    c[3] = 0.0
    box = lyactrl.Box((c - 2.0).tolist(), (c + 2.0).tolist())
    res = _cross_check(_classifier_condition(1.0), box, seed=2)
    assert res.status == "falsified" and res.boxes_processed > 1
