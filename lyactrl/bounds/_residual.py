"""Bounds of residuals, candidates and systems over batches of boxes.

Each bound is the intersection of two sound enclosures: the natural interval extension and
the first-order mean-value form

    u(x) in u(c) + sum_i [g_i] (x_i - c_i),    c the box centre, [g] the gradient enclosure,

whose width shrinks quadratically when the box is bisected. ``u(c)`` is evaluated in interval
arithmetic at the point ``c`` (so it is exact up to the stated rounding margin).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidValueError, UnsupportedOperationError
from .._tensors import as_states
from ..conditions import AbstractCondition
from ..lyapunov import AbstractCandidate
from ..systems import AbstractSystem
from . import _functions as F
from ._interval import hull_abs, split_edges
from ._jet import Jet
from ._models import candidate_jets, system_jet
from ._rounding import FP_MARGIN, add_up, mul_up, sub_dn, sum_bounds, up

__all__ = [
    "Bounds",
    "CONDITIONS",
    "MAX_PIECES",
    "residual_jet",
    "mean_value_bounds",
    "bound_residual",
    "bound_candidate",
    "bound_system",
    "proved_positive",
]

#: Conditions the certifier supports: any :class:`~lyactrl.conditions.AbstractCondition`
#: whose system and candidate are in the vocabulary (the residual is the condition's own
#: :meth:`~lyactrl.conditions.AbstractCondition.combine`).
CONDITIONS = ("ExponentialStability", "BarrierCondition", "any AbstractCondition")
#: Most grid pieces per box of ``mean_value_bounds(..., splits=k)`` (``k^n``).
MAX_PIECES = 4096


@dataclasses.dataclass(frozen=True)
class Bounds:
    """Sound bounds over a batch of boxes, as returned by :func:`bound_residual`,
    :func:`bound_candidate` and :func:`bound_system`.

    Attributes
    ----------
    lower, upper : torch.Tensor
        Shape ``(batch,)`` (or ``(batch, n)`` for a system): the function lies in
        ``[lower, upper]`` on each box.
    gradient_abs : torch.Tensor or None
        ``(batch, n)``: an upper bound of ``|du/dx_i|`` on each box (inf where unknown).
    fp_margin : str
        The floating-point margin included in the bounds.
    """

    lower: torch.Tensor
    upper: torch.Tensor
    gradient_abs: torch.Tensor | None
    fp_margin: str = FP_MARGIN


def residual_jet(condition: AbstractCondition, x: Jet) -> Jet:
    """The jet of the condition's residual: its own :meth:`combine` applied to jets.

    Parameters
    ----------
    condition : AbstractCondition
        A condition whose system and candidate are supported (:data:`lyactrl.bounds.SUPPORTED`).
    x : Jet
        The state jet, shape ``(batch, n)`` (for example :meth:`Jet.variables` of boxes).

    Returns
    -------
    Jet
        Enclosures of the residual (shape ``(batch,)``) and of its derivatives up to the
        order of ``x``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.bounds.jets import Jet, residual_jet
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    >>> x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> r = residual_jet(cond, Jet.variables(x, x, 0))
    >>> bool(r.v[0][0] <= -1.0 <= r.v[1][0])
    True
    """
    if not isinstance(condition, AbstractCondition):
        raise UnsupportedOperationError(
            f"condition: {type(condition).__name__} is not supported by the certifier; "
            f"expected an AbstractCondition such as {', '.join(CONDITIONS[:2])}"
        )
    box = condition.x_eq_box
    V = condition.candidate
    if condition.system.is_discrete:  # V(F(x)) - V(x): V on the map's image, chained
        v = candidate_jets(V, x, box)[0]
        image = system_jet(condition.system, x)
        dv = image.compose(lambda y: candidate_jets(V, y, box)[0]) - v
    else:
        v, g = candidate_jets(V, x, box)
        dv = (g * system_jet(condition.system, x)).sum(1)
    d2 = None
    if condition.margin and condition.x_eq is not None:
        lo, hi = (condition.x_eq, condition.x_eq) if box is None else box
        d2 = F.powi(x - x.constant(lo.to(torch.float64), hi.to(torch.float64)), 2).sum(1)
    return condition.combine(v, dv, d2)


def _boxes(lo: Any, hi: Any, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    lo_t = as_states(lo, n or torch.as_tensor(lo).shape[-1], name="lo", dtype=torch.float64)
    hi_t = as_states(hi, lo_t.shape[1], name="hi", dtype=torch.float64)
    if lo_t.shape != hi_t.shape or bool((lo_t > hi_t).any()):
        raise InvalidValueError(
            f"hi: expected boxes with lo <= hi of the same shape {tuple(lo_t.shape)}, received "
            f"shape {tuple(hi_t.shape)}"
        )
    return lo_t, hi_t


def _grid_pieces(lo: torch.Tensor, hi: torch.Tensor, splits: int) -> tuple:
    """The ``splits^n`` pieces of a uniform grid of each box, shape ``(batch, splits^n, n)``,
    covering it (:func:`split_edges` per coordinate)."""
    edges = split_edges(lo, hi, splits)  # (batch, n, splits + 1)
    n = lo.shape[1]
    index = torch.cartesian_prod(*[torch.arange(splits)] * n).reshape(-1, n)  # (k^n, n)
    dims = torch.arange(n)
    return edges[:, dims, index], edges[:, dims, index + 1]


def _checked_splits(splits: Any, n: int) -> int:
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise InvalidValueError(f"splits: expected an integer >= 1, received {splits!r}")
    if splits**n > MAX_PIECES:
        raise InvalidValueError(
            f"splits: expected splits^n <= {MAX_PIECES} pieces per box (n = {n}), received "
            f"splits = {splits} ({splits**n} pieces)"
        )
    return splits


@checked_kwargs
def mean_value_bounds(
    fn: Callable[[Jet], Jet], lo: torch.Tensor, hi: torch.Tensor, *, splits: int = 1
) -> Bounds:
    """Bounds of a scalar function given by its jet builder ``fn`` on boxes ``[lo, hi]``.

    The interval extension of ``fn`` on each box intersected with the first-order mean-value
    form around the box centre. With ``splits = k > 1`` each box is also cut into the
    ``k^n`` pieces of a uniform grid, all bounded in one batch, and the box's bounds are
    intersected with the hull of its pieces' bounds: the mean-value form's excess over the
    true range shrinks like ``1 / k^2``, at the cost of ``k^n`` boxes per box (cheap in one
    batch for small ``n``).

    Parameters
    ----------
    fn : callable
        Maps a state :class:`Jet` of shape ``(batch, n)`` to the scalar jet ``(batch,)`` (or a
        vector jet ``(batch, k)``: bounds per component).
    lo, hi : torch.Tensor, shape (batch, n)
        Box corners (float64, ``lo <= hi``).
    splits : int, default 1
        Pieces per coordinate (``splits^n <= MAX_PIECES``).

    Returns
    -------
    Bounds
        ``lower <= fn(x) <= upper`` on each box, with the gradient magnitude bound.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import mean_value_bounds, powi
    >>> lo = torch.tensor([[-1.0]], dtype=torch.float64)
    >>> b = mean_value_bounds(lambda x: powi(x, 2).sum(1), lo, -lo)
    >>> bool(b.lower[0] <= 0.0) and bool(b.upper[0] >= 1.0)
    True
    """
    if _checked_splits(splits, lo.shape[1]) > 1:
        p_lo, p_hi = _grid_pieces(lo, hi, splits)
        b, k = lo.shape[0], p_lo.shape[1]
        both = mean_value_bounds(
            fn, torch.cat([lo, p_lo.reshape(b * k, -1)]), torch.cat([hi, p_hi.reshape(b * k, -1)])
        )

        def parts(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return t[:b], t[b:].reshape((b, k) + t.shape[1:])

        (lower, p_lower), (upper, p_upper) = parts(both.lower), parts(both.upper)
        gabs, p_gabs = parts(both.gradient_abs)
        return Bounds(
            torch.maximum(lower, p_lower.amin(1)),
            torch.minimum(upper, p_upper.amax(1)),
            torch.minimum(gabs, p_gabs.amax(1)),
        )
    c = 0.5 * (lo + hi)
    h = torch.maximum(up(hi - c), up(c - lo))
    h = torch.where(hi == lo, torch.zeros_like(h), h)
    at_c = fn(Jet.variables(c, c, 0))
    box = fn(Jet.variables(lo, hi, 1))
    gabs = hull_abs(box.d)  # type: ignore[arg-type]
    # a vector-valued fn (batch, k): the same form per component
    h = h.reshape(h.shape[:1] + (1,) * (gabs.ndim - 2) + h.shape[1:])
    t = mul_up(h, gabs)
    width = sum_bounds(t, t, -1)[1]
    upper = torch.minimum(box.v[1], add_up(at_c.v[1], width))
    lower = torch.maximum(box.v[0], sub_dn(at_c.v[0], width))
    return Bounds(lower, upper, gabs)


@checked_kwargs
def bound_residual(condition: AbstractCondition, lo: Any, hi: Any, *, splits: int = 1) -> Bounds:
    """Sound bounds of ``condition``'s residual on each box ``[lo[i], hi[i]]``.

    Parameters
    ----------
    condition : ExponentialStability or BarrierCondition
        Built from supported systems and candidates (see :data:`lyactrl.bounds.SUPPORTED`).
    lo, hi : array_like, shape (batch, n)
        Box corners.
    splits : int, default 1
        Also bound each box as ``splits^n`` grid pieces in one batch and intersect with their
        hull (see :func:`mean_value_bounds`): tighter bounds of a single box for small ``n``.

    Returns
    -------
    Bounds
        ``lower <= residual(x) <= upper`` for every ``x`` in each box (rounding included).

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.bounds import bound_residual
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    >>> b = bound_residual(cond, [[0.5, 0.5]], [[0.6, 0.6]])
    >>> bool(b.upper[0] < 0)
    True
    """
    lo_t, hi_t = _boxes(lo, hi, condition.n_states)
    return mean_value_bounds(lambda x: residual_jet(condition, x), lo_t, hi_t, splits=splits)


@checked_kwargs
def bound_candidate(V: AbstractCandidate, lo: Any, hi: Any, *, centre: Any = None) -> Bounds:
    """Sound bounds of ``V`` on each box (mean-value form intersected with intervals).

    Parameters
    ----------
    V : AbstractCandidate
        A supported candidate (see :data:`lyactrl.bounds.SUPPORTED`).
    lo, hi : array_like, shape (batch, n)
        Box corners.
    centre : (torch.Tensor, torch.Tensor), optional
        For a quadratic ``V`` whose true centre is only known to lie in this box: bounds that
        hold for every centre in it.

    Returns
    -------
    Bounds
        ``lower <= V(x) <= upper`` for every ``x`` in each box (rounding included).

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.bounds import bound_candidate
    >>> b = bound_candidate(lyactrl.Quadratic(torch.eye(2)), [[1.0, 1.0]], [[2.0, 2.0]])
    >>> bool(b.lower[0] <= 2.0) and bool(b.upper[0] >= 8.0)
    True
    """
    lo_t, hi_t = _boxes(lo, hi, V.n_states)
    return mean_value_bounds(lambda x: candidate_jets(V, x, centre)[0], lo_t, hi_t)


def bound_system(system: AbstractSystem, lo: Any, hi: Any) -> Bounds:
    """Sound interval bounds of each component of ``f`` on each box, shape ``(batch, n)``.

    Parameters
    ----------
    system : AbstractSystem
        A supported system (see :data:`lyactrl.bounds.SUPPORTED`).
    lo, hi : array_like, shape (batch, n)
        Box corners.

    Returns
    -------
    Bounds
        ``lower <= f(x) <= upper`` componentwise on each box; ``gradient_abs`` is ``None``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.bounds import bound_system
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> b = bound_system(sys, [[1.0, 1.0]], [[2.0, 2.0]])
    >>> bool((b.lower <= torch.tensor([[-2.0, -4.0]])).all())
    True
    >>> bool((b.upper >= torch.tensor([[-1.0, -2.0]])).all())
    True
    """
    lo_t, hi_t = _boxes(lo, hi, system.n_states)
    out = system_jet(system, Jet.variables(lo_t, hi_t, 0))
    return Bounds(out.v[0], out.v[1], None)


def proved_positive(condition: AbstractCondition, x: torch.Tensor) -> torch.Tensor:
    """Mask of states whose residual *enclosure* is strictly positive (a proved violation).

    A residual that is positive only within rounding (its enclosure contains 0) is not a
    proved violation. Raises :class:`~lyactrl.UnsupportedOperationError` when the condition
    is outside the certifier's vocabulary.

    Parameters
    ----------
    condition : AbstractCondition
        A condition whose system and candidate are supported.
    x : torch.Tensor, shape (batch, n)
        The states (evaluated in float64 interval arithmetic at each point).

    Returns
    -------
    torch.Tensor
        Boolean mask, shape ``(batch,)``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.bounds import proved_positive
    >>> sys = lyactrl.LinearSystem([[1.0, 0.0], [0.0, -1.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    >>> proved_positive(cond, torch.tensor([[1.0, 0.0], [0.0, 0.0]])).tolist()
    [True, False]
    """
    p = x.detach().to(torch.float64)
    if p.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool)
    enclosure = residual_jet(condition, Jet.variables(p, p, 0))
    return enclosure.v[0] > 0
