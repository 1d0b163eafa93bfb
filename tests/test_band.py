"""The band premise: Decrease (grad V . f <= tol) on Band (c1 <= V <= c2), closed forms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lyactrl
from lyactrl.verify._counterexamples import prove_counterexamples
from lyactrl.verify._geometry import may_intersect, proved_inside

D = torch.float64
BOX = lyactrl.Box([-2.0, -2.0], [2.0, 2.0])
V = lyactrl.SymbolicCandidate("x1**2 + x2**2", "x1, x2")
# radial field f = x (V/2 - 1): grad V . f = 2 V (V/2 - 1) = V (V - 2), < 0 exactly on 0 < V < 2
RADIAL = lyactrl.SymbolicSystem(
    ["x1*((x1**2 + x2**2)/2 - 1)", "x2*((x1**2 + x2**2)/2 - 1)"], "x1, x2"
)


def vdot(x: torch.Tensor) -> torch.Tensor:
    v = (x**2).sum(1)
    return v * (v - 2.0)


class ShiftedEnergy(nn.Module):
    """``||x||^2 + 3``, a module whose value is not 0 at its minimum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x**2).sum(-1) + 3.0


def test_band_is_the_annulus_and_samples_lie_in_it():
    band = lyactrl.Band(V, 0.25, 1.0, within=BOX)
    x = band.sample(500, generator=torch.Generator().manual_seed(0))
    r2 = (x**2).sum(1)
    assert bool(((r2 >= 0.25) & (r2 <= 1.0)).all())
    assert band.contains([[0.0, 0.0], [0.7, 0.0], [1.5, 0.0]]).tolist() == [False, True, False]
    assert band.bounding_box() is BOX


def test_band_filter_keeps_every_box_that_meets_the_annulus():
    band = lyactrl.Band(V, 0.25, 1.0, within=BOX)
    lo = torch.tensor([[-0.1, -0.1], [1.2, 1.2], [0.4, -0.1], [0.3, 0.3]], dtype=D)
    keep = may_intersect(band, lo, lo + 0.2)
    # inside the inner disc, outside the outer one: dropped; crossing or inside the annulus: kept
    assert keep.tolist() == [False, False, True, True]


def test_decrease_residual_is_the_derivative_minus_the_tolerance():
    cond = lyactrl.Decrease(RADIAL, V, tol=1e-3)
    x = torch.tensor([[0.5, 0.0], [1.0, 1.0], [0.0, 1.8]], dtype=D)
    torch.testing.assert_close(cond.residual(x), vdot(x) - 1e-3)
    assert cond.x_eq is None and cond.rate == 0.0
    assert "tol=0.001" in repr(cond)
    assert cond.replace(margin=0.5).residual(x[:1]).item() == pytest.approx(
        vdot(x[:1]).item() + 0.499
    )
    with pytest.raises(lyactrl.InvalidValueError, match="rate"):
        cond.replace(rate=0.1)
    with pytest.raises(lyactrl.InvalidValueError, match="c2"):
        lyactrl.Band(V, 1.0, 0.5, within=BOX)


def test_certified_on_a_band_where_the_closed_form_is_negative():
    res = lyactrl.certify(lyactrl.Decrease(RADIAL, V), lyactrl.Band(V, 0.25, 1.9, within=BOX))
    assert res.status == "certified"
    assert "Decrease" in res.condition and "Band" in res.region


def test_falsified_with_a_proved_counterexample_inside_the_band():
    c1, c2 = 0.25, 3.0  # violated on 2 < V <= 3
    band = lyactrl.Band(V, c1, c2, within=BOX)
    res = lyactrl.certify(lyactrl.Decrease(RADIAL, V), band)
    assert res.status == "falsified"
    x = res.counterexamples
    v = (x**2).sum(1)
    assert bool(((v >= c1) & (v <= c2)).all()) and bool((vdot(x) > 0).all())


def test_a_module_without_equilibrium_keeps_its_offset_and_certifies_the_shifted_band():
    W = lyactrl.ModuleCandidate(ShiftedEnergy(), x_eq=None, n_states=2)
    assert W.value(torch.zeros(1, 2, dtype=D)).item() == 3.0
    assert "x_eq=None" in repr(W)
    good = lyactrl.certify(lyactrl.Decrease(RADIAL, W), lyactrl.Band(W, 3.25, 4.9, within=BOX))
    assert good.status == "certified"
    bad = lyactrl.certify(lyactrl.Decrease(RADIAL, W), lyactrl.Band(W, 3.25, 6.0, within=BOX))
    assert bad.status == "falsified"
    assert bool((vdot(bad.counterexamples) > 0).all())


def test_the_tolerance_decides_a_band_through_a_near_equilibrium():
    # a drift (0, eps) makes grad V . f = V (V - 2) + 2 eps x2 positive near 0, at most
    # ~ eps^2 / 2 = 5e-7: falsified with tol = 0 (proved), certified with tol = 1e-6
    eps = 1e-3
    drift = lyactrl.SymbolicSystem(
        ["x1*((x1**2 + x2**2)/2 - 1)", f"x2*((x1**2 + x2**2)/2 - 1) + {eps}"],
        "x1, x2",
        check_equilibrium=False,
    )
    band = lyactrl.Band(V, -1.0, 1.0, within=BOX)
    strict = lyactrl.certify(lyactrl.Decrease(drift, V), band, time_limit=20.0)
    assert strict.status == "falsified"
    x = strict.counterexamples
    assert bool((vdot(x) + 2 * eps * x[:, 1] > 0).all())
    loose = lyactrl.certify(lyactrl.Decrease(drift, V, tol=1e-6), band, time_limit=20.0)
    assert loose.status == "certified" and "tol=1e-06" in loose.condition


@pytest.mark.parametrize("c2", [1.5, 1.99, 2.5, 3.9])
def test_status_agrees_with_the_closed_form_sign(c2):
    res = lyactrl.certify(
        lyactrl.Decrease(RADIAL, V), lyactrl.Band(V, 0.5, c2, within=BOX), time_limit=5.0
    )
    if res.status == "certified":
        assert c2 < 2.0
    if res.status == "falsified":
        assert c2 > 2.0
    assert res.status != "unknown" or abs(c2 - 2.0) < 0.05


def test_a_violation_counts_only_where_its_band_membership_is_proved():
    # at (0.1, 0) V = 0.1^2 is c2 = 0.01 only up to rounding: its enclosure straddles c2
    band = lyactrl.Band(V, 0.001, 0.01, within=BOX)
    pts = torch.tensor([[0.1, 0.0], [0.05, 0.0]], dtype=D)
    assert proved_inside(band, pts).tolist() == [False, True]
    # a condition violated everywhere (grad V . f = 2 ||x||^2 > 0 away from 0)
    cond = lyactrl.Decrease(lyactrl.LinearSystem([[1.0, 0.0], [0.0, 1.0]]), V)
    r = cond.residual(pts)
    assert prove_counterexamples(cond, pts, r).proved.tolist() == [True, True]
    found = prove_counterexamples(cond, pts, r, band)
    assert found.states[found.proved].tolist() == [[0.05, 0.0]]
    edge = prove_counterexamples(cond, pts[:1], r[:1], band)
    assert not edge.any_proved and "region" in edge.message


def test_a_sublevel_counterexample_needs_proved_membership_too():
    S = lyactrl.Sublevel(V, 0.01, within=BOX)  # (0.1, 0) lies on {V = 0.01} up to rounding
    pts = torch.tensor([[0.1, 0.0], [0.05, 0.0]], dtype=D)
    assert proved_inside(S, pts).tolist() == [False, True]
