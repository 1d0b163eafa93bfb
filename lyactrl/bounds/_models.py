"""Jets of lyactrl systems ``f(x)`` and candidates ``(V(x), grad V(x))``.

Dispatch is on what an object *computes*: a subclass of a supported system or candidate is
bounded by its base class's closed form only when it overrides none of the methods that
evaluate it (``vector_field`` / ``value`` ...); otherwise it is refused. A time-varying
``NeuralSystem`` (``inputs="t,x"``) is bounded for every ``t >= 0`` at once.
"""

from __future__ import annotations

import torch
from torch import nn

from .._errors import UnsupportedOperationError
from ..lyapunov import (
    AbstractCandidate,
    CrossEntropy,
    ModuleCandidate,
    NeuralLyapunov,
    Quadratic,
    SquaredError,
    SymbolicCandidate,
)
from ..systems import (
    AbstractSystem,
    ClosedLoop,
    DiscreteSystem,
    LinearSystem,
    NeuralSystem,
    SymbolicSystem,
)
from . import _functions as F
from ._fx import traced_jet
from ._interval import imul
from ._jet import Jet
from ._rounding import sum_bounds
from ._stock import check_module_tree
from ._sympy import expr_jet
from ._torch import mlp_value_and_vjp, module_jet

__all__ = ["SYSTEMS", "CANDIDATES", "system_jet", "candidate_jets"]

#: Systems the certifier supports.
SYSTEMS = (
    "LinearSystem",
    "SymbolicSystem",
    "NeuralSystem (nn.Sequential or a traceable custom module; inputs 'x', 't,x' (bounded for "
    "every t >= 0) or a bound 'x,context')",
    "ClosedLoop (LinearSystem or SymbolicSystem plant; a gain matrix, an nn.Module or a plain "
    "function as controller, the module's forward or the function traced with torch.fx when "
    "it is not a stock nn.Sequential)",
    "DiscreteSystem (a map written as one of these, or one discretised by Euler or RK4; "
    "a discrete plant closed by a ClosedLoop)",
    "subclasses of these only when they override none of vector_field, __call__",
)
#: Candidates the certifier supports.
CANDIDATES = (
    "Quadratic",
    "SymbolicCandidate",
    "NeuralLyapunov",
    "ModuleCandidate (an nn.Sequential or a traceable custom module, as for NeuralSystem)",
    "SquaredError (one target)",
    "CrossEntropy (one label)",
    "subclasses of these only when they override none of value, value_and_gradient, __call__, "
    "grad (and forward for NeuralLyapunov)",
)

_SYSTEM_METHODS = ("vector_field", "__call__")
_NEURAL_CALLS = ("_call_module", "_first_call")  # what NeuralSystem.vector_field calls
_LOOP_CALLS = ("_control", "_raw_control", "_linear_feedback")  # what vector_field calls
_CANDIDATE_METHODS = ("value", "value_and_gradient", "__call__", "grad", "forward")


def _recognised(obj: object, cls: type, methods: tuple[str, ...], where: str) -> bool:
    """Whether ``obj`` is a ``cls`` that computes what ``cls`` computes (no evaluated method
    overridden); an instance of a subclass that overrides one is refused."""
    if not isinstance(obj, cls):
        return False
    changed = [m for m in methods if getattr(type(obj), m, None) is not getattr(cls, m, None)]
    if changed:
        raise UnsupportedOperationError(
            f"{where}: {type(obj).__name__} subclasses {cls.__name__} but overrides "
            f"{', '.join(changed)}; the certifier bounds {cls.__name__}'s own formula, which "
            f"this subclass need not compute. Use {cls.__name__} itself (or, for a system, a "
            "NeuralSystem/SymbolicSystem written with what the override computes)"
        )
    return True


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


