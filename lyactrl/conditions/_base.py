"""The condition interface: one residual, one equilibrium rule, one margin rule.

A condition states its residual once, in :meth:`AbstractCondition.combine`, as arithmetic on
``V``, the change of ``V`` along the system and ``||x - x_eq||^2`` that works on torch tensors
and on the bound-propagation jets of :mod:`lyactrl.bounds` alike. Sampled checks,
falsification, certification and the training losses all evaluate that one expression.

**Change of V.** The one place where time enters: for a flow ``x' = f(x)`` the change is the
derivative ``grad V . f``; for a map ``x+ = F(x)`` (``system.is_discrete``) it is the
difference ``V(F(x)) - V(x)``. The exponential condition ``change + rate V <= 0`` then reads
``dV/dt <= -rate V`` or ``V(x+) <= (1 - rate) V(x)``, with ``rate`` in ``(0, 1]`` for a map.

**Margin rule.** A condition with ``margin = m > 0`` asks for

    residual_0(x) + m ||x - x_eq||^2 <= 0          (conditions with an equilibrium)
    residual_0(x) + m <= 0                          (conditions without one, e.g. barriers)

where ``residual_0`` is the margin-free residual. At the equilibrium both sides vanish, so the
promise ``residual_0 <= -m ||x - x_eq||^2`` holds in every part of a proof, the local
certificate at ``x_eq`` included (its Hessian test sees the ``2 m I`` term), and a training
hinge never asks for the impossible at ``x_eq``.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import as_positive, as_states
from ..lyapunov import AbstractCandidate
from ..systems import AbstractSystem, check_autonomous

__all__ = [
    "AbstractCondition",
    "check_pair",
    "check_margin",
    "check_rate",
    "check_equilibrium_box",
    "decrease",
]


class AbstractCondition(abc.ABC):
    """A pointwise condition ``residual(x) <= 0`` on ``x' = f(x)`` and a scalar function.

    Attributes
    ----------
    system : AbstractSystem
        The autonomous system ``x' = f(x)``.
    candidate : AbstractCandidate
        The function whose derivative along ``f`` the residual contains (``V`` or ``B``).
    rate : float
        The rate in the residual.
    margin : float
        The margin (see the module notes); ``residual <= 0`` then means
        ``residual_0 <= -margin ||x - x_eq||^2`` (or ``<= -margin`` without ``x_eq``).
    n_states : int
        State dimension.
    x_eq : torch.Tensor or None
        The equilibrium, where the residual vanishes by construction, or ``None``.
    """

    system: AbstractSystem
    candidate: AbstractCandidate
    rate: float
    margin: float
    n_states: int
    x_eq: torch.Tensor | None
    #: A box proved to hold the true equilibrium (``ExponentialStability(x_eq_box=...)``).
    x_eq_box: tuple[torch.Tensor, torch.Tensor] | None = None

    @abc.abstractmethod
    def combine(self, v: Any, dv: Any, d2: Any) -> Any:
        """The residual from ``V``, the change ``dv`` of ``V`` along the system and
        ``||x - x_eq||^2``.

        ``dv`` is ``grad V . f`` for a flow and ``V(F(x)) - V(x)`` for a map (see the module
        notes). Each argument is a tensor of shape ``(batch,)`` or a
        :class:`lyactrl.bounds.jets.Jet` of that shape; ``d2`` is ``None`` when the margin is 0.
        Only ``+`` and ``*`` by a float or of two operands may be used, so that the same
        expression evaluates and bounds.
        """

    @checked_kwargs
    def replace(self, *, rate: float | None = None, margin: float | None = None) -> Any:
        """The same condition with another rate or margin."""
        extra = {}
        if self.x_eq_box is not None:
            extra["x_eq_box"] = self.x_eq_box
        return type(self)(
            self.system,
            self.candidate,
            self.rate if rate is None else rate,
            margin=self.margin if margin is None else margin,
            **extra,
        )

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """The residual on a validated batch ``(batch, n)``: shape ``(batch,)``, unchecked.

        The system is evaluated at ``t = 0``; for a time-varying system the sound bounds of
        :mod:`lyactrl.bounds` cover every ``t >= 0`` (see ``docs/soundness.md``).
        """
        v, dv, _, d2 = self.terms(x)
        return self.combine(v, dv, d2)

    def terms(self, x: torch.Tensor) -> tuple[Any, Any, Any, Any]:
        """``(V, change of V, its scale, ||x - x_eq||^2 or None)`` on a batch.

        :meth:`combine` takes ``(V, change, d2)``; the scale is the change computed on
        absolute values (``sum |grad V_i| |f_i|``, or ``|V(F(x))| + |V(x)|`` for a map).
        """
        d2 = self.distance2(x) if self.margin else None
        if self.system.is_discrete:
            v = self.candidate.value(x)
            v_next = self.candidate.value(self.system.vector_field(0.0, x))
            return v, v_next - v, v_next.abs() + v.abs(), d2
        v, g = self.candidate.value_and_gradient(x)
        f = self.system.vector_field(0.0, x)
        return v, (g * f).sum(1), (g.abs() * f.abs()).sum(1), d2

    def evaluate_with_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The residual and its scale: the same expression on the absolute values of its
        terms (``sum |grad V_i| |f_i| + rate |V| + ...``), against which a relative rounding
        tolerance is measured."""
        v, dv, scale, d2 = self.terms(x)
        return self.combine(v, dv, d2), self.combine(v.abs(), scale, d2)

    def distance2(self, x: torch.Tensor) -> torch.Tensor:
        """``||x - x_eq||^2`` on a batch (``0`` where there is no equilibrium)."""
        if self.x_eq is None:
            return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        return ((x - self.x_eq.to(x)) ** 2).sum(1)

    def with_margin(self, residual: Any, d2: Any) -> Any:
        """``residual`` plus the margin's contribution (the one margin rule)."""
        if not self.margin:
            return residual
        return residual + (self.margin if self.x_eq is None else d2 * self.margin)

    def residual(self, x: Any) -> torch.Tensor:
        """The residual on a batch ``(batch, n)``, validated; ``<= 0`` means satisfied."""
        return self.evaluate(as_states(x, self.n_states, name="x"))


