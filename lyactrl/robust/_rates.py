"""The perturbation a decay rate tolerates: with ``V' <= -kappa_j V`` on time piece ``j`` for
the nominal flow and ``||grad V||_2 <= sqrt(2) min(1, V)`` (the cross-entropy potential), a
perturbed flow with ``||f' - f||_2 <= delta`` has ``V' <= -kappa_j V + sqrt(2) min(1, V)
delta``; the largest ``delta`` that still ends below ``log 2`` (``argmax eta(T) = y``)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["radius_from_rate", "rates_delta"]

_LOG2 = math.log(2.0)
_SQRT2 = math.sqrt(2.0)


def rates_delta(v0: float, rates: Any, durations: Any) -> float:
    """The largest ``delta`` for which piecewise rates give ``V(T) < log 2`` (0 if none).

    Of the two comparison bounds, ``V(T) <= v0 exp(-sum_j (kappa_j - sqrt(2) delta) T_j)`` and
    the affine one built piece by piece from ``V' <= -kappa_j V + sqrt(2) delta``, the larger
    ``delta`` is returned.

    Parameters
    ----------
    v0 : float
        ``V_y(eta0)``, the cross-entropy potential at the initial logits.
    rates : sequence of float
        ``kappa_j`` of ``V' <= -kappa_j V`` on piece ``j``, in time order.
    durations : sequence of float
        The pieces' lengths ``T_j`` (the horizon is their sum).

    Examples
    --------
    >>> from lyactrl.robust import radius_from_rate, rates_delta
    >>> round(rates_delta(2.302585, [3.0, 3.0], [0.5, 0.5]), 4), round(
    ...     radius_from_rate(2.302585, 3.0, 1.0), 4)
    (1.2915, 1.2915)
    >>> # the same mean rate, fast late (the affine bound gains) or fast early
    >>> round(rates_delta(2.302585, [1.0, 5.0], [0.5, 0.5]), 4)
    1.8949
    >>> round(rates_delta(2.302585, [5.0, 1.0], [0.5, 0.5]), 4)
    1.2724
    """
    rates, durations = [float(r) for r in rates], [float(d) for d in durations]
    if not rates or min(rates) <= 0 or v0 <= 0:
        return 0.0 if v0 >= _LOG2 else math.inf
    horizon = sum(durations)
    decay = sum(r * d for r, d in zip(rates, durations, strict=True))
    mult = (decay - math.log(v0 / _LOG2)) / (_SQRT2 * horizon)
    # V(T) <= A + B delta, piece by piece
    a, b = v0, 0.0
    for r, d in zip(rates, durations, strict=True):
        keep = math.exp(-r * d)
        a, b = a * keep, b * keep + _SQRT2 * (1.0 - keep) / r
    add = (_LOG2 - a) / b
    return max(0.0, mult, add)


def radius_from_rate(v0: float, rate: float, horizon: float) -> float:
    """The largest ``delta`` for which either bound gives ``V(T) < log 2`` (0 if none).

    Parameters
    ----------
    v0 : float
        ``V_y(eta0)``, the cross-entropy potential at the initial logits.
    rate : float
        The rate ``kappa`` of ``V' <= -kappa V``.
    horizon : float
        The integration time ``T``.

    Examples
    --------
    >>> from lyactrl.robust import radius_from_rate
    >>> round(radius_from_rate(2.302585, 3.0, 1.0), 4)
    1.2915
    >>> radius_from_rate(2.302585, 1.0, 1.0)
    0.0
    """
    return rates_delta(v0, [rate], [horizon])