def time_jet(x: Jet) -> Jet:
    """The time ``t`` of a time-varying system as the interval ``[0, +inf)``: a constant of
    shape ``(batch, 1)`` (broadcasting like a scalar) with zero derivatives, so that every
    bound built from it holds for all ``t >= 0`` at once.

    Parameters
    ----------
    x : Jet
        The state jet (gives the batch size, dtype and number of variables).

    Returns
    -------
    Jet
        ``[0, inf)`` of shape ``(batch, 1)``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.bounds.jets import Jet, time_jet
    >>> t = time_jet(Jet.variables(torch.zeros(1, 2), torch.ones(1, 2), 0))
    >>> t.v[0].tolist(), t.v[1].tolist()
    ([[0.0]], [[inf]])
    """
    lo = torch.zeros(1, dtype=x.v[0].dtype)
    return x.constant(lo, torch.full_like(lo, float("inf")))


def _symbolic_jet(system: SymbolicSystem, x: Jet, u: Jet | None) -> Jet:
    env = {s: x.select(i) for i, s in enumerate(system.states)}
    for j, s in enumerate(system.input_symbols):
        env[s] = u.select(j) if u is not None else x.select(0).constant(0.0)
    like = x.select(0)
    memo: dict = {}
    return Jet.stack([expr_jet(e, env, like, memo) for e in system.exprs], dim=1)


def _neural_system_jet(system: NeuralSystem, x: Jet) -> Jet:
    out = _neural_module_jet(system, x)
    if tuple(out.v[0].shape) != tuple(x.v[0].shape):
        raise UnsupportedOperationError(
            f"system.module: its bounded output has shape {tuple(out.v[0].shape)} for states of "
            f"shape {tuple(x.v[0].shape)}; expected a module mapping (batch, {system.n_states}) "
            f"to (batch, {system.n_states})"
        )
    return out


def _neural_module_jet(system: NeuralSystem, x: Jet) -> Jet:
    if system.inputs == "x":
        return module_jet(system.module, x, "system.module")
    check_module_tree(system.module, "system.module")
    if system.inputs == "t,x":
        return traced_jet(system.module, [time_jet(x), x], x, module_jet)
    ctx = system.context
    if ctx is None or ctx.ndim != 1:
        raise UnsupportedOperationError(
            "system: the certifier needs a data-controlled NeuralSystem bound to one shared "
            "context of shape (context_dim,); received "
            + ("an unbound system" if ctx is None else f"a context of shape {tuple(ctx.shape)}")
            + "; bind each input separately with system.bind(context)"
        )
    ctx_b = ctx.detach().to(torch.float64).unsqueeze(0).expand(x.v[0].shape[0], -1)
    return traced_jet(system.module, [x, ctx_b], x, module_jet)


def _discrete_jet(system: DiscreteSystem, x: Jet, u: Jet | None) -> Jet:
    """The map's jet: the formula itself, or the Euler / RK4 step composed of its jets."""

    def f(z: Jet) -> Jet:
        return _plant_jet(system.step, z, u) if system.n_inputs else system_jet(system.step, z)

    if system.discretization == "map":
        return f(x)
    h = float(system.dt)  # type: ignore[arg-type]
    if system.discretization == "euler":
        return x + f(x).scale(h)
    k1 = f(x)
    k2 = f(x + k1.scale(0.5 * h))
    k3 = f(x + k2.scale(0.5 * h))
    k4 = f(x + k3.scale(h))
    return x + (k1 + k2.scale(2.0) + k3.scale(2.0) + k4).scale(h / 6.0)


def _plant_jet(system: AbstractSystem, x: Jet, u: Jet | None) -> Jet:
    if _recognised(system, DiscreteSystem, _SYSTEM_METHODS, "system"):
        return _discrete_jet(system, x, u)  # type: ignore[arg-type]
    if _recognised(system, LinearSystem, _SYSTEM_METHODS, "system"):
        out = x.linear(_f64(system.A))
        if system.B is not None and u is not None:
            out = out + u.linear(_f64(system.B))
        return out
    if _recognised(system, SymbolicSystem, _SYSTEM_METHODS, "system"):
        return _symbolic_jet(system, x, u)
    if _recognised(system, NeuralSystem, _SYSTEM_METHODS + _NEURAL_CALLS, "system"):
        return _neural_system_jet(system, x)
    raise UnsupportedOperationError(
        f"system: {type(system).__name__} is not supported by the certifier; supported "
        f"systems: {', '.join(SYSTEMS)}"
    )


