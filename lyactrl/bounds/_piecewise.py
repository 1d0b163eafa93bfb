"""Piecewise-linear functions on jets: relu, leaky relu, clamp (hardtanh, relu6), abs, min, max.

One rule bounds them all. A continuous piecewise-linear function is Lipschitz but not
differentiable at its kinks. On a box (one interval per element):

* **value**: the exact range, the hull of the function at the interval's ends and at the
  kinks inside it (exact in float64 for clamp / max / min / abs, outward rounded for a
  slope other than 0 and +-1);
* **gradient**: away from a kink the slope of the piece; on an interval that meets a kink the
  hull of the one-sided derivatives (the slopes of every piece it meets). That hull contains
  Clarke's generalized gradient at every point of the box, and by Lebourg's mean-value theorem
  (``u(x) - u(c) = g . (x - c)`` for some ``g`` in the generalized gradient at a point of the
  segment) the mean-value form ``u(x) in u(c) + [grad] . (x - c)`` stays sound for Lipschitz
  functions; the Clarke chain, sum and product rules are inclusions, so the jet arithmetic
  built on it keeps enclosing. The hull also contains what torch's autograd reports at a kink
  (one of the one-sided slopes, or their mean for ``torch.maximum`` at a tie);
* **Hessian**: the second derivative at a kink is a point mass, so an interval with a kink
  strictly inside gets ``[-inf, inf]`` (no second-order form on that box); an interval that
  only touches a kink lies on one linear piece, whose curvature is zero.

:func:`piecewise_linear` is that rule for a function of one operand with constant kinks
(relu, leaky relu, clamp with constant bounds, abs); :func:`minimum` and :func:`maximum` apply
it to two bounded operands (the hull of both operands' gradients where either can be the
smaller, the Hessian of the one that is the smaller on the whole box, ``[-inf, inf]``
elsewhere), and reduce to :func:`piecewise_linear` when one operand is a constant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ._interval import Pair
from ._jet import Jet
from ._rounding import mul_dn, mul_up

__all__ = [
    "piecewise_linear",
    "relu",
    "leaky_relu",
    "step",
    "hardtanh_prime",
    "clamp",
    "hardtanh",
    "absolute",
    "minimum",
    "maximum",
]

_INF = float("inf")
Constant = float | torch.Tensor


def _whole(like: torch.Tensor) -> Pair:
    return torch.full_like(like, -_INF), torch.full_like(like, _INF)


def _hull_slopes(lo: torch.Tensor, hi: torch.Tensor, knots: list[torch.Tensor], slopes) -> Pair:
    """The hull of the slopes of the pieces that ``[lo, hi]`` meets (closed pieces)."""
    edges = [torch.full_like(lo, -_INF), *knots, torch.full_like(lo, _INF)]
    g_lo, g_hi = torch.full_like(lo, _INF), torch.full_like(lo, -_INF)
    for j, s in enumerate(slopes):
        meets = (lo <= edges[j + 1]) & (hi >= edges[j])
        g_lo = torch.where(meets, torch.clamp_max(g_lo, float(s)), g_lo)
        g_hi = torch.where(meets, torch.clamp_min(g_hi, float(s)), g_hi)
    bad = g_lo > g_hi  # no piece met: a NaN bound
    whole = _whole(lo)
    return torch.where(bad, whole[0], g_lo), torch.where(bad, whole[1], g_hi)


def piecewise_linear(
    x: Jet,
    knots: Sequence[Constant],
    slopes: Sequence[float],
    at: Callable[[torch.Tensor], Pair],
) -> Jet:
    """``g(x)`` for a continuous piecewise-linear ``g`` of one operand.

    Parameters
    ----------
    x : Jet
        The operand.
    knots : sequence of float or tensor
        The kinks, in increasing order (constants broadcasting against the value).
    slopes : sequence of float
        ``len(knots) + 1`` slopes: left of the first kink, between kinks, right of the last.
    at : callable
        ``t -> (lo, hi)``: an enclosure of ``g`` at the float points ``t`` (exact where
        float64 computes ``g`` exactly).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import Jet
    >>> from lyactrl.bounds._piecewise import clamp
    >>> lo, hi = torch.tensor([[-2.0]], dtype=torch.float64), torch.tensor([[0.5]], dtype=torch.float64)
    >>> x = Jet.variables(lo, hi, 2)
    >>> y = clamp(x.select(0), -1.0, 1.0)
    >>> [float(y.v[0]), float(y.v[1])], [float(y.d[0]), round(float(y.d[1]), 12)]
    ([-1.0, 0.5], [0.0, 1.0])
    >>> float(y.h[0]), float(y.h[1])  # the kink at -1 is inside: no curvature bound
    (-inf, inf)
    """
    lo, hi = x.v
    ks = [torch.as_tensor(k, dtype=lo.dtype, device=lo.device) for k in knots]
    lo, hi, *ks = torch.broadcast_tensors(lo, hi, *ks)
    a, b = at(lo), at(hi)
    v_lo, v_hi = torch.minimum(a[0], b[0]), torch.maximum(a[1], b[1])
    kink = torch.zeros_like(lo, dtype=torch.bool)
    for k in ks:
        c = at(k)
        inside = (lo <= k) & (k <= hi)
        v_lo = torch.where(inside, torch.minimum(v_lo, c[0]), v_lo)
        v_hi = torch.where(inside, torch.maximum(v_hi, c[1]), v_hi)
        kink = kink | ((lo < k) & (k < hi))
    g1 = _hull_slopes(lo, hi, ks, slopes) if x.order >= 1 else None
    g2 = None
    if x.order >= 2:
        whole, zero = _whole(lo), torch.zeros_like(lo)
        g2 = (torch.where(kink, whole[0], zero), torch.where(kink, whole[1], zero))
    return x.chain((v_lo, v_hi), g1, g2)


def _exact(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], Pair]:
    def at(t: torch.Tensor) -> Pair:
        v = fn(t)
        return v, v

    return at


def leaky_relu(x: Jet, slope: float = 0.01) -> Jet:
    """``x`` for ``x >= 0``, ``slope * x`` below (``relu`` is ``slope = 0``)."""
    a = float(slope)

    def at(t: torch.Tensor) -> Pair:
        if a == 0.0:
            v = t.clamp_min(0.0)
            return v, v
        c = torch.full_like(t, a)
        return (
            torch.where(t >= 0, t, mul_dn(c, t)),
            torch.where(t >= 0, t, mul_up(c, t)),
        )

    return piecewise_linear(x, [0.0], [a, 1.0], at)


def relu(x: Jet) -> Jet:
    """``max(x, 0)``."""
    return leaky_relu(x, 0.0)


def absolute(x: Jet) -> Jet:
    """``|x|``."""
    return piecewise_linear(x, [0.0], [-1.0, 1.0], _exact(torch.abs))


def _max_const(x: Jet, c: Constant) -> Jet:
    ct = torch.as_tensor(c, dtype=x.v[0].dtype, device=x.v[0].device)
    return piecewise_linear(x, [ct], [0.0, 1.0], _exact(lambda t: torch.maximum(t, ct)))


def _min_const(x: Jet, c: Constant) -> Jet:
    ct = torch.as_tensor(c, dtype=x.v[0].dtype, device=x.v[0].device)
    return piecewise_linear(x, [ct], [1.0, 0.0], _exact(lambda t: torch.minimum(t, ct)))


def _pick(a: Pair | None, b: Pair | None, a_only: torch.Tensor, b_only: torch.Tensor, extra: int):
    """``a`` where ``a_only``, ``b`` where ``b_only``, else the hull (``None`` if absent)."""
    if a is None or b is None:
        return None
    ma, mb = a_only, b_only
    for _ in range(extra):
        ma, mb = ma.unsqueeze(-1), mb.unsqueeze(-1)
    lo = torch.where(ma, a[0], torch.where(mb, b[0], torch.minimum(a[0], b[0])))
    hi = torch.where(ma, a[1], torch.where(mb, b[1], torch.maximum(a[1], b[1])))
    return lo, hi


def _extreme(a: Jet, b: Jet, largest: bool) -> Jet:
    """``max(a, b)`` (``largest``) or ``min(a, b)`` of two bounded operands."""
    pick = torch.maximum if largest else torch.minimum
    v = (pick(a.v[0], b.v[0]), pick(a.v[1], b.v[1]))
    # "a is the larger (smaller) on the whole box": then max(a, b) = a there. Strictly, because
    # at a tie torch's autograd splits between a and b, and a box that only touches a tie may
    # be a single point, where no neighbourhood lies on one side
    a_wins = a.v[0] > b.v[1] if largest else a.v[1] < b.v[0]
    b_wins = b.v[0] > a.v[1] if largest else b.v[1] < a.v[0]
    d = _pick(a.d, b.d, a_wins, b_wins, 1)
    h = None
    if a.h is not None and b.h is not None:
        # where neither operand wins on the whole box a kink may be inside: no curvature bound
        ma, mb = a_wins[..., None, None], b_wins[..., None, None]
        inf = torch.tensor(_INF, dtype=v[0].dtype, device=v[0].device)
        h = (
            torch.where(ma, a.h[0], torch.where(mb, b.h[0], -inf)),
            torch.where(ma, a.h[1], torch.where(mb, b.h[1], inf)),
        )
    return Jet(v, d, h, a.n)


def _binary(a: Jet | Constant, b: Jet | Constant, largest: bool) -> Jet:
    const = _max_const if largest else _min_const
    if not isinstance(b, Jet):
        return const(a, b)  # type: ignore[arg-type]
    if not isinstance(a, Jet):
        return const(b, a)
    return _extreme(a, b, largest)


def maximum(a: Jet | Constant, b: Jet | Constant) -> Jet:
    """``max(a, b)`` elementwise (broadcasting); at least one operand is a jet."""
    return _binary(a, b, True)


def minimum(a: Jet | Constant, b: Jet | Constant) -> Jet:
    """``min(a, b)`` elementwise (broadcasting); at least one operand is a jet."""
    return _binary(a, b, False)


def clamp(x: Jet, lo: Jet | Constant | None = None, hi: Jet | Constant | None = None) -> Jet:
    """torch's ``clamp(x, lo, hi) = min(max(x, lo), hi)`` (so ``hi`` wins where ``lo > hi``);
    ``None`` leaves that side open."""
    out = x if lo is None else maximum(x, lo)
    return out if hi is None else minimum(out, hi)


def hardtanh(x: Jet, min_val: float = -1.0, max_val: float = 1.0) -> Jet:
    """``clamp(x, min_val, max_val)`` (``nn.Hardtanh``; ``nn.ReLU6`` is ``(0, 6)``)."""
    return clamp(x, float(min_val), float(max_val))


def step(x: Jet, low: float = 0.0, high: float = 1.0) -> Jet:
    """The derivative torch uses for (leaky) ReLU: ``low`` for ``x <= 0``, ``high`` above.

    A jump, not a kink: both derivative enclosures are ``[-inf, inf]`` on an interval that
    crosses it (no mean-value form across a jump; the plain interval bound is still used).
    """
    lo, hi = x.v
    neg, pos = hi <= 0, lo > 0
    cross = ~(neg | pos)
    a, b = min(low, high), max(low, high)

    def full(v: float) -> torch.Tensor:
        return torch.full_like(lo, v)

    v0 = (
        torch.where(pos, full(high), torch.where(neg, full(low), full(a))),
        torch.where(pos, full(high), torch.where(neg, full(low), full(b))),
    )
    whole = _whole(lo)
    zero = torch.zeros_like(lo)
    g = (torch.where(cross, whole[0], zero), torch.where(cross, whole[1], zero))
    return x.chain(v0, g if x.order >= 1 else None, g if x.order >= 2 else None)


def hardtanh_prime(x: Jet, min_val: float = -1.0, max_val: float = 1.0) -> Jet:
    """The derivative torch uses for hardtanh: 1 for ``min_val < x < max_val``, 0 elsewhere
    (the product of two steps)."""
    return step(x - float(min_val)) * step(float(max_val) - x)
