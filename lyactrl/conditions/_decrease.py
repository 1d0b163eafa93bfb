"""The plain decrease condition ``grad V . f <= tol`` (rate 0, no equilibrium)."""

from __future__ import annotations

from typing import Any

from .._api import checked_kwargs
from .._errors import InvalidValueError
from .._tensors import as_positive
from ..lyapunov import AbstractCandidate
from ..systems import AbstractSystem
from ._base import AbstractCondition, check_margin, check_pair

__all__ = ["Decrease"]


class Decrease(AbstractCondition):
    """The decrease condition ``grad V(x) . f(x) <= tol`` (continuous time, no rate).

    The condition of a Lyapunov function stated on a level band away from the equilibrium
    (see :class:`~lyactrl.Band`), as published for networks trained elsewhere: on
    ``{x in box : c1 <= V(x) <= c2}``, ``V`` decreases along every trajectory. The condition
    has no equilibrium (``x_eq = None``): ``V`` need not vanish anywhere and there is no local
    certificate; a band that holds the equilibrium (where ``grad V . f = 0``) needs
    ``tol > 0``. The residual is ``grad V . f - tol + margin``; the tolerance is stated in the
    condition's ``repr`` and so in every result. For a map ``x+ = F(x)`` the change is
    ``V(F(x)) - V(x)``.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system (for instance a :class:`~lyactrl.ClosedLoop`).
    V : AbstractCandidate
        The function, e.g. ``ModuleCandidate(module, x_eq=None, n_states=n)``.
    tol : float
        The accepted change, ``>= 0`` (alpha-beta-CROWN's ``decision_thresh = -1e-6`` is
        ``tol = 1e-6``); ``0`` by default.
    margin : float
        Ask for ``grad V . f <= tol - margin`` (the margin rule without an equilibrium).

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    >>> V = lyactrl.SymbolicCandidate("x1**2 + x2**2", "x1, x2")
    >>> cond = lyactrl.Decrease(sys, V, tol=0.5)
    >>> cond.residual([[1.0, 0.0], [0.0, 0.0]]).tolist()
    [-2.5, -0.5]
    >>> "tol=0.5" in repr(cond)
    True
    """

    @checked_kwargs
    def __init__(
        self, system: AbstractSystem, V: AbstractCandidate, *, tol: float = 0.0, margin: float = 0.0
    ) -> None:
        check_pair(system, V, "V")
        self.system = system
        self.V = V
        self.candidate = V
        self.rate = 0.0
        self.tol = as_positive(tol, name="tol", allow_zero=True)
        self.margin = check_margin(margin)
        self.n_states = system.n_states
        self.x_eq = None

    def combine(self, v: Any, dv: Any, d2: Any) -> Any:  # noqa: D102
        return self.with_margin(dv + (-self.tol), d2) if self.tol else self.with_margin(dv, d2)

    @checked_kwargs
    def replace(self, *, rate: float | None = None, margin: float | None = None) -> Decrease:
        """The same condition with another margin (the rate stays 0)."""
        if rate is not None and rate != 0.0:
            raise InvalidValueError(
                f"rate: Decrease has rate 0 (grad V . f <= tol), received {rate!r}"
            )
        return Decrease(
            self.system, self.V, tol=self.tol, margin=self.margin if margin is None else margin
        )

    def __repr__(self) -> str:
        m = f", margin={self.margin:g}" if self.margin else ""
        return f"Decrease({self.system!r}, {self.V!r}, tol={self.tol:g}{m})"
