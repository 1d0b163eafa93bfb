"""Learn a neural Lyapunov function whose certified sublevel set covers the region of attraction."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

import torch
from scipy import ndimage

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, LyactrlError
from .._progress import progress_bar
from .._results import ResultMixin, Status
from .._tensors import as_positive, positive_int
from ..conditions import ExponentialStability, hinge_loss
from ..lyapunov import NeuralLyapunov, Quadratic
from ..regions import Ball, Box, Sublevel
from ..systems import AbstractSystem, check_autonomous, linearize
from ._falsify import falsify
from ._roa import region_of_attraction
from ._simulated_roa import SimulatedROA, simulated_region_of_attraction, volume_ratio

__all__ = ["LyapunovFit", "fit_lyapunov", "linear_decrease"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LyapunovFit(ResultMixin):
    """The result of :func:`fit_lyapunov`.

    ``status`` is the certification's (``certified``, ``unknown``, ``falsified``) or
    ``holds_on_samples``/``falsified`` of the sampled estimate when ``certify=False``. ``V`` is
    the candidate with the larger certified volume: the learned :class:`NeuralLyapunov`, or
    the quadratic baseline from the linearisation when the learned one certifies less (never
    less than the baseline it started from; ``baseline_volume_ratio`` is the baseline's).
    ``level`` is the certified level (or the sampled estimate), ``volume_ratio`` the share of the
    simulated region of attraction's grid points inside ``{V <= level}``.
    """

    status: Status
    method: str
    seconds: float
    message: str
    train_seconds: float
    certify_seconds: float
    V: Any
    rate: float
    level: float
    volume_ratio: float
    simulated_fraction: float
    certificate: Any
    counterexamples_added: int
    losses: list[float]
    baseline_volume_ratio: float = 0.0


def _train(
    V: NeuralLyapunov,
    system: AbstractSystem,
    inside: torch.Tensor,
    outside: torch.Tensor,
    target: torch.Tensor,
    rim: torch.Tensor,
    *,
    rate: float,
    steps: int,
    lr: float,
    batch: int,
    near_radius: float,
    generator: torch.Generator,
    bar: Any = None,
) -> float:
    """Decrease on the region of attraction, ``V <= 1`` on its ``target`` points, ``V >= 1.1``
    outside."""
    near = Ball(V.x_eq, near_radius)
    # a strict margin proportional to ||x - x_eq||^2 (the condition's margin rule) leaves room
    # for certification
    cond = ExponentialStability(system, V, rate, margin=1e-3)
    A = linearize(system, V.x_eq).to(V.x_eq.dtype)
    eye = torch.eye(A.shape[0], dtype=A.dtype)
    opt = torch.optim.Adam(V.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss = torch.zeros(())
    # the plain mean when every point is a target (bit for bit the loss without ``erode``)
    weigh_in = not bool(target.all())
    for _ in range(steps):
        idx = torch.randint(0, inside.shape[0], (batch,), generator=generator)
        xi = inside[idx]
        xi = xi + 0.01 * torch.randn(xi.shape, generator=generator, dtype=xi.dtype)
        # states near x_eq, which a grid barely samples, fix V's local (quadratic) shape
        xi = torch.cat([xi, near.sample(batch // 4, generator=generator, dtype=xi.dtype)])
        # the condition's one residual, from V's value and gradient computed once
        v, dv, _, d2 = cond.terms(xi)
        residual = cond.combine(v, dv, d2)
        # near x_eq the residual is O(||x - x_eq||^2), so there it is normalised to count at all
        l_dec, _ = hinge_loss(residual[:batch])
        l_near, _ = hinge_loss(residual[batch:] / d2[batch:].clamp_min(1e-12))
        w_in = target[idx].to(v.dtype) if weigh_in else None
        l_in, _ = hinge_loss(v[:batch] - 1.0, weights=w_in)
        # the local certificate at x_eq needs the linearised residual's matrix negative definite
        hess = torch.autograd.functional.hessian(
            lambda z: V.value(z.unsqueeze(0))[0], V.x_eq, create_graph=True
        )
        H = 0.5 * hess
        local = torch.linalg.eigvalsh(linear_decrease(A, H, rate, system.is_discrete) + 1e-3 * eye)
        local = local[-1]
        terms = 10.0 * (l_dec + l_near + torch.relu(local)) + l_in
        if outside.shape[0]:
            xo = outside[torch.randint(0, outside.shape[0], (batch // 2,), generator=generator)]
            l_out, _ = hinge_loss(1.1 - V.value(xo))
            terms = terms + l_out
        if rim.shape[0]:
            # converging points on the domain's rim: few, so sampled and weighted on their own
            xr = rim[torch.randint(0, rim.shape[0], (batch // 4,), generator=generator)]
            l_rim, _ = hinge_loss(1.1 - V.value(xr))
            terms = terms + 10.0 * l_rim
        opt.zero_grad()
        terms.backward()
        opt.step()
        sched.step()
        loss = terms.detach()
        if bar is not None:
            bar.update(1)
    return float(loss)


def linear_decrease(A: torch.Tensor, H: torch.Tensor, rate: float, discrete: bool) -> torch.Tensor:
    """The matrix of the residual of ``V = d^T H d`` on the linearisation ``A`` at ``x_eq``.

    The residual of the linearised system is ``d^T M d`` with ``M = A^T H + H A + rate H``
    (flow) or ``M = A^T H A - (1 - rate) H`` (map); the condition holds near ``x_eq`` when
    ``M`` is negative definite. Differentiable in ``A`` and ``H`` (training losses use it).

    Parameters
    ----------
    A : torch.Tensor, shape (n, n)
        The linearisation at ``x_eq``.
    H : torch.Tensor, shape (n, n)
        Half the Hessian of ``V`` at ``x_eq`` (symmetric).
    rate : float
        The decay rate.
    discrete : bool
        Whether the system is a map.

    Returns
    -------
    torch.Tensor, shape (n, n)
        ``M``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.verify import linear_decrease
    >>> linear_decrease(-torch.eye(2), torch.eye(2), 1.0, False).tolist()
    [[-1.0, 0.0], [0.0, -1.0]]
    """
    if discrete:
        return A.T @ H @ A - (1.0 - rate) * H
    return A.T @ H + H @ A + rate * H


@checked_kwargs
def fit_lyapunov(
    system: AbstractSystem,
    domain: Box,
    *,
    hidden: Sequence[int] = (32, 32),
    activation: str = "tanh",
    rate: float = 0.01,
    steps: int = 4000,
    rounds: int = 1,
    lr: float = 1e-2,
    batch: int = 2048,
    simulated: SimulatedROA | None = None,
    grid: int = 120,
    t_final: float = 20.0,
    rim_outside: bool = True,
    erode: int = 0,
    certify: bool = True,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: bool | None = None,
) -> LyapunovFit:
    """Learn a :class:`NeuralLyapunov` ``V`` whose certified sublevel set fills the true region
    of attraction, then certify it.

    The true region of attraction is estimated by simulation on a grid (or taken from
    ``simulated``). The quadratic ``V`` from the linearisation is certified first (the
    baseline, when the linearisation is Hurwitz); the network is warm-started to match it
    (scaled so that its certified level is 1) and the baseline is returned instead when the
    learned ``V`` certifies a smaller share, so the result never falls below it. ``V`` is trained on those grid points with three hinge losses (LyaNet's
    sampled condition, no ODE solve in the loop): the decrease condition
    ``grad V . f + rate V <= -1e-3 ||x - x_eq||^2`` on points that converge (and on a small ball
    around ``x_eq``, normalised by ``||x - x_eq||^2``, plus a hinge on the largest eigenvalue of
    ``A^T H + H A + rate H`` for the linearisation ``A`` and ``V``'s Hessian ``2 H`` at ``x_eq``:
    the local shape that the certificate at ``x_eq`` needs),
    ``V <= 1`` on them (on those ``erode`` cells away from non-converging ones)
    and ``V >= 1.1`` on points that do not (and, with ``rim_outside``, on converging points of
    the domain's outermost grid layer, which the certified set cannot reach). Each further
    round falsifies the condition on ``{V <= 1}`` and adds the counterexamples to the training set (counterexample-guided). The
    result's level is then certified by :func:`region_of_attraction` (sound), and the volume
    ratio against the simulated region is reported.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system with its equilibrium ``x_eq`` inside ``domain``.
    domain : Box
        Where to look for the region of attraction.
    hidden, activation
        Architecture of ``V`` (see :class:`NeuralLyapunov`).
    rate : float
        The decay rate to certify (small: convergence is slow near the boundary of the region).
    steps : int
        Optimiser steps per round.
    rounds : int
        Training rounds; rounds after the first add falsified counterexamples.
    lr, batch
        Adam's peak learning rate (one-cycle schedule) and the batch size.
    simulated : SimulatedROA, optional
        A precomputed estimate of the region of attraction on ``domain``.
    grid : int
        Grid points per axis of the simulated estimate (when ``simulated`` is not given).
    t_final : float
        Simulation horizon of that estimate: slowly converging systems need a longer one, or
        points of the region of attraction are trained as outside it.
    rim_outside : bool
        Train the outermost grid points as outside (``V >= 1.1``) even where they converge:
        the certified set has to stay inside ``domain``, so where the region of attraction
        reaches past it (a domain that cuts the region) ``V`` should rise at the rim.
    erode : int
        Grid cells by which the target ``V <= 1`` keeps away from non-converging points (the
        decrease is still trained there): near the boundary of the true region convergence
        is arbitrarily slow, so a sublevel set that hugs it cannot decrease at ``rate``.
    certify : bool
        Certify the level (otherwise estimate it on the grid, a statement about samples only).
    time_limit : float
        Seconds for the certification.
    seed : int
        Seeds the initial weights and the sampling.
    progress : bool or None
        A progress bar of the training steps on standard error (``None``: when it is a
        terminal).

    Returns
    -------
    LyapunovFit
    """
    t0 = time.perf_counter()
    check_autonomous(system)
    if not isinstance(domain, Box):
        raise InvalidArgumentError(f"domain: expected a Box, received {type(domain).__name__}")
    rate = as_positive(rate, name="rate")
    positive_int(steps, "steps")
    positive_int(rounds, "rounds")
    gen = torch.Generator().manual_seed(seed)
    if simulated is None:
        simulated = simulated_region_of_attraction(
            system, domain, grid=grid, t_final=t_final, progress=progress
        )
    keep = simulated.mask
    rim = simulated.points[:0]
    if rim_outside:
        edge = _rim(simulated.points)
        rim = simulated.points[keep & edge]
        # the certified set stays in the domain's interior: the outermost grid points are
        # trained as outside even where the region of attraction reaches past the domain
        keep = keep & ~edge
    inside = simulated.points[keep]
    outside = simulated.points[~keep]
    target = _erode(keep.reshape(simulated.grid_shape), erode).reshape(-1)[keep]
    if inside.shape[0] == 0:
        raise InvalidArgumentError("domain: no simulated trajectory converges to x_eq inside it")
    base = _baseline(system, domain, rate, simulated, time_limit) if certify else None
    V = NeuralLyapunov(
        system.n_states, hidden=hidden, activation=activation, x_eq=system.x_eq, generator=gen
    )
    if base is not None:
        _warm_start(V, base, simulated.points, steps=max(200, steps // 4), lr=lr, generator=gen)
    opts = dict(rate=rate, steps=steps, lr=lr, batch=batch, generator=gen)
    opts["near_radius"] = 0.05 * float((domain.hi - domain.lo).min())
    losses, added = _rounds(V, system, domain, inside, outside, target, rim, rounds, opts, progress)
    train_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    best = _evaluate(V, system, domain, rate, simulated, certify, time_limit)
    if base is not None and base.ratio >= best.ratio:
        note = "the quadratic baseline from the linearisation certifies at least as much"
        best = dataclasses.replace(base, message=note)
    return LyapunovFit(
        status=Status.of(best.status),
        method="fit_lyapunov",
        seconds=time.perf_counter() - t0,
        message=best.message,
        train_seconds=train_seconds,
        certify_seconds=time.perf_counter() - t1,
        V=best.V,
        rate=rate,
        level=best.level,
        volume_ratio=best.ratio,
        simulated_fraction=simulated.fraction,
        certificate=best.certificate,
        counterexamples_added=added,
        losses=losses,
        baseline_volume_ratio=base.ratio if base is not None else 0.0,
    )


@dataclasses.dataclass(frozen=True)
class _Candidate:
    """A candidate with its certified (or sampled) level and volume ratio."""

    V: Any
    certificate: Any
    level: float
    ratio: float
    status: str
    message: str


def _rounds(V, system, domain, inside, outside, target, rim, rounds: int, opts, progress) -> Any:
    """Training rounds; each after the first adds falsified counterexamples on ``{V <= 1}``."""
    losses: list[float] = []
    added = 0
    with progress_bar(progress, desc="fit_lyapunov", total=rounds * opts["steps"]) as bar:
        for r in range(rounds):
            if r:
                cond = ExponentialStability(system, V, opts["rate"])
                found = falsify(cond, Sublevel(V, 1.0, within=domain), generator=opts["generator"])
                added += found.counterexamples.shape[0]
                inside = torch.cat([inside, found.counterexamples.detach()])
                target = torch.cat([target, torch.ones(found.counterexamples.shape[0], dtype=bool)])
            losses.append(_train(V, system, inside, outside, target, rim, bar=bar, **opts))
            log.info("fit_lyapunov round %d: loss %.4g", r, losses[-1])
    return losses, added


def _evaluate(V, system, domain, rate, simulated, certify: bool, time_limit: float) -> _Candidate:
    """The candidate's certified (or, with ``certify=False``, sampled) level and volume."""
    if certify:
        cert = region_of_attraction(
            ExponentialStability(system, V, rate), domain, time_limit=time_limit, progress=False
        )
        level = float(cert.level or 0.0)
        status, message = cert.status, cert.message
    else:
        cert = None
        status, level = _sampled_level(system, V, simulated.points, rate)
        message = f"sampled estimate of the level {level:.6g}, not a proof"
    ratio = volume_ratio(Sublevel(V, level, within=domain), simulated) if level > 0 else 0.0
    return _Candidate(V, cert, level, ratio, str(status), message)


def _baseline(system, domain, rate: float, simulated, time_limit: float) -> _Candidate | None:
    """The quadratic candidate from the linearisation, certified, or ``None``."""
    try:
        Vq = Quadratic.from_linearization(system)
    except LyactrlError:
        return None
    found = _evaluate(Vq, system, domain, rate, simulated, True, time_limit)
    return found if found.status == Status.CERTIFIED else None


def _warm_start(
    V: NeuralLyapunov, base: _Candidate, points, *, steps: int, lr: float, generator
) -> None:
    """Regress ``V`` on the baseline ``V_q / level_q`` (its certified level becomes 1)."""
    with torch.no_grad():
        target = base.V.value(points) / base.level
    opt = torch.optim.Adam(V.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, points.shape[0], (min(2048, points.shape[0]),), generator=generator)
        loss = ((V.value(points[idx]) - target[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _erode(mask: torch.Tensor, cells: int) -> torch.Tensor:
    """``mask`` (on the grid) less its points within ``cells`` steps along an axis of a
    ``False`` point (binary erosion by the axis cross); the grid's edge counts as ``True``."""
    if cells <= 0:
        return mask
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    out = ndimage.binary_erosion(mask.numpy(), cross, iterations=cells, border_value=1)
    return torch.from_numpy(out)


def _rim(points: torch.Tensor) -> torch.Tensor:
    """The grid points on the outermost layer (a coordinate at its smallest or largest)."""
    lo, hi = points.min(0).values, points.max(0).values
    return ((points == lo) | (points == hi)).any(1)


def _sampled_level(
    system: AbstractSystem, V: NeuralLyapunov, points: torch.Tensor, rate: float
) -> tuple[str, float]:
    """The largest level below every sampled violation and below ``V`` on the outermost grid
    points: on the samples, ``{V <= level}`` satisfies the condition (not a proof)."""
    cond = ExponentialStability(system, V, rate)
    with torch.no_grad():
        v, residual = V.value(points), cond.evaluate(points)
        far = ((points - V.x_eq) ** 2).sum(1) > 1e-12
        bad = (residual > 0) & far
        level = float(v[bad].min()) if bool(bad.any()) else float(v.max())
        level = min(level, float(v[_rim(points)].min()))
    return "holds_on_samples", level
