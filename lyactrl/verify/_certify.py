"""Sound certification: branch and bound over boxes with interval jets, plus the local
certificate at the equilibrium."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from .._api import checked_kwargs
from .._tensors import as_positive, positive_int
from ..bounds import FP_MARGIN, Jet, mean_value_bounds, residual_jet
from ..conditions import AbstractCondition, ExponentialStability
from ..regions import AbstractRegion
from ._boxes import inside_box, may_intersect, split
from ._decay import DecayBound, decay_bound
from ._inputs import check_condition_region
from ._local import LocalCertificate, equilibrium_counterexample, local_certificate
from .._results import ResultMixin

__all__ = ["Certificate", "certify"]


@dataclasses.dataclass(frozen=True)
class Certificate(ResultMixin):
    """The result of :func:`certify`.

    Attributes
    ----------
    status : {"certified", "falsified", "unknown"}
        ``certified``: ``residual(x) <= -margin`` is proved for every ``x`` of the region (the
        equilibrium included), bounds sound up to the stated floating-point margin, which is
        included in them; ``falsified``: ``counterexample`` is a point of the region whose
        residual, evaluated directly in float64, is ``> 0``; ``unknown``: the budget ran out
        (``undecided_lo``/``undecided_hi`` hold the boxes left) or the problem is out of reach.
    boxes_processed : int
        Boxes bounded by the branch and bound.
    local_lo, local_hi : torch.Tensor or None
        The box around ``x_eq`` certified by the second-order (local) argument.
    decay_bound : DecayBound or None
        On a certificate of :class:`ExponentialStability` with ``V.x_eq``: the explicit bound
        ``||x(t) - x_eq|| <= c exp(-alpha t) ||x0 - x_eq||`` (for trajectories that stay in the
        region).
    fp_margin : str
        The floating-point margin built into every bound.
    """

    status: str
    method: str
    seconds: float
    condition: str
    region: str
    rate: float | None
    margin: float
    fp_margin: str
    boxes_processed: int
    undecided_lo: torch.Tensor
    undecided_hi: torch.Tensor
    counterexample: torch.Tensor | None
    counterexample_residual: float | None
    counterexample_proved: bool
    local_lo: torch.Tensor | None
    local_hi: torch.Tensor | None
    decay_bound: DecayBound | None
    reason: str

    @property
    def certified(self) -> bool:
        """``True`` when the status is ``certified``."""
        return self.status == "certified"

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        out = super().to_dict()
        out["decay_bound"] = None if self.decay_bound is None else self.decay_bound.to_dict()
        return out

    def __str__(self) -> str:
        extra = f"; {self.decay_bound}" if self.decay_bound is not None else ""
        return (
            f"certify: {self.status} in {self.seconds:.3g} s ({self.boxes_processed} boxes)"
            f"{'; ' + self.reason if self.reason else ''}{extra}"
        )


def _falsify_centres(
    condition: AbstractCondition, region: AbstractRegion, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, float, bool] | None:
    """A box centre inside the region with residual > 0 (direct float64 evaluation)."""
    c = 0.5 * (lo + hi)
    with torch.no_grad():
        r = condition.evaluate(c)
    bad = (r > 0) & region.contains(c)
    if not bool(bad.any()):
        return None
    idx = torch.where(bad, r, torch.full_like(r, -math.inf)).argmax()
    point = c[idx]
    enclosure = residual_jet(condition, Jet.variables(point[None], point[None], 0))
    return point.clone(), float(r[idx]), bool(enclosure.v[0][0] > 0)


@checked_kwargs
def certify(
    condition: AbstractCondition,
    region: AbstractRegion,
    *,
    max_boxes: int = 500_000,
    time_limit: float = 60.0,
    margin: float = 0.0,
    batch_size: int = 4096,
    local: bool = True,
    decay: bool = True,
) -> Certificate:
    """Prove ``condition.residual(x) <= -margin`` on all of ``region``, or refute it.

    Branch and bound over boxes in float64: each box gets sound bounds of the residual from
    interval jets (the natural interval extension intersected with the mean-value form around
    the box centre, see :mod:`lyactrl.bounds`); boxes with upper bound ``<= -margin`` are done,
    boxes outside the region are discarded (Ball: nearest point outside the radius; Sublevel
    ``{V <= c}``: lower bound of ``V`` above ``c``), the others are bisected along the
    dimension with the largest gradient-times-width contribution. Box centres are evaluated
    directly; a centre in the region with residual ``> 0`` is returned as a counterexample.

    At the equilibrium the residual is 0, so no box touching ``x_eq`` gets a strict bound;
    there the local certificate (:func:`lyactrl.verify._local.local_certificate`) proves
    ``residual <= 0`` on a box around ``x_eq`` from the linearisation's strict decrease and a
    certified bound of the second-order remainder (an enclosure of the residual's Hessian), and
    boxes inside it are discarded. ``certified`` therefore covers the whole region, the
    equilibrium included.

    Parameters
    ----------
    condition : ExponentialStability or BarrierCondition
        Built from supported operations (:data:`lyactrl.bounds.SUPPORTED`); others raise
        :class:`~lyactrl.UnsupportedOperationError` naming the operation.
    region : Box, Ball or Sublevel
        Where the condition must hold.
    max_boxes : int
        Budget of boxes (0 returns ``unknown`` at once).
    time_limit : float
        Budget in seconds (0 returns ``unknown``).
    margin : float
        Require ``residual <= -margin`` (``>= 0``); the floating-point margin is separate and
        always included (see :data:`lyactrl.bounds.FP_MARGIN`).
    batch_size : int
        Boxes bounded per torch call.
    local : bool
        Use the local certificate at ``x_eq``.
    decay : bool
        Attach the explicit exponential bound to a certificate of exponential stability.

    Returns
    -------
    Certificate

    Examples
    --------
    >>> import torch, lyactrl
    >>> sys = lyactrl.SymbolicSystem(["x2", "-sin(x1) - x2"], "x1, x2")
    >>> V = lyactrl.Quadratic.from_linearization(sys)
    >>> cond = lyactrl.ExponentialStability(sys, V, rate=0.2)
    >>> res = lyactrl.certify(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]))
    >>> res.status
    'certified'
    """
    start = time.perf_counter()
    check_condition_region(condition, region)
    max_boxes = positive_int(max_boxes, "max_boxes", allow_zero=True)
    time_limit = as_positive(time_limit, name="time_limit", allow_zero=True)
    margin = as_positive(margin, name="margin", allow_zero=True)
    batch_size = positive_int(batch_size, "batch_size")
    box = region.bounding_box()
    lo_f, hi_f = box.lo.to(torch.float64).unsqueeze(0), box.hi.to(torch.float64).unsqueeze(0)
    # raises UnsupportedOperationError for anything outside the supported vocabulary
    residual_jet(condition, Jet.variables(lo_f, hi_f, 0))
    rate = float(condition.rate) if hasattr(condition, "rate") else None

    def result(status: str, reason: str = "", cx: Any = None, **extra: Any) -> Certificate:
        dec = None
        if (
            status == "certified"
            and decay
            and isinstance(condition, ExponentialStability)
            and condition.V.x_eq is not None
        ):
            dec = decay_bound(condition.V, condition.rate, region)
        return Certificate(
            status=status,
            method="certify",
            seconds=time.perf_counter() - start,
            condition=repr(condition),
            region=repr(region),
            rate=rate,
            margin=margin,
            fp_margin=FP_MARGIN,
            boxes_processed=processed,
            undecided_lo=lo_f,
            undecided_hi=hi_f,
            counterexample=None if cx is None else cx[0],
            counterexample_residual=None if cx is None else cx[1],
            counterexample_proved=False if cx is None else cx[2],
            local_lo=loc.lo if loc is not None else None,
            local_hi=loc.hi if loc is not None else None,
            decay_bound=dec,
            reason=reason,
        )

    processed = 0
    loc: LocalCertificate | None = None
    if max_boxes == 0 or time_limit == 0:
        return result("unknown", "zero budget")
    if local and condition.x_eq is not None:
        x0 = condition.x_eq.to(torch.float64)
        w = torch.maximum(box.hi - x0, x0 - box.lo).clamp_min(1e-12)
        loc = local_certificate(condition, w)
        if loc.status != "certified":
            loc = None
            cand = equilibrium_counterexample(condition, w)
            if cand is not None:
                with torch.no_grad():
                    r = condition.evaluate(cand)
                bad = (r > 0) & region.contains(cand)
                if bool(bad.any()):
                    i = int(torch.where(bad, r, torch.full_like(r, -math.inf)).argmax())
                    p = cand[i]
                    enc = residual_jet(condition, Jet.variables(p[None], p[None], 0))
                    return result(
                        "falsified",
                        "the residual's Hessian at x_eq has a positive eigenvalue",
                        (p.clone(), float(r[i]), bool(enc.v[0][0] > 0)),
                    )
    target = -margin
    while lo_f.shape[0]:
        if processed >= max_boxes or time.perf_counter() - start > time_limit:
            return result("unknown", "budget spent")
        take = min(batch_size, lo_f.shape[0], max_boxes - processed)
        lo, hi = lo_f[-take:], hi_f[-take:]
        lo_f, hi_f = lo_f[:-take], hi_f[:-take]
        processed += take
        keep = may_intersect(region, lo, hi)
        if loc is not None:
            keep &= ~inside_box(lo, hi, loc.lo, loc.hi)  # type: ignore[arg-type]
        lo, hi = lo[keep], hi[keep]
        if not lo.shape[0]:
            continue
        b = mean_value_bounds(lambda x: residual_jet(condition, x), lo, hi)
        und = ~(b.upper <= target)
        if not bool(und.any()):
            continue
        lo, hi, g = lo[und], hi[und], b.gradient_abs[und]  # type: ignore[index]
        cx = _falsify_centres(condition, region, lo, hi)
        if cx is not None:
            lo_f, hi_f = torch.cat([lo_f, lo]), torch.cat([hi_f, hi])
            return result("falsified", "a box centre violates the condition", cx)
        width = hi - lo
        gmax = torch.where(torch.isfinite(g), g, torch.zeros_like(g)).amax(1, keepdim=True)
        score = width * (g + 1e-2 * gmax + 1e-300)
        clo, chi = split(lo, hi, score)
        lo_f, hi_f = torch.cat([lo_f, clo]), torch.cat([hi_f, chi])
    return result("certified")
