"""Sound certification: the branch-and-bound engine on the condition's residual, with the
local certificate at the equilibrium."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from .._api import checked_kwargs
from .._results import ResultMixin, Status
from .._tensors import as_positive
from ..bounds import FP_MARGIN
from ..bounds.jets import Jet, residual_jet
from ..conditions import AbstractCondition, ExponentialStability
from ..lyapunov import ModuleCandidate
from ..regions import AbstractRegion, Sublevel
from ._branch_and_bound import Budget, Frontier, SearchOutcome, branch_and_bound
from ._counterexamples import Counterexamples, centre_counterexamples, prove_counterexamples
from ._decay import DecayBound, decay_bound
from ._inputs import check_condition_region
from ._invariance import invariance_premise
from ._local import equilibrium_counterexample, local_certificate, search_bounds
from ._local_result import LocalCertificate
from ._positive import prove_positive_definite
from ._shard import check_workers, sharded_search

__all__ = ["Certificate", "certify", "attach_decay"]


@dataclasses.dataclass(frozen=True)
class Certificate(ResultMixin):
    """The result of :func:`certify` (the rules: ``docs/soundness.md``).

    Attributes
    ----------
    status : Status
        ``certified``: ``residual(x) <= 0`` is proved for every ``x`` of the region (the
        equilibrium included; with the condition's margin ``m`` that is
        ``residual_0 <= -m ||x - x_eq||^2``), bounds sound up to the stated floating-point
        margin, which is included in them; ``falsified``: ``counterexamples`` are states of
        the region whose residual enclosure is strictly positive (proved); ``unknown``: the
        budget ran out (``undecided_lo``/``undecided_hi`` hold the boxes left), only
        rounding-level violations were found, or the problem is out of reach.
    message : str
        Why the status is what it is, and any premise that was not proved.
    boxes_processed : int
        Boxes bounded by the branch and bound.
    counterexamples, counterexample_residuals : torch.Tensor
        ``(k, n)`` proved counterexamples and their residuals (empty unless falsified).
    local_lo, local_hi : torch.Tensor or None
        The box around ``x_eq`` certified by the second-order (local) argument.
    invariant : bool or None
        For a :class:`~lyactrl.Sublevel` region: whether ``V > c`` on the boundary of its
        ``within`` was proved, which makes the certified set forward invariant (``None`` for
        other regions, which are not claimed invariant, and when ``decay=False``).
    decay_bound : DecayBound or None
        On a certificate of :class:`ExponentialStability`: the explicit bound
        ``||x(t) - x_eq|| <= c exp(-alpha t) ||x0 - x_eq||``, for every trajectory from an
        invariant certified set, or for trajectories that stay in the region otherwise.
    fp_margin : str
        The floating-point margin built into every bound.
    """

    status: Status
    method: str
    seconds: float
    message: str
    condition: str
    region: str
    rate: float | None
    margin: float
    fp_margin: str
    boxes_processed: int
    undecided_lo: torch.Tensor
    undecided_hi: torch.Tensor
    counterexamples: torch.Tensor
    counterexample_residuals: torch.Tensor
    local_lo: torch.Tensor | None
    local_hi: torch.Tensor | None
    invariant: bool | None
    decay_bound: DecayBound | None

    @property
    def certified(self) -> bool:
        """``True`` when the status is ``certified``."""
        return self.status == Status.CERTIFIED

    def __str__(self) -> str:
        extra = f"; {self.decay_bound}" if self.decay_bound is not None else ""
        return (
            f"certify: {self.status} in {self.seconds:.3g} s ({self.boxes_processed} boxes)"
            f"{'; ' + self.message if self.message else ''}{extra}"
        )


@dataclasses.dataclass
class _Run:
    """What one call of :func:`certify` has found so far."""

    condition: AbstractCondition
    region: AbstractRegion
    start: float
    decay: bool
    budget: Budget
    progress: bool | None = None
    workers: int = 1
    executor: str = "process"
    local: LocalCertificate | None = None
    local_failure: str = ""
    outcome: SearchOutcome | None = None

    def result(self, status: Status, message: str = "", cx: Counterexamples | None = None):
        cond, n = self.condition, self.condition.n_states
        frontier = self.outcome.frontier if self.outcome is not None else None
        empty = torch.zeros(0, n, dtype=torch.float64)
        cert = Certificate(
            status=status,
            method="certify",
            seconds=time.perf_counter() - self.start,
            message=message,
            condition=repr(cond),
            region=repr(self.region),
            rate=float(cond.rate),
            margin=float(cond.margin),
            fp_margin=FP_MARGIN,
            boxes_processed=self.outcome.processed if self.outcome is not None else 0,
            undecided_lo=frontier.lo if frontier is not None else empty,
            undecided_hi=frontier.hi if frontier is not None else empty.clone(),
            counterexamples=cx.states if cx is not None else empty.clone(),
            counterexample_residuals=cx.residuals if cx is not None else torch.zeros(0),
            local_lo=self.local.lo if self.local is not None else None,
            local_hi=self.local.hi if self.local is not None else None,
            invariant=None,
            decay_bound=None,
        )
        if status != Status.CERTIFIED or not self.decay:
            return cert
        left = max(0.0, self.budget.time_limit - (time.perf_counter() - self.start))
        return attach_decay(
            cert, cond, self.region, max_boxes=self.budget.max_boxes, time_limit=left
        )


def attach_decay(
    cert: Certificate,
    condition: AbstractCondition,
    region: AbstractRegion,
    *,
    max_boxes: int = 100_000,
    time_limit: float = 60.0,
) -> Certificate:
    """A certificate with its invariance premise (for a sublevel region) and decay bound.

    The premises of :func:`invariance_premise` (a set of the condition's own ``V``, ``V > c`` on
    the boundary of a :class:`~lyactrl.Sublevel`'s ``within`` and, for a map, ``F(set)`` inside
    ``within``) are proved or the set is not called invariant; the decay bound needs ``lambda_1 > 0`` proved.
    """
    invariant, message = None, cert.message
    if isinstance(region, Sublevel):
        invariant, why = invariance_premise(
            condition, region, max_boxes=max_boxes, time_limit=time_limit
        )
        if not invariant:
            note = f"the set is not proved forward invariant: {why}"
            message = f"{message}; {note}" if message else note
    dec = None
    if isinstance(condition, ExponentialStability) and condition.x_eq is not None:
        if invariant is not False:
            dec = decay_bound(
                condition.V,
                condition.rate,
                region,
                invariant=bool(invariant),
                discrete=condition.system.is_discrete,
            )
    if condition.x_eq_box is not None:
        note = "V and x_eq are centred at the true equilibrium, proved to lie in x_eq_box"
        message = f"{message}; {note}" if message else note
    return dataclasses.replace(cert, invariant=invariant, decay_bound=dec, message=message)


def _local_step(run: _Run, box: Any) -> Counterexamples | None:
    """The local certificate at ``x_eq``; a proved violation near ``x_eq`` when it fails."""
    cond = run.condition
    x0 = cond.x_eq.to(torch.float64)  # type: ignore[union-attr]
    w = torch.maximum(box.hi - x0, x0 - box.lo).clamp_min(1e-12)
    loc = local_certificate(cond, w, deadline=run.budget.start + run.budget.time_limit)
    if loc.status == Status.CERTIFIED:
        run.local = loc
        return None
    run.local_failure = loc.message
    cand = equilibrium_counterexample(cond, w)
    if cand is None:
        return None
    cand = cand[run.region.contains(cand)]
    with torch.no_grad():
        r = cond.evaluate(cand)
    found = prove_counterexamples(cond, cand[r > 0], r[r > 0], run.region)
    return found.only_proved() if found.any_proved else None


@checked_kwargs
def certify(
    condition: AbstractCondition,
    region: AbstractRegion,
    *,
    max_boxes: int = 500_000,
    time_limit: float = 60.0,
    margin: float | None = None,
    batch_size: int = 4096,
    local: bool = True,
    decay: bool = True,
    progress: bool | None = None,
    workers: int = 1,
    executor: str = "process",
) -> Certificate:
    """Prove ``condition.residual(x) <= 0`` on all of ``region``, or refute it.

    Branch and bound over boxes in float64 (:func:`lyactrl.verify.branch_and_bound`): each
    box gets sound bounds of the condition's residual from interval jets (the natural
    interval extension intersected with the mean-value form around the box centre, see
    :mod:`lyactrl.bounds`); boxes with upper bound ``<= 0`` are done, boxes outside the region
    are discarded (by the region's registered geometry), the others are bisected along the
    dimension with the largest gradient-times-width contribution. Box centres are evaluated
    directly; a centre whose residual enclosure is strictly positive is a proved
    counterexample (``falsified``); a centre positive only within rounding is not.

    At the equilibrium the residual is 0, so no box touching ``x_eq`` gets a strict bound;
    there the local certificate proves ``residual <= 0`` on a box around ``x_eq`` from a
    certified enclosure of the residual's Hessian, and boxes inside it are done.
    ``certified`` therefore covers the whole region, the equilibrium included. The rules of
    every status are in ``docs/soundness.md``.

    Parameters
    ----------
    condition : AbstractCondition
        Built from supported operations (:data:`lyactrl.bounds.SUPPORTED`); others raise
        :class:`~lyactrl.UnsupportedOperationError` naming the operation.
    region : Box, Ball or Sublevel
        Where the condition must hold. For a :class:`~lyactrl.Sublevel` region the
        invariance premise (``V > c`` on the boundary of ``within``) is proved too.
    max_boxes : int
        Budget of boxes (0 returns ``unknown`` at once).
    time_limit : float
        Budget in seconds (0 returns ``unknown``).
    margin : float, optional
        Certify ``condition.replace(margin=margin)``: ``residual_0 <= -margin ||x - x_eq||^2``
        (``<= -margin`` without an equilibrium), the condition's margin rule, which holds in
        the local certificate too. By default the condition's own margin.
    batch_size : int
        Boxes bounded per torch call.
    local : bool
        Use the local certificate at ``x_eq``.
    decay : bool
        Attach the explicit exponential bound to a certificate of exponential stability (and
        prove a sublevel region's invariance premise).
    progress : bool or None
        A progress bar on standard error (``None``: when it is a terminal).
    workers : int
        Worker processes of a sharded branch and bound (``1``: this process alone). After a
        short warm-up here (until there are 16 boxes per worker), the box frontier is dealt
        round-robin into one shard per worker; each worker searches its shard with its share
        of the boxes left, and in rounds (0.5 s, doubling up to 8 s) the undecided boxes are
        gathered and dealt again, so the shards stay balanced. ``certified`` when every
        shard's boxes are proved, ``falsified`` when a shard finds a proved counterexample
        (kept), else ``unknown``; box counts are summed, so ``max_boxes`` and ``time_limit``
        hold for the whole search. Each box is decided by the same bounds as in one process,
        so the status is the same given the budget; which counterexample is found first, and
        the exact box count of a refutation, may differ. Workers run torch with one thread;
        bounds run on the device of the region's tensors (the CPU here).
    executor : str
        Where the workers run (with ``workers > 1``): ``"process"``, local processes
        (:mod:`concurrent.futures` with the ``fork`` start method, so conditions holding
        sympy-lambdified functions or torch modules are shared with the workers without
        pickling; ``spawn``, which needs a picklable condition, where ``fork`` is missing or
        the region lives on a CUDA device); ``"ray"``, a Ray runtime (the one this process is
        connected to, else a local one started here and left running for later calls; the
        condition travels by cloudpickle; needs ``pip install 'lyactrl[ray]'``); or the
        address of a Ray cluster (``"ray://host:10001"``, ``"host:6379"``, ``"auto"``),
        connected to when this process is not yet connected to Ray, so a search that
        outgrows one machine runs on several with the same call.

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
    >>> res.decay_bound.alpha
    0.1

    The same search over two local worker processes gives the same status:

    >>> lyactrl.certify(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), workers=2).status
    'certified'
    """
    start = time.perf_counter()
    check_condition_region(condition, region)
    if margin is not None:
        condition = condition.replace(margin=as_positive(margin, name="margin", allow_zero=True))
    budget = Budget.checked(max_boxes, time_limit, batch_size, start)
    workers, executor = check_workers(workers, executor)
    box = region.bounding_box()
    lo, hi = box.lo.to(torch.float64)[None], box.hi.to(torch.float64)[None]
    # raises UnsupportedOperationError for anything outside the supported vocabulary
    residual_jet(condition, Jet.variables(lo, hi, 0))
    run = _Run(condition, region, start, decay, budget, progress, workers, executor)
    run.outcome = SearchOutcome("budget", Frontier.of(lo, hi), 0)
    if budget.max_boxes == 0 or budget.time_limit == 0:
        return run.result(Status.UNKNOWN, "zero budget")
    if local and condition.x_eq is not None:
        cx = _local_step(run, box)
        if cx is not None:
            return run.result(
                Status.FALSIFIED, "the residual's Hessian at x_eq has a positive eigenvalue", cx
            )
    return _search(run, lo, hi)


@dataclasses.dataclass(frozen=True)
class _CertifySearch:
    """The engine on the condition's residual, with the centre check: what one worker (or
    this process) runs on its boxes (:func:`lyactrl.verify._shard.sharded_search`)."""

    condition: AbstractCondition
    region: AbstractRegion
    exclude: tuple[torch.Tensor, torch.Tensor] | None

    def search(
        self, frontier: Frontier, budget: Budget, stop: Any = None, progress: Any = False
    ) -> SearchOutcome:
        cond, region = self.condition, self.region
        return branch_and_bound(
            frontier,
            lambda lo, hi: search_bounds(cond, lo, hi),
            budget=budget,
            region=region,
            exclude=self.exclude,
            check=lambda boxes: centre_counterexamples(cond, region, boxes.lo, boxes.hi),
            stop=stop,
            progress=progress,
            desc="certify",
        )


def _search(run: _Run, lo: torch.Tensor, hi: torch.Tensor) -> Certificate:
    exclude = None if run.local is None else (run.local.lo, run.local.hi)
    job = _CertifySearch(run.condition, run.region, exclude)
    if run.workers == 1:
        run.outcome = job.search(Frontier.of(lo, hi), run.budget, progress=run.progress)
    else:
        run.outcome = sharded_search(
            job,
            Frontier.of(lo, hi),
            budget=run.budget,
            workers=run.workers,
            executor=run.executor,
            progress=run.progress,
            desc="certify",
        )
    shards = f" ({run.workers} workers)" if run.workers > 1 else ""
    if run.outcome.end == "halted":
        return run.result(
            Status.FALSIFIED, "a box centre violates the condition" + shards, run.outcome.halt
        )
    if run.outcome.end == "budget":
        why = f"; the local certificate at x_eq failed: {run.local_failure}"
        return run.result(
            Status.UNKNOWN, "budget spent" + shards + (why if run.local_failure else "")
        )
    unproved = _positivity_unproved(run)
    if unproved:
        return run.result(Status.UNKNOWN, unproved)
    return run.result(Status.CERTIFIED)


def _positivity_unproved(run: _Run) -> str:
    """Why ``V`` is not proved positive definite on the region, for a candidate that is not
    positive definite by construction (a :class:`~lyactrl.ModuleCandidate`); ``""`` else."""
    cond = run.condition
    if not (isinstance(cond, ExponentialStability) and isinstance(cond.V, ModuleCandidate)):
        return ""
    left = max(0.0, run.budget.time_limit - (time.perf_counter() - run.start))
    pd = prove_positive_definite(cond.V, run.region, time_limit=left)
    if pd.status == Status.CERTIFIED:
        return ""
    return (
        "the decrease condition is proved on the region, but V (a ModuleCandidate) is not "
        f"proved positive definite there ({pd.status}: {pd.message}), so it is no certificate"
    )
