"""Equilibria found by Newton's method and proved by the Krawczyk test.

Damped Newton iteration (autograd Jacobian, backtracking on ``||f||``, float64) finds a
numerical root ``x`` of ``f``; the Krawczyk operator on a small box ``E`` around it,

    ``K(E) = c - Y f(c) + (I - Y [J](E)) (E - c)``,

computed with the certifier's outward-rounded enclosures of ``f(c)`` and of the Jacobian on
``E`` (``Y`` any float matrix, here the inverse of the midpoint Jacobian), proves a unique zero
of ``f`` in ``E`` when ``K(E)`` lies in the interior of ``E``: ``g(x) = x - Y f(x)`` maps
``E`` into itself and is a contraction there (Brouwer and the mean-value inclusion
``g(x) - g(y) in (I - Y [J](E)) (x - y)``, which also holds for the Lipschitz saturations
through their generalized gradients).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import (
    InvalidArgumentError,
    InvalidValueError,
    ShapeError,
    UnsupportedOperationError,
)
from .._results import ResultMixin, Status
from .._tensors import as_positive, as_vector, positive_int
from ..bounds.jets import Jet, system_jet
from ..regions import Ball, Box
from ..systems import AbstractSystem, check_autonomous

__all__ = ["Equilibrium", "find_equilibrium", "krawczyk"]

METHOD = "newton+krawczyk"
#: Relative half-widths of the boxes tried by the Krawczyk test, smallest first.
RADII = tuple(10.0**-k for k in range(12, 2, -1))
#: An eigenvalue with ``|Re| <= HYPERBOLIC_RTOL * max(1, max |lambda|)`` counts as on the axis.
HYPERBOLIC_RTOL = 1e-9


@dataclasses.dataclass(frozen=True)
class Equilibrium(ResultMixin):
    """A numerically found equilibrium and, when proved, a box holding exactly one.

    ``status`` is ``certified`` when the Krawczyk test proved a unique zero of ``f`` in the
    box ``lo..hi`` (which contains ``x``); otherwise ``unknown`` with the reason in
    ``message`` (no root found in the region, a singular Jacobian, a system the certifier
    cannot bound) and ``lo = hi = None``. ``eigenvalues`` are those of the autograd Jacobian
    at ``x``, shape ``(n, 2)`` as (real, imaginary) pairs; ``hyperbolic`` says whether none
    lies on the imaginary axis (a quadratic Lyapunov function needs a hyperbolic
    equilibrium).
    """

    status: Status
    method: str
    seconds: float
    message: str
    x: torch.Tensor
    lo: torch.Tensor | None
    hi: torch.Tensor | None
    residual_norm: float
    eigenvalues: torch.Tensor
    hyperbolic: bool

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


def _f(system: AbstractSystem, x: torch.Tensor) -> torch.Tensor:
    return system(x.unsqueeze(0))[0].detach().to(torch.float64)


def _jacobian(system: AbstractSystem, x: torch.Tensor) -> torch.Tensor:
    """The Jacobian at ``x`` by autograd, or by central differences for a system that has no
    gradients (a python-control function evaluated in numpy)."""
    z = x.detach().clone().requires_grad_(True)
    try:
        y = system(z.unsqueeze(0))[0]
    except InvalidArgumentError:
        y = None
    if y is None or not y.requires_grad:
        h = 1e-7 * torch.clamp(x.abs(), min=1.0)
        cols = [
            (_f(system, x + h[j] * e) - _f(system, x - h[j] * e)) / (2 * h[j])
            for j, e in enumerate(torch.eye(x.shape[0], dtype=torch.float64))
        ]
        return torch.stack(cols, dim=1)
    rows = [torch.autograd.grad(y[i], z, retain_graph=True)[0] for i in range(y.shape[0])]
    return torch.stack(rows).detach().to(torch.float64)


def _newton(system: AbstractSystem, x0: torch.Tensor, max_iter: int) -> tuple[torch.Tensor, float]:
    """Damped Newton: the full step, halved until ``||f||`` decreases (Armijo); stops when no
    step of at least ``2**-30`` of Newton's decreases ``||f||`` (rounding level)."""
    x, fx = x0, _f(system, x0)
    nf = float(fx.norm())
    for _ in range(max_iter):
        if nf == 0.0 or not torch.isfinite(fx).all():
            break
        J = _jacobian(system, x)
        if not torch.isfinite(J).all():
            break
        step = torch.linalg.lstsq(J, -fx.unsqueeze(1)).solution.squeeze(1)
        t, accepted = 1.0, False
        while t >= 2.0**-30:
            xn = x + t * step
            fn = _f(system, xn)
            nfn = float(fn.norm())
            if torch.isfinite(fn).all() and nfn < (1.0 - 1e-4 * t) * nf:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break
        x, fx, nf = xn, fn, nfn
    return x, nf


