"""Region geometry for the branch and bound (``lyactrl/verify/_geometry*.py``): Box, Ball and
Sublevel, and a new region type registered from this file (an axis-aligned ellipsoid), which
``lyactrl.certify`` then handles: a new region is one file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lyactrl
from lyactrl.verify import AbstractGeometry, register_geometry
from lyactrl.verify._geometry import geometry_of, may_intersect

T = torch.float64
seeds = st.integers(0, 2**31 - 1)


# --- a new region type, registered here ---------------------------------------------------------
class Ellipsoid(lyactrl.AbstractRegion):
    """``{x : sum ((x_i - c_i) / a_i)^2 <= 1}`` (semi-axes ``a`` along the coordinates)."""

    def __init__(self, center: Any, axes: Any) -> None:
        self.center = torch.as_tensor(center, dtype=T)
        self.axes = torch.as_tensor(axes, dtype=T)
        self.n_states = self.center.shape[0]

    def _q(self, x: torch.Tensor) -> torch.Tensor:
        return (((x - self.center.to(x)) / self.axes.to(x)) ** 2).sum(-1)

    def sample(self, n, *, generator=None, dtype=T, device=None):
        u = lyactrl.Ball(torch.zeros(self.n_states), 1.0).sample(n, generator=generator)
        return (self.center + self.axes * u).to(dtype=dtype, device=device)

    def contains(self, x: Any) -> torch.Tensor:
        return self._q(torch.as_tensor(x, dtype=T)) <= 1.0

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.bounding_box().project(x)

    def bounding_box(self) -> lyactrl.Box:
        return lyactrl.Box(self.center - self.axes, self.center + self.axes)

    def __repr__(self) -> str:
        return f"Ellipsoid({self.center.tolist()}, {self.axes.tolist()})"


class EllipsoidGeometry(AbstractGeometry):
    """The squared scaled distance from the centre, bounded exactly per coordinate."""

    def _range(self, region: Ellipsoid, lo: torch.Tensor, hi: torch.Tensor):
        c, a = region.center.to(lo), region.axes.to(lo)
        near = (torch.clamp(c, lo, hi) - c) / a
        far = torch.maximum((hi - c).abs(), (c - lo).abs()) / a
        return (near**2).sum(1), (far**2).sum(1)

    def may_intersect(self, region, lo, hi):
        return self._range(region, lo, hi)[0] <= 1.0 + 1e-12

    def boundary_pieces(self, region):
        empty = torch.zeros(0, region.n_states, dtype=T)
        return empty, empty.clone()

    def touches_boundary(self, region, lo, hi):
        return self._range(region, lo, hi)[1] >= 1.0 - 1e-12

    def boundary_points(self, region, lo, hi):
        c, a = region.center.to(lo), region.axes.to(lo)
        d = (0.5 * (lo + hi) - c) / a
        norm = d.norm(dim=1, keepdim=True)
        p = c + a * d / norm.clamp_min(1e-300)
        return p, ((p >= lo) & (p <= hi)).all(1) & (norm[:, 0] > 0)


register_geometry(Ellipsoid, EllipsoidGeometry())


# --- regions and boxes ----------------------------------------------------------------------------
def quadratic(rng: np.random.Generator, n: int) -> lyactrl.Quadratic:
    M = rng.normal(size=(n, n))
    return lyactrl.Quadratic(M @ M.T + 0.5 * np.eye(n))


def make_region(kind: str, rng: np.random.Generator, n: int) -> lyactrl.AbstractRegion:
    c = rng.uniform(-1, 1, size=n)
    if kind == "box":
        return lyactrl.Box(c - rng.uniform(0.1, 2, size=n), c + rng.uniform(0.1, 2, size=n))
    if kind == "ball":
        return lyactrl.Ball(c, rng.uniform(0.1, 2))
    if kind == "ellipsoid":
        return Ellipsoid(c, rng.uniform(0.1, 2, size=n))
    within = make_region("box" if kind == "sublevel-box" else "ball", rng, n)
    V = quadratic(rng, n)
    # the median of V on within: about half of within is in the set
    level = V.value(within.sample(256, generator=torch.Generator().manual_seed(1))).median()
    return lyactrl.Sublevel(V, float(level), within=within)


KINDS = ["box", "ball", "ellipsoid", "sublevel-box", "sublevel-ball"]


def boxes_around(rng: np.random.Generator, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random boxes holding the points ``x`` (some degenerate in some coordinates)."""
    shape = tuple(x.shape)
    below = torch.from_numpy(rng.exponential(0.3, size=shape) * (rng.random(shape) < 0.8))
    above = torch.from_numpy(rng.exponential(0.3, size=shape) * (rng.random(shape) < 0.8))
    return x - below, x + above


