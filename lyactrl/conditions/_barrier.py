"""The barrier condition ``grad B . f + rate B <= 0``."""

from __future__ import annotations

from typing import Any

from .._api import checked_kwargs
from ..lyapunov import AbstractCandidate
from ..systems import AbstractSystem
from ._base import AbstractCondition, check_margin, check_pair, check_rate, decrease

__all__ = ["BarrierCondition"]


class BarrierCondition(AbstractCondition):
    """The barrier condition ``grad B(x) . f(x) + rate * B(x) <= 0`` for a safe set ``{B <= 0}``.

    Where it holds on a region containing the safe set, a trajectory that starts with
    ``B <= 0`` keeps ``B(x(t)) <= B(x(0)) exp(-rate t) <= 0``: the safe set is forward invariant.
    For a discrete-time system it is ``B(F(x)) - B(x) + rate B(x) <= 0``, ``rate`` in ``(0, 1]``.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system.
    B : AbstractCandidate
        The barrier function, e.g. ``SymbolicCandidate("x1**2 + x2**2 - 4", "x1, x2")``.
    rate : float
        ``alpha > 0``.
    margin : float
        Ask for ``grad B . f + rate B <= -margin`` (a barrier has no equilibrium).

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    >>> B = lyactrl.SymbolicCandidate("x1**2 + x2**2 - 1", "x1, x2")
    >>> lyactrl.BarrierCondition(sys, B, rate=1.0).residual([[1.0, 0.0]]).tolist()
    [-2.0]
    """

    @checked_kwargs
    def __init__(
        self, system: AbstractSystem, B: AbstractCandidate, rate: float, *, margin: float = 0.0
    ) -> None:
        check_pair(system, B, "B")
        self.system = system
        self.B = B
        self.candidate = B
        self.rate = check_rate(rate, system)
        self.margin = check_margin(margin)
        self.n_states = system.n_states
        self.x_eq = None

    def combine(self, v: Any, dv: Any, d2: Any) -> Any:  # noqa: D102
        return self.with_margin(decrease(v, dv, self.rate), d2)

    def __repr__(self) -> str:
        m = f", margin={self.margin:g}" if self.margin else ""
        return f"BarrierCondition({self.system!r}, {self.B!r}, rate={self.rate:g}{m})"