def _interval(lo: torch.Tensor, hi: torch.Tensor, n: int) -> Jet:
    return Jet((lo, hi), None, None, n)


@checked_kwargs
def krawczyk(
    system: AbstractSystem, center: Any, radius: Any
) -> tuple[bool, torch.Tensor, torch.Tensor]:
    """The Krawczyk test on the box ``center +- radius``.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system the certifier can bound.
    center : array_like, shape (n,)
        The box centre ``c`` (a numerical root).
    radius : float or array_like, shape (n,)
        The half-widths (> 0).

    Returns
    -------
    tuple
        ``(proved, K_lo, K_hi)``: whether ``K(E)`` lies in the interior of ``E`` (then ``f``
        has exactly one zero in ``E``, and it lies in ``K(E)``), and the bounds of ``K(E)``.

    Raises
    ------
    UnsupportedOperationError
        A system the certifier cannot bound.
    ShapeError, InvalidValueError
        A centre or radius of the wrong shape, not finite, or a radius not positive.

    Examples
    --------
    >>> import lyactrl
    >>> from lyactrl.verify import krawczyk
    >>> sys = lyactrl.SymbolicSystem(["x**2 - 2"], "x", x_eq=[1.4142135624])
    >>> krawczyk(sys, [2**0.5], 1e-10)[0], krawczyk(sys, [0.0], 2.0)[0]  # 2 roots in [-2, 2]
    (True, False)
    """
    n = system.n_states
    c = as_vector(center, n, name="center").unsqueeze(0)
    if isinstance(radius, (int, float)) and not isinstance(radius, bool):
        r = torch.full((n,), as_positive(radius, name="radius"), dtype=torch.float64)
    else:
        r = as_vector(radius, n, name="radius")
        if not bool((r > 0).all()):
            raise InvalidValueError(f"radius: expected half-widths > 0, received {r.tolist()}")
    elo, ehi = c - r, c + r
    jac = system_jet(system, Jet.variables(elo, ehi, 1)).d
    fc = system_jet(system, Jet.variables(c, c, 0)).v
    mid = 0.5 * (jac[0][0] + jac[1][0])
    nan = torch.full_like(c, float("nan"))
    if not (torch.isfinite(mid).all() and torch.isfinite(fc[0]).all()):
        return False, nan[0], nan[0]
    try:
        Y = torch.linalg.inv(mid)
    except RuntimeError:  # singular midpoint Jacobian
        return False, nan[0], nan[0]
    if not torch.isfinite(Y).all():
        return False, nan[0], nan[0]
    eye = torch.eye(n, dtype=torch.float64).unsqueeze(0)
    M = _interval(eye, eye, n) - _interval(*jac, n).linear(Y)  # I - Y [J](E), (1, n, n)
    dE = _interval(elo, ehi, n) - _interval(c, c, n)
    MdE = (M * _interval(dE.v[0].unsqueeze(1), dE.v[1].unsqueeze(1), n)).sum(2)
    K = _interval(c, c, n) - _interval(*fc, n).linear(Y) + MdE
    klo, khi = K.v
    proved = bool((torch.isfinite(klo) & torch.isfinite(khi) & (klo > elo) & (khi < ehi)).all())
    return proved, klo[0], khi[0]