@pytest.mark.parametrize("kind", KINDS)
@given(seed=seeds, n=st.integers(1, 3))
def test_may_intersect_keeps_every_box_holding_a_point_of_the_region(kind, seed, n):
    rng = np.random.default_rng(seed)
    region = make_region(kind, rng, n)
    x = region.sample(64, generator=torch.Generator().manual_seed(seed))
    # and points of its boundary: projections of far points that land in the region
    far = region.project(x + torch.from_numpy(rng.normal(0.0, 5.0, size=tuple(x.shape))))
    x = torch.cat([x, far[region.contains(far)]])
    assert bool(region.contains(x).all())
    lo, hi = boxes_around(rng, x)
    assert bool(may_intersect(region, lo, hi).all())
    assert bool(may_intersect(region, x, x).all())  # the points themselves, as boxes


@pytest.mark.parametrize("kind", KINDS)
@given(seed=seeds, n=st.integers(1, 3))
def test_may_intersect_drops_boxes_far_from_the_region(kind, seed, n):
    rng = np.random.default_rng(seed)
    region = make_region(kind, rng, n)
    bb = region.bounding_box()
    shift = torch.zeros(n, dtype=T)
    shift[int(rng.integers(n))] = float((bb.hi - bb.lo).max()) + 0.1
    lo, hi = (bb.lo + shift)[None] + 0.05, (bb.hi + shift)[None]
    assert not bool(may_intersect(region, lo, hi).any())


