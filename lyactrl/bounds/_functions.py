"""Elementwise functions on jets: enclosures of ``g``, ``g'`` and ``g''`` over an interval.

Each function returns ``jet.chain(g0, g1, g2)``. Smooth functions give finite derivative
enclosures; the piecewise-linear ones (relu, leaky relu, clamp, hardtanh, abs, min, max) are in
:mod:`._piecewise` (at a kink the first derivative is the Clarke interval and the second is
``[-inf, inf]``); at a jump (the ReLU derivative ``step``, torch's softplus threshold) both
derivative enclosures are ``[-inf, inf]``, which disables the mean-value and Taylor forms on
that box (the plain interval bound is still used).
"""

from __future__ import annotations

import math

import torch

from .._errors import UnsupportedOperationError
from ._interval import Pair, imul, iscale, isub, widen
from ._jet import Jet
from ._piecewise import absolute as absolute
from ._piecewise import clamp as clamp
from ._piecewise import hardtanh as hardtanh
from ._piecewise import hardtanh_prime as hardtanh_prime
from ._piecewise import leaky_relu as leaky_relu
from ._piecewise import maximum as maximum
from ._piecewise import minimum as minimum
from ._piecewise import relu as relu
from ._piecewise import step as step
from ._rounding import (
    ELEMENTARY_ABS,
    ELEMENTARY_REL,
    EPS,
    dn,
    mul_dn,
    mul_up,
    sanitize,
    sum_bounds,
    up,
)

__all__ = [
    "sin",
    "cos",
    "exp",
    "log",
    "tanh",
    "tanh_pairs",
    "sigmoid_pairs",
    "sigmoid",
    "softplus",
    "softplus_prime",
    "relu",
    "leaky_relu",
    "step",
    "clamp",
    "hardtanh",
    "hardtanh_prime",
    "absolute",
    "minimum",
    "maximum",
    "powi",
    "ipow",
    "shifted_exp",
    "softmax",
]

_INF = float("inf")


def _full(like: torch.Tensor, value: float) -> torch.Tensor:
    return torch.full_like(like, value)


def _whole(like: torch.Tensor) -> Pair:
    return _full(like, -_INF), _full(like, _INF)


def _elem(lo: torch.Tensor, hi: torch.Tensor, odd_zero: Pair | None = None) -> Pair:
    """Widen an elementary-function range; exact zeros of odd functions at 0 are kept."""
    mask = None
    if odd_zero is not None:
        mask = (odd_zero[0] != 0) | (odd_zero[1] != 0)
        lo = torch.where(mask, lo, torch.zeros_like(lo))
        hi = torch.where(mask, hi, torch.zeros_like(hi))
    return widen((lo, hi), ELEMENTARY_REL, ELEMENTARY_ABS, mask)


def _contains(lo: torch.Tensor, hi: torch.Tensor, offset: float, period: float) -> torch.Tensor:
    """Whether ``[lo, hi]`` (conservatively) contains a point ``offset + k * period``."""
    k = torch.floor((hi - offset) / period)
    p = offset + k * period
    slack = 1e-9 * (1.0 + p.abs())
    return (p >= lo - slack) | (p + period <= hi + slack) | ((hi - lo) >= period - 1e-6)


def _trig(lo: torch.Tensor, hi: torch.Tensor, fn: str) -> Pair:
    f = torch.sin if fn == "sin" else torch.cos
    a, b = f(lo), f(hi)
    vlo, vhi = torch.minimum(a, b), torch.maximum(a, b)
    top, bot = (math.pi / 2, -math.pi / 2) if fn == "sin" else (0.0, math.pi)
    vhi = torch.where(_contains(lo, hi, top, 2 * math.pi), torch.ones_like(vhi), vhi)
    vlo = torch.where(_contains(lo, hi, bot, 2 * math.pi), -torch.ones_like(vlo), vlo)
    out = _elem(vlo, vhi, (lo, hi) if fn == "sin" else None)
    return out[0].clamp(-1.0, 1.0), out[1].clamp(-1.0, 1.0)


def sin(x: Jet) -> Jet:
    """``sin``."""
    lo, hi = x.v
    g0 = _trig(lo, hi, "sin")
    g1 = _trig(lo, hi, "cos") if x.order >= 1 else None
    g2 = (-g0[1], -g0[0]) if x.order >= 2 else None
    return x.chain(g0, g1, g2)


def cos(x: Jet) -> Jet:
    """``cos``."""
    lo, hi = x.v
    g0 = _trig(lo, hi, "cos")
    s = _trig(lo, hi, "sin") if x.order >= 1 else None
    g1 = None if s is None else (-s[1], -s[0])
    g2 = (-g0[1], -g0[0]) if x.order >= 2 else None
    return x.chain(g0, g1, g2)