def _check_region(region: Any, n: int) -> Box | Ball | None:
    if region is None:
        return None
    if not isinstance(region, (Box, Ball)):
        raise InvalidArgumentError(
            f"region: expected a Box or a Ball (or None), received {type(region).__name__}"
        )
    if region.n_states != n:
        raise ShapeError(
            f"region: expected a region of {n} states (the system's), received one of "
            f"{region.n_states}"
        )
    return region


def _starts(system: AbstractSystem, guess: Any, region: Box | Ball | None, starts: int, seed: int):
    n = system.n_states
    if guess is not None:
        return as_vector(guess, n, name="guess").unsqueeze(0)
    if region is None:
        return system.x_eq.detach().to(torch.float64).reshape(1, n)
    centre = region.center if isinstance(region, Ball) else 0.5 * (region.lo + region.hi)
    gen = torch.Generator().manual_seed(seed)
    points = region.sample(max(starts - 1, 1), generator=gen, dtype=torch.float64)
    return torch.cat([centre.to(torch.float64).reshape(1, n), points])


def _best_root(system, x0s, region, max_iter) -> tuple[torch.Tensor, float, bool]:
    """The Newton root with the smallest ``||f||`` inside ``region`` (anywhere without one);
    the flag says whether it lies in the region."""
    found = [_newton(system, x0, max_iter) for x0 in x0s]
    inside = [r for r in found if region is None or bool(region.contains(r[0].unsqueeze(0)))]
    pool = inside or found
    x, nf = min(pool, key=lambda r: r[1] if r[1] == r[1] else float("inf"))
    return x, nf, bool(inside)