def _check_control(u: Jet, x: Jet, n_inputs: int) -> None:
    expected = (x.v[0].shape[0], n_inputs)
    if tuple(u.v[0].shape) != expected:
        raise UnsupportedOperationError(
            f"controller: its bounded output has shape {tuple(u.v[0].shape)} for states of shape "
            f"{tuple(x.v[0].shape)}; expected (batch, n_inputs) = {expected}"
        )


def system_jet(system: AbstractSystem, x: Jet) -> Jet:
    """The jet of ``f(x)``, shape ``(batch, n_states)``; for a time-varying ``NeuralSystem``
    an enclosure of ``f(t, x)`` over every ``t >= 0``.

    Parameters
    ----------
    system : AbstractSystem
        A supported system (see :data:`lyactrl.bounds.SUPPORTED`); others raise
        :class:`~lyactrl.UnsupportedOperationError`.
    x : Jet
        The state jet, shape ``(batch, n_states)``.

    Returns
    -------
    Jet
        The jet of ``f(x)``, of the order of ``x``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.bounds.jets import Jet, system_jet
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    >>> f = system_jet(sys, Jet.variables(x, x, 0))
    >>> bool((f.v[0] <= torch.tensor([[-1.0, -2.0]], dtype=torch.float64)).all())
    True
    """
    if _recognised(system, ClosedLoop, _SYSTEM_METHODS + _LOOP_CALLS, "system"):
        ctrl = system.controller
        if system.gain is not None:
            u = x.linear(-_f64(system.gain))
        elif isinstance(ctrl, nn.Module):
            u = module_jet(ctrl, x, "controller")
        else:  # a plain function: traced with torch.fx like a module's forward
            u = traced_jet(ctrl, [x], x, module_jet)
        _check_control(u, x, system.plant.n_inputs)
        return _plant_jet(system.plant, x, u)
    return _plant_jet(system, x, None)


def _shift(x: Jet, x_eq: torch.Tensor) -> Jet:
    return x - x.constant(_f64(x_eq))


def _contains_point(x: Jet, point: torch.Tensor) -> torch.Tensor:
    p = point.to(x.v[0])
    return ((x.v[0] <= p) & (p <= x.v[1])).all(dim=1)


def _neural(V: NeuralLyapunov, x: Jet) -> tuple[Jet, Jet]:
    x_eq = _f64(V.x_eq)
    at_eq = module_jet(V.phi, Jet.variables(x_eq.unsqueeze(0), x_eq.unsqueeze(0), 0), "V.phi")
    holder: dict[str, Jet] = {}
    dx = _shift(x, x_eq)

    def cotangent(out: Jet) -> Jet:
        d = out - x.constant(at_eq.v[0][0], at_eq.v[1][0])
        if out.d is not None:
            # mean-value form on boxes that contain x_eq: phi(x) - phi(x_eq) in [J] (x - x_eq)
            mv = imul(out.d, (dx.v[0].unsqueeze(1), dx.v[1].unsqueeze(1)))
            lo, hi = sum_bounds(*mv, dim=2)
            inside = _contains_point(x, x_eq).unsqueeze(1)
            big = torch.full_like(lo, float("inf"))
            d = d.intersect_value(torch.where(inside, lo, -big), torch.where(inside, hi, big))
        holder["d"] = d
        return d.scale(2.0)

    _, g_phi = mlp_value_and_vjp(V.phi, x, cotangent, "V.phi")
    d = holder["d"]
    eps = float(V.eps)
    value = F.powi(d, 2).sum(1) + F.powi(dx, 2).sum(1).scale(eps)
    grad = g_phi + dx.scale(2.0 * eps)
    return value, grad