def exp(x: Jet) -> Jet:
    """``exp``."""
    lo, hi = x.v
    g = _elem(torch.exp(lo), torch.exp(hi))
    g = (g[0].clamp_min(0.0), g[1])
    return x.chain(g, g, g)


def log(x: Jet) -> Jet:
    """Natural logarithm (``-inf`` lower end where the interval reaches 0 or below)."""
    lo, hi = x.v
    neg = torch.full_like(lo, -_INF)
    g = _elem(torch.log(lo.clamp_min(0.0)), torch.log(hi.clamp_min(0.0)))
    g0 = (torch.where(lo > 0, g[0], neg), torch.where(hi > 0, g[1], neg))
    g1 = ipow(x.v, -1) if x.order >= 1 else None
    g2 = None
    if x.order >= 2:
        m = ipow(x.v, -2)
        g2 = (-m[1], -m[0])
    return x.chain(g0, g1, g2)


def tanh_pairs(lo: torch.Tensor, hi: torch.Tensor, order: int = 1) -> tuple[Pair, ...]:
    """Enclosures of ``tanh`` and its first ``order`` derivatives on ``[lo, hi]``
    (elementwise): ``tanh' = 1 - tanh^2``, ``tanh'' = -2 tanh (1 - tanh^2)``."""
    t = _elem(torch.tanh(lo), torch.tanh(hi), (lo, hi))
    t = (t[0].clamp(-1.0, 1.0), t[1].clamp(-1.0, 1.0))
    if order < 1:
        return (t,)
    g1 = isub((torch.ones_like(lo), torch.ones_like(hi)), ipow(t, 2))
    g1 = (g1[0].clamp(0.0, 1.0), g1[1].clamp(0.0, 1.0))
    if order < 2:
        return t, g1
    return t, g1, _tanh_second(t)


#: ``1 / sqrt(3)``: where ``-2 t (1 - t^2)`` (``tanh''`` as a function of ``t = tanh``) is
#: extreme, with value ``-+4 / (3 sqrt(3))``.
_T_CRIT = 1.0 / math.sqrt(3.0)
_G2_CRIT = 4.0 / (3.0 * math.sqrt(3.0))


def _tanh_second(t: Pair) -> Pair:
    """The range of ``h(s) = -2 s (1 - s^2)`` for ``s`` in ``t`` (``tanh''`` from an enclosure
    of ``tanh``): ``h`` at the ends and at the critical points ``-+1/sqrt(3)`` inside, widened
    by the rounding of three operations on ``|s| <= 1`` (and of the critical point itself),
    instead of the product ``t (1 - t^2)`` of two intervals, which forgets that both factors
    are the same ``s``."""
    lo, hi = t
    h_lo, h_hi = -2.0 * lo * (1.0 - lo * lo), -2.0 * hi * (1.0 - hi * hi)
    g_lo, g_hi = torch.minimum(h_lo, h_hi), torch.maximum(h_lo, h_hi)
    crit = torch.full_like(lo, _G2_CRIT)
    g_lo = torch.where((lo <= _T_CRIT) & (hi >= _T_CRIT), -crit, g_lo)
    g_hi = torch.where((lo <= -_T_CRIT) & (hi >= -_T_CRIT), crit, g_hi)
    tol = 16 * EPS
    return g_lo - tol, g_hi + tol


def tanh(x: Jet) -> Jet:
    """``tanh`` (see :func:`tanh_pairs`)."""
    pairs = tanh_pairs(*x.v, x.order)
    return x.chain(*pairs, *(None,) * (3 - len(pairs)))


def sigmoid_pairs(lo: torch.Tensor, hi: torch.Tensor) -> tuple[Pair, Pair, Pair]:
    """Enclosures of the logistic sigmoid and its first two derivatives on ``[lo, hi]``."""
    s = _elem(torch.sigmoid(lo), torch.sigmoid(hi))
    s = (s[0].clamp(0.0, 1.0), s[1].clamp(0.0, 1.0))
    one = torch.ones_like(lo)
    g1 = imul(s, isub((one, one), s))
    g1 = (g1[0].clamp(0.0, 0.25), g1[1].clamp(0.0, 0.25))
    g2 = imul(g1, isub((one, one), iscale(2.0, s)))
    return s, g1, g2


def sigmoid(x: Jet) -> Jet:
    """The logistic sigmoid."""
    s, g1, g2 = sigmoid_pairs(*x.v)
    return x.chain(s, g1, g2)


def _softplus_split(lo: torch.Tensor, hi: torch.Tensor, beta: float, threshold: float):
    zl, zh = lo * beta, hi * beta
    tol = 1e-9 * (1.0 + abs(threshold))
    below = zh <= threshold - tol
    above = zl > threshold + tol
    return below, above, ~(below | above)


