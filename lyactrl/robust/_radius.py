"""Certified radii for LyaNet classifiers (derivation in ``docs/robustness.md``).

For an input ``x`` with label ``y``, the logits follow ``eta' = f(eta, c(x))`` from ``eta0``
and ``V_y(eta) = logsumexp(eta) - eta_y`` (cross-entropy). A perturbed input ``x'`` with
``||x' - x|| <= eps`` changes ``f`` by at most ``delta = K eps`` (``K`` from
:func:`classifier_sensitivity`). If ``V' <= -kappa V`` holds for the nominal context on a set
``R`` that contains the perturbed trajectory, then, as ``||grad V||_2 <= sqrt(2) min(1, V)``,

* ``V(T) <= V0 exp(-(kappa - sqrt(2) delta) T)`` and
* ``V(T) <= V0 exp(-kappa T) + (sqrt(2) delta / kappa) (1 - exp(-kappa T))``,

and ``V(T) < log 2`` gives ``argmax eta(T) = y``. ``R`` is a tube of radius ``m`` around the
nominal trajectory, covered by boxes; the perturbed trajectory stays in it while
``delta (e^(mu T) - 1) / mu <= m`` (``mu`` bounds the logarithmic norm of ``df/deta``).

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
from ._attacks import check_classifier_inputs
from ._sensitivity import Sensitivity, classifier_sensitivity

__all__ = ["CertifiedRadius", "certified_radius", "radius_from_rate", "tube_factor"]

_LOG2 = math.log(2.0)
_SQRT2 = math.sqrt(2.0)


def tube_factor(mu: float, horizon: float) -> float:
    """``(e^(mu T) - 1) / mu``: the tube radius per unit ``delta`` at time ``T``."""
    if abs(mu * horizon) < 1e-12:
        return horizon
    return math.expm1(mu * horizon) / mu


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
    if rate <= 0 or v0 <= 0:
        return 0.0 if v0 >= _LOG2 else math.inf
    mult = (rate - math.log(v0 / _LOG2) / horizon) / _SQRT2
    decay = math.exp(-rate * horizon)
    add = (_LOG2 - v0 * decay) * rate / (_SQRT2 * (1.0 - decay))
    return max(0.0, mult, add)


@dataclasses.dataclass(frozen=True)
class CertifiedRadius(ResultMixin):
    """Per-example radii (0 where nothing is shown or the example is misclassified).

    Attributes
    ----------
    status : Status
        What the positive radii promise together. ``certified``: every positive radius rests on
        a rate proved by :func:`lyactrl.certify` on the ``"invariant"`` region (no numerical
        trajectory involved; see the module notes on why that region rarely admits a rate).
        ``holds_on_samples``: some positive radius rests on a rate only observed on samples
        (``premise[i] == "sampled"``), a statistical statement. ``unknown``: no positive
        radius, or every positive radius rests on a rate proved on ``"tube"`` boxes that follow
        the numerically integrated nominal trajectory (``trajectory_solver``), whose error is
        not enclosed, so that the perturbed trajectory stays in the boxes is not proved.
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
        The radius of the tube argument alone (the logit margin at ``T`` against the tube
        radius); it needs no rate but rests on the numerically integrated trajectory.
    rate : torch.Tensor
        The rate used (the proved one where ``premise[i] == "certified"``).
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
    tube: torch.Tensor
    region: list[str]
    premise: list[str]
    correct: torch.Tensor
    sensitivity: dict[str, Any]
    trajectory_solver: str

    def certified_accuracy(self, eps: float) -> float:
        """Fraction of examples classified correctly with radius ``>= eps`` (any premise)."""
        return float(((self.radius >= eps) & self.correct).double().mean())


#: The ODE solver settings of the nominal trajectory.
_TRAJECTORY_SOLVER = "dopri5 rtol=1e-8 atol=1e-10 (float64), not enclosed"
#: Fractions of the sampled rate tried in turn by ``certify_premise`` (the sampled minimum
#: overestimates the true one, so the rate itself is rarely provable).
_BACKOFF = (1.0, 0.9, 0.75, 0.5)


@dataclasses.dataclass(frozen=True)
class _Nominal:
    """What every example shares: the flow, the contexts and the nominal trajectories."""

    dyn: Any
    ctx: torch.Tensor
    eta0: torch.Tensor
    traj: torch.Tensor
    horizon: float
    tube_factor: float
    scale: float | None
    gain: float

    @property
    def final(self) -> torch.Tensor:
        return self.traj[:, -1]


