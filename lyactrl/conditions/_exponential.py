"""The exponential-decrease condition ``grad V . f + rate V <= 0``."""

from __future__ import annotations

from typing import Any

from .._api import checked_kwargs
from .._errors import InvalidArgumentError
from ..lyapunov import AbstractCandidate
from ..systems import AbstractSystem
from ._base import (
    AbstractCondition,
    check_equilibrium_box,
    check_margin,
    check_pair,
    check_rate,
    decrease,
)

__all__ = ["ExponentialStability"]


class ExponentialStability(AbstractCondition):
    """The exponential-decrease condition ``grad V(x) . f(x) + rate * V(x) <= 0``.

    Where it holds on a sublevel set of ``V``, ``V(x(t)) <= V(x(0)) exp(-rate t)``. For a
    discrete-time system ``x+ = F(x)`` (``system.is_discrete``) the same condition is
    ``V(F(x)) - V(x) + rate * V(x) <= 0`` with ``rate`` in ``(0, 1]``, so that
    ``V(x_k) <= (1 - rate)^k V(x_0)``.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system ``x' = f(x)``, or a discrete one ``x+ = F(x)``.
    V : AbstractCandidate
        The Lyapunov candidate; its ``x_eq`` is the condition's equilibrium and must match
        the system's ``x_eq``.
    rate : float
        The decay rate ``kappa > 0`` (``0 < kappa <= 1`` in discrete time).
    margin : float
        Ask for ``grad V . f + rate V <= -margin ||x - x_eq||^2`` (see
        :mod:`lyactrl.conditions`); ``0`` by default.
    x_eq_box : Equilibrium or (lo, hi), optional
        A box proved to hold the system's true equilibrium ``x*`` (for example a certified
        :func:`lyactrl.find_equilibrium`), for a system whose equilibrium is known only
        numerically (a trained network with biases). ``V`` must then be a
        :class:`~lyactrl.Quadratic` centred at a point of the box (the numerical root); the
        sound bounds, and so every certificate, are for ``V`` centred at ``x*`` itself, and
        the local certificate at the equilibrium uses the Jacobian enclosure on a box around
        it instead of requiring ``f(x_eq) = 0`` exactly (see ``docs/soundness.md``). Sampled
        checks evaluate ``V`` at its own centre.

    Examples
    --------
    >>> import torch, lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.0)
    >>> cond.residual([[1.0, 1.0]]).tolist()
    [-4.0]
    >>> cond.replace(margin=1.0).residual([[1.0, 1.0]]).tolist()
    [-2.0]
    >>> step = lyactrl.DiscreteSystem([[0.5, 0.0], [0.0, 0.5]])  # x+ = x / 2
    >>> lyactrl.ExponentialStability(step, lyactrl.Quadratic(torch.eye(2)), 0.5).residual(
    ...     [[1.0, 1.0]]
    ... ).tolist()
    [-0.5]
    """

    @checked_kwargs
    def __init__(
        self,
        system: AbstractSystem,
        V: AbstractCandidate,
        rate: float,
        *,
        margin: float = 0.0,
        x_eq_box: Any = None,
    ) -> None:
        self.x_eq = check_pair(system, V, "V")
        if x_eq_box is not None and system.is_discrete:
            raise InvalidArgumentError(
                "x_eq_box: an equilibrium known only as a box is supported in continuous time; "
                "received one with a discrete-time system"
            )
        self.x_eq_box = check_equilibrium_box(x_eq_box, V, self.x_eq)
        self.system = system
        self.V = V
        self.candidate = V
        self.rate = check_rate(rate, system)
        self.margin = check_margin(margin)
        self.n_states = system.n_states

    def combine(self, v: Any, dv: Any, d2: Any) -> Any:  # noqa: D102
        return self.with_margin(decrease(v, dv, self.rate), d2)

    def with_rate(self, rate: float) -> ExponentialStability:
        """The same condition with another rate."""
        return self.replace(rate=rate)

    def __repr__(self) -> str:
        m = f", margin={self.margin:g}" if self.margin else ""
        if self.x_eq_box is not None:
            m += f", x_eq_box=({self.x_eq_box[0].tolist()}, {self.x_eq_box[1].tolist()})"
        return f"ExponentialStability({self.system!r}, {self.V!r}, rate={self.rate:g}{m})"
