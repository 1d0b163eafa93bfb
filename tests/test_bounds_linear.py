"""Linear relaxations of MLPs (``bounds._linear``): sound, never looser than interval jets, and
tight where interval arithmetic loses the correlation between units."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lyactrl.bounds._linear import mlp_hessian_bounds, mlp_jacobian_bounds, mlp_linear_bounds
from lyactrl.bounds._torch import relaxed_enclosures
from lyactrl.bounds.jets import Jet, module_jet, relaxed_mlps

D = torch.float64


def _mlp(seed: int, n: int, width: int, m: int, act: type[nn.Module]) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(n, width), act(), nn.Linear(width, width), act(), nn.Linear(width, m)
    )
    return net.double()


def _boxes(seed: int, n: int, k: int, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    c = 2 * torch.rand(k, n, generator=g, dtype=D) - 1
    r = radius * torch.rand(k, n, generator=g, dtype=D)
    return c - r, c + r


def _random_networks_and_boxes(test):
    """Run ``test`` on random MLPs (seed, input size, width, activation) and boxes (radius)."""
    return settings(max_examples=25, deadline=None)(
        given(
            seed=st.integers(0, 10_000),
            n=st.integers(1, 4),
            width=st.integers(1, 12),
            radius=st.floats(1e-3, 1.0),
            act=st.sampled_from([nn.Tanh, nn.Sigmoid, nn.Identity]),
        )(test)
    )


def _interval(net: nn.Sequential, lo: torch.Tensor, hi: torch.Tensor, order: int = 0) -> Jet:
    """The interval jet of the net, layer by layer (no relaxation)."""
    x = Jet.variables(lo, hi, order)
    for layer in net:
        x = module_jet(layer, x)
    return x


def _points(lo: torch.Tensor, hi: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """``k`` random points in each box, shape ``(boxes, k, n)``."""
    g = torch.Generator().manual_seed(seed)
    return lo.unsqueeze(1) + (hi - lo).unsqueeze(1) * torch.rand(
        lo.shape[0], k, lo.shape[1], generator=g, dtype=D
    )


def _assert_tight_holds_samples(tight, loose, samples: torch.Tensor) -> None:
    """``tight`` (per box) lies inside ``loose`` and holds every sample (axis 1 of
    ``samples``)."""
    assert bool((tight[0] >= loose[0]).all() and (tight[1] <= loose[1]).all())
    assert bool((tight[0] <= samples.amin(1)).all() and (tight[1] >= samples.amax(1)).all())


@_random_networks_and_boxes
def test_contains_samples_and_never_looser_than_intervals(seed, n, width, radius, act):
    net = _mlp(seed, n, width, 2, act)
    lo, hi = _boxes(seed, n, 6, radius)
    b_lo, b_hi = mlp_linear_bounds(list(net), lo, hi, relaxed_enclosures)
    x = _points(lo, hi, 200, seed + 1)
    with torch.no_grad():
        y = net(x)
    assert bool((y >= b_lo.unsqueeze(1)).all() and (y <= b_hi.unsqueeze(1)).all())
    i_lo, i_hi = _interval(net, lo, hi).v
    slack = 1e-9 * (1 + i_lo.abs() + i_hi.abs())
    assert bool((b_lo >= i_lo - slack).all() and (b_hi <= i_hi + slack).all())
    # through module_jet on the box's own coordinates, the intersection is never looser at all
    with relaxed_mlps():
        j = module_jet(net, Jet.variables(lo, hi, 1))
    assert bool((j.v[0] >= i_lo).all() and (j.v[1] <= i_hi).all())
    assert bool((j.v[0] <= y.amin(1)).all() and (j.v[1] >= y.amax(1)).all())


def test_one_neuron_is_the_exact_range():
    """``y = 1 - 3 tanh(2 x + 0.5)`` on ``[-1, 1]``: monotone, so its range is
    ``[1 - 3 tanh(2.5), 1 - 3 tanh(-1.5)]``; the bound is that up to rounding margins."""
    net = nn.Sequential(nn.Linear(1, 1), nn.Tanh(), nn.Linear(1, 1)).double()
    with torch.no_grad():
        net[0].weight.fill_(2.0), net[0].bias.fill_(0.5)
        net[2].weight.fill_(-3.0), net[2].bias.fill_(1.0)
    lo, hi = mlp_linear_bounds(
        list(net),
        torch.tensor([[-1.0]], dtype=D),
        torch.tensor([[1.0]], dtype=D),
        relaxed_enclosures,
    )
    exact = (1 - 3 * math.tanh(2.5), 1 - 3 * math.tanh(-1.5))
    assert exact[0] - 1e-9 < float(lo) <= exact[0]
    assert exact[1] <= float(hi) < exact[1] + 1e-9


def test_cancelling_units_are_bounded_by_the_relaxation_gap():
    """Two equal units with output weights ``+1, -1``: ``y = 0`` everywhere. Interval
    arithmetic gives ``+-2 tanh(0.1)``; the linear relaxation only the gap between the two
    parallel lines around ``tanh`` on ``[-0.1, 0.1]``, which is ``O(0.1^3)``: the backward
    pass cancels the two units' slopes exactly."""
    net = nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.fill_(1.0), net[0].bias.fill_(0.0)
        net[2].weight.copy_(torch.tensor([[1.0, -1.0]], dtype=D))
    lo, hi = torch.tensor([[-0.1]], dtype=D), torch.tensor([[0.1]], dtype=D)
    b_lo, b_hi = mlp_linear_bounds(list(net), lo, hi, relaxed_enclosures)
    i_lo, i_hi = _interval(net, lo, hi).v
    assert float(b_lo) <= 0.0 <= float(b_hi)
    assert math.isclose(float(i_hi), 2 * math.tanh(0.1), rel_tol=1e-9)
    # the best pair of parallel lines at the secant slope is apart by the spread of
    # tanh(z) - alpha z on [-0.1, 0.1] (dense evaluation, 2.6e-4); the enclosure of that spread
    # by the mean-value form on two pieces may be a few times wider, never narrower
    z = torch.linspace(-0.1, 0.1, 100_001, dtype=D)
    alpha = math.tanh(0.1) / 0.1
    gap = float((torch.tanh(z) - alpha * z).max() - (torch.tanh(z) - alpha * z).min())
    assert 2 * gap <= float(b_hi - b_lo) <= 6 * gap
    assert float(b_hi - b_lo) < float(i_hi - i_lo) / 100