@dataclasses.dataclass(frozen=True)
class _Candidate:
    """A radius for one example: the rate on a region, and what the region is."""

    radius: float
    rate: float
    tube: float
    boxes: list[tuple[torch.Tensor, torch.Tensor]] | None
    delta_cap: float = math.inf
    cap_per_rate: float = math.inf

    @property
    def region(self) -> str:
        return "invariant" if self.tube == 0.0 else "tube"


def _rate_on(dyn: Any, ctx: torch.Tensor, y: int, pts: torch.Tensor) -> float:
    p = torch.softmax(pts, -1)
    grad = p.clone()
    grad[:, y] -= 1.0
    v = torch.logsumexp(pts, -1) - pts[:, y]
    with torch.no_grad():
        f = dyn(pts, ctx.expand(pts.shape[0], -1))
    return float((-(grad * f).sum(-1) / v).min())


def _boxes(traj: torch.Tensor, m: float, n_boxes: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    step = float((traj[1:] - traj[:-1]).abs().max()) if traj.shape[0] > 1 else 0.0
    out = []
    for chunk in torch.tensor_split(traj, n_boxes):
        if chunk.shape[0]:
            out.append((chunk.min(0).values - m - step, chunk.max(0).values + m + step))
    return out


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
    model: Any,
    x1: torch.Tensor,
    y: int,
    rate: float,
    boxes: Any,
    level: float | None,
    limit: float,
) -> bool:
    """Prove the rate on every box (intersected with ``{V <= level}`` when given)."""
    from ..conditions import ExponentialStability
    from ..regions import Box, Sublevel
    from ..verify import certify

    try:
        V = model.potential_for(y)
        cond = ExponentialStability(model.system_for(x1), V, rate)
        for lo, hi in boxes:
            reg: Any = Box(lo, hi)
            if level is not None:
                reg = Sublevel(V, level, within=reg)
            res = certify(cond, reg, time_limit=limit, local=False, decay=False)
            if res.status != "certified":
                return False
    except (UnsupportedOperationError, InvalidValueError):
        return False
    return True


def _check_options(
    model: Any, norm: str, n_samples: Any, n_boxes: Any, region: str, margins: Any
) -> tuple[int, int]:
    """Validate the options of :func:`certified_radius`; ``(n_samples, n_boxes)``."""
    if getattr(model, "potential", "cross_entropy") != "cross_entropy":
        raise InvalidArgumentError(
            "model: expected a classifier with the cross-entropy potential, received "
            f"potential={model.potential!r}"
        )
    if norm not in ("2", "inf"):
        raise InvalidValueError(f"norm: expected '2' or 'inf', received {norm!r}")
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
    times = torch.linspace(0.0, horizon, 8 * n_boxes + 1, dtype=torch.float64)
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
    tf = tube_factor(sens.log_norm, horizon)
    return _Nominal(dyn, ctx, eta0, traj, horizon, tf, scale, sens.context_gain)


def _delta(c: _Candidate, v0: float, rate: float, horizon: float) -> float:
    """The largest ``delta`` the rate gives on the candidate's region (``>= 0``): the bound of
    :func:`radius_from_rate`, capped by the region (the tube: ``m / tf``; the invariant set:
    ``rate v0 / (sqrt(2) min(1, v0))`` keeps ``{V <= v0}`` invariant)."""
    caps = [radius_from_rate(v0, rate, horizon), c.delta_cap]
    if math.isfinite(c.cap_per_rate):
        caps.append(c.cap_per_rate * rate)
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
    c = _Candidate(0.0, rate, 0.0, [box], cap_per_rate=v0 / (_SQRT2 * min(1.0, v0)))
    return dataclasses.replace(c, radius=_delta(c, v0, rate, nom.horizon) / nom.gain)


def _tube_candidate(
    nom: _Nominal, i: int, y: int, v0: float, m: float, n_samples: int, n_boxes: int, gen: Any
) -> _Candidate:
    """The rate sampled on boxes covering the tube of radius ``m`` and its radius."""
    boxes = _boxes(nom.traj[i], m, n_boxes)
    pts = [nom.traj[i]]
    for lo, hi in boxes:
        u = torch.rand(n_samples, lo.shape[0], generator=gen, dtype=torch.float64)
        pts.append(lo + (hi - lo) * u)
    rate = _rate_on(nom.dyn, nom.ctx[i : i + 1], y, torch.cat(pts))
    c = _Candidate(0.0, rate, m, boxes, delta_cap=m / nom.tube_factor)
    return dataclasses.replace(c, radius=_delta(c, v0, rate, nom.horizon) / nom.gain)


