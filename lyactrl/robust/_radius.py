"""Certified radii for LyaNet classifiers (derivation in ``docs/robustness.md``).

For an input ``x`` with label ``y``, the logits follow ``eta' = f(eta, c(x))`` from ``eta0``
and ``V_y(eta) = logsumexp(eta) - eta_y`` (cross-entropy). A perturbed input ``x'`` with
``||x' - x|| <= eps`` changes ``f`` by at most ``delta = K eps`` (``K`` from
:func:`classifier_sensitivity`). If ``V' <= -kappa_j V`` holds for the nominal context on a
set ``R_j`` that contains the perturbed trajectory during the time piece ``j`` (length
``T_j``), then, as ``||grad V||_2 <= sqrt(2) min(1, V)``, on each piece

* ``V' <= -(kappa_j - sqrt(2) delta) V`` and ``V' <= -kappa_j V + sqrt(2) delta``,

and ``V(T) < log 2`` gives ``argmax eta(T) = y``. ``R_j`` is the box of chunk ``j`` of a tube
of radius ``m`` around the nominal trajectory, which :func:`enclose_tube` proves the perturbed
trajectory stays in (a defect bound of the computed trajectory and local log-norm bounds, no
trust in the solver); or one piece, the whole horizon, on the ``"invariant"`` region.

The ``"invariant"`` region ``{eta >= 0, sum eta <= scale, V_y <= V_y(eta0)}`` is compact, convex
and forward invariant whenever ``V_y`` decreases on it, so it then holds an equilibrium of the
nominal flow, where ``V_y > 0`` but ``V_y' = 0``: a rate ``kappa > 0`` never holds on the whole
region, and a positive rate sampled there is a sampling artefact (``certify`` cannot prove it).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, UnsupportedOperationError
from .._results import ResultMixin, Status
from .._tensors import positive_int
from ._inputs import check_classifier_inputs
from ._norms import check_norm
from ._rates import rates_delta
from ._sensitivity import Sensitivity, classifier_sensitivity
from ._tube import Tube, enclose_tubes

__all__ = ["CertifiedRadius", "certified_radius"]

_SQRT2 = math.sqrt(2.0)


@dataclasses.dataclass(frozen=True)
class CertifiedRadius(ResultMixin):
    """Per-example radii (0 where nothing is shown or the example is misclassified).

    Attributes
    ----------
    status : Status
        What the positive Lyapunov radii promise together. ``certified``: every positive
        radius rests on rates proved by :func:`lyactrl.certify` on its region (the boxes of a
        proved tube, or the ``"invariant"`` region; see the module notes on why that region
        rarely admits a rate). ``holds_on_samples``: some positive radius rests on a rate only
        observed on samples (``premise[i] == "sampled"``), a statistical statement.
        ``unknown``: no positive radius.
    method : str
        ``"certified_radius"`` with the region option.
    seconds : float
        Wall time.
    message : str
        The premise counts and what is missing for a proof.
    norm : str
        The input norm of the radii.
    radius : torch.Tensor
        The Lyapunov radius of each example.
    radius_trajectory : torch.Tensor
        The radius of the tube argument alone: the logit margin at ``T`` against the proved
        deviation of the perturbed trajectory (no rate needed; proved whatever the premise).
    rate : torch.Tensor
        The rate used, averaged over the tube's chunks in time (the proved rates where
        ``premise[i] == "certified"``).
    rate_pieces : list of tuple of float
        Per example, the rate of each piece in time order: the tube's chunks (``n_boxes``
        equal parts of ``[0, T]``), or one piece for the invariant region.
    tube : torch.Tensor
        The tube radius ``m`` used (0 for the invariant region).
    region, premise : list of str
        Per example: ``"invariant"``, ``"tube"`` or ``"none"``; and ``"certified"`` (the rate
        proved on the region by :func:`lyactrl.certify`), ``"sampled"`` (observed on samples
        only) or ``"none"`` (no radius found).
    correct : torch.Tensor
        Whether the nominal trajectory ends in the right class.
    sensitivity : dict
        The :class:`Sensitivity` constants (sound bounds).
    trajectory_solver : str
        How the nominal trajectory was integrated.
    """

    status: Status
    method: str
    seconds: float
    message: str
    norm: str
    radius: torch.Tensor
    radius_trajectory: torch.Tensor
    rate: torch.Tensor
    rate_pieces: list[tuple[float, ...]]
    tube: torch.Tensor
    region: list[str]
    premise: list[str]
    correct: torch.Tensor
    sensitivity: dict[str, Any]
    trajectory_solver: str

    def certified_accuracy(self, eps: float, premise: str | None = None) -> float:
        """Fraction of examples classified correctly with Lyapunov radius ``>= eps``.

        ``premise="certified"`` or ``"sampled"`` counts only the examples whose radius rests
        on that premise (the two are never mixed that way); ``None`` counts every premise.
        """
        keep = self.correct & (self.radius >= eps)
        if premise is not None:
            if premise not in ("certified", "sampled"):
                raise InvalidValueError(
                    f"premise: expected 'certified', 'sampled' or None, received {premise!r}"
                )
            keep &= torch.tensor([p == premise for p in self.premise], dtype=torch.bool)
        return float(keep.double().mean())


#: The ODE solver settings of the nominal trajectory (only a guess: :mod:`._tube` encloses it).
_TRAJECTORY_SOLVER = "dopri5 rtol=1e-8 atol=1e-10 (float64), enclosed by a proved tube"
#: Segments of the enclosed trajectory per box (the defect of each shrinks with its length).
SEGMENTS_PER_BOX = 256
#: Fractions of the sampled rate tried in turn by ``certify_premise`` (the sampled minimum
#: overestimates the true one, so the rate itself is rarely provable).
_BACKOFF = (1.0, 0.9, 0.75, 0.5)


@dataclasses.dataclass(frozen=True)
class _Nominal:
    """What every example shares: the flow, the contexts and the nominal trajectories."""

    dyn: Any
    ctx: torch.Tensor
    eta0: torch.Tensor
    times: torch.Tensor
    traj: torch.Tensor
    horizon: float
    scale: float | None
    gain: float

    @property
    def final(self) -> torch.Tensor:
        return self.traj[:, -1]

    def system(self, i: int) -> Any:
        """The nominal flow of example ``i`` as an ordinary system (float64)."""
        from ..systems import NeuralSystem

        k = self.traj.shape[-1]
        return NeuralSystem(self.dyn, k, inputs="x,context", context=self.ctx[i])


@dataclasses.dataclass(frozen=True)
class _Candidate:
    """A radius for one example: rates on the pieces of a region, and what the region is.

    ``rates[j]`` holds on ``boxes[j]`` during ``durations[j]`` (one piece, the whole horizon,
    for the invariant region; the tube's chunks in time order for a tube).
    """

    radius: float
    rates: tuple[float, ...]
    durations: tuple[float, ...]
    tube: Tube | None
    boxes: list[tuple[torch.Tensor, torch.Tensor]] | None
    cap_per_rate: float = math.inf

    @property
    def region(self) -> str:
        return "invariant" if self.tube is None else "tube"

    @property
    def rate(self) -> float:
        """The time average of the rates (the whole rate for one piece)."""
        if not self.rates:
            return 0.0
        return sum(r * d for r, d in zip(self.rates, self.durations, strict=True)) / sum(
            self.durations
        )


def _rate_on(dyn: Any, ctx: torch.Tensor, y: int, pts: torch.Tensor) -> float:
    p = torch.softmax(pts, -1)
    grad = p.clone()
    grad[:, y] -= 1.0
    v = torch.logsumexp(pts, -1) - pts[:, y]
    with torch.no_grad():
        f = dyn(pts, ctx.expand(pts.shape[0], -1))
    return float((-(grad * f).sum(-1) / v).min())


def _invariant_samples(
    n: int, k: int, scale: float, y: int, v0: float, gen: torch.Generator
) -> torch.Tensor:
    """Uniform samples of ``{eta >= 0, sum eta <= scale}`` with ``V_y(eta) <= v0``."""
    e = -torch.log(torch.rand(4 * n, k + 1, generator=gen, dtype=torch.float64))
    pts = scale * (e / e.sum(-1, keepdim=True))[:, :k]
    v = torch.logsumexp(pts, -1) - pts[:, y]
    return pts[v <= v0][:n]


def _vertex_scale(dyn: Any, eta0: torch.Tensor) -> float | None:
    """``scale`` when the dynamics is the vertex flow and ``eta0 = 0`` (then every trajectory,
    for every context, stays in ``{eta >= 0, sum eta <= scale}``)."""
    if all(hasattr(dyn, a) for a in ("state_in", "context_in", "out", "scale", "speed")):
        if bool((eta0 == 0).all()) and float(dyn.speed) > 0:
            return float(dyn.scale)
    return None


def _try_certify(
    nom: _Nominal, i: int, y: int, rate: float, box: Any, level: float | None, limit: float
) -> bool:
    """Prove ``V_y' <= -rate V_y`` on one box (intersected with ``{V <= level}`` when given)."""
    from ..conditions import ExponentialStability
    from ..lyapunov import CrossEntropy
    from ..regions import Box, Sublevel
    from ..verify import certify

    try:
        V = CrossEntropy(y, n_classes=nom.traj.shape[-1])
        cond = ExponentialStability(nom.system(i), V, rate)
        reg: Any = Box(*box)
        if level is not None:
            reg = Sublevel(V, level, within=reg)
        res = certify(cond, reg, time_limit=limit, local=False, decay=False)
    except (UnsupportedOperationError, InvalidValueError):
        return False
    return res.status == "certified"


def _check_options(
    model: Any, norm: str, n_samples: Any, n_boxes: Any, region: str, margins: Any
) -> tuple[int, int]:
    """Validate the options of :func:`certified_radius`; ``(n_samples, n_boxes)``."""
    if getattr(model, "potential", "cross_entropy") != "cross_entropy":
        raise InvalidArgumentError(
            "model: expected a classifier with the cross-entropy potential, received "
            f"potential={model.potential!r}"
        )
    norm = check_norm(norm)
    n_samples = positive_int(n_samples, "n_samples")
    n_boxes = positive_int(n_boxes, "n_boxes")
    if region not in ("auto", "tube", "invariant"):
        raise InvalidValueError(
            f"region: expected 'auto', 'tube' or 'invariant', received {region!r}"
        )
    if not margins or min(margins) <= 0:
        raise InvalidValueError(f"margins: expected positive tube radii, received {margins!r}")
    return n_samples, n_boxes


def _nominal(model: Any, x: torch.Tensor, sens: Sensitivity, n_boxes: int, region: str) -> _Nominal:
    """Integrate the nominal flows (float64 dopri5) and gather the shared constants."""
    import torchdiffeq

    dyn = copy.deepcopy(model.dynamics).double().eval()
    horizon = float(model.horizon)
    with torch.no_grad():
        ctx = model.context(x).double()
    eta0 = model.eta0.double().unsqueeze(0).expand(x.shape[0], -1)
    times = torch.linspace(0.0, horizon, SEGMENTS_PER_BOX * n_boxes + 1, dtype=torch.float64)
    with torch.no_grad():
        traj = torchdiffeq.odeint(
            lambda t, e: dyn(e, ctx), eta0, times, method="dopri5", rtol=1e-8, atol=1e-10
        ).transpose(0, 1)
    scale = _vertex_scale(dyn, model.eta0)
    if region == "invariant" and scale is None:
        raise InvalidValueError(
            "region: 'invariant' needs the vertex dynamics and eta0 = 0 (a known invariant "
            "set); received other dynamics. Use region='tube'"
        )
    return _Nominal(dyn, ctx, eta0, times, traj, horizon, scale, sens.context_gain)


def _delta(c: _Candidate, v0: float, rates: tuple[float, ...]) -> float:
    """The largest ``delta`` the rates give on the candidate's region (``>= 0``): the bound of
    :func:`rates_delta`, capped by the region (the tube: ``delta`` keeps the perturbed
    trajectory inside; the invariant set: ``rate v0 / (sqrt(2) min(1, v0))`` keeps
    ``{V <= v0}`` invariant)."""
    caps = [rates_delta(v0, rates, c.durations)]
    if c.tube is not None:
        caps.append(c.tube.delta_max())
    if math.isfinite(c.cap_per_rate):
        caps.append(c.cap_per_rate * min(rates))
    return max(0.0, min(caps))


def _invariant_candidate(
    nom: _Nominal, i: int, y: int, v0: float, n: int, gen: torch.Generator
) -> _Candidate:
    """The rate sampled on ``{eta >= 0, sum eta <= scale, V <= v0}`` and its radius."""
    assert nom.scale is not None
    k = nom.final.shape[1]
    pts = torch.cat([nom.traj[i], _invariant_samples(n, k, nom.scale, y, v0, gen)])
    rate = _rate_on(nom.dyn, nom.ctx[i : i + 1], y, pts)
    box = (
        torch.zeros(k, dtype=torch.float64),
        torch.full((k,), nom.scale, dtype=torch.float64),
    )
    # {V <= v0} must stay invariant under the perturbation: delta <= rate v0 / sqrt(2)
    c = _Candidate(
        0.0, (rate,), (nom.horizon,), None, [box], cap_per_rate=v0 / (_SQRT2 * min(1.0, v0))
    )
    return dataclasses.replace(c, radius=_delta(c, v0, c.rates) / nom.gain)


def _tube_candidate(
    nom: _Nominal, i: int, y: int, v0: float, tube: Tube, n_samples: int, gen: Any
) -> _Candidate:
    """The rates sampled on the boxes of a proved tube, one per chunk, and their radius."""
    rates = []
    ends = tube.chunk_times.tolist()
    for (lo, hi), t0, t1 in zip(tube.boxes, ends[:-1], ends[1:], strict=True):
        on = nom.traj[i][(nom.times >= t0) & (nom.times <= t1)]
        u = torch.rand(n_samples, lo.shape[0], generator=gen, dtype=torch.float64)
        pts = torch.cat([on, lo + (hi - lo) * u])
        rates.append(_rate_on(nom.dyn, nom.ctx[i : i + 1], y, pts))
    durations = tuple(b - a for a, b in zip(ends[:-1], ends[1:], strict=True))
    c = _Candidate(0.0, tuple(rates), durations, tube, tube.boxes)
    return dataclasses.replace(c, radius=_delta(c, v0, c.rates) / nom.gain)


def _needed_factor(c: _Candidate, v0: float) -> float:
    """The smallest factor of the sampled rates that still gives their radius (below 1 when
    the region's cap, not the rates, limits it): smaller rates are easier to prove."""
    full = _delta(c, v0, c.rates)
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if _delta(c, v0, tuple(r * mid for r in c.rates)) >= full * (1 - 1e-9):
            hi = mid
        else:
            lo = mid
    return hi


def _prove(
    nom: _Nominal, i: int, y: int, c: _Candidate, v0: float, limit: float
) -> _Candidate | None:
    """The candidate with rates proved by :func:`lyactrl.certify`, or ``None`` when a piece
    fails or the proved rates give no radius. Each piece tries ``_BACKOFF`` fractions of the
    smallest rates that give the sampled radius (a sampled minimum overestimates the truth)."""
    assert c.boxes is not None
    level = v0 if c.region == "invariant" else None
    need = _needed_factor(c, v0)
    proved: list[float] = []
    for j, box in enumerate(c.boxes):
        for factor in _BACKOFF:
            rate = c.rates[j] * need * factor
            # the rates proved so far, this one, and the others' sampled rates at best
            if rate <= 0 or _delta(c, v0, (*proved, rate, *c.rates[j + 1 :])) <= 0:
                return None
            if _try_certify(nom, i, y, rate, box, level, limit):
                proved.append(rate)
                break
        else:
            return None
    rates = tuple(proved)
    delta = _delta(c, v0, rates)
    return dataclasses.replace(c, radius=delta / nom.gain, rates=rates) if delta > 0 else None


def _candidates(
    nom: _Nominal, i: int, y: int, v0: float, tubes: list[Tube], region: str, opts: dict
) -> list[_Candidate]:
    """The candidates of the regions and tube radii tried, largest radius first."""
    out = []
    gen = opts["gen"]
    if nom.scale is not None and region in ("auto", "invariant"):
        out.append(_invariant_candidate(nom, i, y, v0, opts["n_samples"] * opts["n_boxes"], gen))
    for tube in tubes if region in ("auto", "tube") else ():
        out.append(_tube_candidate(nom, i, y, v0, tube, opts["n_samples"], gen))
    return sorted(out, key=lambda c: -c.radius)


def _summary(radius: torch.Tensor, premise: list[str]) -> tuple[Status, str]:
    """The overall status of the radii and the message that explains it."""
    pos = [i for i in range(len(premise)) if float(radius[i]) > 0]
    counts = {p: premise.count(p) for p in ("certified", "sampled", "none")}
    head = f"premises: {counts['certified']} certified, {counts['sampled']} sampled"
    if not pos:
        return Status.UNKNOWN, f"{head}; no positive radius was found"
    if any(premise[i] == "sampled" for i in pos):
        return Status.HOLDS_ON_SAMPLES, (
            f"{head}; a sampled premise (the rate observed on samples of its region) makes the "
            "radius a statistical statement"
        )
    return Status.CERTIFIED, f"{head}; every positive radius rests on proved rates"


@checked_kwargs
def certified_radius(
    model: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "2",
    lipschitz_method: str = "product",
    margins: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0),
    region: str = "auto",
    n_samples: int = 512,
    n_boxes: int = 8,
    certify_premise: bool = False,
    time_limit: float = 5.0,
    generator: torch.Generator | None = None,
    sensitivity: Sensitivity | None = None,
) -> CertifiedRadius:
    """Radii of a LyaNet classifier with the cross-entropy potential.

    Parameters
    ----------
    model : LyaNetClassifier
        From :mod:`lyactrl.train` (read by duck typing: ``context``, ``dynamics``,
        ``eta0``, ``horizon``, ``n_classes``, ``encoder``, ``normalizer``).
    x, y : torch.Tensor
        Pixels in ``[0, 1]`` and labels.
    norm : {"2", "inf"}
        The input norm of the radius.
    lipschitz_method : str
        Method of :func:`lipschitz_bound` for the sensitivity constants.
    region : {"auto", "tube", "invariant"}
        Where the rate must hold. ``"tube"``: the chunk boxes of a tube of radius ``m``
        around the nominal trajectory, proved by :func:`enclose_tube` to hold the perturbed
        trajectory while ``delta`` is small enough, with one rate per chunk. ``"invariant"`` (vertex dynamics from
        ``eta0 = 0``): ``{eta >= 0, sum eta <= scale, V_y(eta) <= V_y(eta0)}``, which every
        trajectory stays in for any context while ``V`` decreases, so no tube is needed (but
        see the module notes: a positive rate never holds on all of it).
        ``"auto"`` tries both and keeps the larger radius.
    margins : tuple of float
        Tube radii tried (the best radius is kept).
    n_samples : int
        Samples per box for the rate (plus the trajectory's own points).
    n_boxes : int
        Chunks of the tube, one box and one rate each (``256`` trajectory segments each).
    certify_premise : bool
        Try to prove the rates with :func:`lyactrl.certify`, box by box, region by region
        from the largest sampled radius down, keeping the first region whose every box
        succeeds: each box tries the smallest fraction of its sampled rate that still gives
        the sampled radius (smaller rates are easier to prove), then ``0.9``, ``0.75`` and
        ``0.5`` of that (a sampled minimum overestimates the true one). The radius is then
        recomputed from the proved rates and the premise is ``"certified"``; otherwise it
        stays ``"sampled"``.
    time_limit : float
        Seconds per box and per rate tried for :func:`lyactrl.certify`.
    generator : torch.Generator, optional
        For the sampled rate.
    sensitivity : Sensitivity, optional
        Precomputed :func:`classifier_sensitivity` (same ``norm``).

    Returns
    -------
    CertifiedRadius
        With ``status`` saying what the radii promise (see :class:`CertifiedRadius`).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier
    >>> from lyactrl.robust import certified_radius
    >>> model = build_classifier((1, 4, 4), 3, seed=0, hidden=8, context_dim=4, dynamics_hidden=8)
    >>> x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> r = certified_radius(model.eval(), x, torch.tensor([0, 1]), n_samples=16, n_boxes=2)
    >>> bool((r.radius >= 0).all()), len(r.premise), str(r.status) != "certified"
    (True, 2, True)
    """
    t0 = time.perf_counter()
    n_samples, n_boxes = _check_options(model, norm, n_samples, n_boxes, region, margins)
    x, y = check_classifier_inputs(model, x, y)
    sens = sensitivity or classifier_sensitivity(model, norm=norm, method=lipschitz_method)
    nom = _nominal(model, x, sens, n_boxes, region)
    opts = {
        "gen": generator if generator is not None else torch.Generator().manual_seed(0),
        "n_samples": n_samples,
        "n_boxes": n_boxes,
        "margins": margins,
    }
    correct = nom.final.argmax(-1) == y
    b = x.shape[0]
    radius, rtraj, rates, tubes = (torch.zeros(b, dtype=torch.float64) for _ in range(4))
    premise, regions = ["none"] * b, ["none"] * b
    pieces: list[tuple[float, ...]] = [()] * b
    for i in range(b):
        if not bool(correct[i]):
            continue
        yi = int(y[i])
        tubes_i = enclose_tubes(nom.system(i), nom.times, nom.traj[i], margins, n_boxes)
        others = torch.cat([nom.final[i, :yi], nom.final[i, yi + 1 :]])
        gap = float(nom.final[i, yi] - others.max())
        rtraj[i] = max(t.delta_for_margin(gap / _SQRT2) for t in tubes_i) / nom.gain
        v0 = float(torch.logsumexp(nom.eta0[i], -1) - nom.eta0[i, yi])
        found = [c for c in _candidates(nom, i, yi, v0, tubes_i, region, opts) if c.radius > 0]
        best = found[0] if found else _Candidate(0.0, (), (), None, None)
        if found:
            regions[i], premise[i] = best.region, "sampled"
        for c in found if certify_premise else ():
            proved = _prove(nom, i, yi, c, v0, time_limit)
            if proved is not None:
                best, regions[i], premise[i] = proved, proved.region, "certified"
                break
        radius[i], rates[i], pieces[i] = best.radius, best.rate, best.rates
        tubes[i] = 0.0 if best.tube is None else best.tube.m
    status, message = _summary(radius, premise)
    return CertifiedRadius(
        status=status,
        method=f"certified_radius (region={region})",
        seconds=time.perf_counter() - t0,
        message=message,
        norm=norm,
        radius=radius,
        radius_trajectory=rtraj,
        rate=rates,
        rate_pieces=pieces,
        tube=tubes,
        region=regions,
        premise=premise,
        correct=correct,
        sensitivity=dataclasses.asdict(sens),
        trajectory_solver=_TRAJECTORY_SOLVER,
    )