def _prove(system: AbstractSystem, x: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    """The smallest box of :data:`RADII` that passes the Krawczyk test, or the reason."""
    scale = max(float(x.abs().max()), 1.0)
    for rel in RADII:
        r = torch.full_like(x, rel * scale)
        try:
            proved, _, _ = krawczyk(system, x, r)
        except UnsupportedOperationError as exc:
            return None, f"the certifier cannot bound this system, so nothing is proved: {exc}"
        if proved:
            return r, ""
    return None, (
        f"the Krawczyk test failed on every box of relative half-width {RADII[0]:.0e} to "
        f"{RADII[-1]:.0e} around x (no unique equilibrium proved)"
    )


def _spectrum(J: torch.Tensor) -> tuple[torch.Tensor, bool, bool]:
    """Eigenvalues as (real, imag) pairs, whether hyperbolic, whether singular."""
    if not torch.isfinite(J).all():
        nan = torch.full((J.shape[0], 2), float("nan"), dtype=torch.float64)
        return nan, False, False
    lam = torch.linalg.eigvals(J)
    pairs = torch.stack([lam.real, lam.imag], dim=1).to(torch.float64)
    size = max(float(lam.abs().max()), 1.0)
    hyperbolic = bool((lam.real.abs() > HYPERBOLIC_RTOL * size).all())
    sv = torch.linalg.svdvals(J)
    singular = bool(sv.min() <= 1e-12 * max(float(sv.max()), 1.0))
    return pairs, hyperbolic, singular


def _failure(
    x: torch.Tensor, nf: float, in_region: bool, region: bool, singular: bool, why: str
) -> str:
    if not in_region:
        return (
            "no equilibrium found in the region: Newton's iterations from every start ended "
            f"outside it (the best, x = {[round(v, 6) for v in x.tolist()]}, has ||f|| = {nf:.3g})"
        )
    if not nf <= 1e-6:
        return (
            f"no equilibrium found{' in the region' if region else ''}: Newton's smallest "
            f"||f|| is {nf:.3g} (at x = {[round(v, 6) for v in x.tolist()]}), not a root"
        )
    if singular:
        return (
            "the Jacobian at x is singular: the equilibrium is not hyperbolic (a quadratic V "
            "cannot certify it) and the Krawczyk test cannot isolate it"
        )
    return why


@checked_kwargs
def find_equilibrium(
    system: AbstractSystem,
    guess: Any = None,
    *,
    region: Box | Ball | None = None,
    starts: int = 16,
    max_iter: int = 50,
    seed: int = 0,
) -> Equilibrium:
    """Find an equilibrium ``f(x) = 0`` by Newton's method and prove it by the Krawczyk test.

    Newton's method (autograd Jacobian, damped by backtracking on ``||f||``, float64) runs
    from ``guess``, or from ``starts`` points of ``region`` (its centre and uniform samples)
    keeping the root with the smallest ``||f||`` inside the region, or from ``system.x_eq``
    when neither is given. The Krawczyk operator, computed with the certifier's sound
    enclosures of ``f`` and of its Jacobian, then proves a unique equilibrium in the smallest
    box of relative half-width ``1e-12 .. 1e-3`` around the root that passes. Systems the
    certifier cannot bound (a python-control function) still get Newton's root, with status
    ``unknown``.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system (no inputs).
    guess : array_like, shape (n,), optional
        The starting point.
    region : Box or Ball, optional
        Where to look: the starts when no ``guess`` is given, and where the root must lie.
    starts : int
        The number of starting points drawn from ``region`` (the centre included).
    max_iter : int
        Newton iterations per start.
    seed : int
        Seed of the starting points.

    Returns
    -------
    Equilibrium
        ``certified`` with the proved box ``lo..hi``, or ``unknown`` with the reason.

    Raises
    ------
    InvalidArgumentError
        A system with inputs, or a region that is not a Box or a Ball.
    ShapeError, NonFiniteError
        A guess of the wrong shape or with NaN/inf.

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.SymbolicSystem(["x**2 - 2"], "x", x_eq=[1.4142135624])
    >>> eq = lyactrl.find_equilibrium(sys, region=lyactrl.Box([0.5], [3.0]))
    >>> eq.status, round(float(eq.x[0]), 12), eq.hyperbolic
    ('certified', 1.414213562373, True)
    >>> bool(eq.lo[0] <= 2**0.5 <= eq.hi[0]), float(eq.hi[0] - eq.lo[0]) < 1e-9
    (True, True)
    """
    t0 = time.perf_counter()
    system = check_autonomous(system, "system")
    region = _check_region(region, system.n_states)
    starts = positive_int(starts, "starts")
    max_iter = positive_int(max_iter, "max_iter")
    x0s = _starts(system, guess, region, starts, int(seed))
    x, nf, in_region = _best_root(system, x0s, region, max_iter)
    pairs, hyperbolic, singular = _spectrum(_jacobian(system, x))
    r, why = (None, "") if not (in_region and nf <= 1e-6) else _prove(system, x)
    if r is None:
        message = _failure(x, nf, in_region, region is not None, singular, why)
        return Equilibrium(
            Status.UNKNOWN, METHOD, time.perf_counter() - t0, message, x, None, None, nf,
            pairs, hyperbolic,
        )  # fmt: skip
    lo, hi = x - r, x + r
    message = (
        f"a unique equilibrium proved in the box x +- {float(r[0]):.1e} (Krawczyk); "
        f"||f(x)|| = {nf:.1e}"
    )
    if not hyperbolic:
        message += "; it is not hyperbolic (an eigenvalue on the imaginary axis)"
    return Equilibrium(
        Status.CERTIFIED, METHOD, time.perf_counter() - t0, message, x, lo, hi, nf, pairs,
        hyperbolic,
    )  # fmt: skip