def _prove(
    model: Any, x1: torch.Tensor, y: int, c: _Candidate, v0: float, nom: _Nominal, limit: float
) -> _Candidate | None:
    """The candidate with a rate proved by :func:`lyactrl.certify` (backing off), or ``None``."""
    level = v0 if c.region == "invariant" else None
    for factor in _BACKOFF:
        rate = c.rate * factor
        delta = _delta(c, v0, rate, nom.horizon)
        if delta <= 0:
            return None
        if _try_certify(model, x1, y, rate, c.boxes, level, limit):
            return dataclasses.replace(c, radius=delta / nom.gain, rate=rate)
    return None


def _best_candidate(
    nom: _Nominal, i: int, y: int, v0: float, region: str, opts: dict[str, Any]
) -> _Candidate:
    """The candidate with the largest radius over the regions and the tube radii tried."""
    best = _Candidate(0.0, 0.0, 0.0, None)
    gen = opts["gen"]
    if nom.scale is not None and region in ("auto", "invariant"):
        best = _invariant_candidate(nom, i, y, v0, opts["n_samples"] * opts["n_boxes"], gen)
    for m in opts["margins"] if region in ("auto", "tube") else ():
        c = _tube_candidate(nom, i, y, v0, m, opts["n_samples"], opts["n_boxes"], gen)
        if c.radius > best.radius:
            best = c
    return best


def _summary(radius: torch.Tensor, regions: list[str], premise: list[str]) -> tuple[Status, str]:
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
    if all(regions[i] == "invariant" for i in pos):
        return Status.CERTIFIED, f"{head}; every positive radius rests on a proved rate"
    return Status.UNKNOWN, (
        f"{head}; the rates are proved on tube boxes around the nominal trajectory, which is "
        f"integrated numerically ({_TRAJECTORY_SOLVER}): that the perturbed trajectory stays "
        "in the boxes is not proved"
    )


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
        Where the rate must hold. ``"tube"``: boxes covering a tube of radius ``m`` around the
        nominal trajectory (the perturbed trajectory stays inside while
        ``delta (e^(mu T) - 1) / mu <= m``). ``"invariant"`` (vertex dynamics from
        ``eta0 = 0``): ``{eta >= 0, sum eta <= scale, V_y(eta) <= V_y(eta0)}``, which every
        trajectory stays in for any context while ``V`` decreases, so no tube is needed (but
        see the module notes: a positive rate never holds on all of it).
        ``"auto"`` tries both and keeps the larger radius.
    margins : tuple of float
        Tube radii tried (the best radius is kept).
    n_samples : int
        Samples per box for the rate (plus the trajectory's own points).
    n_boxes : int
        Boxes covering the tube.
    certify_premise : bool
        Try to prove the rate of the best region with :func:`lyactrl.certify`: the sampled
        rate, then ``0.9``, ``0.75`` and ``0.5`` of it (a sampled minimum overestimates the
        true one); on success the radius is recomputed from the proved rate and the premise is
        ``"certified"``, otherwise it stays ``"sampled"``.
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
    for i in range(b):
        if not bool(correct[i]):
            continue
        yi = int(y[i])
        others = torch.cat([nom.final[i, :yi], nom.final[i, yi + 1 :]])
        gap = float(nom.final[i, yi] - others.max())
        rtraj[i] = gap / _SQRT2 / nom.tube_factor / nom.gain
        v0 = float(torch.logsumexp(nom.eta0[i], -1) - nom.eta0[i, yi])
        best = _best_candidate(nom, i, yi, v0, region, opts)
        if best.radius > 0:
            regions[i], premise[i] = best.region, "sampled"
            proved = (
                _prove(model, x[i : i + 1], yi, best, v0, nom, time_limit)
                if certify_premise
                else None
            )
            if proved is not None:
                best, premise[i] = proved, "certified"
        radius[i], rates[i], tubes[i] = best.radius, best.rate, best.tube
    status, message = _summary(radius, regions, premise)
    return CertifiedRadius(
        status=status,
        method=f"certified_radius (region={region})",
        seconds=time.perf_counter() - t0,
        message=message,
        norm=norm,
        radius=radius,
        radius_trajectory=rtraj,
        rate=rates,
        tube=tubes,
        region=regions,
        premise=premise,
        correct=correct,
        sensitivity=dataclasses.asdict(sens),
        trajectory_solver=_TRAJECTORY_SOLVER,
    )
