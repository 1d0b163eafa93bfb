"""Directed rounding for interval arithmetic in float64, and the stated floating-point margin.

Every bound computed by :mod:`lyactrl.bounds` is an enclosure of the *real-arithmetic* value
of the operation, widened outward so that floating-point rounding cannot make it unsound:

* one correctly rounded operation (``+``, ``-``, ``*``, ``/``): the round-to-nearest result
  is moved one ulp outward (``nextafter``) unless the result is provably exact (a sum that
  is exactly 0, a product with an exact zero factor);
* a sum or dot product of ``k`` terms (``nn.Linear``, reductions), in any summation order:
  widened by ``(k + 2) * eps * sum |terms| + k * eta`` (the classical bound
  ``gamma_k = k u / (1 - k u)`` with ``u = eps / 2``, doubled to cover the rounding of the
  bound itself; ``eta`` is the smallest subnormal, for underflow);
* an elementary function (sin, cos, exp, tanh, sigmoid, softplus): widened by
  ``ELEMENTARY_REL * |value| + ELEMENTARY_ABS``, i.e. 64 ulp relative plus 8 subnormals,
  far above the documented accuracy (<= 4 ulp) of the math libraries torch uses.

``eps = 2**-52`` (float64 machine epsilon), ``eta = 2**-1074``.
"""

from __future__ import annotations

import torch

__all__ = [
    "EPS",
    "ETA",
    "ELEMENTARY_REL",
    "ELEMENTARY_ABS",
    "FP_MARGIN",
    "dn",
    "up",
    "add_dn",
    "add_up",
    "sub_dn",
    "sub_up",
    "mul_dn",
    "mul_up",
    "mul_range",
    "sum_bounds",
    "sanitize",
]

EPS = 2.0**-52
ETA = 2.0**-1074
ELEMENTARY_REL = 64 * EPS
ELEMENTARY_ABS = 8 * ETA

#: The most elements per call checked for an exact (error-free) float result by TwoSum and
#: TwoProduct; larger calls (the centres and boxes of a branch and bound) are rounded
#: outward without the check, which only widens.
EXACT_POINTS = 256

#: The floating-point margin, as stated in every certificate.
FP_MARGIN = (
    "outward rounding per operation: one ulp for each correctly rounded +,-,* (exact zeros "
    "kept), (k+2)*eps*sum|terms| + k*eta for sums and dot products of k terms, "
    f"{ELEMENTARY_REL:.3g}*|value| + {ELEMENTARY_ABS:.3g} for elementary functions "
    "(sin, cos, exp, tanh, sigmoid, softplus); eps = 2^-52, float64"
)

_NEG = float("-inf")
_POS = float("inf")


_TARGETS: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}


