"""Polynomials as coefficient vectors over a monomial index, and the linear maps SOS needs.

A polynomial in ``n`` variables of degree at most ``D`` is a vector of coefficients indexed by
the monomials of :class:`MonomialIndex`. Gram maps send ``vec(Q)`` to the coefficients of
``z(x)^T Q z(x)``; multiplication and Lie-derivative maps are sparse matrices, so an SOS
program is a handful of sparse equality constraints between coefficient vectors.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

from .._errors import InvalidValueError

__all__ = [
    "MonomialIndex",
    "monomials",
    "gram_map",
    "multiply_map",
    "lie_derivative_map",
    "poly_coefficients",
    "coefficients_to_expr",
    "evaluate_monomials",
]

Monomial = tuple[int, ...]


def monomials(n: int, min_degree: int, max_degree: int) -> list[Monomial]:
    """Exponent tuples of the monomials in ``n`` variables with degree in the given range.

    Graded order (by degree, then lexicographically descending).

    Parameters
    ----------
    n : int
        The number of variables.
    min_degree, max_degree : int
        The range of total degrees, both included.

    Returns
    -------
    list of tuple of int
        One exponent tuple of length ``n`` per monomial.

    Examples
    --------
    >>> from lyactrl.sdp import monomials
    >>> monomials(2, 1, 2)
    [(1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]
    """
    out: list[Monomial] = []
    for d in range(min_degree, max_degree + 1):
        block = [
            tuple(c.count(i) for i in range(n))
            for c in itertools.combinations_with_replacement(range(n), d)
        ]
        out.extend(sorted(block, reverse=True))
    return out


class MonomialIndex:
    """All monomials in ``n`` variables of degree at most ``max_degree``, with their rows.

    Parameters
    ----------
    n : int
        The number of variables.
    max_degree : int
        The largest total degree.

    Attributes
    ----------
    monomials : list of tuple of int
        The exponent tuples in the order of :func:`monomials` (degree 0 first).
    rows : dict
        Exponent tuple -> row.
    size : int
        The number of monomials.

    Examples
    --------
    >>> from lyactrl.sdp import MonomialIndex
    >>> index = MonomialIndex(2, 2)
    >>> index.size, index.row((1, 1))
    (6, 4)
    """

    def __init__(self, n: int, max_degree: int) -> None:
        self.n = n
        self.max_degree = max_degree
        self.monomials = monomials(n, 0, max_degree)
        self.rows = {m: i for i, m in enumerate(self.monomials)}
        self.size = len(self.monomials)

    def row(self, m: Monomial) -> int:
        """The row of monomial ``m`` (an error when its degree exceeds ``max_degree``)."""
        try:
            return self.rows[m]
        except KeyError:
            raise InvalidValueError(
                f"monomial {m} of degree {sum(m)} exceeds the degree bound {self.max_degree}"
            ) from None


def gram_map(basis: Sequence[Monomial], index: MonomialIndex) -> scipy.sparse.csr_matrix:
    """The map ``vec(Q) -> coefficients of z^T Q z`` for the monomial vector ``z = basis``.

    ``vec`` may be row- or column-major: the map is meant for symmetric ``Q``.
    """
    N = len(basis)
    rows, cols = [], []
    for i, a in enumerate(basis):
        for j, b in enumerate(basis):
            rows.append(index.row(tuple(p + q for p, q in zip(a, b, strict=True))))
            cols.append(i * N + j)
    data = np.ones(len(rows))
    return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(index.size, N * N))


def multiply_map(poly: dict[Monomial, float], index: MonomialIndex) -> scipy.sparse.csr_matrix:
    """The map ``c -> coefficients of (c * poly)`` on the index (products must fit in it)."""
    rows, cols, data = [], [], []
    top = max((sum(m) for m in poly), default=0)
    for j, m in enumerate(index.monomials):
        if sum(m) + top > index.max_degree:
            continue  # inputs of that degree must be zero; callers restrict them
        for a, coef in poly.items():
            rows.append(index.row(tuple(p + q for p, q in zip(m, a, strict=True))))
            cols.append(j)
            data.append(coef)
    return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(index.size, index.size))


def lie_derivative_map(
    field: Sequence[dict[Monomial, float]], index: MonomialIndex, max_input_degree: int
) -> scipy.sparse.csr_matrix:
    """The map ``coefficients of V -> coefficients of grad V . f`` (``f`` one dict per state)."""
    rows, cols, data = [], [], []
    for j, m in enumerate(index.monomials):
        if sum(m) > max_input_degree:
            continue
        for k, fk in enumerate(field):
            if m[k] == 0:
                continue
            base = list(m)
            base[k] -= 1
            for a, coef in fk.items():
                rows.append(index.row(tuple(p + q for p, q in zip(base, a, strict=True))))
                cols.append(j)
                data.append(m[k] * coef)
    return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(index.size, index.size))


def poly_coefficients(
    sp: Any, expr: Any, states: Sequence[Any], name: str
) -> dict[Monomial, float]:
    """The coefficients of a polynomial sympy expression, as ``{exponents: float}``."""
    try:
        poly = sp.Poly(sp.expand(expr), *states)
    except sp.PolynomialError as exc:
        raise InvalidValueError(
            f"{name}: expected a polynomial in the states, received {expr}"
        ) from exc
    out = {}
    for m, c in poly.terms():
        try:
            value = float(c)
        except TypeError as exc:
            raise InvalidValueError(
                f"{name}: expected numeric coefficients, received {c} in {expr}"
            ) from exc
        if value != 0.0:
            out[tuple(int(e) for e in m)] = value
    return out


def coefficients_to_expr(
    sp: Any, coefs: np.ndarray, index: MonomialIndex, states: Sequence[Any]
) -> Any:
    """The sympy polynomial with these coefficients.

    Coefficients below ``1e-13`` times the largest are solver noise and are dropped.
    """
    terms = []
    cut = 1e-13 * float(np.abs(coefs).max(initial=0.0))
    for c, m in zip(coefs, index.monomials, strict=True):
        if abs(c) > cut:
            terms.append(
                sp.Float(float(c), 17) * sp.Mul(*[s**e for s, e in zip(states, m, strict=True)])
            )
    return sp.Add(*terms)


def evaluate_monomials(points: np.ndarray, index: MonomialIndex) -> np.ndarray:
    """The ``(m, index.size)`` matrix of every monomial of the index at ``m`` points.

    Parameters
    ----------
    points : array_like, shape (m, n)
        The points.
    index : MonomialIndex
        The monomials to evaluate, in its row order.

    Returns
    -------
    numpy.ndarray, shape (m, index.size)

    Examples
    --------
    >>> import numpy as np
    >>> from lyactrl.sdp import MonomialIndex, evaluate_monomials
    >>> evaluate_monomials(np.array([[2.0, 3.0]]), MonomialIndex(2, 1)).tolist()
    [[1.0, 2.0, 3.0]]
    """
    pts = np.asarray(points, dtype=np.float64)
    return np.stack([np.prod(pts ** np.array(m), axis=1) for m in index.monomials], axis=1)