def sphere_points(ball_center: torch.Tensor, radius: float, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(k, ball_center.shape[0], generator=g, dtype=T)
    return ball_center + radius * d / d.norm(dim=1, keepdim=True)


@given(seeds, st.integers(1, 3))
def test_ball_boundary_boxes_and_points(seed, n):
    rng = np.random.default_rng(seed)
    ball = make_region("ball", rng, n)
    geo = geometry_of(ball)
    lo, hi = boxes_around(rng, sphere_points(ball.center, ball.radius, 64, seed))
    # every box holding a point of the sphere is a boundary box
    assert bool(geo.touches_boundary(ball, lo, hi).all())
    # boxes strictly inside the ball are not
    inner = ball.center + 0.5 * ball.radius * torch.zeros(1, n, dtype=T)
    w = 0.1 * ball.radius
    assert not bool(geo.touches_boundary(ball, inner - w, inner + w).any())
    # the points returned lie on the sphere (within rounding) and in their box
    p, valid = geo.boundary_points(ball, lo, hi)
    assert bool(valid.any())
    dist = (p[valid] - ball.center).norm(dim=1)
    torch.testing.assert_close(dist, torch.full_like(dist, ball.radius), rtol=1e-12, atol=0.0)
    assert bool(((p[valid] >= lo[valid]) & (p[valid] <= hi[valid])).all())
    assert geo.boundary_pieces(ball)[0].shape == (0, n)


def _face_children(lo: torch.Tensor, hi: torch.Tensor, rng, rounds: int):
    """Random sub-boxes of the faces, by bisection (what the engine makes of the pieces)."""
    for _ in range(rounds):
        w = hi - lo
        d = torch.as_tensor(rng.integers(0, lo.shape[1], size=lo.shape[0]))
        rows = torch.arange(lo.shape[0])
        ok = w[rows, d] > 0
        mid = 0.5 * (lo[rows, d] + hi[rows, d])
        lo2, hi1 = lo.clone(), hi.clone()
        hi1[rows[ok], d[ok]] = mid[ok]
        lo2[rows[ok], d[ok]] = mid[ok]
        lo, hi = torch.cat([lo, lo2]), torch.cat([hi1, hi])
    return lo, hi


@given(seeds, st.integers(1, 3))
def test_box_faces_are_the_boundary_pieces_and_their_points_lie_on_a_face(seed, n):
    rng = np.random.default_rng(seed)
    box = make_region("box", rng, n)
    geo = geometry_of(box)
    plo, phi = geo.boundary_pieces(box)
    assert plo.shape == phi.shape == (2 * n, n)
    # each piece is one face: degenerate in one coordinate, at lo or hi, full in the others
    for i in range(2 * n):
        flat = (plo[i] == phi[i]).nonzero().flatten().tolist()
        assert flat == [i // 2]
        side = box.lo[i // 2] if i % 2 == 0 else box.hi[i // 2]
        assert plo[i, i // 2] == side
    lo, hi = _face_children(plo, phi, rng, rounds=4)
    assert bool(geo.touches_boundary(box, lo, hi).all())
    p, valid = geo.boundary_points(box, lo, hi)
    assert bool(valid.all())
    on_face = ((p == box.lo.to(p)) | (p == box.hi.to(p))).any(1)
    assert bool(on_face.all()) and bool(box.contains(p).all())
    assert bool(((p >= lo) & (p <= hi)).all())
    # a sampled point of the boundary lies in a piece (the pieces cover it)
    x = box.sample(32, generator=torch.Generator().manual_seed(seed))
    j = torch.as_tensor(rng.integers(0, n, size=32))
    side = torch.as_tensor(rng.random(32) < 0.5)
    x[torch.arange(32), j] = torch.where(side, box.lo[j], box.hi[j]).to(T)
    covered = ((plo[None] <= x[:, None]) & (x[:, None] <= phi[None])).all(2).any(1)
    assert bool(covered.all())
    # full-dimensional boxes are not boundary pieces
    assert not bool(geo.touches_boundary(box, box.lo[None], box.hi[None]).any())


@pytest.mark.parametrize("within", ["box", "ball"])
@given(seed=seeds, n=st.integers(1, 3))
def test_sublevel_boundary_is_its_within_boundary_inside_the_set(within, seed, n):
    rng = np.random.default_rng(seed)
    S = make_region(f"sublevel-{within}", rng, n)
    geo, inner = geometry_of(S), geometry_of(S.within)
    for a, b in zip(geo.boundary_pieces(S), inner.boundary_pieces(S.within), strict=True):
        assert torch.equal(a, b)
    if within == "box":
        lo, hi = _face_children(*inner.boundary_pieces(S.within), rng, rounds=3)
    else:
        lo, hi = boxes_around(rng, sphere_points(S.within.center, S.within.radius, 64, seed))
    assert torch.equal(geo.touches_boundary(S, lo, hi), inner.touches_boundary(S.within, lo, hi))
    p, valid = geo.boundary_points(S, lo, hi)
    q, valid_within = inner.boundary_points(S.within, lo, hi)
    assert torch.equal(p, q)
    assert torch.equal(valid, valid_within & S.contains(q))


def test_an_unregistered_region_type_raises_invalid_argument_error():
    class HalfSpace(lyactrl.AbstractRegion):
        n_states = 2

        def sample(self, n, *, generator=None, dtype=T, device=None):
            return -torch.rand(n, 2, generator=generator, dtype=dtype)

        def contains(self, x):
            return torch.as_tensor(x)[:, 0] <= 0

        def project(self, x):
            return x

        def bounding_box(self):
            return lyactrl.Box([-1.0, -1.0], [0.0, 1.0])

    region = HalfSpace()
    lo = torch.zeros(1, 2, dtype=T)
    with pytest.raises(lyactrl.InvalidArgumentError, match="HalfSpace") as info:
        may_intersect(region, lo, lo)
    for name in ("Ball", "Box", "Sublevel", "Ellipsoid"):
        assert name in str(info.value)
    cond = lyactrl.ExponentialStability(
        lyactrl.LinearSystem(-np.eye(2)), lyactrl.Quadratic(np.eye(2)), rate=1.0
    )
    with pytest.raises(lyactrl.InvalidArgumentError, match="region"):
        lyactrl.certify(cond, region, max_boxes=1000, time_limit=5.0)


# --- a new region is one file: certify on the ellipsoid -----------------------------------------
def coupled_system() -> lyactrl.SymbolicSystem:
    # with V = ||x||^2 and rate 1: residual = -||x||^2 + 4 x1^2 x2^2
    return lyactrl.SymbolicSystem(["-x1 + x1*x2**2", "-x2 + x2*x1**2"], "x1, x2")


def test_certify_on_a_registered_ellipsoid_and_check_by_sampling():
    cond = lyactrl.ExponentialStability(coupled_system(), lyactrl.Quadratic(np.eye(2)), rate=1.0)
    E = Ellipsoid([0.0, 0.0], [1.0, 0.8])
    cert = lyactrl.certify(cond, E, max_boxes=50_000, time_limit=20.0)
    assert cert.status == "certified", cert
    assert cert.region == repr(E) and cert.decay_bound is not None
    x = E.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert bool(E.contains(x).all())
    assert float(cond.residual(x).max()) <= 0.0
    # the certificate is about the ellipsoid, not its bounding box: there it is refuted
    corner = torch.tensor([[1.0, 0.8]], dtype=T)
    assert float(cond.residual(corner)[0]) > 0
    box = lyactrl.certify(cond, E.bounding_box(), max_boxes=50_000, time_limit=20.0)
    assert box.status == "falsified"
    assert bool((cond.residual(box.counterexamples) > 0).all())


def test_falsify_on_a_registered_ellipsoid_gives_states_inside_it():
    cond = lyactrl.ExponentialStability(coupled_system(), lyactrl.Quadratic(np.eye(2)), rate=1.0)
    E = Ellipsoid([0.5, 0.5], [0.6, 0.6])  # holds (0.95, 0.95), where 4 x1^2 x2^2 > ||x||^2
    cert = lyactrl.certify(cond, E, max_boxes=50_000, time_limit=20.0)
    assert cert.status == "falsified"
    cx = cert.counterexamples
    assert cx.shape[0] > 0 and bool(E.contains(cx).all())
    assert bool((cond.residual(cx) > 0).all())


def test_a_sublevel_set_within_a_registered_ellipsoid_is_proved_invariant():
    cond = lyactrl.ExponentialStability(coupled_system(), lyactrl.Quadratic(np.eye(2)), rate=1.0)
    S = lyactrl.Sublevel(cond.V, 0.4, within=Ellipsoid([0.0, 0.0], [1.0, 0.8]))
    cert = lyactrl.certify(cond, S, max_boxes=50_000, time_limit=20.0)
    # {||x||^2 <= 0.4} lies inside the ellipsoid, where V >= 0.64 > 0.4 on the boundary
    assert cert.status == "certified" and cert.invariant is True, cert