def _scalar_output(out: Jet, x: Jet) -> Jet:
    b = x.v[0].shape[0]
    if tuple(out.v[0].shape) == (b, 1):
        out = out.select(0)
    if tuple(out.v[0].shape) != (b,):
        raise UnsupportedOperationError(
            f"V.module: its bounded output has shape {tuple(out.v[0].shape)} for states of "
            f"shape {tuple(x.v[0].shape)}; expected (batch,) or (batch, 1)"
        )
    return out


def _module_candidate(V: ModuleCandidate, x: Jet) -> tuple[Jet, Jet]:
    """``module(x) - module(x_eq)`` and its gradient, from the module's jets one order higher.

    The gradient's jet of order ``k`` is the module's jet of order ``k + 1`` shifted down (its
    derivatives are the module's Hessian); at order 2 the gradient's own Hessian (the module's
    third derivatives) is not enclosed and is left unbounded, which is sound. The value is
    intersected, on boxes holding ``x_eq``, with the mean-value form ``[grad V] . (x - x_eq)``,
    so it is exactly 0 at ``x_eq``. ``x`` must be the coordinates (:meth:`Jet.variables`).
    """
    if x.d is not None:
        eye = torch.eye(x.n, dtype=x.d[0].dtype, device=x.d[0].device)
        if not bool(((x.d[0] == eye) & (x.d[1] == eye)).all()):
            raise UnsupportedOperationError(
                "V: a ModuleCandidate is bounded on the state coordinates only (a jet built "
                "by Jet.variables)"
            )
    lo, hi = x.v
    order = x.order
    m = _scalar_output(
        module_jet(V.module, Jet.variables(lo, hi, min(order + 1, 2)), "V.module"), x
    )
    value = Jet(m.v, m.d if order >= 1 else None, m.h if order >= 2 else None, x.n)
    if V.x_eq is None:  # V = module(x) as it stands: nothing subtracted
        return _module_gradient(value, m, order, x)
    x_eq = _f64(V.x_eq)
    at = module_jet(V.module, Jet.variables(x_eq.unsqueeze(0), x_eq.unsqueeze(0), 0), "V.module")
    at = _scalar_output(at, Jet.variables(x_eq.unsqueeze(0), x_eq.unsqueeze(0), 0))
    value = value - value.constant(at.v[0][0], at.v[1][0])
    if m.d is not None:
        dx = _shift(Jet.variables(lo, hi, 0), x_eq)
        mv = imul(m.d, dx.v)
        mlo, mhi = sum_bounds(*mv, dim=1)
        inside = _contains_point(x, x_eq)
        big = torch.full_like(mlo, float("inf"))
        value = value.intersect_value(torch.where(inside, mlo, -big), torch.where(inside, mhi, big))
    return _module_gradient(value, m, order, x)


def _module_gradient(value: Jet, m: Jet, order: int, x: Jet) -> tuple[Jet, Jet]:
    """``(value, gradient jet)`` of a module candidate from the module's jet ``m``."""
    lo = x.v[0]
    if order == 0:
        return value, Jet(m.d, None, None, x.n)  # type: ignore[arg-type]
    if order == 1:
        return value, Jet(m.d, m.h, None, x.n)  # type: ignore[arg-type]
    free = torch.full(m.h[0].shape + (x.n,), float("inf"), dtype=lo.dtype, device=lo.device)  # type: ignore[index]
    return value, Jet(m.d, m.h, (-free, free), x.n)  # type: ignore[arg-type]


