"""Linear relaxations of MLPs on boxes (the CROWN family): affine bounds of values, and
centred forms of the Jacobian and Hessian, which keep the correlation that interval
arithmetic loses.

Every value ``q(x)`` of the network (a pre-activation, an activation) is enclosed between two affine functions of the box variables,
``L(x) <= q(x) <= U(x)`` on the box, propagated forward through the layers:

- a linear layer combines the affine bounds by the signs of its weights (exact);
- an activation ``g`` on a pre-activation with range ``[a, b]`` is
  relaxed by two parallel lines ``alpha z + beta <= g(z) <= alpha z + delta``, ``alpha`` the
  secant slope, ``beta``, ``delta`` from sound interval enclosures of ``g(z) - alpha z`` on
  ``PIECES`` sub-intervals of ``[a, b]`` (so any activation with an interval extension works,
  kinks included), then composed with the pre-activation's affine bounds;
- the Jacobian ``W_L D_{L-1} W_{L-1} ... D_1 W_1`` (``D_t = diag g'(z_t(x))``) is bounded in
  a centred form (:func:`mlp_jacobian_bounds`): the product of the centre factors, exact up
  to rounding, plus the spread of each ``D_t`` carried through the centre products on both
  sides, so the units' contributions cancel as in the network itself;
- the Hessian of each output, ``sum_t P_t^T diag(g''(z_t) d_t) P_t``, term by term in the
  same centred form (:func:`mlp_hessian_bounds`).

Concretising an affine bound over a box is exact up to rounding. The floating-point margin:
every affine bound carries a magnitude bound (the same propagation on absolute values), and
each concrete bound is widened by ``RELATIVE_MARGIN`` times that magnitude at the box, far
above the accumulated float64 rounding of these sums (``gamma_k = k eps`` for ``k`` operations
per coefficient, ``k < 10^6``). The results are intersected with the interval jets by the
callers, so they can only tighten.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._interval import imul, split_edges
from ._rounding import EPS

__all__ = [
    "PIECES",
    "RELATIVE_MARGIN",
    "mlp_linear_bounds",
    "mlp_hessian_bounds",
    "mlp_jacobian_bounds",
    "mlp_values_and_jacobian",
]

#: Sub-intervals of a pre-activation range on which a relaxation's offsets are enclosed.
PIECES = 2
#: Relative widening of concrete bounds for the rounding of the affine coefficients.
RELATIVE_MARGIN = 1e-10


class _Affine:
    """``lo_c x + lo_o <= q(x) <= hi_c x + hi_o`` with magnitude ``mag_c, mag_o`` (shapes
    ``(B, *s, n)`` and ``(B, *s)``)."""

    __slots__ = ("lo_c", "lo_o", "hi_c", "hi_o", "mag_c", "mag_o")

    def __init__(self, lo_c, lo_o, hi_c, hi_o, mag_c, mag_o) -> None:
        self.lo_c, self.lo_o, self.hi_c, self.hi_o = lo_c, lo_o, hi_c, hi_o
        self.mag_c, self.mag_o = mag_c, mag_o

    def concretise(self, c: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sound ``(lower, upper)`` over the boxes ``c +- h`` (``(B, n)``)."""
        shape = (c.shape[0],) + (1,) * (self.lo_c.ndim - 2) + (c.shape[1],)
        cc, hh = c.reshape(shape), h.reshape(shape)
        lo = (self.lo_c * cc).sum(-1) + self.lo_o - (self.lo_c.abs() * hh).sum(-1)
        hi = (self.hi_c * cc).sum(-1) + self.hi_o + (self.hi_c.abs() * hh).sum(-1)
        mag = (self.mag_c * (cc.abs() + hh)).sum(-1) + self.mag_o
        err = RELATIVE_MARGIN * mag + 4 * EPS * (lo.abs() + hi.abs())
        return lo - err, hi + err

    def linear(self, W: torch.Tensor, b: torch.Tensor | None, eq: str) -> _Affine:
        """``W q + b`` contracted by the einsum ``eq`` (weights on the first axis of ``q``)."""
        Wp, Wm = W.clamp(min=0), W.clamp(max=0)

        def mix(a, c):
            return torch.einsum(eq, Wp, a) + torch.einsum(eq, Wm, c)

        eq_o = eq.replace("n", "")
        mix_o = lambda a, c: torch.einsum(eq_o, Wp, a) + torch.einsum(eq_o, Wm, c)  # noqa: E731
        lo_o, hi_o = mix_o(self.lo_o, self.hi_o), mix_o(self.hi_o, self.lo_o)
        if b is not None:
            lo_o, hi_o = lo_o + b, hi_o + b
        Wa = W.abs()
        mag_o = torch.einsum(eq_o, Wa, self.mag_o) + (0 if b is None else b.abs())
        return _Affine(
            mix(self.lo_c, self.hi_c),
            lo_o,
            mix(self.hi_c, self.lo_c),
            hi_o,
            torch.einsum(eq, Wa, self.mag_c),
            mag_o,
        )


