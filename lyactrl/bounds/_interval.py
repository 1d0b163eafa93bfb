"""Interval operations on pairs of float64 tensors ``(lo, hi)``, with outward rounding."""

from __future__ import annotations

import torch

from ._rounding import EPS, ETA, add_dn, add_up, dn, mul_dn, mul_range, mul_up, sanitize, up

__all__ = [
    "iadd",
    "isub",
    "ineg",
    "imul",
    "iscale",
    "isquare",
    "ilinear",
    "hull_abs",
    "widen",
    "split_edges",
]

Pair = tuple[torch.Tensor, torch.Tensor]


def _broadcast(s1: torch.Size, s2: torch.Size) -> tuple[int, ...]:
    if s1 == s2:
        return tuple(s1)
    n = max(len(s1), len(s2))
    a = (1,) * (n - len(s1)) + tuple(s1)
    b = (1,) * (n - len(s2)) + tuple(s2)
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"shapes {tuple(s1)} and {tuple(s2)} do not broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def iadd(a: Pair, b: Pair) -> Pair:
    """``a + b`` of intervals ``(lo, hi)``, rounded outward.

    Parameters
    ----------
    a, b : (torch.Tensor, torch.Tensor)
        Intervals as lower and upper tensors of broadcastable shapes.

    Returns
    -------
    (torch.Tensor, torch.Tensor)

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import iadd
    >>> one = torch.ones(1, dtype=torch.float64)
    >>> [float(t[0]) for t in iadd((one, 2 * one), (one, one))]
    [2.0, 3.0]
    """
    return sanitize(add_dn(a[0], b[0]), add_up(a[1], b[1]))


def ineg(a: Pair) -> Pair:
    """``-a`` (exact)."""
    return -a[1], -a[0]


def isub(a: Pair, b: Pair) -> Pair:
    """``a - b``."""
    return iadd(a, ineg(b))


def imul(a: Pair, b: Pair) -> Pair:
    """``a * b`` (elementwise, broadcasting); ``0 * inf = 0``.

    Parameters
    ----------
    a, b : (torch.Tensor, torch.Tensor)
        Intervals as lower and upper tensors of broadcastable shapes.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Rounded outward.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import imul
    >>> one = torch.ones(1, dtype=torch.float64)
    >>> lo, hi = imul((-one, 2 * one), (one, 3 * one))  # [-3, 6], rounded outward
    >>> bool(lo[0] <= -3.0) and bool(hi[0] >= 6.0)
    True
    """
    alo, ahi = a
    blo, bhi = b
    shape = _broadcast(alo.shape, blo.shape)
    A = torch.stack([alo.expand(shape), alo.expand(shape), ahi.expand(shape), ahi.expand(shape)])
    B = torch.stack([blo.expand(shape), bhi.expand(shape), blo.expand(shape), bhi.expand(shape)])
    return mul_range(A, B)  # no NaN: 0 * inf is taken as 0


def iscale(c: torch.Tensor | float, a: Pair) -> Pair:
    """``c * a`` for a constant ``c`` (a float or a tensor broadcasting against ``a``).

    Parameters
    ----------
    c : float or torch.Tensor
        The constant.
    a : (torch.Tensor, torch.Tensor)
        The interval.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Rounded outward.
    """
    ct = torch.as_tensor(c, dtype=a[0].dtype, device=a[0].device)
    shape = _broadcast(ct.shape, a[0].shape)
    A = ct.expand(shape).unsqueeze(0).expand((2,) + shape)
    B = torch.stack([a[0].expand(shape), a[1].expand(shape)])
    return mul_range(A, B)


def isquare(a: Pair) -> Pair:
    """``a**2`` (tight: 0 when ``a`` contains 0)."""
    lo, hi = a
    m_lo = torch.where(lo > 0, lo, torch.where(hi < 0, -hi, torch.zeros_like(lo)))
    m_hi = torch.maximum(lo.abs(), hi.abs())
    return sanitize(mul_dn(m_lo, m_lo), mul_up(m_hi, m_hi))


def hull_abs(a: Pair) -> torch.Tensor:
    """``max(|lo|, |hi|)``: an upper bound of ``|x|`` for ``x`` in ``a``."""
    return torch.maximum(a[0].abs(), a[1].abs())


def widen(a: Pair, rel: float, abs_: float, mask: torch.Tensor | None = None) -> Pair:
    """Widen by ``rel * |endpoint| + abs_`` outward (only where ``mask`` when given)."""
    lo, hi = a
    e_lo = rel * lo.abs() + abs_
    e_hi = rel * hi.abs() + abs_
    if mask is not None:
        e_lo = torch.where(mask, e_lo, torch.zeros_like(e_lo))
        e_hi = torch.where(mask, e_hi, torch.zeros_like(e_hi))
    return sanitize(
        torch.where(e_lo != 0, dn(lo - e_lo), lo), torch.where(e_hi != 0, up(hi + e_hi), hi)
    )