def _targets(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    key = (x.dtype, x.device)
    if key not in _TARGETS:
        _TARGETS[key] = (
            torch.tensor(_NEG, dtype=x.dtype, device=x.device),
            torch.tensor(_POS, dtype=x.dtype, device=x.device),
        )
    return _TARGETS[key]


def dn(x: torch.Tensor) -> torch.Tensor:
    """The next float below ``x``."""
    return torch.nextafter(x, _targets(x)[0])


def up(x: torch.Tensor) -> torch.Tensor:
    """The next float above ``x``."""
    return torch.nextafter(x, _targets(x)[1])


def sanitize(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace NaN endpoints (from inf - inf) by the widest sound value."""
    return (
        torch.nan_to_num(lo, nan=_NEG, posinf=_POS, neginf=_NEG),
        torch.nan_to_num(hi, nan=_POS, posinf=_POS, neginf=_NEG),
    )


def _exact_sum(a: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Where the float sum ``s = fl(a + b)`` is exact: Knuth's TwoSum error term is 0.

    TwoSum recovers ``err`` with ``s + err = a + b`` exactly (binary floating point, round to
    nearest, no overflow), so ``err == 0`` proves that no rounding happened; a sum of 0 is
    always exact (Sterbenz).
    """
    bp = s - a
    err = (a - (s - bp)) + (b - bp)
    return ((err == 0) & torch.isfinite(s)) | (s == 0)


def _kept(a: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Where ``s`` needs no rounding: a zero sum always; an exact sum when the tensor is
    small enough for the check to pay (:data:`EXACT_POINTS`; skipping only widens)."""
    if s.numel() <= EXACT_POINTS:
        return _exact_sum(a, b, s)
    return s == 0


def add_dn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A lower bound of ``a + b`` (exact float sums are kept: see :func:`_exact_sum`)."""
    s = a + b
    return torch.where(_kept(a, b, s), s, dn(s))


def add_up(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """An upper bound of ``a + b``."""
    s = a + b
    return torch.where(_kept(a, b, s), s, up(s))


def sub_dn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A lower bound of ``a - b``."""
    return add_dn(a, -b)


def sub_up(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """An upper bound of ``a - b``."""
    return add_up(a, -b)


def _split(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Veltkamp's split ``a = hi + lo`` into halves of 26 and 27 significant bits."""
    c = 134217729.0 * a  # 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _exact_product(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Where ``p = fl(a * b)`` is exact: Dekker's TwoProduct error term is 0.

    Dekker's algorithm (float64, round to nearest) is error-free when neither the split nor
    the partial products overflow or underflow; restricting both factors to
    ``[2^-400, 2^400]`` in magnitude keeps every partial product (at least ``2^-906``) and
    ``2^27 a`` (at most ``2^428``) far inside the normal range. Outside it the product is
    simply rounded outward.
    """
    ah, al = _split(a)
    bh, bl = _split(b)
    err = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    aa, ab = a.abs(), b.abs()
    safe = (aa >= 2.0**-400) & (aa <= 2.0**400) & (ab >= 2.0**-400) & (ab <= 2.0**400)
    return (err == 0) & safe


def _mul(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The float product and where it needs rounding (not exact; exact zeros are exact)."""
    zero = (a == 0) | (b == 0)
    p = torch.where(zero, torch.zeros((), dtype=a.dtype, device=a.device), a * b)
    if p.dtype != torch.float64 or p.numel() > EXACT_POINTS:
        return p, ~zero
    return p, ~(zero | _exact_product(a, b, p))


def mul_dn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A lower bound of ``a * b``; ``0 * inf = 0`` (interval convention)."""
    p, rounded = _mul(a, b)
    return torch.where(rounded, dn(p), p)


def mul_up(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """An upper bound of ``a * b``; ``0 * inf = 0``."""
    p, rounded = _mul(a, b)
    return torch.where(rounded, up(p), p)


def mul_range(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds of the products ``a[k] * b[k]``, reduced over dimension 0.

    ``a``, ``b`` have equal shapes ``(m, ...)``; exact zeros (a zero factor) are not rounded,
    and where both operands are points (all ``m`` candidates equal) an error-free product (by
    Dekker's test) is not rounded either. Wide intervals skip that test (there rounding is
    far below their width), and so do large batches of points (the centres of a branch and
    bound: :data:`EXACT_POINTS` at most), where it would cost more than it gains; skipping
    only widens, so either way the bound is sound.
    """
    zero = (a == 0) | (b == 0)
    p = (a * b).masked_fill(zero, 0.0)
    rounded = ~zero
    if p.dtype == torch.float64 and p[0].numel() <= EXACT_POINTS:
        point = (a == a[:1]).all(0) & (b == b[:1]).all(0)
        exact = point & _exact_product(a[0], b[0], p[0])
        rounded = rounded & ~exact.unsqueeze(0)
    lo = torch.where(rounded, dn(p), p).amin(0)
    hi = torch.where(rounded, up(p), p).amax(0)
    return lo, hi


def _sequential_exact(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The left-to-right float sum over ``dim`` and where every partial sum was exact."""
    parts = x.unbind(dim)
    s = parts[0]
    exact = torch.isfinite(s)
    for p in parts[1:]:
        nxt = s + p
        exact = exact & _exact_sum(s, p, nxt)
        s = nxt
    return s, exact


#: Sums of at most this many terms are checked for exactness (error-free TwoSum chain).
EXACT_SUM_TERMS = 16


def sum_bounds(lo: torch.Tensor, hi: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds of the sum over ``dim`` of values in ``[lo, hi]``, rounding included.

    A short sum whose every partial sum is exact in float64 (for example the cancelling terms
    of ``f(x_eq) = 0``) is returned exactly, without widening.

    Parameters
    ----------
    lo, hi : torch.Tensor
        Lower and upper bounds of the terms.
    dim : int
        The dimension summed over.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Bounds of the sum, rounded outward.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import sum_bounds
    >>> t = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> [float(b[0]) for b in sum_bounds(t, t, 1)]
    [3.0, 3.0]
    """
    k = lo.shape[dim]
    g = (k + 2) * EPS
    s_lo = lo.sum(dim)
    s_hi = hi.sum(dim)
    e_lo = g * lo.abs().sum(dim)
    e_hi = g * hi.abs().sum(dim)
    s_lo = torch.where(e_lo != 0, dn(s_lo - e_lo), s_lo)
    s_hi = torch.where(e_hi != 0, up(s_hi + e_hi), s_hi)
    if 1 < k <= EXACT_SUM_TERMS and lo.numel() <= k * EXACT_POINTS:
        q_lo, x_lo = _sequential_exact(lo, dim)
        q_hi, x_hi = _sequential_exact(hi, dim)
        s_lo = torch.where(x_lo, q_lo, s_lo)
        s_hi = torch.where(x_hi, q_hi, s_hi)
    return sanitize(s_lo, s_hi)
