"""Proof that a candidate is positive definite on a region: ``V(x) > 0`` for ``x != x_eq``."""

from __future__ import annotations

import dataclasses
import time

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._results import ResultMixin, Status
from .._tensors import positive_int
from ..bounds.jets import EPS, Jet, candidate_jets, mean_value_bounds, powi
from ..lyapunov import AbstractCandidate
from ..regions import AbstractRegion
from ._branch_and_bound import Budget, Frontier, branch_and_bound
from ._decay import _sym_eig_bounds

__all__ = ["PositiveDefiniteness", "prove_positive_definite"]


@dataclasses.dataclass(frozen=True)
class PositiveDefiniteness(ResultMixin):
    """The result of :func:`prove_positive_definite`.

    ``certified``: ``V(x) >= lambda_1 ||x - x_eq||^2`` with ``lambda_1 > 0`` is proved for every
    ``x`` of the region (so ``V > 0`` away from ``x_eq``), and ``V(x_eq) = 0``; ``falsified``:
    ``counterexamples`` are states ``x != x_eq`` of the region where ``V(x) <= 0`` is proved by
    ``V``'s enclosure there; ``unknown``: neither (``message`` says what was not proved).
    """

    status: Status
    method: str
    seconds: float
    message: str
    lambda_1: float
    boxes_processed: int
    counterexamples: torch.Tensor


def _point_jets(V: AbstractCandidate, x: torch.Tensor, order: int) -> tuple[Jet, Jet]:
    return candidate_jets(V, Jet.variables(x, x, order))


@checked_kwargs
def prove_positive_definite(
    V: AbstractCandidate,
    region: AbstractRegion,
    *,
    max_boxes: int = 50_000,
    time_limit: float = 30.0,
    n_samples: int = 4096,
) -> PositiveDefiniteness:
    """Prove ``V(x) > 0`` for every ``x != x_eq`` of ``region`` (and ``V(x_eq) = 0``), or refute it.

    Near ``x_eq``: ``V(x_eq)`` and ``grad V(x_eq)`` must enclose exactly 0; then on a box ``L``
    around ``x_eq`` Taylor's theorem gives ``V(x) = 1/2 d^T H d`` (``d = x - x_eq``) with ``H``
    in the Hessian enclosure of ``V`` on ``L``, and if every symmetric matrix of that interval
    matrix has eigenvalues ``>= 2 lambda`` (a certified eigenvalue bound), ``V >= lambda
    ||d||^2`` on ``L``. Outside ``L`` the branch-and-bound engine proves ``V - lambda ||d||^2
    >= 0`` on the rest of the region. Both together give ``V >= lambda ||d||^2`` with
    ``lambda > 0``: no small ball is left out. Random states of the region where ``V <= 0``
    is proved by ``V``'s enclosure refute it.

    Parameters
    ----------
    V : AbstractCandidate
        A candidate with ``x_eq`` whose jets the certifier computes (a
        :class:`~lyactrl.ModuleCandidate`, :class:`~lyactrl.NeuralLyapunov`, ...).
    region : Box, Ball or Sublevel
        Where ``V`` must be positive definite (it should contain ``x_eq``).
    max_boxes, time_limit : int, float
        Budget of the branch and bound.
    n_samples : int
        Random states tried as counterexamples first.

    Returns
    -------
    PositiveDefiniteness

    Examples
    --------
    >>> import torch, lyactrl
    >>> class Saddle(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x[:, 0] ** 2 - 0.5 * x[:, 1] ** 2
    >>> V = lyactrl.ModuleCandidate(Saddle(), x_eq=[0.0, 0.0], n_states=2)
    >>> box = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    >>> lyactrl.prove_positive_definite(V, box).status
    'falsified'
    >>> class Bowl(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x[:, 0] ** 2 + 0.5 * x[:, 1] ** 2 + torch.tanh(x[:, 0]) ** 2
    >>> W = lyactrl.ModuleCandidate(Bowl(), x_eq=[0.0, 0.0], n_states=2)
    >>> lyactrl.prove_positive_definite(W, box).status
    'certified'
    """
    start = time.perf_counter()
    if not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(f"V: expected a candidate, received {type(V).__name__}")
    if not isinstance(region, AbstractRegion):
        raise InvalidArgumentError(
            f"region: expected a Box, Ball or Sublevel, received {type(region).__name__}"
        )
    budget = Budget.checked(max_boxes, time_limit, 4096, start)
    n_samples = positive_int(n_samples, "n_samples")
    n = V.n_states
    empty = torch.zeros(0, n or 0, dtype=torch.float64)

    def result(status: Status, message: str, lam: float = 0.0, boxes: int = 0, cx=empty):
        return PositiveDefiniteness(
            status, "prove_positive_definite", time.perf_counter() - start, message, lam, boxes, cx
        )

    if V.x_eq is None:
        return result(Status.UNKNOWN, "V has no x_eq")
    x0 = V.x_eq.detach().to(torch.float64)
    point = x0.unsqueeze(0)
    cx = _sampled_counterexamples(V, region, x0, n_samples)
    if cx.shape[0]:
        return result(
            Status.FALSIFIED,
            f"V(x) <= 0 is proved at x = {cx[0].tolist()} (x != x_eq), so V is not positive "
            "definite on the region",
            cx=cx,
        )
    v, g = _point_jets(V, point, 0)
    if not bool((v.v[0] == 0).all() & (v.v[1] == 0).all()):
        return result(Status.UNKNOWN, "V(x_eq) does not enclose exactly 0")
    if not bool((g.v[0] == 0).all() & (g.v[1] == 0).all()):
        return result(
            Status.UNKNOWN,
            f"grad V(x_eq) is not provably 0 (enclosure [{g.v[0][0].tolist()}, "
            f"{g.v[1][0].tolist()}]): x_eq is not proved to be a minimum of V",
        )
    box = region.bounding_box()
    w = torch.maximum(box.hi - x0, x0 - box.lo).clamp_min(0.0)
    scales = 2.0 ** -torch.arange(0, 40, dtype=torch.float64)
    r = scales.reshape(-1, 1) * w.reshape(1, -1)
    low, _ = _sym_eig_bounds(*candidate_jets(V, Jet.variables(point - r, point + r, 2))[0].h)  # type: ignore[misc]
    good = (low > 0).nonzero().flatten()
    if not good.numel():
        return result(
            Status.UNKNOWN,
            "the Hessian of V near x_eq is not proved positive definite (eigenvalue bound "
            f"{float(low[-1]):.3g} on the smallest box)",
        )
    best = float(low[good].max())
    processed = 0
    for factor in (0.5, 0.1, 0.01):
        lam = factor * 0.5 * best
        # the largest box around x_eq on which the Hessian bound gives V >= lam |d|^2
        idx = (0.5 * low >= lam * (1 + 8 * EPS)).nonzero().flatten()
        i = int(idx[0])
        left = Budget(budget.max_boxes - processed, budget.time_limit, 4096, budget.start)
        proved, boxes = _at_least(V, lam, region, box, point[0] - r[i], point[0] + r[i], left)
        processed += boxes
        if proved:
            return result(Status.CERTIFIED, "", lam, processed)
        if budget.spent(processed):
            break
    return result(
        Status.UNKNOWN,
        "V >= lambda ||x - x_eq||^2 with lambda > 0 was not proved on the region within the budget",
        0.0,
        processed,
    )