def ilinear(W: torch.Tensor, a: Pair, b: torch.Tensor | None = None) -> Pair:
    """``W @ a (+ b)`` along dimension 1 of ``a`` (shape ``(batch, k, ...)``).

    Midpoint-radius form: exact for the real map of a box, plus a rounding term
    ``(k + 3) * eps * (|W| (|mid| + rad) + |b|) + k * eta`` (zero when the input is exactly 0
    and there is no bias).

    Parameters
    ----------
    W : torch.Tensor
        A constant matrix ``(o, k)``.
    a : (torch.Tensor, torch.Tensor)
        The interval, shape ``(batch, k, ...)``.
    b : torch.Tensor, optional
        A constant bias ``(o,)``.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Shape ``(batch, o, ...)``.
    """
    lo, hi = a
    k = W.shape[1]
    extra = lo.ndim - 2
    mid = 0.5 * (lo + hi)
    rad = torch.maximum(up(hi - mid), up(mid - lo))
    rad = torch.where(hi == lo, torch.zeros_like(rad), rad)
    absW = W.abs()
    ym = torch.einsum("ok,bk...->bo...", W, mid)
    yr = torch.einsum("ok,bk...->bo...", absW, rad)
    mag = torch.einsum("ok,bk...->bo...", absW, mid.abs() + rad)
    if b is not None:
        bb = b.reshape((1, -1) + (1,) * extra)
        ym = ym + bb
        mag = mag + bb.abs()
    err = (k + 3) * EPS * mag + k * ETA * (mag != 0)
    tot = torch.where(err != 0, up(yr + err), yr)
    lo_out = torch.where(tot != 0, dn(ym - tot), ym)
    hi_out = torch.where(tot != 0, up(ym + tot), ym)
    return sanitize(lo_out, hi_out)


def split_edges(lo: torch.Tensor, hi: torch.Tensor, k: int) -> torch.Tensor:
    """The edges of ``k`` equal pieces of each interval ``[lo, hi]``, shape ``(*lo.shape,
    k + 1)``: the outer edges are ``lo`` and ``hi`` exactly and neighbours share their computed
    edge, so the pieces cover the interval."""
    t = torch.linspace(0.0, 1.0, k + 1, dtype=lo.dtype, device=lo.device)
    edges = lo.unsqueeze(-1) + (hi - lo).unsqueeze(-1) * t
    edges[..., 0], edges[..., -1] = lo, hi
    return edges


def symmetric_upper_eig(hlo: torch.Tensor, hhi: torch.Tensor) -> torch.Tensor:
    """Upper bounds of the largest eigenvalue of every symmetric matrix in ``[hlo, hhi]``.

    Shapes ``(batch, n, n)`` -> ``(batch,)``; ``inf`` where the enclosure is not finite. The
    bound is ``lambda_max(M) + ||E||_2`` for the midpoint ``M`` (its diagonal at the upper
    ends) and the radius ``E``, with a rounding margin for ``eigvalsh``.

    Parameters
    ----------
    hlo, hhi : torch.Tensor
        Elementwise lower and upper bounds, shape ``(batch, n, n)``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import symmetric_upper_eig
    >>> lo = torch.tensor([[[-2.0, -0.1], [-0.1, -1.0]]], dtype=torch.float64)
    >>> hi = torch.tensor([[[-2.0, 0.1], [0.1, -1.0]]], dtype=torch.float64)
    >>> bool(-1.0 <= float(symmetric_upper_eig(lo, hi)[0]) <= -1.0 + 0.11)
    True
    """
    lo = torch.maximum(hlo, hlo.transpose(-1, -2))
    hi = torch.minimum(hhi, hhi.transpose(-1, -2))
    finite = torch.isfinite(lo).all(-1).all(-1) & torch.isfinite(hi).all(-1).all(-1)
    lo = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
    hi = torch.where(torch.isfinite(hi), hi, torch.zeros_like(hi))
    mid = 0.5 * (lo + hi)
    rad = torch.maximum(hi - mid, mid - lo).clamp_min(0.0)
    # diagonal: H = M + E - Delta with diag(M) = diag(hi), Delta >= 0 diagonal, so
    # lambda_max(H) <= lambda_max(M) + ||E|| with E zero on the diagonal
    eye = torch.eye(mid.shape[-1], dtype=torch.bool, device=mid.device)
    mid = torch.where(eye, hi, mid)
    rad = torch.where(eye, torch.zeros_like(rad), rad)
    n = mid.shape[-1]
    lam = torch.linalg.eigvalsh(mid)[..., -1]
    # |E| <= rad elementwise: ||E||_2 <= ||rad||_2, the top eigenvalue of the symmetric
    # nonnegative rad (Perron-Frobenius), never above ||rad||_F
    norm_mid = torch.linalg.matrix_norm(mid)
    norm_rad = torch.linalg.matrix_norm(rad)
    spread = torch.minimum(torch.linalg.eigvalsh(rad)[..., -1].clamp_min(0.0), norm_rad)
    bound = torch.nextafter(
        lam + 16 * n * EPS * (norm_mid + norm_rad) + spread, torch.tensor(float("inf"))
    )
    return torch.where(finite, bound, torch.full_like(bound, float("inf")))
