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
from .._results import ResultMixin
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
    """Per-example certified radii (0 where nothing is certified or the example is wrong).

    ``premise[i]`` is ``"certified"`` when the rate ``rate[i]`` was proved on the tube's
    boxes by :func:`lyactrl.certify`, ``"sampled"`` when it was only observed on samples
    (then the radius is a statistical statement), ``"none"`` when no radius was found.
    ``radius_trajectory`` is the radius of the tube argument alone (the logit margin at ``T``
    against the tube radius), which needs no rate.
    """

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
    seconds: float

    def certified_accuracy(self, eps: float) -> float:
        """Fraction of examples classified correctly with radius ``>= eps`` (any premise)."""
        return float(((self.radius >= eps) & self.correct).double().mean())


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
    """Certified radii of a LyaNet classifier with the cross-entropy potential.

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
        trajectory stays in for any context while ``V`` decreases, so no tube is needed.
        ``"auto"`` tries both and keeps the larger radius.
    margins : tuple of float
        Tube radii tried (the best radius is kept).
    n_samples : int
        Samples per box for the rate (plus the trajectory's own points).
    n_boxes : int
        Boxes covering the tube.
    certify_premise : bool
        Try to prove the rate on the boxes with :func:`lyactrl.certify` (``time_limit`` s
        per box); otherwise the premise is ``"sampled"``.
    time_limit : float
        Seconds per box for :func:`lyactrl.certify` when ``certify_premise`` is set.
    generator : torch.Generator, optional
        For the sampled rate.
    sensitivity : Sensitivity, optional
        Precomputed :func:`classifier_sensitivity` (same ``norm``).

    Returns
    -------
    CertifiedRadius

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier
    >>> from lyactrl.robust import certified_radius
    >>> model = build_classifier((1, 4, 4), 3, seed=0, hidden=8, context_dim=4, dynamics_hidden=8)
    >>> x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> r = certified_radius(model.eval(), x, torch.tensor([0, 1]), n_samples=16, n_boxes=2)
    >>> bool((r.radius >= 0).all()), len(r.premise)
    (True, 2)
    """
    t0 = time.perf_counter()
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
    x, y = check_classifier_inputs(model, x, y)
    sens = sensitivity or classifier_sensitivity(model, norm=norm, method=lipschitz_method)
    dyn = copy.deepcopy(model.dynamics).double().eval()
    horizon = float(model.horizon)
    with torch.no_grad():
        ctx = model.context(x).double()
    import torchdiffeq

    eta0 = model.eta0.double().unsqueeze(0).expand(x.shape[0], -1)
    times = torch.linspace(0.0, horizon, 8 * n_boxes + 1, dtype=torch.float64)
    with torch.no_grad():
        traj = torchdiffeq.odeint(
            lambda t, e: dyn(e, ctx), eta0, times, method="dopri5", rtol=1e-8, atol=1e-10
        ).transpose(0, 1)
    final = traj[:, -1]
    correct = final.argmax(-1) == y
    tf = tube_factor(sens.log_norm, horizon)
    scale = _vertex_scale(dyn, model.eta0)
    if region == "invariant" and scale is None:
        raise InvalidValueError(
            "region: 'invariant' needs the vertex dynamics and eta0 = 0 (a known invariant "
            "set); received other dynamics. Use region='tube'"
        )
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    radius = torch.zeros(x.shape[0], dtype=torch.float64)
    rtraj = torch.zeros_like(radius)
    rates = torch.zeros_like(radius)
    tubes = torch.zeros_like(radius)
    premise = ["none"] * x.shape[0]
    regions = ["none"] * x.shape[0]
    k = sens.context_gain
    for i in range(x.shape[0]):
        if not bool(correct[i]):
            continue
        yi = int(y[i])
        others = torch.cat([final[i, :yi], final[i, yi + 1 :]])
        gap = float(final[i, yi] - others.max())
        rtraj[i] = gap / _SQRT2 / tf / k
        v0 = float(torch.logsumexp(eta0[i], -1) - eta0[i, yi])
        best = (0.0, 0.0, 0.0, None)
        if scale is not None and region in ("auto", "invariant"):
            pts = torch.cat(
                [
                    traj[i],
                    _invariant_samples(n_samples * n_boxes, final.shape[1], scale, yi, v0, gen),
                ]
            )
            rate = _rate_on(dyn, ctx[i : i + 1], yi, pts)
            # {V <= v0} must stay invariant under the perturbation: delta <= rate v0 / sqrt(2)
            delta = min(radius_from_rate(v0, rate, horizon), rate * v0 / (_SQRT2 * min(1.0, v0)))
            box = (
                torch.zeros(final.shape[1], dtype=torch.float64),
                torch.full((final.shape[1],), scale, dtype=torch.float64),
            )
            best = (max(delta, 0.0) / k, rate, 0.0, [box])
        for m in margins if region in ("auto", "tube") else ():
            boxes = _boxes(traj[i], m, n_boxes)
            pts = [traj[i]]
            for lo, hi in boxes:
                u = torch.rand(n_samples, lo.shape[0], generator=gen, dtype=torch.float64)
                pts.append(lo + (hi - lo) * u)
            rate = _rate_on(dyn, ctx[i : i + 1], yi, torch.cat(pts))
            delta = min(radius_from_rate(v0, rate, horizon), m / tf)
            if delta / k > best[0]:
                best = (delta / k, rate, m, boxes)
        radius[i], rates[i], tubes[i] = best[0], best[1], best[2]
        if best[0] > 0:
            regions[i] = "invariant" if best[2] == 0.0 else "tube"
        if best[0] > 0:
            premise[i] = "sampled"
            level = v0 if regions[i] == "invariant" else None
            if certify_premise and _try_certify(
                model, x[i : i + 1], yi, best[1], best[3], level, time_limit
            ):
                premise[i] = "certified"
    return CertifiedRadius(
        norm,
        radius,
        rtraj,
        rates,
        tubes,
        regions,
        premise,
        correct,
        dataclasses.asdict(sens),
        "dopri5 rtol=1e-8 atol=1e-10 (float64), not enclosed",
        time.perf_counter() - t0,
    )
