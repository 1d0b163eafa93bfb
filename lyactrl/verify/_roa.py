"""Region of attraction: the largest certified sublevel set of ``V`` inside a domain."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._results import ResultMixin, Status
from .._tensors import as_positive
from ..bounds import FP_MARGIN, bound_candidate
from ..bounds.jets import Jet, residual_jet
from ..conditions import ExponentialStability
from ..regions import Ball, Box, Sublevel
from ._branch_and_bound import Budget, Frontier, branch_and_bound
from ._decay import DecayBound, decay_bound, quadratic_bounds
from ._geometry import geometry_of
from ._invariance import image_premise
from ._local import local_certificate, search_bounds
from ._local_result import LocalCertificate
from ._rate import as_condition

__all__ = ["RegionOfAttraction", "region_of_attraction"]


@dataclasses.dataclass(frozen=True)
class RegionOfAttraction(ResultMixin):
    """The result of :func:`region_of_attraction` (the rules: ``docs/soundness.md``).

    ``status == "certified"``: every premise is proved with sound bounds (for a condition with
    ``x_eq_box``, for ``V`` centred at the true equilibrium in that box; ``level`` is then the
    level of ``V`` at its own centre whose set lies inside the certified one): the set
    ``{x in domain : V(x) <= level}`` lies in the interior of the domain (``V > level`` on
    the domain's boundary), ``grad V . f + rate V <= 0`` holds on it (equilibrium included),
    and ``V`` is positive definite on it (``V >= lambda_1 ||x - x_eq||^2`` with
    ``lambda_1 > 0``). So it is forward invariant, every trajectory from it converges to
    ``x_eq`` and obeys ``decay_bound``. For a discrete-time system the condition is
    ``V(F(x)) - V(x) + rate V(x) <= 0`` and the map is also proved to send the set into the
    domain (the image premise; see :mod:`lyactrl.verify._invariance`). Otherwise ``unknown`` with the missing premise in
    ``message``. ``level_upper`` is the smallest level at which a boundary point or a state
    violating the condition (evaluated in float64) was found.
    """

    status: Status
    method: str
    seconds: float
    message: str
    level: float
    level_upper: float
    rate: float
    domain: str
    boxes_processed: int
    fp_margin: str
    local_lo: torch.Tensor | None
    local_hi: torch.Tensor | None
    decay_bound: DecayBound | None
    region: Sublevel | None = dataclasses.field(default=None, repr=False)

    def __str__(self) -> str:
        extra = f"; {self.decay_bound}" if self.decay_bound is not None else ""
        return (
            f"region of attraction: {self.status}, level {self.level:.6g} "
            f"(upper {self.level_upper:.6g}), rate {self.rate:.4g}, {self.seconds:.3g} s{extra}"
        )


class _Levels:
    """The smallest failing level ``c_hi`` found so far, updated by the centre check."""

    def __init__(
        self, cond: ExponentialStability, domain: Box | Ball, loc: LocalCertificate
    ) -> None:
        self.cond, self.domain, self.c_hi = cond, domain, math.inf
        self.geometry = geometry_of(domain)
        # centres inside the local certificate's box are proved, whatever float says there
        self.local = (loc.lo, loc.hi) if loc.status == Status.CERTIFIED else None

    def value(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.cond.V.value(x)

    def check(self, boxes: Frontier) -> None:
        """Lower ``c_hi`` by boundary points and violating centres; never halts."""
        tag = boxes.tag
        if bool(tag.any()):
            p, valid = self.geometry.boundary_points(self.domain, boxes.lo[tag], boxes.hi[tag])
            if bool(valid.any()):
                self.c_hi = min(self.c_hi, float(self.value(p[valid]).min()))
        if bool((~tag).any()):
            c = 0.5 * (boxes.lo[~tag] + boxes.hi[~tag])
            with torch.no_grad():
                viol = (self.cond.evaluate(c) > 0) & self.domain.contains(c)
            if self.local is not None:
                viol &= ~((c >= self.local[0]) & (c <= self.local[1])).all(1)
            if bool(viol.any()):
                self.c_hi = min(self.c_hi, float(self.value(c[viol]).min()))
        return None

    def key(self, boxes: Frontier) -> torch.Tensor:
        return bound_candidate(self.cond.V, boxes.lo, boxes.hi, centre=self.cond.x_eq_box).lower


def _check_inputs(cond: ExponentialStability, domain: Any, tol: float) -> float:
    if not isinstance(domain, (Box, Ball)):
        raise InvalidArgumentError(
            f"domain: expected a Box or Ball, received {type(domain).__name__}"
        )
    if cond.x_eq is None:
        raise InvalidArgumentError(
            "V: expected a candidate with an equilibrium x_eq (V(x_eq) = 0), received "
            f"{type(cond.V).__name__} without x_eq"
        )
    if not bool(domain.contains(cond.x_eq.unsqueeze(0))[0]):
        raise InvalidValueError(f"domain: expected a domain containing x_eq = {cond.x_eq.tolist()}")
    return as_positive(tol, name="tol")


@checked_kwargs
def region_of_attraction(
    *args: Any,
    rate: float | None = None,
    tol: float = 1e-3,
    max_boxes: int = 400_000,
    time_limit: float = 60.0,
    batch_size: int = 4096,
    decay: bool = True,
    progress: bool | None = None,
) -> RegionOfAttraction:
    """The largest level ``c`` with ``{x in domain : V(x) <= c}`` certified as a region of
    attraction with exponential rate ``rate``.

    Called as ``region_of_attraction(condition, domain)`` with an
    :class:`~lyactrl.ExponentialStability` condition, or as the convenience
    ``region_of_attraction(system, V, domain, rate=...)``, which builds one.

    One best-first run of the branch-and-bound engine over the domain: boxes where the
    residual is proved ``<= 0`` (or that lie in the local certificate at ``x_eq``) are done;
    the others, and the boxes covering the domain's boundary (its registered geometry), are
    refined in order of their lower bound of ``V``. Every point with ``V`` below the smallest
    lower bound left is in a proved box, so that value (rounded down, and below every point
    known to violate the condition or to lie on the boundary) is the certified level. Then
    ``V``'s positive definiteness on the set is proved. The search stops when the certified
    level is within ``tol`` (relative) of the smallest failing level found, or when the
    budget is spent. The search runs in one process (the failing level it keeps is shared
    by all boxes); :func:`~lyactrl.certify` and :func:`~lyactrl.max_certified_rate` take
    ``workers=``.

    Parameters
    ----------
    *args
        ``(condition, domain)`` or ``(system, V, domain)``; ``domain`` is a Box or Ball
        containing ``x_eq``, and the certified set stays in its interior.
    rate : float, optional
        With ``(system, V, domain)``: the exponential rate; by default the one default policy
        :func:`lyactrl.verify.default_rate` (half the local limit at ``x_eq``). Not allowed
        with a condition, which carries its rate. :func:`lyactrl.rate_level_front` shows the
        trade-off between rate and level.
    tol : float
        Relative gap at which the level search stops.
    max_boxes, time_limit, batch_size
        Budget and batch size.
    decay : bool
        Attach the explicit exponential bound on the certified set.
    progress : bool or None
        A progress bar on standard error (``None``: when it is a terminal).

    Returns
    -------
    RegionOfAttraction

    Examples
    --------
    >>> import lyactrl
    >>> vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    >>> V = lyactrl.Quadratic.from_linearization(vdp)
    >>> cond = lyactrl.ExponentialStability(vdp, V, rate=0.1)
    >>> roa = lyactrl.region_of_attraction(cond, lyactrl.Box([-2.5, -3.5], [2.5, 3.5]))
    >>> roa.status, roa.level > 0
    ('certified', True)
    """
    start = time.perf_counter()
    cond, rest = as_condition(args, rate, "region_of_attraction", n_rest=1)
    domain = rest[0]
    tol = _check_inputs(cond, domain, tol)
    budget = Budget.checked(max_boxes, time_limit, batch_size, start)
    box = domain.bounding_box()
    residual_jet(cond, Jet.variables(box.lo[None], box.hi[None], 0))  # unsupported ops raise
    x0 = cond.x_eq.to(torch.float64)  # type: ignore[union-attr]
    w = torch.maximum(box.hi - x0, x0 - box.lo)
    loc = local_certificate(cond, w, deadline=budget.start + budget.time_limit)
    levels = _Levels(cond, domain, loc)
    level, processed, message = _search(cond, domain, box, loc, levels, budget, tol, progress)
    return _result(cond, domain, loc, levels, level, processed, message, decay, start)


def _search(cond, domain, box, loc: LocalCertificate, levels: _Levels, budget, tol, progress):
    geometry = geometry_of(domain)
    plo, phi = geometry.boundary_pieces(domain)
    frontier = Frontier.of(box.lo[None].to(torch.float64), box.hi[None].to(torch.float64))
    frontier = frontier.extend(Frontier.of(plo, phi, torch.ones(plo.shape[0], dtype=torch.bool)))
    local_ok = loc.status == Status.CERTIFIED
    out = branch_and_bound(
        frontier,
        lambda a, b: search_bounds(cond, a, b),
        budget=budget,
        region=domain,
        exclude=(loc.lo, loc.hi) if local_ok else None,
        tag=lambda a, b: geometry.touches_boundary(domain, a, b),
        check=levels.check,
        key=levels.key,
        stop=lambda f: float(f.key.min()) >= (1 - tol) * levels.c_hi,
        prune=lambda f: f.key >= levels.c_hi,
        best_first=True,
        split_rule="width",
        progress=progress,
        desc="region of attraction",
    )
    level_lo = float(out.frontier.key.min()) if len(out.frontier) else levels.c_hi
    level = min(level_lo, levels.c_hi)
    message = "budget spent" if out.end == "budget" else ""
    return level, out.processed, message


def _inner_level(cond: ExponentialStability, level: float) -> float:
    """The level of ``V`` (centred at ``V.x_eq``) whose set lies in the certified set of ``V``
    centred at the true equilibrium, for an equilibrium known only as a box.

    With ``d = max ||x_eq - x*||_P`` over the box (``<= sqrt(lambda_max(P)) ||x_eq - x*||``),
    the triangle inequality of the ``P``-norm puts ``{V <= (sqrt(level) - d)^2}`` inside
    ``{V_* <= level}``. Without a box it is ``level``.
    """
    box = cond.x_eq_box
    if box is None:
        return level
    x0 = cond.x_eq.to(torch.float64)  # type: ignore[union-attr]
    far = torch.maximum((box[1] - x0).abs(), (x0 - box[0]).abs())
    lam = quadratic_bounds(cond.V)[1]  # certified lambda_max of P
    d = math.sqrt(lam) * float(far.norm()) * (1 + 1e-9)
    root = math.sqrt(level) * (1 - 1e-12) - d
    return math.nextafter(root * root, 0.0) if root > 0 else 0.0


def _image_level(cond: ExponentialStability, domain: Any, level: float) -> tuple[float, str]:
    """The largest of ``level, level / 2, ...`` (8 tries) whose set a map sends into the
    domain (the image premise of :func:`image_premise`), or ``0`` with the reason."""
    why = ""
    for _ in range(8):
        ok, why = image_premise(
            cond.system, Sublevel(cond.V, level, within=domain), max_boxes=50_000, time_limit=20.0
        )
        if ok:
            return level, ""
        level = 0.5 * level
    return 0.0, f"the discrete-time image premise failed: {why}"


def _result(cond, domain, loc, levels, level, processed, message, decay, start):
    level = math.nextafter(level, -math.inf) if math.isfinite(level) else level
    if not math.isfinite(level):
        level, message = 0.0, "no boundary point bounds the level"
    local_ok = loc.status == Status.CERTIFIED
    ok = level > 0 and local_ok
    if level > 0 and not local_ok:
        message = "the local certificate at x_eq failed: " + loc.message
    inner = _inner_level(cond, level) if ok else 0.0
    if ok and inner <= 0:
        ok, message = False, "the equilibrium box is too wide for the certified level"
    elif ok and cond.x_eq_box is not None:
        message = (
            f"certified for V centred at the true equilibrium x* in x_eq_box (level {level:.6g}); "
            f"the set reported is {{V <= {inner:.6g}}} for V at its own centre, which lies inside; "
            "decay constants are for x*"
        )
    if ok and cond.system.is_discrete:
        inner, why = _image_level(cond, domain, inner)
        if inner <= 0:
            ok, message = False, why
    region = Sublevel(cond.V, inner, within=domain) if ok else None
    dec = (
        decay_bound(cond.V, cond.rate, region, invariant=True, discrete=cond.system.is_discrete)
        if ok
        else None
    )
    if ok and dec is None:
        ok, message = (
            False,
            (
                "V is not proved positive definite on the set (no lambda_1 > 0 with "
                "V >= lambda_1 ||x - x_eq||^2 was proved), so convergence to x_eq is not proved"
            ),
        )
    return RegionOfAttraction(
        status=Status.CERTIFIED if ok else Status.UNKNOWN,
        method="region_of_attraction",
        seconds=time.perf_counter() - start,
        message=message,
        level=inner if ok else 0.0,
        level_upper=levels.c_hi,
        rate=float(cond.rate),
        domain=repr(domain),
        boxes_processed=processed,
        fp_margin=FP_MARGIN,
        local_lo=loc.lo,
        local_hi=loc.hi,
        decay_bound=dec if decay else None,
        region=region if ok else None,
    )