def _plain(field: nn.Module, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The lower value bound of ``A x + net(x)`` by interval jets alone."""
    a = module_jet(field.A, Jet.variables(lo, hi, 1)).v[0]
    x = Jet.variables(lo, hi, 1)
    for layer in field.net:
        x = module_jet(layer, x)
    return a + x.v[0]


def test_a_network_in_a_custom_forward_is_relaxed_as_one_mlp():
    """``A x + net(x)`` in a user's ``forward``: the tracer keeps ``net`` whole, so inside
    ``relaxed_mlps`` its value bound is the relaxation's, much tighter than layer-by-layer
    intervals on a wide box; outside it (the default for the branch and bound's boxes) the
    interval jets' own."""

    class Field(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.A = nn.Linear(2, 2)
            self.net = _mlp(3, 2, 16, 2, nn.Tanh)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.A(x) + self.net(x)

    field = Field().double()
    lo, hi = _boxes(5, 2, 4, 0.3)
    plain = module_jet(field, Jet.variables(lo, hi, 1)).v[0]
    assert torch.allclose(plain, _plain(field, lo, hi), rtol=1e-12, atol=1e-12)
    with relaxed_mlps():  # as the local certificate's Jacobian tests bound it
        got = module_jet(field, Jet.variables(lo, hi, 1))
    a = module_jet(field.A, Jet.variables(lo, hi, 1)).v
    n_lo, n_hi = _interval(field.net, lo, hi).v
    loose = (a[1] + n_hi) - (a[0] + n_lo)
    assert bool(((got.v[1] - got.v[0]) < 0.8 * loose).all())
    x = lo.unsqueeze(1) + (hi - lo).unsqueeze(1) * torch.rand(4, 300, 2, dtype=D)
    with torch.no_grad():
        y = field(x)
    assert bool((y >= got.v[0].unsqueeze(1)).all() and (y <= got.v[1].unsqueeze(1)).all())


def _jacobians(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Jacobians of ``net`` at the states ``x`` (shape ``(k, n)``): ``(k, m, n)``."""
    return torch.func.vmap(torch.func.jacrev(net))(x).detach()


@_random_networks_and_boxes
def test_jacobian_bounds_contain_samples_and_are_never_looser(seed, n, width, radius, act):
    net = _mlp(seed, n, width, 3, act)
    lo, hi = _boxes(seed, n, 4, radius)
    j_lo, j_hi = mlp_jacobian_bounds(list(net), lo, hi, relaxed_enclosures)
    x = _points(lo, hi, 100, seed + 2)
    J = _jacobians(net, x.reshape(-1, n)).reshape(4, 100, 3, n)
    assert bool((J >= j_lo.unsqueeze(1)).all() and (J <= j_hi.unsqueeze(1)).all())
    # module_jet on the box coordinates intersects them with the interval jets' Jacobian
    with relaxed_mlps():
        tight = module_jet(net, Jet.variables(lo, hi, 1)).d
    _assert_tight_holds_samples(tight, _interval(net, lo, hi, 1).d, J)


def test_one_neuron_jacobian_is_the_exact_range():
    """``d tanh(x) / dx`` on ``[-1, 1]`` is ``[1 - tanh(1)^2, 1]``: one factor, so the centred
    form is the derivative's interval up to the rounding margin."""
    net = [nn.Linear(1, 1).double(), nn.Tanh()]
    with torch.no_grad():
        net[0].weight.fill_(1.0), net[0].bias.fill_(0.0)
    lo, hi = mlp_jacobian_bounds(
        net, torch.tensor([[-1.0]], dtype=D), torch.tensor([[1.0]], dtype=D), relaxed_enclosures
    )
    exact = 1 - math.tanh(1.0) ** 2
    assert exact - 1e-9 < float(lo) <= exact
    assert 1.0 <= float(hi) < 1.0 + 1e-9


def test_wide_network_jacobian_is_much_tighter_than_intervals():
    """A 4-64-64-4 tanh network on a box of radius 0.3: the centred form keeps the
    cancellations of the centre products, interval arithmetic takes every partial product in
    absolute value; the sampled range is far inside both."""
    net = _mlp(7, 4, 64, 4, nn.Tanh)
    lo, hi = torch.full((1, 4), -0.3, dtype=D), torch.full((1, 4), 0.3, dtype=D)
    j_lo, j_hi = mlp_jacobian_bounds(list(net), lo, hi, relaxed_enclosures)
    i_lo, i_hi = _interval(net, lo, hi, 1).d
    J = _jacobians(net, lo + (hi - lo) * torch.rand(2000, 4, dtype=D))
    sampled = J.amax(0) - J.amin(0)
    assert float((j_hi - j_lo).sum()) < 0.4 * float((i_hi - i_lo).sum())
    assert bool((j_hi - j_lo >= sampled).all())


def _hessians(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Hessians of every output of ``net`` at the states ``x`` (``(k, n)``): ``(k, m, n, n)``."""
    return torch.func.vmap(torch.func.hessian(net))(x).detach()


@_random_networks_and_boxes
def test_hessian_bounds_contain_samples_and_are_never_looser(seed, n, width, radius, act):
    net = _mlp(seed, n, width, 2, act)
    lo, hi = _boxes(seed, n, 4, radius)
    h_lo, h_hi = mlp_hessian_bounds(list(net), lo, hi, relaxed_enclosures)
    x = _points(lo, hi, 60, seed + 3)
    H = _hessians(net, x.reshape(-1, n)).reshape(4, 60, 2, n, n)
    assert bool((H >= h_lo.unsqueeze(1)).all() and (H <= h_hi.unsqueeze(1)).all())
    # module_jet at order 2 on the box coordinates intersects them with the interval Hessian
    with relaxed_mlps():
        tight = module_jet(net, Jet.variables(lo, hi, 2)).h
    _assert_tight_holds_samples(tight, _interval(net, lo, hi, 2).h, H)


def test_one_neuron_hessian_is_the_exact_range():
    """``tanh''(x) = -2 tanh(x) (1 - tanh(x)^2)`` on ``[0.5, 1]``: its minimum
    ``-4 / (3 sqrt 3)`` at ``atanh(1 / sqrt 3) = 0.658``, its maximum ``tanh''(1)`` at the
    right end; one unit, so the centred form is that range up to the rounding margin."""
    net = [nn.Linear(1, 1).double(), nn.Tanh()]
    with torch.no_grad():
        net[0].weight.fill_(1.0), net[0].bias.fill_(0.0)
    lo, hi = mlp_hessian_bounds(
        net, torch.tensor([[0.5]], dtype=D), torch.tensor([[1.0]], dtype=D), relaxed_enclosures
    )
    low, high = -4 / (3 * math.sqrt(3)), -2 * math.tanh(1.0) * (1 - math.tanh(1.0) ** 2)
    assert low - 1e-9 < float(lo) <= low
    assert high <= float(hi) < high + 1e-9


def test_wide_network_hessian_is_much_tighter_than_intervals():
    """A 3-64-64-1 tanh network on a box of radius 0.1: the centred Hessian keeps the
    cancellations that interval forward-mode second derivatives lose."""
    net = _mlp(5, 3, 64, 1, nn.Tanh)
    lo, hi = torch.full((1, 3), 0.2, dtype=D), torch.full((1, 3), 0.4, dtype=D)
    h_lo, h_hi = mlp_hessian_bounds(list(net), lo, hi, relaxed_enclosures)
    i_lo, i_hi = _interval(net, lo, hi, 2).h
    H = _hessians(net, lo + (hi - lo) * torch.rand(500, 3, dtype=D))
    assert float((h_hi - h_lo).sum()) < 0.4 * float((i_hi - i_lo).sum())
    assert bool((h_hi - h_lo >= H.amax(0) - H.amin(0)).all())