def softplus(x: Jet, beta: float = 1.0, threshold: float = 20.0) -> Jet:
    """torch's softplus: ``log1p(exp(beta x)) / beta``, and ``x`` where ``beta x > threshold``.

    torch switches to the identity above the threshold, a jump of at most
    ``exp(-threshold) / beta``; boxes across the switch get that slack on the value and
    ``[-inf, inf]`` derivative enclosures (no mean-value form across a jump).
    """
    lo, hi = x.v
    below, above, across = _softplus_split(lo, hi, beta, threshold)
    f = torch.nn.functional.softplus
    v = _elem(f(lo, beta, threshold), f(hi, beta, threshold))
    jump = 1.01 * math.exp(-threshold) / beta
    v = (torch.where(across, v[0] - jump, v[0]), torch.where(across, v[1] + jump, v[1]))
    v = (dn(v[0]), up(v[1]))
    g1 = g2 = None
    if x.order >= 1:
        s, s1, s2 = sigmoid_pairs(lo * beta, hi * beta)
        whole = _whole(lo)
        one, zero = torch.ones_like(lo), torch.zeros_like(lo)
        g1 = (
            torch.where(below, s[0], torch.where(above, one, whole[0])),
            torch.where(below, s[1], torch.where(above, one, whole[1])),
        )
        if x.order >= 2:
            s2b = iscale(beta, s1)
            g2 = (
                torch.where(below, s2b[0], torch.where(above, zero, whole[0])),
                torch.where(below, s2b[1], torch.where(above, zero, whole[1])),
            )
    return x.chain(v, g1, g2)


def softplus_prime(x: Jet, beta: float = 1.0, threshold: float = 20.0) -> Jet:
    """The derivative torch uses for softplus: ``sigmoid(beta x)``, and 1 above the threshold."""
    lo, hi = x.v
    below, above, across = _softplus_split(lo, hi, beta, threshold)
    s, s1, s2 = sigmoid_pairs(lo * beta, hi * beta)
    whole = _whole(lo)
    one, zero = torch.ones_like(lo), torch.zeros_like(lo)
    g0 = (
        torch.where(above, one, torch.where(across, s[0], s[0])),
        torch.where(above, one, torch.where(across, one, s[1])),
    )
    g1 = g2 = None
    if x.order >= 1:
        b1 = iscale(beta, s1)
        g1 = (
            torch.where(below, b1[0], torch.where(above, zero, whole[0])),
            torch.where(below, b1[1], torch.where(above, zero, whole[1])),
        )
    if x.order >= 2:
        b2 = iscale(beta * beta, s2)
        g2 = (
            torch.where(below, b2[0], torch.where(above, zero, whole[0])),
            torch.where(below, b2[1], torch.where(above, zero, whole[1])),
        )
    return x.chain(g0, g1, g2)


def _pow_mag(a: torch.Tensor, k: int, rnd) -> torch.Tensor:
    r = a
    for _ in range(k - 1):
        r = rnd(r, a)
    return r


def ipow(p: Pair, k: int) -> Pair:
    """The range of ``x**k`` over ``p`` for an integer ``k`` (``[-inf, inf]`` for ``k < 0``
    across 0).

    Parameters
    ----------
    p : tuple of torch.Tensor
        ``(lower, upper)`` of the interval(s).
    k : int
        The exponent.

    Returns
    -------
    tuple of torch.Tensor
        ``(lower, upper)`` of ``x**k``, rounded outward.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import ipow
    >>> lo, hi = ipow((torch.tensor([-1.0]), torch.tensor([2.0])), 2)
    >>> float(lo[0]), round(float(hi[0]), 4)  # outward rounded
    (0.0, 4.0)
    """
    lo, hi = p
    if k == 0:
        return torch.ones_like(lo), torch.ones_like(hi)
    if k < 0:
        base = ipow(p, -k)
        safe = (base[0] > 0) | (base[1] < 0)
        one = torch.ones_like(lo)
        rlo = torch.where(safe, dn(one / base[1]), _full(lo, -_INF))
        rhi = torch.where(safe, up(one / base[0]), _full(lo, _INF))
        return sanitize(rlo, rhi)
    if k % 2 == 0:
        m_lo = torch.where(lo > 0, lo, torch.where(hi < 0, -hi, torch.zeros_like(lo)))
        m_hi = torch.maximum(lo.abs(), hi.abs())
        return sanitize(_pow_mag(m_lo, k, mul_dn), _pow_mag(m_hi, k, mul_up))
    low = torch.where(lo >= 0, _pow_mag(lo, k, mul_dn), -_pow_mag(-lo, k, mul_up))
    high = torch.where(hi >= 0, _pow_mag(hi, k, mul_up), -_pow_mag(-hi, k, mul_dn))
    return sanitize(low, high)


