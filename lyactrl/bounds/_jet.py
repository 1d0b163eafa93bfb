"""Interval jets: enclosures of a value and of its first and second derivatives over a box.

A :class:`Jet` holds, for every point ``x`` of a box (one box per batch row), intervals that
contain the value ``u(x)``, the gradient ``du/dx`` (order >= 1) and the Hessian (order 2). The
arithmetic is forward-mode differentiation in interval arithmetic: the chain rule applied to
enclosures. Over a box, the gradient enclosure gives the mean-value form
``u(x) in u(c) + [grad] . (x - c)`` whose width shrinks quadratically under bisection; at the
equilibrium the Hessian enclosure gives the local (second-order Taylor) certificate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ._interval import Pair, iadd, ilinear, imul, ineg, iscale, sanitize
from ._rounding import sum_bounds

__all__ = ["Jet"]


def _outer(a: Pair) -> Pair:
    return imul((a[0].unsqueeze(-1), a[1].unsqueeze(-1)), (a[0].unsqueeze(-2), a[1].unsqueeze(-2)))


def _outer2(a: Pair, b: Pair) -> Pair:
    """``a b^T + b a^T`` for gradient enclosures ``a``, ``b`` of shape ``(..., n)``."""
    ab = imul((a[0].unsqueeze(-1), a[1].unsqueeze(-1)), (b[0].unsqueeze(-2), b[1].unsqueeze(-2)))
    ba = imul((b[0].unsqueeze(-1), b[1].unsqueeze(-1)), (a[0].unsqueeze(-2), a[1].unsqueeze(-2)))
    return iadd(ab, ba)


def _u1(p: Pair) -> Pair:
    return p[0].unsqueeze(-1), p[1].unsqueeze(-1)


def _u2(p: Pair) -> Pair:
    return p[0].unsqueeze(-1).unsqueeze(-1), p[1].unsqueeze(-1).unsqueeze(-1)


class Jet:
    """Enclosures of value, gradient (``order >= 1``) and Hessian (``order == 2``).

    Shapes: value ``(batch, *s)``, gradient ``(batch, *s, n)``, Hessian ``(batch, *s, n, n)``
    where ``n`` is the number of box variables. Build the coordinates with
    :meth:`variables` and combine jets with ``+``, ``-``, ``*``, :meth:`linear`, :meth:`sum`
    and the functions of :mod:`lyactrl.bounds.jets` (for example :func:`powi`).

    Parameters
    ----------
    v : tuple of torch.Tensor
        ``(lower, upper)`` enclosures of the value.
    d : tuple of torch.Tensor or None
        ``(lower, upper)`` enclosures of the gradient, or ``None`` for order 0.
    h : tuple of torch.Tensor or None
        ``(lower, upper)`` enclosures of the Hessian, or ``None`` below order 2.
    n : int
        The number of box variables.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import Jet
    >>> x = Jet.variables(torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 3.0]]), 1)
    >>> s = x.sum(1)
    >>> round(float(s.v[0][0]), 4), round(float(s.v[1][0]), 4), s.order  # outward rounded
    (3.0, 5.0, 1)
    """

    __slots__ = ("v", "d", "h", "n")

    def __init__(self, v: Pair, d: Pair | None, h: Pair | None, n: int) -> None:
        self.v = v
        self.d = d
        self.h = h
        self.n = n

    # construction ---------------------------------------------------------------------
    @classmethod
    def variables(cls, lo: torch.Tensor, hi: torch.Tensor, order: int) -> Jet:
        """The coordinates ``x`` on boxes ``[lo, hi]`` of shape ``(batch, n)``."""
        b, n = lo.shape
        d = h = None
        if order >= 1:
            eye = torch.eye(n, dtype=lo.dtype, device=lo.device).expand(b, n, n)
            d = (eye, eye)
        if order >= 2:
            z = torch.zeros(b, n, n, n, dtype=lo.dtype, device=lo.device)
            h = (z, z)
        return cls((lo, hi), d, h, n)

    def constant(self, lo: torch.Tensor | float, hi: torch.Tensor | float | None = None) -> Jet:
        """A constant interval (one element's shape, repeated over the batch), zero derivatives."""
        ref = self.v[0]
        lo_t = torch.as_tensor(lo, dtype=ref.dtype, device=ref.device)
        hi_t = lo_t if hi is None else torch.as_tensor(hi, dtype=ref.dtype, device=ref.device)
        shape = (ref.shape[0],) + tuple(lo_t.shape)
        lo_t, hi_t = lo_t.unsqueeze(0).expand(shape), hi_t.unsqueeze(0).expand(shape)
        return self._with_zero_derivs((lo_t, hi_t))

    def _with_zero_derivs(self, v: Pair) -> Jet:
        d = h = None
        if self.d is not None:
            z = torch.zeros(v[0].shape + (self.n,), dtype=v[0].dtype, device=v[0].device)
            d = (z, z)
        if self.h is not None:
            z = torch.zeros(v[0].shape + (self.n, self.n), dtype=v[0].dtype, device=v[0].device)
            h = (z, z)
        return Jet(v, d, h, self.n)

    @property
    def order(self) -> int:
        return 0 if self.d is None else (1 if self.h is None else 2)

    # structure ------------------------------------------------------------------------
    def select(self, i: int) -> Jet:
        """Component ``i`` along dimension 1."""
        return Jet(
            (self.v[0][:, i], self.v[1][:, i]),
            None if self.d is None else (self.d[0][:, i], self.d[1][:, i]),
            None if self.h is None else (self.h[0][:, i], self.h[1][:, i]),
            self.n,
        )

    @staticmethod
    def stack(jets: Sequence[Jet], dim: int = 1) -> Jet:
        """Stack jets of equal shape along a new dimension ``dim`` (counted on the value)."""
        j0 = jets[0]

        def st(parts: list[Pair | None]) -> Pair | None:
            if parts[0] is None:
                return None
            return (
                torch.stack([p[0] for p in parts], dim=dim),  # type: ignore[index]
                torch.stack([p[1] for p in parts], dim=dim),  # type: ignore[index]
            )

        return Jet(
            st([j.v for j in jets]),  # type: ignore[arg-type]
            st([j.d for j in jets]),
            st([j.h for j in jets]),
            j0.n,
        )

    # arithmetic -----------------------------------------------------------------------
    def __add__(self, other: Jet | float) -> Jet:
        if not isinstance(other, Jet):
            c = torch.as_tensor(other, dtype=self.v[0].dtype, device=self.v[0].device)
            return Jet(iadd(self.v, (c, c)), self.d, self.h, self.n)
        return Jet(
            iadd(self.v, other.v),
            None if self.d is None or other.d is None else iadd(self.d, other.d),
            None if self.h is None or other.h is None else iadd(self.h, other.h),
            self.n,
        )

    __radd__ = __add__

    def __neg__(self) -> Jet:
        return Jet(
            ineg(self.v),
            None if self.d is None else ineg(self.d),
            None if self.h is None else ineg(self.h),
            self.n,
        )

    def __sub__(self, other: Jet | float) -> Jet:
        return self + (-other)

    def __rsub__(self, other: float) -> Jet:
        return (-self) + other

    def scale(self, c: torch.Tensor | float) -> Jet:
        """``c * self`` for a constant ``c`` broadcasting against the value."""
        ct = torch.as_tensor(c, dtype=self.v[0].dtype, device=self.v[0].device)
        return Jet(
            iscale(ct, self.v),
            None if self.d is None else iscale(ct.unsqueeze(-1) if ct.ndim else ct, self.d),
            None
            if self.h is None
            else iscale(ct.unsqueeze(-1).unsqueeze(-1) if ct.ndim else ct, self.h),
            self.n,
        )

    def __mul__(self, other: Jet | float) -> Jet:
        if not isinstance(other, Jet):
            return self.scale(other)
        a, b = self, other
        v = imul(a.v, b.v)
        d = h = None
        if a.d is not None and b.d is not None:
            d = iadd(imul(_u1(a.v), b.d), imul(_u1(b.v), a.d))
        if a.h is not None and b.h is not None:
            h = iadd(iadd(imul(_u2(a.v), b.h), imul(_u2(b.v), a.h)), _outer2(a.d, b.d))  # type: ignore[arg-type]
        return Jet(v, d, h, self.n)

    __rmul__ = __mul__

    def chain(self, g0: Pair, g1: Pair | None, g2: Pair | None) -> Jet:
        """``g(self)`` given enclosures ``g0, g1, g2`` of ``g, g', g''`` over the value."""
        d = h = None
        if self.d is not None:
            d = imul(_u1(g1), self.d)  # type: ignore[arg-type]
        if self.h is not None:
            h = iadd(imul(_u2(g1), self.h), imul(_u2(g2), _outer(self.d)))  # type: ignore[arg-type]
        return Jet(sanitize(*g0), d, h, self.n)

    def compose(self, outer: Callable[[Jet], Jet]) -> Jet:
        """``outer(self)`` for a scalar-valued jet builder ``outer``, by the chain rule.

        ``outer`` is evaluated on fresh coordinates over this jet's value box (so it sees
        ordinary box variables, whatever it assumes of them), and its gradient and Hessian
        there are chained with this jet's: ``d = g^T J``, ``h = J^T H J + sum_j g_j H_j``.
        Sound because ``self(x)`` lies in the value box for every ``x`` of the box.

        Examples
        --------
        >>> import torch
        >>> from lyactrl.bounds.jets import Jet, powi
        >>> one = torch.ones(1, 1, dtype=torch.float64)
        >>> y = Jet.variables(one, one, 1).scale(3.0)  # y = 3 x at x = 1
        >>> z = y.compose(lambda w: powi(w, 2).sum(1))  # z = 9 x^2, dz/dx = 18 x
        >>> round(float(z.v[0][0]), 9), round(float(z.d[1][0, 0]), 9)
        (9.0, 18.0)
        """
        z = Jet.variables(self.v[0], self.v[1], self.order)
        out = outer(z)
        d = h = None
        if self.d is not None:
            d = sum_bounds(*imul(_u1(out.d), self.d), 1)  # type: ignore[arg-type]
        if self.h is not None:
            J = self.d  # (batch, m, n)
            H = out.h  # (batch, m, m)
            HJ = sum_bounds(*imul(_u1(H), (J[0].unsqueeze(1), J[1].unsqueeze(1))), 2)  # type: ignore
            JHJ = imul(
                (J[0].unsqueeze(-1), J[1].unsqueeze(-1)), (HJ[0].unsqueeze(2), HJ[1].unsqueeze(2))
            )  # type: ignore
            second = imul(_u2(out.d), self.h)  # type: ignore[arg-type]
            h = iadd(sum_bounds(*JHJ, 1), sum_bounds(*second, 1))
        return Jet(out.v, d, h, self.n)

    def linear(self, W: torch.Tensor, b: torch.Tensor | None = None) -> Jet:
        """``W @ self + b`` along dimension 1 (a constant matrix ``W`` of shape ``(o, k)``)."""
        ref = self.v[0]
        W = W.to(dtype=ref.dtype, device=ref.device)  # weights follow the boxes (float64)
        b = None if b is None else b.to(dtype=ref.dtype, device=ref.device)
        return Jet(
            ilinear(W, self.v, b),
            None if self.d is None else ilinear(W, self.d),
            None if self.h is None else ilinear(W, self.h),
            self.n,
        )

    def sum(self, dim: int = 1) -> Jet:
        """Sum over dimension ``dim`` of the value (rounding included)."""
        return Jet(
            sum_bounds(*self.v, dim),
            None if self.d is None else sum_bounds(*self.d, dim),
            None if self.h is None else sum_bounds(*self.h, dim),
            self.n,
        )

    def intersect_value(self, lo: torch.Tensor, hi: torch.Tensor) -> Jet:
        """The same jet with its value interval intersected with ``[lo, hi]`` (both sound)."""
        return Jet(
            (torch.maximum(self.v[0], lo), torch.minimum(self.v[1], hi)), self.d, self.h, self.n
        )

    def intersect_derivative(self, lo: torch.Tensor, hi: torch.Tensor) -> Jet:
        """The same jet with its first-derivative enclosure intersected with ``[lo, hi]``."""
        d = self.d
        assert d is not None
        return Jet(self.v, (torch.maximum(d[0], lo), torch.minimum(d[1], hi)), self.h, self.n)

    def intersect_hessian(self, lo: torch.Tensor, hi: torch.Tensor) -> Jet:
        """The same jet with its Hessian enclosure intersected with ``[lo, hi]``."""
        h = self.h
        assert h is not None
        return Jet(self.v, self.d, (torch.maximum(h[0], lo), torch.minimum(h[1], hi)), self.n)
