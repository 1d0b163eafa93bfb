"""Learn a saturated controller together with a Lyapunov function, then certify the pair."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, LyactrlError, ShapeError
from .._progress import progress_bar
from .._results import ResultMixin, Status
from .._tensors import as_positive, positive_int
from ..conditions import ExponentialStability, hinge_loss
from ..lyapunov import NeuralLyapunov, Quadratic
from ..regions import Ball, Box, Sublevel
from ..systems import AbstractSystem, ClosedLoop, linearize
from ..verify import falsify, grid_points, linear_decrease, region_of_attraction
from ._controller import SaturatedController
from ._lqr import lqr

__all__ = ["ControllerFit", "fit_controller"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ControllerFit(ResultMixin):
    """The result of :func:`fit_controller`.

    ``status`` is the sound certifier's (:func:`~lyactrl.region_of_attraction`) on the
    returned pair: ``certified`` means ``{x in domain : V(x) <= level}`` is proved forward
    invariant and exponentially stable (``decay_bound``) for the closed loop
    ``ClosedLoop(plant, controller)``, with ``|u| <= u_max`` there by construction (the
    controller ends in a clamp, certified as written); otherwise ``unknown``. ``V`` is the
    learned :class:`~lyactrl.NeuralLyapunov` or, when it certifies less, the quadratic ``V`` of
    the learned closed loop's linearisation. ``volume_share`` is the share of a uniform grid
    of ``domain`` inside the certified set (an estimate of its volume; membership of each
    grid point is exact). The ``lqr_*`` fields are the same figures for the baseline: the
    saturated LQR controller with the quadratic ``V`` of its closed loop's linearisation.
    ``plant`` and ``domain`` are the arguments (for :func:`lyactrl.plot.controller_plot`).
    """

    status: Status
    method: str
    seconds: float
    message: str
    controller: Any
    V: Any
    level: float
    rate: float
    decay_bound: Any
    volume_share: float
    certificate: Any
    lqr_gain: torch.Tensor
    lqr_controller: Any
    lqr_V: Any
    lqr_status: Status
    lqr_level: float
    lqr_decay_bound: Any
    lqr_volume_share: float
    lqr_certificate: Any
    train_seconds: float
    certify_seconds: float
    counterexamples_added: int
    losses: list[float]
    plant: Any = dataclasses.field(default=None, repr=False)
    domain: Any = dataclasses.field(default=None, repr=False)

    def __str__(self) -> str:
        return (
            f"fit_controller: {self.status}, level {self.level:.6g}, rate {self.rate:.4g}, "
            f"share of the domain {self.volume_share:.4f} (saturated LQR: {self.lqr_status}, "
            f"share {self.lqr_volume_share:.4f}), {self.seconds:.3g} s"
        )


@dataclasses.dataclass(frozen=True)
class _Pair:
    controller: Any
    V: Any
    certificate: Any
    level: float
    share: float
    status: Status
    message: str


def _grid(domain: Box, points: int = 40_000) -> torch.Tensor:
    """Cell centres of a regular grid of about ``points`` points of the box."""
    return grid_points(domain, max(2, round(points ** (1.0 / domain.n_states))))[0]


def _share(V: Any, level: float, grid: torch.Tensor) -> float:
    if level <= 0:
        return 0.0
    with torch.no_grad():
        return float((V.value(grid) <= level).double().mean())


def _certify(plant, controller, V, domain, rate, grid, time_limit) -> _Pair:
    loop = ClosedLoop(plant, controller)
    cert = region_of_attraction(
        ExponentialStability(loop, V, rate), domain, time_limit=time_limit, progress=False
    )
    level = float(cert.level) if cert.status == Status.CERTIFIED else 0.0
    share = _share(V, level, grid)
    return _Pair(controller, V, cert, level, share, Status.of(cert.status), cert.message)


def _quadratic(plant, controller) -> Quadratic | None:
    try:
        return Quadratic.from_linearization(ClosedLoop(plant, controller))
    except LyactrlError:
        return None


def _check_bounds(u_bounds: Any, m: int) -> tuple[list[float], list[float]]:
    """``u_bounds`` as lists of lower and upper limits: a number ``u_max`` (``[-u_max,
    u_max]``), a pair ``(lo, hi)``, or a pair of sequences."""
    try:
        if isinstance(u_bounds, (int, float)) and not isinstance(u_bounds, bool):
            lo, hi = [-float(u_bounds)] * m, [float(u_bounds)] * m
        else:
            a, b = u_bounds
            lo = [float(v) for v in (a if isinstance(a, Sequence) else [a] * m)]
            hi = [float(v) for v in (b if isinstance(b, Sequence) else [b] * m)]
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"u_bounds: expected u_max or a pair (lo, hi), received {u_bounds!r}"
        ) from exc
    if len(lo) != m or len(hi) != m:
        raise ShapeError(
            f"u_bounds: expected {m} limits per side (one per input), received {len(lo)} and "
            f"{len(hi)}"
        )
    if not all(math.isfinite(v) for v in lo + hi) or not all(
        a < 0.0 < b for a, b in zip(lo, hi, strict=True)
    ):
        raise InvalidValueError(
            "u_bounds: expected finite limits lo < 0 < hi (the box of inputs must contain the "
            f"equilibrium input u = 0 in its interior), received lo = {lo}, hi = {hi}"
        )
    return lo, hi


def _check_controller(controller: Any, plant: AbstractSystem) -> None:
    x0 = plant.x_eq.to(torch.float64).unsqueeze(0)
    with torch.no_grad():
        u = controller(x0)
    if not isinstance(u, torch.Tensor) or tuple(u.shape) != (1, plant.n_inputs):
        got = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
        raise ShapeError(
            f"controller: expected an output of shape (batch, n_inputs) = (1, {plant.n_inputs}) "
            f"for one state, received {got}"
        )
    if float(u.abs().max()) > 1e-9:
        raise InvalidValueError(
            f"controller: expected u(x_eq) = 0 (the equilibrium input), received {u.tolist()}"
        )


class _Clamped(nn.Module):
    """A user's module followed by the input limits."""

    def __init__(self, inner: nn.Module, lo: list[float], hi: list[float]) -> None:
        super().__init__()
        self.inner, self.u_lo, self.u_hi = inner, tuple(lo), tuple(hi)
        self.register_buffer("lo_bound", torch.tensor(self.u_lo, dtype=torch.float64))
        self.register_buffer("hi_bound", torch.tensor(self.u_hi, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.inner(x)
        if len(self.u_lo) == 1:
            return torch.clamp(u, self.u_lo[0], self.u_hi[0])
        return torch.clamp(u, self.lo_bound, self.hi_bound)


def _build(controller, plant, K, lo, hi, hidden, gen) -> nn.Module:
    if isinstance(controller, nn.Module):
        mine = copy.deepcopy(controller).double()  # the user's module is left as it is
        _check_controller(mine, plant)
        return _Clamped(mine, lo, hi)
    if controller == "linear":
        return SaturatedController(K, lo, hi, plant.x_eq)
    if controller == "neural":
        return SaturatedController(K, lo, hi, plant.x_eq, hidden=hidden, generator=gen)
    raise InvalidValueError(
        f"controller: expected 'linear', 'neural' or a torch.nn.Module, received {controller!r}"
    )


def _boundary(domain: Box, n: int, gen: torch.Generator) -> torch.Tensor:
    """Uniform points on the faces of the box."""
    x = domain.sample(n, generator=gen)
    axis = torch.randint(0, domain.n_states, (n,), generator=gen)
    side = torch.rand(n, generator=gen, dtype=torch.float64) < 0.5
    lo, hi = domain.lo.double(), domain.hi.double()
    x[torch.arange(n), axis] = torch.where(side, hi[axis], lo[axis])
    return x


def _local_matrix(plant, AB, ctrl, V, rate: float) -> torch.Tensor:
    """The linearised residual's matrix at ``x_eq`` as a function of the trainable weights
    (``AB``: the plant's linearisation ``(A, B)`` there)."""
    A, B = AB
    x0 = plant.x_eq.to(torch.float64)
    J = torch.autograd.functional.jacobian(
        lambda z: ctrl(z.unsqueeze(0)).squeeze(0), x0, create_graph=True
    )
    Acl = A + B @ J
    H = 0.5 * torch.autograd.functional.hessian(
        lambda z: V.value(z.unsqueeze(0))[0], V.x_eq, create_graph=True
    )
    return linear_decrease(Acl, H, rate, plant.is_discrete)


def _in_set(V, domain: Box, n: int, gen: torch.Generator) -> torch.Tensor:
    """About ``n`` states of the band ``{V <= 1.2}`` by rejection from uniform samples (the
    set may be a small share of the domain), topped up with uniform ones."""
    x = domain.sample(8 * n, generator=gen)
    with torch.no_grad():
        x = x[V.value(x) <= 1.2][:n]
    if x.shape[0] < n:
        x = torch.cat([x, domain.sample(n - x.shape[0], generator=gen)])
    return x


def _train(ctrl, V, plant, domain, pool, *, rate, steps, lr, batch, grow, gen, bar, keep) -> float:
    """Joint steps on the sampled decrease condition, the local shape at ``x_eq``, a
    region-growing term (``V <= 1`` on the states just outside the set) and ``V >= 1.1`` on
    the domain's faces."""
    loop = ClosedLoop(plant, ctrl)
    cond = ExponentialStability(loop, V, rate, margin=1e-3)
    near = Ball(plant.x_eq.to(torch.float64), 0.05 * float((domain.hi - domain.lo).min()))
    eye = torch.eye(plant.n_states, dtype=torch.float64)
    AB = linearize(plant)  # the plant's, fixed: only the controller's Jacobian is trained
    params = list(V.parameters()) + [p for p in ctrl.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss = torch.zeros(())
    for i in range(steps):
        x = torch.cat([_in_set(V, domain, batch, gen), domain.sample(batch // 2, generator=gen)])
        if pool.shape[0]:
            idx = torch.randint(0, pool.shape[0], (batch // 4,), generator=gen)
            x = torch.cat([x, pool[idx]])
        nb = x.shape[0]
        x = torch.cat([x, near.sample(batch // 4, generator=gen)])
        v, dv, _, d2 = cond.terms(x)
        residual = cond.combine(v, dv, d2)
        # the decrease is asked on (a band beyond) the current set {V <= 1}
        w = (v[:nb].detach() <= 1.2).double()
        l_dec = (torch.relu(residual[:nb]) * w).sum() / w.sum().clamp_min(1.0)
        l_near, _ = hinge_loss(residual[nb:] / d2[nb:].clamp_min(1e-12))
        local = torch.linalg.eigvalsh(_local_matrix(plant, AB, ctrl, V, rate) + 1e-3 * eye)[-1]
        # region growing: pull the states just outside the set (1 < V <= 2) into it
        vo = v[batch : batch + batch // 2]
        band = ((vo.detach() > 1.0) & (vo.detach() <= 2.0)).double()
        l_grow = ((vo - 1.0) * band).sum() / band.sum().clamp_min(1.0)
        l_out, _ = hinge_loss(1.1 - V.value(_boundary(domain, batch // 4, gen)))
        terms = 10.0 * (l_dec + l_near + torch.relu(local)) + grow * l_grow + l_out
        opt.zero_grad()
        terms.backward()
        opt.step()
        sched.step()
        loss = terms.detach()
        if bar is not None:
            bar.update(1)
        if (i + 1) % max(50, steps // 5) == 0 or i + 1 == steps:
            keep(ctrl, V)
    return float(loss)


class _Snapshots:
    """The pair with the largest sampled share so far: ``{V <= level}`` with ``level`` below
    every grid state that violates the condition and below ``V`` on the domain's faces (a
    statement about samples, used only to choose what to certify)."""

    def __init__(self, plant, domain: Box, rate: float, grid: torch.Tensor, gen) -> None:
        self.plant, self.rate, self.grid = plant, rate, grid
        self.faces = _boundary(domain, 4096, gen)
        self.share, self.pair, self.latest = -1.0, None, False

    def __call__(self, ctrl, V) -> None:
        cond = ExponentialStability(ClosedLoop(self.plant, ctrl), V, self.rate)
        with torch.no_grad():
            v = V.value(self.grid)
            residual = cond.evaluate(self.grid)
            far = ((self.grid - V.x_eq) ** 2).sum(1) > 1e-12
            bad = (residual > 0) & far
            level = min(
                float(V.value(self.faces).min()),
                float(v[bad].min()) if bool(bad.any()) else math.inf,
            )
            share = float((v < level).double().mean())
        self.latest = share > self.share  # whether the pair now is the best one
        if self.latest:
            self.share, self.pair = share, (copy.deepcopy(ctrl), copy.deepcopy(V))


def _initial_V(V: Any, plant: AbstractSystem, hidden: Sequence[int], gen) -> NeuralLyapunov:
    """A copy of the user's ``V`` (checked), or a new network."""
    if V is None:
        return NeuralLyapunov(plant.n_states, hidden=hidden, x_eq=plant.x_eq, generator=gen)
    if not isinstance(V, NeuralLyapunov):
        raise InvalidArgumentError(
            f"V: expected a NeuralLyapunov (or None), received {type(V).__name__}"
        )
    if V.n_states != plant.n_states:
        raise ShapeError(
            f"V: expected a candidate on the plant's {plant.n_states} states, received {V.n_states}"
        )
    x_eq = V.x_eq.to(plant.x_eq)
    if not torch.equal(x_eq, plant.x_eq):
        raise InvalidValueError(
            f"V: expected x_eq = the plant's {plant.x_eq.tolist()}, received {x_eq.tolist()}"
        )
    return copy.deepcopy(V)


def _warm_start(V, target, level: float, grid: torch.Tensor, *, steps: int, lr: float, gen):
    """Regress ``V`` on ``target / level`` (the baseline's certified level becomes 1)."""
    with torch.no_grad():
        y = target.value(grid) / level
    opt = torch.optim.Adam(V.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, grid.shape[0], (min(2048, grid.shape[0]),), generator=gen)
        loss = ((V.value(grid[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _check_plant(plant: Any, domain: Any, rate: float) -> float:
    if not isinstance(plant, AbstractSystem) or not plant.n_inputs:
        got = type(plant).__name__ if not isinstance(plant, AbstractSystem) else "0 inputs"
        raise InvalidArgumentError(
            f"plant: expected a lyactrl system with inputs (n_inputs > 0), received {got}"
        )
    if not isinstance(domain, Box) or domain.n_states != plant.n_states:
        got = type(domain).__name__ if not isinstance(domain, Box) else f"{domain.n_states}-D"
        raise InvalidArgumentError(
            f"domain: expected a Box of dimension {plant.n_states}, received {got}"
        )
    if not bool(domain.contains(plant.x_eq.to(torch.float64).unsqueeze(0))[0]):
        raise InvalidValueError(
            f"domain: expected a box containing x_eq = {plant.x_eq.tolist()}, received {domain!r}"
        )
    rate = as_positive(rate, name="rate")
    if plant.is_discrete and rate > 1.0:
        raise InvalidValueError(
            f"rate: expected 0 < rate <= 1 for a discrete-time plant (V(F(x)) <= (1 - rate) "
            f"V(x)), received {rate}"
        )
    return rate


@checked_kwargs
def fit_controller(
    plant: AbstractSystem,
    domain: Box,
    *,
    u_bounds: Any,
    controller: str | nn.Module = "neural",
    hidden: Sequence[int] = (16, 16),
    lyapunov_hidden: Sequence[int] = (16, 16),
    V: NeuralLyapunov | None = None,
    rate: float = 0.01,
    steps: int = 1000,
    rounds: int = 2,
    lr: float = 5e-3,
    batch: int = 512,
    grow: float = 0.2,
    Q: Any = None,
    R: Any = None,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: bool | None = None,
) -> ControllerFit:
    """Learn a saturated state-feedback controller and a Lyapunov function for it together,
    then certify the closed loop's region of attraction soundly.

    The baseline is the LQR gain of the linearisation (:func:`lqr`) saturated to
    ``u_bounds``, with the quadratic ``V`` of its closed loop's linearisation, certified by
    :func:`~lyactrl.region_of_attraction`. The learned controller starts from it
    (``"linear"``: the gain ``K`` itself is trained; ``"neural"``: ``K`` plus a tanh MLP
    residual that starts at zero; a module: its output, clamped) and ends in a clamp to
    ``u_bounds``, so the limits hold by construction and the certifier bounds it as written.
    A :class:`~lyactrl.NeuralLyapunov` is warm-started on the baseline's ``V`` scaled so that
    its certified level is 1; then controller and ``V`` are trained jointly through
    :class:`~lyactrl.ClosedLoop` with the hinge losses of :func:`~lyactrl.fit_lyapunov` on
    samples of the domain (of ``{V <= 1.2}`` by rejection, and uniform ones): the decrease
    condition on (a band beyond) ``{V <= 1}``, the
    local shape at ``x_eq``, a region-growing term ``grow * mean (V - 1)`` over the samples with
    ``1 < V <= 2`` (the states just outside the set) and ``V >= 1.1`` on the domain's faces.
    Each round after the first adds the counterexamples :func:`~lyactrl.falsify` finds on
    ``{V <= 1}`` (counterexample-guided). Five times a round (at most every 50 steps) the
    pair is scored on a grid of the domain (the share below the smallest level of a sampled
    violation or of the domain's faces) and the best-scoring pair is kept; it is certified (and
    the last pair too when the certified share falls below half the score), and so is the
    learned controller with the quadratic ``V`` of its linearisation; the larger certified set
    is returned, or the baseline when neither certifies more.

    Parameters
    ----------
    plant : AbstractSystem
        A plant with inputs (a flow, or a :class:`~lyactrl.DiscreteSystem` with inputs) whose
        equilibrium ``x_eq`` has the equilibrium input ``u = 0``.
    domain : Box
        Where the certified set must lie.
    u_bounds : float or pair
        ``u_max`` (``|u_i| <= u_max``) or ``(lo, hi)`` (numbers or one per input), with
        ``lo < 0 < hi``.
    controller : {"linear", "neural"} or torch.nn.Module
        What to learn.
    hidden, lyapunov_hidden : sequence of int
        Widths of the controller's residual MLP and of ``V``'s network.
    V : NeuralLyapunov, optional
        A Lyapunov network to start from instead of a new one warm-started on the baseline
        (for example one trained before); a copy is trained, ``V`` itself is left unchanged.
        Its ``x_eq`` must be the plant's.
    rate : float
        The exponential rate to certify (in ``(0, 1]`` for a discrete plant).
    steps, rounds, lr, batch : int, int, float, int
        Optimiser steps per round, rounds, Adam's peak learning rate, batch size.
    grow : float
        Weight of the region-growing term.
    Q, R : array_like, optional
        LQR weights (identities by default).
    time_limit : float
        Seconds for each certification.
    seed : int
        Seeds the initial weights and the sampling.
    progress : bool or None
        A progress bar of the training steps (``None``: when standard error is a terminal).

    Returns
    -------
    ControllerFit

    Raises
    ------
    NotStabilizableError
        When the linearisation has an unstable mode that no input reaches.

    Examples
    --------
    >>> import lyactrl
    >>> plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
    >>> fit = lyactrl.fit_controller(plant, lyactrl.Box([-1, -1], [1, 1]), u_bounds=1.0,
    ...     controller="linear", steps=20, rounds=1, time_limit=10)
    >>> fit.status, fit.volume_share >= fit.lqr_volume_share
    ('certified', True)
    """
    t0 = time.perf_counter()
    rate = _check_plant(plant, domain, rate)
    positive_int(steps, "steps")
    positive_int(rounds, "rounds")
    lo, hi = _check_bounds(u_bounds, plant.n_inputs)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    K = lqr(plant, Q=Q, R=R)
    grid = _grid(domain)
    base_ctrl = SaturatedController(K, lo, hi, plant.x_eq, train_gain=False)
    base_V = _quadratic(plant, base_ctrl)
    if base_V is None:
        raise InvalidValueError("plant: the LQR closed loop's linearisation is not stable")
    base = _certify(plant, base_ctrl, base_V, domain, rate, grid, time_limit)
    ctrl = _build(controller, plant, K, lo, hi, hidden, gen)
    given, V = V is not None, _initial_V(V, plant, lyapunov_hidden, gen)
    if base.status == Status.CERTIFIED and not given:
        _warm_start(V, base_V, base.level, grid, steps=max(200, steps // 4), lr=1e-2, gen=gen)
    pool = torch.zeros(0, plant.n_states, dtype=torch.float64)
    losses: list[float] = []
    added = 0
    keep = _Snapshots(plant, domain, rate, grid, gen)
    opts = dict(rate=rate, steps=steps, lr=lr, batch=batch, grow=grow, gen=gen, keep=keep)
    with progress_bar(progress, desc="fit_controller", total=rounds * steps) as bar:
        for r in range(rounds):
            if r:
                loop = ClosedLoop(plant, ctrl)
                found = falsify(
                    ExponentialStability(loop, V, rate),
                    Sublevel(V, 1.0, within=domain),
                    generator=gen,
                    n_counterexamples=64,
                    stop_early=False,
                )
                added += found.counterexamples.shape[0]
                pool = torch.cat([pool, found.counterexamples.detach().to(torch.float64)])
            losses.append(_train(ctrl, V, plant, domain, pool, bar=bar, **opts))
            log.info("fit_controller round %d: loss %.4g", r, losses[-1])
    train_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    pairs = []
    last = keep.pair is None or keep.latest  # the final pair is the best-scoring one
    for c, v in [(ctrl, V)] if last else [keep.pair, (ctrl, V)]:
        c.requires_grad_(False)
        v.requires_grad_(False)
        pairs.append(_certify(plant, c, v, domain, rate, grid, time_limit))
        Vq = _quadratic(plant, c)
        if Vq is not None:
            pairs.append(_certify(plant, c, Vq, domain, rate, grid, time_limit))
        # the last pair is certified too when the chosen one falls well short of its score
        if max(p.share for p in pairs) >= 0.5 * keep.share or c is ctrl:
            break
    best = max(pairs, key=lambda p: (p.status == Status.CERTIFIED, p.share))
    message = best.message
    if best.status != Status.CERTIFIED or best.share <= base.share:
        best = dataclasses.replace(base)
        message = "the saturated LQR controller with its quadratic V certifies at least as much"
    elif isinstance(best.V, Quadratic):
        message = "the learned controller with the quadratic V of its linearisation"
    return ControllerFit(
        status=best.status,
        method="fit_controller",
        seconds=time.perf_counter() - t0,
        message=message,
        controller=best.controller,
        V=best.V,
        level=best.level,
        rate=rate,
        decay_bound=best.certificate.decay_bound,
        volume_share=best.share,
        certificate=best.certificate,
        lqr_gain=K,
        lqr_controller=base_ctrl,
        lqr_V=base_V,
        lqr_status=base.status,
        lqr_level=base.level,
        lqr_decay_bound=base.certificate.decay_bound,
        lqr_volume_share=base.share,
        lqr_certificate=base.certificate,
        train_seconds=train_seconds,
        certify_seconds=time.perf_counter() - t1,
        counterexamples_added=added,
        losses=losses,
        plant=plant,
        domain=domain,
    )
