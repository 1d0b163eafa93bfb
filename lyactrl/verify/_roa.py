"""Region of attraction: the largest certified sublevel set of ``V`` inside a domain."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import as_positive
from ..bounds import FP_MARGIN, Jet, candidate_jets, mean_value_bounds, residual_jet
from ..conditions import ExponentialStability
from ..lyapunov import AbstractCandidate
from ..regions import Ball, Box, Sublevel
from ..systems import AbstractSystem
from ._boxes import inside_box, may_intersect, point_distance2, split
from ._decay import DecayBound, decay_bound
from ._local import local_certificate
from ._rate import local_rate_limit
from .._results import ResultMixin

__all__ = ["RegionOfAttraction", "region_of_attraction"]


@dataclasses.dataclass(frozen=True)
class RegionOfAttraction(ResultMixin):
    """The result of :func:`region_of_attraction`.

    ``status == "certified"``: the set ``{x in domain : V(x) <= level}`` lies in the interior of
    the domain (``V > level`` on the domain's boundary, proved) and ``grad V . f + rate V <= 0``
    holds on it (proved, equilibrium included); it is forward invariant, every trajectory
    from it converges to ``x_eq`` and obeys ``decay_bound``. ``level_upper`` is the smallest
    level known to fail (a boundary point or a violating point has that value of ``V``).
    """

    status: str
    method: str
    seconds: float
    level: float
    level_upper: float
    rate: float
    domain: str
    boxes_processed: int
    fp_margin: str
    local_lo: torch.Tensor | None
    local_hi: torch.Tensor | None
    decay_bound: DecayBound | None
    reason: str
    region: Sublevel | None = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        out = super().to_dict()
        out["decay_bound"] = None if self.decay_bound is None else self.decay_bound.to_dict()
        out["region"] = None if self.region is None else repr(self.region)
        return out

    def __str__(self) -> str:
        extra = f"; {self.decay_bound}" if self.decay_bound is not None else ""
        return (
            f"region of attraction: {self.status}, level {self.level:.6g} "
            f"(upper {self.level_upper:.6g}), rate {self.rate:.4g}, {self.seconds:.3g} s{extra}"
        )


def _faces(box: Box) -> tuple[torch.Tensor, torch.Tensor]:
    los, his = [], []
    for i in range(box.n_states):
        for side in (box.lo[i], box.hi[i]):
            lo, hi = box.lo.clone(), box.hi.clone()
            lo[i] = hi[i] = side
            los.append(lo)
            his.append(hi)
    return torch.stack(los), torch.stack(his)


def _v_bounds(V: AbstractCandidate, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    return mean_value_bounds(lambda x: candidate_jets(V, x)[0], lo, hi).lower


def _v_at(V: AbstractCandidate, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return V.value(x)


@checked_kwargs
def region_of_attraction(
    system: AbstractSystem,
    V: AbstractCandidate,
    domain: Box | Ball,
    *,
    rate: float | None = None,
    tol: float = 1e-3,
    max_boxes: int = 400_000,
    time_limit: float = 60.0,
    batch_size: int = 4096,
    decay: bool = True,
) -> RegionOfAttraction:
    """The largest level ``c`` with ``{x in domain : V(x) <= c}`` certified as a region of
    attraction with exponential rate ``rate``.

    One best-first branch and bound over the domain: boxes where the residual is proved
    ``<= 0`` (or that lie in the local certificate at ``x_eq``) are done; the others, and the
    boxes covering the domain's boundary, are refined in order of their lower bound of ``V``.
    Every point with ``V`` below the smallest lower bound left is in a proved box, so that
    value (rounded down, and below every point known to violate the condition or to lie on
    the boundary) is the certified level. The search stops when the certified level is within
    ``tol`` (relative) of the smallest failing level found, or when the budget is spent.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system with equilibrium ``V.x_eq``.
    V : AbstractCandidate
        A candidate with ``x_eq`` (``V(x_eq) = 0``).
    domain : Box or Ball
        The domain; the certified set stays in its interior.
    rate : float, optional
        The exponential rate; by default a tenth of the local limit at ``x_eq``
        (:func:`lyactrl.verify.local_rate_limit`).
    tol : float
        Relative gap at which the level search stops.
    max_boxes, time_limit, batch_size
        Budget and batch size.
    decay : bool
        Compute the explicit exponential bound on the certified set.

    Returns
    -------
    RegionOfAttraction

    Examples
    --------
    >>> import lyactrl
    >>> vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    >>> V = lyactrl.Quadratic.from_linearization(vdp)
    >>> roa = lyactrl.region_of_attraction(vdp, V, lyactrl.Box([-2.5, -3.5], [2.5, 3.5]))
    >>> roa.status, roa.level > 0
    ('certified', True)
    """
    start = time.perf_counter()
    if not isinstance(domain, (Box, Ball)):
        raise InvalidArgumentError(
            f"domain: expected a Box or Ball, received {type(domain).__name__}"
        )
    if not isinstance(V, AbstractCandidate) or V.x_eq is None:
        raise InvalidArgumentError(
            "V: expected a candidate with an equilibrium x_eq (V(x_eq) = 0), received "
            f"{type(V).__name__}"
            + ("" if not isinstance(V, AbstractCandidate) else " without x_eq")
        )
    tol = as_positive(tol, name="tol")
    if rate is None:
        lim = local_rate_limit(system, V)
        if lim is None or lim <= 0:
            raise InvalidValueError(
                "rate: no default rate, since the residual's Hessian at x_eq is not negative "
                f"definite for any rate > 0 (local limit {lim}); pass rate= explicitly"
            )
        rate = 0.1 * lim
    rate = as_positive(rate, name="rate")
    cond = ExponentialStability(system, V, rate)
    box = domain.bounding_box()
    x0 = V.x_eq.detach().to(torch.float64)
    if not bool(domain.contains(x0.unsqueeze(0))[0]):
        raise InvalidValueError(f"domain: expected a domain containing x_eq = {x0.tolist()}")
    residual_jet(cond, Jet.variables(box.lo[None], box.hi[None], 0))  # unsupported ops raise
    w = torch.maximum(box.hi - x0, x0 - box.lo)
    loc = local_certificate(cond, w)
    local_ok = loc.status == "certified"

    # pool of undecided boxes; kind 1 = boundary pieces (always undecided)
    lo_p, hi_p = box.lo[None].clone(), box.hi[None].clone()
    kind = torch.zeros(1, dtype=torch.bool)
    if isinstance(domain, Box):
        flo, fhi = _faces(domain)
        lo_p, hi_p = torch.cat([lo_p, flo]), torch.cat([hi_p, fhi])
        kind = torch.cat([kind, torch.ones(flo.shape[0], dtype=torch.bool)])
    vlo = torch.full((lo_p.shape[0],), -math.inf, dtype=torch.float64)
    c_hi = math.inf
    processed = 0
    reason = ""
    while True:
        if lo_p.shape[0] == 0:
            break
        level_lo = float(vlo.min())
        if level_lo >= (1 - tol) * c_hi:
            break
        if processed >= max_boxes or time.perf_counter() - start > time_limit:
            reason = "budget spent"
            break
        k = min(batch_size, lo_p.shape[0])
        idx = torch.topk(-vlo, k).indices
        mask = torch.zeros(lo_p.shape[0], dtype=torch.bool)
        mask[idx] = True
        lo, hi, kd = lo_p[mask], hi_p[mask], kind[mask]
        lo_p, hi_p, kind, vlo = lo_p[~mask], hi_p[~mask], kind[~mask], vlo[~mask]
        if processed:  # the first round bounds the domain and its faces without splitting
            scale = (box.hi - box.lo).unsqueeze(0)
            lo, hi = split(lo, hi, (hi - lo) / scale)
            kd = torch.cat([kd, kd])
        processed += lo.shape[0]
        keep = may_intersect(domain, lo, hi) | kd
        if isinstance(domain, Ball):
            # boxes not strictly inside the ball hold boundary points: always undecided
            _, dmax = point_distance2(lo, hi, domain.center)
            kd = dmax >= domain.radius**2 * (1 - 1e-12)
        if local_ok:
            keep &= ~(inside_box(lo, hi, loc.lo, loc.hi) & ~kd)  # type: ignore[arg-type]
        lo, hi, kd = lo[keep], hi[keep], kd[keep]
        if not lo.shape[0]:
            continue
        c = 0.5 * (lo + hi)
        v_c = _v_at(V, c)
        # boundary pieces of a box domain: their centres lie on the boundary
        if isinstance(domain, Box) and bool(kd.any()):
            c_hi = min(c_hi, float(v_c[kd].min()))
        und = kd.clone()
        inner = ~kd
        if bool(inner.any()):
            b = mean_value_bounds(lambda x: residual_jet(cond, x), lo[inner], hi[inner])
            und[inner] = ~(b.upper <= 0)
            with torch.no_grad():
                r_c = cond.evaluate(c[inner])
            viol = (r_c > 0) & domain.contains(c[inner])
            if bool(viol.any()):
                c_hi = min(c_hi, float(v_c[inner][viol].min()))
        if isinstance(domain, Ball) and bool(kd.any()):
            # the radial projection of a boundary box's centre onto the sphere bounds the level
            cc = domain.center.to(c)
            d = c[kd] - cc
            p = cc + domain.radius * d / d.norm(dim=1, keepdim=True).clamp_min(1e-300)
            inb = ((p >= lo[kd]) & (p <= hi[kd])).all(1) & (d.norm(dim=1) > 0)
            if bool(inb.any()):
                c_hi = min(c_hi, float(_v_at(V, p[inb]).min()))
        lo, hi, kd = lo[und], hi[und], kd[und]
        if not lo.shape[0]:
            continue
        v_lo = _v_bounds(V, lo, hi)
        rel = v_lo < c_hi
        lo_p = torch.cat([lo_p, lo[rel]])
        hi_p = torch.cat([hi_p, hi[rel]])
        kind = torch.cat([kind, kd[rel]])
        vlo = torch.cat([vlo, v_lo[rel]])
        drop = vlo >= c_hi
        if bool(drop.any()):
            lo_p, hi_p, kind, vlo = lo_p[~drop], hi_p[~drop], kind[~drop], vlo[~drop]
    level_lo = float(vlo.min()) if vlo.numel() else c_hi
    level = min(level_lo, c_hi)
    level = math.nextafter(level, -math.inf) if math.isfinite(level) else level
    if not math.isfinite(level):
        level, reason = 0.0, "no boundary point bounds the level"
    ok = level > 0 and (local_ok or not bool(domain.contains(x0[None])[0]))
    if level > 0 and not local_ok:
        reason = "the local certificate at x_eq failed: " + loc.reason
    status = "certified" if ok else "unknown"
    region = Sublevel(V, level, within=domain) if ok else None
    dec = decay_bound(V, rate, region) if ok and decay else None
    return RegionOfAttraction(
        status=status,
        method="region_of_attraction",
        seconds=time.perf_counter() - start,
        level=level if ok else 0.0,
        level_upper=c_hi,
        rate=rate,
        domain=repr(domain),
        boxes_processed=processed,
        fp_margin=FP_MARGIN,
        local_lo=loc.lo,
        local_hi=loc.hi,
        decay_bound=dec,
        reason=reason,
        region=region,
    )