def check_pair(system: Any, V: Any, name: str) -> torch.Tensor | None:
    """Validate a system and a candidate for a condition; returns the equilibrium.

    The equilibrium rule: the condition's ``x_eq`` is ``V.x_eq``; it must agree with the
    system's ``x_eq`` where the system declares one (``system.x_eq_declared``): both describe
    the point where ``f`` and ``V`` vanish. Whether ``f`` vanishes there exactly is what the
    local certificate proves; nothing is evaluated here.
    """
    check_autonomous(system)
    if not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(
            f"{name}: expected a scalar function such as Quadratic or SymbolicCandidate, "
            f"received {type(V).__name__}"
        )
    if V.n_states is not None and V.n_states != system.n_states:
        raise ShapeError(
            f"{name}: expected a function of {system.n_states} states to match the system, "
            f"received one of {V.n_states}"
        )
    if V.x_eq is None:
        return None
    x_eq = V.x_eq.detach().to(torch.float64)
    sys_eq = getattr(system, "x_eq", None)
    if sys_eq is not None and system.x_eq_declared:
        sys_eq = sys_eq.detach().to(torch.float64)
        tol = 1e-9 * (1.0 + float(x_eq.abs().max()))
        if float((sys_eq - x_eq).abs().max()) > tol:
            raise InvalidValueError(
                f"{name}: expected V.x_eq to match the system's equilibrium "
                f"{sys_eq.tolist()}, received V.x_eq = {x_eq.tolist()}; pass x_eq= to the "
                "system (or build V around the system's x_eq)"
            )
    return x_eq


def check_equilibrium_box(box: Any, V: Any, x_eq: torch.Tensor | None) -> Any:
    """``(lo, hi)`` float64 from an ``Equilibrium`` result or a pair, checked, or ``None``.

    The box must be certified (for a result), ``lo <= hi``, hold ``V.x_eq``, and ``V`` must be
    a :class:`~lyactrl.Quadratic` (the only candidate bounded with an interval centre).
    """
    if box is None:
        return None
    from ..lyapunov import Quadratic

    if hasattr(box, "status") and hasattr(box, "lo"):
        if str(box.status) != "certified" or box.lo is None:
            raise InvalidValueError(
                f"x_eq_box: expected an equilibrium proved to lie in a box (status certified), "
                f"received status {box.status}: {getattr(box, 'message', '')}"
            )
        box = (box.lo, box.hi)
    try:
        lo, hi = (torch.as_tensor(b, dtype=torch.float64).reshape(-1) for b in box)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"x_eq_box: expected an Equilibrium or a pair (lo, hi), received {box!r}"
        ) from exc
    if not isinstance(V, Quadratic):
        raise InvalidArgumentError(
            f"V: a condition with x_eq_box needs a Quadratic V, received {type(V).__name__}"
        )
    if x_eq is None or lo.shape != x_eq.shape or hi.shape != x_eq.shape:
        raise ShapeError(f"x_eq_box: expected two vectors of the shape of V.x_eq, received {box!r}")
    if bool((lo > hi).any()) or not bool(((lo <= x_eq) & (x_eq <= hi)).all()):
        raise InvalidValueError(
            f"x_eq_box: expected a box lo <= hi holding V.x_eq = {x_eq.tolist()}, received "
            f"lo = {lo.tolist()}, hi = {hi.tolist()}"
        )
    return lo, hi


def check_margin(margin: Any) -> float:
    """A margin ``>= 0``."""
    return as_positive(margin, name="margin", allow_zero=True)


def decrease(v: Any, dv: Any, rate: float) -> Any:
    """``dv + rate v`` on tensors or jets: the decrease residual of both conditions."""
    return dv + v * rate


def check_rate(rate: Any, system: AbstractSystem) -> float:
    """A rate ``> 0``, and ``<= 1`` for a discrete system (``V(x+) <= (1 - rate) V(x)``)."""
    r = as_positive(rate, name="rate")
    if system.is_discrete and r > 1.0:
        raise InvalidValueError(
            f"rate: a discrete-time condition V(x+) <= (1 - rate) V(x) needs rate in (0, 1], "
            f"received {r:g}"
        )
    return r