def _cross_entropy(V: CrossEntropy, x: Jet) -> tuple[Jet, Jet]:
    """``logsumexp(x) - x_y`` and ``softmax(x) - e_y``, shifted by a per-box constant (the
    largest coordinate of the box centre) so that ``exp`` cannot overflow; the shift is exact
    in real arithmetic and its rounding is inside the interval operations."""
    n = x.v[0].shape[1]
    y = int(V.label)
    if y >= n:
        raise UnsupportedOperationError(
            f"V: label {y} needs at least {y + 1} logits; the state has {n}"
        )
    _, s, shift = F.shifted_exp(x)
    value = F.log(s) + shift.select(0) - x.select(y)
    soft = F.softmax(x)
    onehot = torch.zeros(n, dtype=torch.float64)
    onehot[y] = 1.0
    return value, soft - x.constant(onehot)


def _symbolic_candidate(V: SymbolicCandidate, x: Jet) -> tuple[Jet, Jet]:
    env = {s: x.select(i) for i, s in enumerate(V.states)}
    like = x.select(0)
    memo: dict = {}
    value = expr_jet(V.expr, env, like, memo)
    grad = Jet.stack([expr_jet(e, env, like, memo) for e in V.gradient_exprs], dim=1)
    return value, grad


def candidate_jets(
    V: AbstractCandidate, x: Jet, centre: tuple[torch.Tensor, torch.Tensor] | None = None
) -> tuple[Jet, Jet]:
    """Jets of ``V(x)`` (shape ``(batch,)``) and ``grad V(x)`` (shape ``(batch, n)``).

    With ``centre = (lo, hi)`` the candidate is a :class:`~lyactrl.Quadratic` centred at an
    unknown point of that box (an equilibrium proved to lie in it): the jets enclose
    ``(x - c)^T P (x - c)`` for every ``c`` in the box. Other candidates refuse a box centre.

    A subclass of a supported candidate that overrides ``value``, ``value_and_gradient``,
    ``__call__``, ``grad`` or ``forward`` is refused (its own formula is not bounded).

    Parameters
    ----------
    V : AbstractCandidate
        A supported candidate (see :data:`lyactrl.bounds.SUPPORTED`); others raise
        :class:`~lyactrl.UnsupportedOperationError`.
    x : Jet
        The state jet, shape ``(batch, n)``.
    centre : (torch.Tensor, torch.Tensor), optional
        A box holding the true centre of a quadratic ``V`` (see above).

    Returns
    -------
    tuple of Jet
        The jets of ``V(x)`` and of ``grad V(x)``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.bounds.jets import Jet, candidate_jets
    >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> v, g = candidate_jets(lyactrl.Quadratic(torch.eye(2)), Jet.variables(x, x, 0))
    >>> round(float(v.v[0][0]), 9), [round(float(d), 9) for d in g.v[0][0]]
    (5.0, [2.0, 4.0])
    """

    def known(cls: type) -> bool:
        return _recognised(V, cls, _CANDIDATE_METHODS, "V")

    if centre is not None:
        if not known(Quadratic):
            raise UnsupportedOperationError(
                f"V: an equilibrium known only as a box needs a Quadratic V centred at it; "
                f"received {type(V).__name__}"
            )
        d = x - x.constant(_f64(centre[0]), _f64(centre[1]))
        pd = d.linear(_f64(V.P))
        return (d * pd).sum(1), pd.scale(2.0)
    if known(Quadratic):
        d = _shift(x, V.x_eq)  # type: ignore[arg-type]
        P = _f64(V.P)
        pd = d.linear(P)
        return (d * pd).sum(1), pd.scale(2.0)
    if known(SquaredError) and V.target.ndim == 1:
        d = _shift(x, V.target)
        return F.powi(d, 2).sum(1).scale(0.5), d
    if known(SymbolicCandidate):
        return _symbolic_candidate(V, x)
    if known(NeuralLyapunov):
        check_module_tree(V, "V")
        return _neural(V, x)
    if known(CrossEntropy) and V.label.ndim == 0:
        return _cross_entropy(V, x)
    if known(ModuleCandidate):
        return _module_candidate(V, x)
    raise UnsupportedOperationError(
        f"V: {type(V).__name__} is not supported by the certifier; supported candidates: "
        f"{', '.join(CANDIDATES)}"
    )