def _sampled_counterexamples(
    V: AbstractCandidate, region: AbstractRegion, x0: torch.Tensor, n_samples: int
) -> torch.Tensor:
    """Random states ``!= x_eq`` of the region where ``V <= 0`` is proved (worst first)."""
    try:
        pts = region.sample(n_samples, generator=torch.Generator().manual_seed(0))
    except InvalidValueError:  # a region too small to sample
        return torch.zeros(0, x0.shape[0], dtype=torch.float64)
    pts = pts.to(torch.float64)
    pts = pts[((pts - x0) ** 2).sum(1) > 0]
    with torch.no_grad():
        vals = V.value(pts)
    bad = pts[vals <= 0]
    if not bad.shape[0]:
        return bad
    bad = bad[V.value(bad).detach().argsort()][:16]
    upper = _point_jets(V, bad, 0)[0].v[1]
    return bad[upper <= 0]


def _at_least(
    V: AbstractCandidate,
    lam: float,
    region: AbstractRegion,
    box,
    llo: torch.Tensor,
    lhi: torch.Tensor,
    budget: Budget,
) -> tuple[bool, int]:
    """Whether ``V - lam ||x - x_eq||^2 >= 0`` is proved on ``region`` outside ``[llo, lhi]``."""
    x0 = V.x_eq.detach().to(torch.float64)  # type: ignore[union-attr]

    def gap(x: Jet) -> Jet:
        return powi(x - x.constant(x0), 2).sum(1).scale(lam) - candidate_jets(V, x)[0]

    def check(boxes: Frontier):
        c = 0.5 * (boxes.lo + boxes.hi)
        return True if bool((gap(Jet.variables(c, c, 0)).v[0] > 0).any()) else None

    out = branch_and_bound(
        Frontier.of(box.lo.unsqueeze(0).to(torch.float64), box.hi.unsqueeze(0).to(torch.float64)),
        lambda a, b: mean_value_bounds(gap, a, b),
        budget=budget,
        region=region,
        exclude=(llo, lhi),
        check=check,
        split_rule="gradient",
    )
    return out.end == "proved", out.processed
