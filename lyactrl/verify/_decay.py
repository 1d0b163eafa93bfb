"""The explicit exponential bound ``||x(t) - x_eq|| <= c e^(-alpha t) ||x0 - x_eq||``.

In discrete time (``V(x+) <= (1 - rate) V(x)``) the bound is
``||x_k - x_eq|| <= c (1 - alpha)^k ||x_0 - x_eq||`` with ``alpha = 1 - sqrt(1 - rate)``.

If ``lambda_1 ||x - x_eq||^2 <= V(x) <= lambda_2 ||x - x_eq||^2`` on a set where
``dV/dt <= -rate V`` holds and which the trajectory does not leave (a sublevel set of ``V``
inside the domain is forward invariant), then ``V(x(t)) <= e^(-rate t) V(x0)`` gives the bound
with ``c = sqrt(lambda_2 / lambda_1)`` and ``alpha = rate / 2``. ``lambda_1``, ``lambda_2`` are
certified: exact eigenvalues (with a rounding margin) for a quadratic ``V``; otherwise a
second-order Taylor enclosure near ``x_eq`` and interval bounds of ``V / ||x - x_eq||^2`` on an
adaptively refined partition of the set.
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from .._api import checked_kwargs
from .._errors import InvalidValueError
from .._results import ResultMixin, Status
from .._tensors import as_positive
from ..bounds.jets import EPS, Jet, candidate_jets, mean_value_bounds, powi
from ..lyapunov import AbstractCandidate, Quadratic
from ..regions import AbstractRegion
from ._branch_and_bound import Budget, Frontier, branch_and_bound

__all__ = ["DecayBound", "decay_bound", "quadratic_bounds"]


@dataclasses.dataclass(frozen=True)
class DecayBound(ResultMixin):
    """``||x(t) - x_eq|| <= c exp(-alpha t) ||x0 - x_eq||`` with its ingredients (for a
    discrete system, ``discrete``: ``||x_k - x_eq|| <= c (1 - alpha)^k ||x_0 - x_eq||``).

    ``status`` is ``certified`` (``lambda_1``, ``lambda_2`` are proved on the set, and with
    them ``V`` is positive definite there); ``message`` states the bound and for which
    trajectories it holds (every trajectory from an invariant set, or those that stay in the
    region).
    """

    status: Status
    method: str
    seconds: float
    message: str
    c: float
    alpha: float
    lambda_1: float
    lambda_2: float
    rate: float
    invariant: bool
    discrete: bool = False

    def __str__(self) -> str:
        return self.message


def _sym_eig_bounds(hlo: torch.Tensor, hhi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from ..bounds.jets import symmetric_upper_eig

    upper = symmetric_upper_eig(hlo, hhi)
    lower = -symmetric_upper_eig(-hhi, -hlo)
    return lower, upper


@checked_kwargs
def quadratic_bounds(
    V: AbstractCandidate, region: AbstractRegion | None = None, *, max_boxes: int = 20_000
) -> tuple[float, float]:
    """Certified ``(lambda_1, lambda_2)`` with ``lambda_1 |d|^2 <= V <= lambda_2 |d|^2`` on
    ``region`` (``d = x - x_eq``); ``(0, inf)`` when nothing better is proved.

    Exact eigenvalues with a rounding margin for a :class:`~lyactrl.Quadratic`; otherwise a
    second-order Taylor enclosure near ``x_eq`` and a branch and bound on ``region``.

    Parameters
    ----------
    V : AbstractCandidate
        The candidate (with an equilibrium ``x_eq``).
    region : AbstractRegion, optional
        Where the inequalities must hold; needed unless ``V`` is quadratic.
    max_boxes : int
        Box budget of each search.

    Returns
    -------
    (float, float)
        ``lambda_1`` and ``lambda_2``.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.verify import quadratic_bounds
    >>> lam1, lam2 = quadratic_bounds(lyactrl.Quadratic(torch.diag(torch.tensor([1.0, 3.0]))))
    >>> round(lam1, 9), round(lam2, 9)
    (1.0, 3.0)
    """
    if V.x_eq is None:
        return 0.0, math.inf
    if isinstance(V, Quadratic):
        eig = torch.linalg.eigvalsh(V.P.to(torch.float64))
        n = eig.shape[0]
        err = 16 * n * EPS * float(torch.linalg.matrix_norm(V.P.to(torch.float64)))
        return max(0.0, float(eig[0]) - err), float(eig[-1]) + err
    if region is None:
        return 0.0, math.inf
    x0 = V.x_eq.detach().to(torch.float64)
    box = region.bounding_box()
    w = torch.maximum(box.hi - x0, x0 - box.lo).clamp_min(0.0)
    point = x0.unsqueeze(0)
    at = candidate_jets(V, Jet.variables(point, point, 1))
    exact = bool((at[0].v[0] == 0).all() & (at[0].v[1] == 0).all())
    exact = exact and bool((at[0].d[0] == 0).all() & (at[0].d[1] == 0).all())  # type: ignore[index]
    if not exact:
        return 0.0, math.inf
    # Hessian enclosures of V on boxes x_eq + s [-w, w]: V(x) = 1/2 d^T H(xi) d there
    scales = 2.0 ** -torch.arange(0, 40, dtype=torch.float64)
    r = scales.reshape(-1, 1) * w.reshape(1, -1)
    jet = candidate_jets(V, Jet.variables(point - r, point + r, 2))[0]
    low, high = _sym_eig_bounds(*jet.h)  # type: ignore[misc]
    good = (low > 0).nonzero().flatten()
    if not good.numel():
        return 0.0, math.inf
    i = min(int(good[0]) + 3, scales.numel() - 1)  # a tighter, smaller box for the estimate
    if not bool(low[i] > 0):
        i = int(good[0])
    lam1, lam2 = 0.5 * float(low[i]), 0.5 * float(high[i])
    # estimates from samples steer the choice; each candidate constant is then proved
    try:
        pts = region.sample(4096, generator=torch.Generator().manual_seed(0))
    except InvalidValueError:  # a set too small to sample (e.g. a tiny certified level)
        pts = x0.unsqueeze(0)
    dc = ((pts - x0) ** 2).sum(1)
    with torch.no_grad():
        ratio = V.value(pts[dc > 0]) / dc[dc > 0]
    e1 = min(lam1, float(ratio.min())) if ratio.numel() else lam1
    e2 = max(lam2, float(ratio.max())) if ratio.numel() else lam2
    budget = max(1, max_boxes // 10)

    def gap(sign: float, lam: float):
        def fn(x: Jet) -> Jet:
            v = candidate_jets(V, x)[0]
            q = powi(x - x.constant(x0), 2).sum(1).scale(lam)
            return (v - q) if sign > 0 else (q - v)

        return fn

    def local_box(lam: float, lower: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        # the largest box around x_eq where the Hessian bound already gives the inequality
        # (V - lam |d|^2 has value and gradient 0 at x_eq and a PSD Hessian there)
        ok = (0.5 * low >= lam * (1 + 8 * EPS)) if lower else (0.5 * high <= lam * (1 - 8 * EPS))
        idx = ok.nonzero().flatten()
        if not idx.numel():
            return None
        i = int(idx[0])
        return point[0] - r[i], point[0] + r[i]

    out1 = out2 = None
    # tight constants first with a small budget, looser ones with more
    budgets = (budget // 4, budget // 2, budget, 2 * budget)
    for factor, nb in zip((0.95, 0.8, 0.5, 0.2), budgets, strict=True):
        lam = factor * e1
        L = local_box(lam, True)
        if L is not None and _nonnegative(gap(1.0, lam), region, box, L[0], L[1], nb):
            out1 = lam
            break
    for factor, nb in zip((1.05, 1.25, 2.0, 5.0), budgets, strict=True):
        lam = factor * e2
        L = local_box(lam, False)
        if L is not None and _nonnegative(gap(-1.0, lam), region, box, L[0], L[1], nb):
            out2 = lam
            break
    if out1 is None or out2 is None:
        return 0.0, math.inf
    return out1, out2


def _nonnegative(fn, region, box, llo, lhi, max_boxes: int) -> bool:
    """Is ``fn >= 0`` on ``region`` outside the box ``[llo, lhi]``? (the engine on ``-fn``)"""

    def bound(lo: torch.Tensor, hi: torch.Tensor):
        return mean_value_bounds(lambda x: -fn(x), lo, hi)

    def check(boxes: Frontier):
        c = 0.5 * (boxes.lo + boxes.hi)
        at_c = fn(Jet.variables(c, c, 0))
        return True if bool((at_c.v[1] < 0).any()) else None

    out = branch_and_bound(
        Frontier.of(box.lo.unsqueeze(0), box.hi.unsqueeze(0)),
        bound,
        budget=Budget(max_boxes, math.inf),
        region=region,
        exclude=(llo, lhi),
        check=check,
        split_rule="width",
    )
    return out.end == "proved"


@checked_kwargs
def decay_bound(
    V: AbstractCandidate,
    rate: float,
    region: AbstractRegion | None = None,
    *,
    invariant: bool = False,
    discrete: bool = False,
    max_boxes: int = 20_000,
) -> DecayBound | None:
    """The exponential bound from certified ``lambda_1, lambda_2`` (``None`` without them).

    Parameters
    ----------
    V : AbstractCandidate
        A candidate with ``x_eq``.
    rate : float
        The certified rate ``kappa`` of ``dV/dt <= -kappa V``; ``alpha = kappa / 2``.
    region : AbstractRegion, optional
        The set on which ``lambda_1, lambda_2`` must hold (not needed for ``Quadratic``).
    invariant : bool
        Whether the certified set is proved forward invariant; the bound then holds for every
        trajectory from it, otherwise for those that stay in it.
    discrete : bool
        ``rate`` is that of a map, ``V(x+) <= (1 - rate) V(x)`` with ``0 < rate <= 1``: the
        bound is ``||x_k - x_eq|| <= c (1 - alpha)^k ||x_0 - x_eq||``,
        ``alpha = 1 - sqrt(1 - rate)``.
    max_boxes : int
        Budget of the branch and bound for a non-quadratic ``V``.

    Returns
    -------
    DecayBound or None
        ``None`` when no ``lambda_1 > 0`` and finite ``lambda_2`` could be proved.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.verify import decay_bound
    >>> d = decay_bound(lyactrl.Quadratic(torch.diag(torch.tensor([1.0, 4.0]))), rate=1.0)
    >>> round(d.c, 6), d.alpha
    (2.0, 0.5)
    >>> round(decay_bound(lyactrl.Quadratic(torch.eye(2)), 0.75, discrete=True).alpha, 12)
    0.5
    """
    start = time.perf_counter()
    rate = as_positive(rate, name="rate")
    if discrete and rate > 1.0:
        raise InvalidValueError(f"rate: expected 0 < rate <= 1 in discrete time, received {rate}")
    lam1, lam2 = quadratic_bounds(V, region, max_boxes=max_boxes)
    if not (lam1 > 0 and math.isfinite(lam2)):
        return None
    c = math.sqrt(lam2 / lam1) * (1 + 4 * EPS)
    # V(x(t)) <= e^(-rate t) V(x0), or V(x_k) <= (1 - rate)^k V(x_0); the square root of the
    # factor per unit time (per step) bounds the distance. 1 - sqrt(1 - rate) is rounded down.
    alpha = 0.5 * float(rate) if not discrete else (1.0 - math.sqrt(1.0 - rate)) * (1 - 4 * EPS)
    who = (
        "every trajectory from the certified set (forward invariant, proved)"
        if invariant
        else "trajectories that stay in the certified region"
    )
    form = (
        f"||x_k - x_eq|| <= {c:.6g} (1 - {alpha:.6g})^k ||x_0 - x_eq||"
        if discrete
        else f"||x(t) - x_eq|| <= {c:.6g} exp(-{alpha:.6g} t) ||x0 - x_eq||"
    )
    message = (
        f"{form} for {who} (lambda_1 = {lam1:.6g}, lambda_2 = {lam2:.6g}, rate = {float(rate):.6g})"
    )
    return DecayBound(
        Status.CERTIFIED,
        "decay_bound",
        time.perf_counter() - start,
        message,
        c,
        alpha,
        lam1,
        lam2,
        float(rate),
        bool(invariant),
        bool(discrete),
    )