def powi(x: Jet, k: int) -> Jet:
    """``x**k`` for an integer ``k`` (negative powers: ``[-inf, inf]`` across 0).

    Parameters
    ----------
    x : Jet
        The base.
    k : int
        The exponent.

    Returns
    -------
    Jet
        The jet of ``x**k``, of the order of ``x``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import Jet, powi
    >>> x = Jet.variables(torch.tensor([[2.0]]), torch.tensor([[3.0]]), 1)
    >>> y = powi(x, 2)
    >>> round(float(y.v[0][0, 0]), 4), round(float(y.v[1][0, 0]), 4)  # outward rounded
    (4.0, 9.0)
    """
    g0 = ipow(x.v, k)
    g1 = iscale(float(k), ipow(x.v, k - 1)) if x.order >= 1 else None
    g2 = iscale(float(k * (k - 1)), ipow(x.v, k - 2)) if x.order >= 2 else None
    return x.chain(g0, g1, g2)


def shifted_exp(x: Jet) -> tuple[Jet, Jet, Jet]:
    """``(e, s, shift)`` with ``e = exp(x - shift)`` and ``s = sum(e)`` along dimension 1.

    ``shift`` (shape ``(batch, 1)``, zero derivatives) is the largest coordinate of each box
    centre, so that ``exp`` cannot overflow; it is a finite constant per box, hence exact in
    real arithmetic (``softmax`` and ``logsumexp - shift`` do not depend on it).
    """
    c = (0.5 * (x.v[0] + x.v[1])).amax(1, keepdim=True)
    c = torch.nan_to_num(c, nan=0.0, posinf=0.0, neginf=0.0)
    shift = x._with_zero_derivs((c, c))
    e = exp(x - shift)
    return e, e.sum(1), shift


def _softmax_range(lo: torch.Tensor, hi: torch.Tensor) -> Pair:
    """The exact range of ``softmax`` over boxes ``[lo, hi]`` of shape ``(batch, k)``, rounded
    outward: ``p_i = 1 / sum_j exp(x_j - x_i)`` increases in ``x_i`` and decreases in each
    ``x_j``, so its extremes are at the corners ``(x_i, x_j) = (lo_i, hi_j)`` and ``(hi_i,
    lo_j)``."""
    k = lo.shape[1]
    dlo, dhi = isub((lo.unsqueeze(1), hi.unsqueeze(1)), (lo.unsqueeze(2), hi.unsqueeze(2)))
    elo, ehi = _elem(torch.exp(dlo), torch.exp(dhi))  # [b, i, j]: exp(x_j - x_i)
    diag = torch.eye(k, dtype=torch.bool, device=lo.device)
    one = torch.ones_like(elo)
    elo = torch.where(diag, one, elo.clamp_min(0.0))  # exp(x_i - x_i) = 1 exactly
    ehi = torch.where(diag, one, ehi)
    den = sum_bounds(elo, ehi, 2)  # >= 1 up to rounding
    den = (den[0].clamp_min(1.0), den[1].clamp_min(1.0))
    p = ipow(den, -1)
    return p[0].clamp(0.0, 1.0), p[1].clamp(0.0, 1.0)


def _meet(a: Pair, b: Pair) -> Pair:
    return torch.maximum(a[0], b[0]), torch.minimum(a[1], b[1])


def softmax(x: Jet) -> Jet:
    """``softmax`` along dimension 1 of a jet of shape ``(batch, k)``.

    Composed from sound primitives, ``exp(x - shift) * (sum exp(x - shift))**-1`` with the
    denominator ``>= exp(-width / 2) > 0``; the value is then intersected with the exact range
    (:func:`_softmax_range`) and the gradient with ``p_i (dx_i - sum_j p_j dx_j)`` evaluated on
    that range. Intersections of sound enclosures are sound.
    """
    if x.v[0].ndim != 2:
        raise UnsupportedOperationError(
            "softmax: the certifier supports softmax over the last dimension of a (batch, k) "
            f"tensor; received shape {tuple(x.v[0].shape)}"
        )
    k = x.v[0].shape[1]
    e, s, _ = shifted_exp(x)
    out = e * Jet.stack([powi(s, -1)] * k, dim=1)
    p = _softmax_range(*x.v)
    v = _meet(out.v, p)
    d = out.d
    if d is not None:
        pd = imul((p[0].unsqueeze(-1), p[1].unsqueeze(-1)), x.d)  # type: ignore[arg-type]
        q = sum_bounds(*pd, 1)
        t = isub(x.d, (q[0].unsqueeze(1), q[1].unsqueeze(1)))  # type: ignore[arg-type]
        d = _meet(d, imul((p[0].unsqueeze(-1), p[1].unsqueeze(-1)), t))
    return Jet(v, d, out.h, x.n)