def _relax(fn: Callable, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(alpha, beta, delta, g_lo, g_hi)``: ``alpha z + beta <= g(z) <= alpha z + delta`` on
    ``[a, b]`` and the enclosure ``[g_lo, g_hi]`` of ``g`` there (shapes of ``a``).

    ``fn(lo, hi, order)`` gives elementwise enclosures on intervals of ``g`` and its first
    ``order`` derivatives, as a tuple of ``(lo, hi)`` pairs.
    On each piece ``Z`` (midpoint ``m``, radius ``r``) the offset ``g(z) - alpha z`` is
    enclosed by the mean-value form ``g(m) - alpha m + (g'(Z) - alpha) [-r, r]`` and by the
    second-order form ``g(m) - alpha m + (g'(m) - alpha) [-r, r] + g''(Z) [0, r^2 / 2]``,
    intersected with the natural interval extension."""
    edges = split_edges(a, b, PIECES)
    z_lo, z_hi = edges[..., :-1], torch.maximum(edges[..., 1:], edges[..., :-1])
    mid = 0.5 * (z_lo + z_hi)
    r = torch.maximum(mid - z_lo, z_hi - mid) * (1 + 4 * EPS)
    (g_lo, g_hi), (d_lo, d_hi), (s_lo, s_hi) = fn(z_lo, z_hi, 2)
    (m_lo, m_hi), (dm_lo, dm_hi) = fn(mid, mid, 1)  # value and slope at the midpoints
    # the slope need not be exact (any slope gives sound offsets): the secant of the
    # enclosures' lower ends at a and b
    ga, gb = fn(a, a, 0)[0][0], fn(b, b, 0)[0][0]
    width = b - a
    alpha = torch.where(width > 0, (gb - ga) / torch.where(width > 0, width, 1.0), 0.0)
    alpha = torch.where(torch.isfinite(alpha), alpha, torch.zeros_like(alpha)).unsqueeze(-1)
    # natural extension of g(z) - alpha z on the piece
    az_lo = torch.minimum(alpha * z_lo, alpha * z_hi)
    az_hi = torch.maximum(alpha * z_lo, alpha * z_hi)
    tol = 4 * EPS * (az_lo.abs() + az_hi.abs() + g_lo.abs() + g_hi.abs())
    nat_lo, nat_hi = g_lo - az_hi - tol, g_hi - az_lo + tol
    # mean-value form around the piece's midpoint
    am = alpha * mid
    spread = torch.maximum((d_lo - alpha).abs(), (d_hi - alpha).abs()) * r
    tol_m = 4 * EPS * (am.abs() + m_lo.abs() + m_hi.abs() + spread)
    mv_lo, mv_hi = m_lo - am - spread - tol_m, m_hi - am + spread + tol_m
    # second-order Taylor form around the midpoint: slope (g'(m) - alpha), curvature g''(Z)
    lin = torch.maximum((dm_lo - alpha).abs(), (dm_hi - alpha).abs()) * r
    r2 = 0.5 * r * r * (1 + 4 * EPS)
    up2, dn2 = s_hi.clamp(min=0) * r2, s_lo.clamp(max=0) * r2
    tol_2 = 4 * EPS * (am.abs() + m_lo.abs() + m_hi.abs() + lin + up2.abs() + dn2.abs())
    t2_lo, t2_hi = m_lo - am - lin + dn2 - tol_2, m_hi - am + lin + up2 + tol_2
    ok = torch.isfinite(spread)
    ok2 = torch.isfinite(lin) & torch.isfinite(up2) & torch.isfinite(dn2)
    lower = torch.where(ok, torch.maximum(nat_lo, mv_lo), nat_lo)
    upper = torch.where(ok, torch.minimum(nat_hi, mv_hi), nat_hi)
    beta = torch.where(ok2, torch.maximum(lower, t2_lo), lower).amin(-1)
    delta = torch.where(ok2, torch.minimum(upper, t2_hi), upper).amax(-1)
    return alpha.squeeze(-1), beta, delta, g_lo.amin(-1), g_hi.amax(-1)


def _compose(z: _Affine, alpha: torch.Tensor, beta: torch.Tensor, delta: torch.Tensor) -> _Affine:
    """Affine bounds of ``g(z(x))`` from ``alpha z + beta <= g(z) <= alpha z + delta``."""
    pos = (alpha >= 0).unsqueeze(-1)
    a = alpha.unsqueeze(-1)
    hi_c = torch.where(pos, a * z.hi_c, a * z.lo_c)
    lo_c = torch.where(pos, a * z.lo_c, a * z.hi_c)
    hi_o = torch.where(alpha >= 0, alpha * z.hi_o, alpha * z.lo_o) + delta
    lo_o = torch.where(alpha >= 0, alpha * z.lo_o, alpha * z.hi_o) + beta
    aa = alpha.abs()
    return _Affine(
        lo_c, lo_o, hi_c, hi_o, aa.unsqueeze(-1) * z.mag_c, aa * z.mag_o + beta.abs() + delta.abs()
    )


def _backward(steps: list, m: int, c: torch.Tensor, h: torch.Tensor, upper: bool):
    """CROWN's backward pass for every output (of ``m``): a bound of the output, affine in
    ``x``, from the relaxations of the forward pass, concretised over the boxes."""
    B = c.shape[0]
    lam = torch.eye(m, dtype=c.dtype, device=c.device).expand(B, m, m)
    mag = lam
    const = torch.zeros(B, m, dtype=c.dtype, device=c.device)
    const_mag = torch.zeros_like(const)
    for kind, p in reversed(steps):
        if kind == "linear":
            W, b = p
            if b is not None:
                const = const + lam @ b
                const_mag = const_mag + mag @ b.abs()
            lam, mag = lam @ W, mag @ W.abs()
        else:
            alpha, beta, delta = p  # (B, units)
            take = (lam >= 0) if upper else (lam < 0)
            off = torch.where(take, delta.unsqueeze(1), beta.unsqueeze(1))
            const = const + (lam * off).sum(-1)
            const_mag = const_mag + (mag * (beta.abs() + delta.abs()).unsqueeze(1)).sum(-1)
            lam, mag = lam * alpha.unsqueeze(1), mag * alpha.abs().unsqueeze(1)
    centre = (lam * c.unsqueeze(1)).sum(-1) + const
    spread = (lam.abs() * h.unsqueeze(1)).sum(-1)
    err = RELATIVE_MARGIN * ((mag * (c.abs() + h).unsqueeze(1)).sum(-1) + const_mag)
    err = err + 4 * EPS * (centre.abs() + spread)
    return centre + spread + err if upper else centre - spread - err


def _interval_linear(W: torch.Tensor, b: torch.Tensor | None, rng: tuple) -> tuple:
    """The interval range of ``W x + b`` for ``x`` in ``rng``, widened by the rounding of sums
    of ``fan-in`` terms."""
    Wp, Wm = W.clamp(min=0), W.clamp(max=0)
    lo, hi = rng[0] @ Wp.T + rng[1] @ Wm.T, rng[1] @ Wp.T + rng[0] @ Wm.T
    if b is not None:
        lo, hi = lo + b, hi + b
    mag = (rng[0].abs() + rng[1].abs()) @ W.abs().T + (0 if b is None else b.abs())
    k = 4 * W.shape[1] * EPS
    return lo - k * mag, hi + k * mag


def _forward(layers: list[nn.Module], lo: torch.Tensor, hi: torch.Tensor, enclosures: Callable):
    """The forward pass: ``(steps, pre, rng)``, the relaxation steps for :func:`_backward`,
    each activation's ``(enclosures, (a, b))`` (its pre-activation range), and the output's
    range."""
    pre: list = []
    B, n = lo.shape
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    eye = torch.eye(n, dtype=lo.dtype, device=lo.device).expand(B, n, n)
    zero = torch.zeros(B, n, dtype=lo.dtype, device=lo.device)
    value = _Affine(eye, zero, eye, zero, eye, zero)
    rng = (lo, hi)
    steps: list = []
    for layer in layers:
        if isinstance(layer, nn.Linear):
            W = layer.weight.detach().to(lo)
            b = None if layer.bias is None else layer.bias.detach().to(lo)
            steps.append(("linear", (W, b)))
            value = value.linear(W, b, "om,bmn->bon")
            ivl = _interval_linear(W, b, rng)
            lo_v, hi_v = value.concretise(c, h)
            rng = (torch.maximum(lo_v, ivl[0]), torch.minimum(hi_v, ivl[1]))
            continue
        fn = enclosures(layer)
        pre.append((fn, rng))
        alpha, beta, delta, g_lo, g_hi = _relax(fn, *rng)
        steps.append(("activation", (alpha, beta, delta)))
        value = _compose(value, alpha, beta, delta)
        v_lo, v_hi = value.concretise(c, h)
        rng = (torch.maximum(v_lo, g_lo), torch.minimum(v_hi, g_hi))
    return steps, pre, rng


def mlp_linear_bounds(
    layers: list[nn.Module], lo: torch.Tensor, hi: torch.Tensor, enclosures: Callable
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds of an MLP's output on boxes from its linear relaxation.

    A forward pass gives every pre-activation an affine enclosure and a range (intersected
    with interval arithmetic) and relaxes each activation there; a backward pass (CROWN)
    bounds each output by the relaxations, which keeps the cancellations between units that a
    forward pass loses. The result is the intersection of the two.

    Parameters
    ----------
    layers : list of nn.Module
        ``nn.Linear`` layers and activations, flattened.
    lo, hi : torch.Tensor, shape (B, n)
        The boxes (float64).
    enclosures : callable
        ``enclosures(layer)`` is a function ``(lo, hi, order)`` giving sound elementwise
        enclosures on intervals of the activation layer's function and of its first ``order``
        (up to 2) derivatives, as a tuple of ``(lo, hi)`` pairs.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Lower and upper bounds of the output, shape ``(B, m)``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds._linear import mlp_linear_bounds
    >>> from lyactrl.bounds._torch import relaxed_enclosures
    >>> net = [torch.nn.Linear(1, 1).double(), torch.nn.Tanh()]
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0), net[0].bias.fill_(0.0)
    >>> lo, hi = mlp_linear_bounds(net, torch.tensor([[-1.0]]).double(), torch.tensor([[1.0]]).double(), relaxed_enclosures)
    >>> bool(lo[0, 0] <= -0.7615941 and hi[0, 0] >= 0.7615941)
    True
    """
    return _values(lo, hi, _forward(layers, lo, hi, enclosures))


def _values(lo: torch.Tensor, hi: torch.Tensor, forward: tuple):
    """The value bounds from a forward pass (:func:`_forward`'s result)."""
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    steps, _, rng = forward
    m = rng[0].shape[1]
    return (
        torch.maximum(rng[0], _backward(steps, m, c, h, upper=False)),
        torch.minimum(rng[1], _backward(steps, m, c, h, upper=True)),
    )


def mlp_values_and_jacobian(
    layers: list[nn.Module],
    lo: torch.Tensor,
    hi: torch.Tensor,
    enclosures: Callable,
    *,
    hessian: bool = False,
) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """``(values, jacobian)``, or ``(values, jacobian, hessian)`` with ``hessian=True``:
    :func:`mlp_linear_bounds`, :func:`mlp_jacobian_bounds` and :func:`mlp_hessian_bounds`
    from one forward pass (the part that costs)."""
    forward = _forward(layers, lo, hi, enclosures)
    out = (_values(lo, hi, forward), _jacobian(layers, lo, forward))
    return out + (_hessian(layers, lo, forward),) if hessian else out


def mlp_hessian_bounds(
    layers: list[nn.Module], lo: torch.Tensor, hi: torch.Tensor, enclosures: Callable
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds of the Hessian of every output of an MLP on boxes, in the centred form.

    The Hessian of output ``i`` is exactly ``sum_t P_t^T diag(g''(z_t) * d_it) P_t``, where
    ``z_t`` is the pre-activation of the ``t``-th activation, ``P_t = dz_t / dx`` and
    ``d_it = dy_i / da_t`` (a row of the Jacobian of the layers after it). Each term is a
    product of weight matrices and diagonal factors, bounded as in
    :func:`mlp_jacobian_bounds` (centre product plus the spread of each diagonal factor
    carried through the centre products), so the units' contributions cancel as in the
    network; interval arithmetic's forward-mode Hessian loses them.

    Parameters
    ----------
    layers, lo, hi, enclosures
        As for :func:`mlp_linear_bounds` (``enclosures`` must give second derivatives).

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Lower and upper bounds of ``d^2 out_i / dx_j dx_k``, shape ``(B, m, n, n)``; rounding
        covered by ``RELATIVE_MARGIN`` times the product of the factors' magnitudes.

    Examples
    --------
    A single unit ``tanh(x)`` on ``[0.5, 1]``: its second derivative
    ``-2 tanh(x) (1 - tanh(x)^2)`` ranges over ``[-4 / (3 sqrt 3), tanh''(1)]``
    = ``[-0.76980, -0.63970]`` there.

    >>> import torch
    >>> from lyactrl.bounds._linear import mlp_hessian_bounds
    >>> from lyactrl.bounds._torch import relaxed_enclosures
    >>> net = [torch.nn.Linear(1, 1).double(), torch.nn.Tanh()]
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0), net[0].bias.fill_(0.0)
    >>> lo, hi = mlp_hessian_bounds(net, torch.tensor([[0.5]]).double(), torch.tensor([[1.0]]).double(), relaxed_enclosures)
    >>> round(float(lo[0, 0, 0, 0]), 5), round(float(hi[0, 0, 0, 0]), 5)
    (-0.7698, -0.6397)
    """
    return _hessian(layers, lo, _forward(layers, lo, hi, enclosures))


def mlp_jacobian_bounds(
    layers: list[nn.Module], lo: torch.Tensor, hi: torch.Tensor, enclosures: Callable
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds of an MLP's Jacobian on boxes, in the centred form that keeps the cancellations
    between units.

    The Jacobian is ``J = F_K ... F_1``, a product of weight matrices and diagonal factors
    ``D_t = diag g'(z_t(x))``. With ``D_t = M_t + Delta_t`` (``M_t`` the centre of ``g'`` on
    the pre-activation's range from the forward pass of :func:`mlp_linear_bounds`,
    ``|Delta_t| <= R_t``), replacing one factor at a time from the input side gives exactly

        J = C + sum_t T_t Delta_t S_t,

    ``C`` and ``S_t`` products of centre factors (point matrices, their sums cancelling as the
    network's own), ``T_t`` the true product of the factors after ``t``. With
    ``|T_t - Tc_t| <= E_t`` (``Tc_t`` its centre product, ``E_t`` by the same expansion in
    absolute values) every entry obeys ``|J - C| <= sum_t (|Tc_t| + E_t) R_t |S_t|``. Interval
    arithmetic instead takes the absolute value of every partial product.

    Parameters
    ----------
    layers, lo, hi, enclosures
        As for :func:`mlp_linear_bounds`.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Lower and upper bounds of ``d out_i / d x_j``, shape ``(B, m, n)``; the rounding of
        the float64 products is covered by ``RELATIVE_MARGIN`` times the product of the
        factors' magnitudes.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds._linear import mlp_jacobian_bounds
    >>> from lyactrl.bounds._torch import relaxed_enclosures
    >>> net = [torch.nn.Linear(1, 1).double(), torch.nn.Tanh()]
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0), net[0].bias.fill_(0.0)
    >>> lo, hi = mlp_jacobian_bounds(net, torch.tensor([[-1.0]]).double(), torch.tensor([[1.0]]).double(), relaxed_enclosures)
    >>> bool(lo[0, 0, 0] <= 0.42 and hi[0, 0, 0] >= 1.0)
    True
    """
    return _jacobian(layers, lo, _forward(layers, lo, hi, enclosures))


def _factors(layers: list[nn.Module], lo: torch.Tensor, forward: tuple, order: int = 1) -> list:
    """The Jacobian's factors from the input side: ``("W", W)`` for a linear layer and
    ``("D", (M, R))`` for an activation (``g'`` in ``M +- R`` on the pre-activation's range of
    the forward pass); with ``order == 2`` each ``D`` also carries the enclosure ``(lo, hi)``
    of ``g''`` there, as ``("D", (M, R), (s_lo, s_hi))``."""
    acts = iter(forward[1])
    factors: list = []
    for layer in layers:
        if isinstance(layer, nn.Linear):
            factors.append(("W", layer.weight.detach().to(lo)))
            continue
        fn, (a, b) = next(acts)
        pairs = fn(a, b, order)
        factors.append(("D", _mid_rad(*pairs[1])) + tuple(pairs[2:]))
    return factors


def _mid_rad(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, R)`` with ``[lo, hi]`` inside ``M +- R`` (the radius rounded up)."""
    M = 0.5 * (lo + hi)
    return M, torch.maximum(hi - M, M - lo) * (1 + 4 * EPS)


def _centred_product(factors: list, batch: int, n: int, ref: torch.Tensor) -> tuple:
    """``(C, err)`` for the product of ``factors`` (from the input side, acting on
    ``n``-vectors): every product of factors in their enclosures lies in ``C +- err``, the
    rounding of the float64 products included (``RELATIVE_MARGIN`` times the product of the
    factors' magnitudes). See :func:`mlp_jacobian_bounds` for the expansion."""
    S = torch.eye(n, dtype=ref.dtype, device=ref.device).expand(batch, n, n)
    mag = S
    suffixes = []
    for kind, p, *_ in factors:
        if kind == "W":
            S, mag = p @ S, p.abs() @ mag
        else:
            suffixes.append(S)
            S, mag = p[0].unsqueeze(-1) * S, (p[0].abs() + p[1]).unsqueeze(-1) * mag
    m = S.shape[1]
    Tc = torch.eye(m, dtype=ref.dtype, device=ref.device).expand(batch, m, m)
    E = torch.zeros_like(Tc)
    err = torch.zeros_like(S)
    for kind, p, *_ in reversed(factors):
        if kind == "W":
            Tc, E = Tc @ p, E @ p.abs()
            continue
        M, R = (t.unsqueeze(1) for t in p)
        err = err + ((Tc.abs() + E) * R) @ suffixes.pop().abs()
        Tc, E = Tc * M, E * (M.abs() + R) + Tc.abs() * R
    return S, err * (1 + 8 * EPS) + RELATIVE_MARGIN * mag


def _jacobian(layers: list[nn.Module], lo: torch.Tensor, forward: tuple):
    """The centred-form Jacobian bounds from a forward pass (:func:`_forward`'s result)."""
    S, err = _centred_product(_factors(layers, lo, forward), lo.shape[0], lo.shape[1], lo)
    return S - err, S + err


def _transposed(factors: list) -> list:
    """The factors of the transposed product, from its input side."""
    return [("W", p.T) if kind == "W" else (kind, p) for kind, p, *_ in reversed(factors)]


def _hessian(layers: list[nn.Module], lo: torch.Tensor, forward: tuple):
    """The centred-form Hessian bounds of every output, shape ``(B, m, n, n)``.

    For an MLP ``y = F_K ... F_1`` (activations ``a_t = g(z_t)``) the Hessian of output ``i``
    is exactly ``sum_t P_t^T diag(g''(z_t) * d_it) P_t``, ``P_t = dz_t / dx`` and
    ``d_it = dy_i / da_t``; each term is a product of weight matrices and diagonal factors,
    bounded by :func:`_centred_product` (the two copies of a factor in ``P_t`` and
    ``P_t^T`` are taken independently, which is sound), with ``d_it`` and the diagonal
    ``g''(z_t) * d_it`` enclosed first.
    """
    B, n = lo.shape
    factors = _factors(layers, lo, forward, order=2)
    m = forward[2][0].shape[1]
    centre = torch.zeros(B, m, n, n, dtype=lo.dtype, device=lo.device)
    spread = torch.zeros_like(centre)
    for j, (kind, *parts) in enumerate(factors):
        if kind != "D":
            continue
        (M, _), (s_lo, s_hi) = parts
        k = M.shape[1]
        post, post_err = _centred_product(factors[j + 1 :], B, k, lo)  # (B, m, k)
        q = imul((s_lo.unsqueeze(1), s_hi.unsqueeze(1)), (post - post_err, post + post_err))
        qM, qR = _mid_rad(*q)
        pre = [
            (kind_, p) if kind_ == "W" else (kind_, tuple(t.repeat_interleave(m, 0) for t in p))
            for kind_, p, *_ in factors[:j]
        ]
        chain = pre + [("D", (qM.reshape(B * m, k), qR.reshape(B * m, k)))] + _transposed(pre)
        S, err = _centred_product(chain, B * m, n, lo)
        centre, spread = centre + S.reshape(B, m, n, n), spread + err.reshape(B, m, n, n)
    err = spread * (1 + 8 * EPS) + 4 * EPS * centre.abs()  # the sums' rounding
    return centre - err, centre + err
