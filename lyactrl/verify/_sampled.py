"""Sampled checks with a Clopper-Pearson bound on the violation probability."""

from __future__ import annotations

import dataclasses
import time

import torch

from .._api import checked_kwargs
from .._errors import InvalidValueError
from .._results import ResultMixin, Status
from .._tensors import as_positive, positive_int
from ..conditions import AbstractCondition
from ..regions import AbstractRegion
from ._counterexamples import RTOL, prove_counterexamples, verdict, violations
from ._inputs import check_condition_region

__all__ = ["SampledCheck", "check_sampled", "violation_probability_bound"]


def violation_probability_bound(n_violations: int, n_samples: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound on a violation probability.

    With probability at least ``confidence`` over the draw of ``n_samples`` i.i.d. states,
    the true probability ``p`` of drawing a violating state is at most the returned value. With
    no violation it equals ``1 - (1 - confidence)^(1/n)``, about ``ln(1/delta)/n``.

    Parameters
    ----------
    n_violations : int
        Violating states among the samples.
    n_samples : int
        States drawn.
    confidence : float
        In ``(0, 1)``: ``1 - delta``.

    Returns
    -------
    float
        The upper bound (1.0 when every sample violates).

    Examples
    --------
    >>> from lyactrl.verify import violation_probability_bound
    >>> round(violation_probability_bound(0, 1000, 0.99), 5)
    0.00459
    """
    import scipy.stats  # lazily: it costs ~0.4 s at import

    if n_violations >= n_samples:
        return 1.0
    return float(scipy.stats.beta.ppf(confidence, n_violations + 1, n_samples - n_violations))


@dataclasses.dataclass(frozen=True)
class SampledCheck(ResultMixin):
    """The result of :func:`check_sampled`.

    ``status`` is ``"holds_on_samples"`` (no sampled state violates the condition beyond the
    relative rounding tolerance ``rtol``: a statistical statement, not a proof),
    ``"falsified"`` (at least one of ``counterexamples`` has a strictly positive residual
    enclosure: ``counterexamples_proved``) or ``"unknown"`` (violations were found, but none is
    proved: rounding level, or outside the certifier's vocabulary; ``message`` says which).
    """

    status: Status
    method: str
    seconds: float
    message: str
    n_samples: int
    n_violations: int
    violation_rate: float
    worst_residual: float
    counterexamples: torch.Tensor
    counterexample_residuals: torch.Tensor
    counterexamples_proved: torch.Tensor
    confidence: float
    violation_probability_bound: float
    region: str
    margin: float
    rtol: float

    @property
    def holds(self) -> bool:
        """``True`` when no sampled state violated the condition."""
        return self.status == "holds_on_samples"

    def __str__(self) -> str:
        return (
            f"sampled check: {self.status} ({self.n_violations}/{self.n_samples} violations, "
            f"worst residual {self.worst_residual:.4g}); {self.message}"
        )


@checked_kwargs
def check_sampled(
    condition: AbstractCondition,
    region: AbstractRegion,
    *,
    n_samples: int = 100_000,
    generator: torch.Generator | None = None,
    confidence: float = 0.99,
    batch_size: int = 65_536,
    n_counterexamples: int = 10,
    margin: float | None = None,
    rtol: float = RTOL,
    dtype: torch.dtype = torch.float64,
) -> SampledCheck:
    """Evaluate the residual on states drawn uniformly from ``region``.

    Parameters
    ----------
    condition : AbstractCondition
        For example :class:`ExponentialStability`.
    region : AbstractRegion
        Where to sample (uniformly).
    n_samples : int
        Number of states.
    generator : torch.Generator, optional
        Source of randomness (for reproducible runs).
    confidence : float
        Confidence ``1 - delta`` of the probability bound, in (0, 1).
    batch_size : int
        States evaluated at once.
    n_counterexamples : int
        How many of the worst violating states to keep.
    margin : float, optional
        Check ``condition.replace(margin=margin)`` (the condition's margin rule); the
        condition's own margin by default.
    rtol : float
        A state violates the condition when its residual is ``> rtol * scale`` (the
        residual's terms in absolute value, see :data:`lyactrl.verify.RTOL`): residuals at
        rounding level are not violations.
    dtype : torch.dtype
        Floating dtype of the sampled states.

    Returns
    -------
    SampledCheck
        Violation count and rate, worst residual, the worst counterexamples and a
        Clopper-Pearson upper bound on the probability that a uniformly drawn state violates
        the condition. This bound is a statistical statement, not a proof.

    Examples
    --------
    >>> import torch, lyactrl
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=1.9)
    >>> res = lyactrl.check_sampled(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), n_samples=10_000,
    ...                             generator=torch.Generator().manual_seed(0))
    >>> res.status, res.n_violations
    ('holds_on_samples', 0)
    """
    start = time.perf_counter()
    check_condition_region(condition, region)
    if margin is not None:
        condition = condition.replace(margin=margin)
    positive_int(n_samples, "n_samples")
    positive_int(batch_size, "batch_size")
    rtol = as_positive(rtol, name="rtol", allow_zero=True)
    if not 0.0 < float(confidence) < 1.0:
        raise InvalidValueError(f"confidence: expected a number in (0, 1), received {confidence!r}")
    k_keep = positive_int(n_counterexamples, "n_counterexamples", allow_zero=True)
    # at least a few of the worst states are kept to prove a violation, even with k_keep = 0
    n_bad, worst, top_x, top_r = _scan(
        condition, region, n_samples, batch_size, max(k_keep, 4), rtol, generator, dtype
    )
    found = prove_counterexamples(condition, top_x, top_r, region)
    bound = violation_probability_bound(n_bad, n_samples, float(confidence))
    status, message = verdict(found, n_bad) if n_bad else (Status.HOLDS_ON_SAMPLES, "")
    found = found.head(k_keep)
    message = (message + "; " if message else "") + (
        f"statistical, not a proof: with confidence {confidence:g}, a state drawn uniformly "
        f"from the region violates the condition with probability <= {bound:.3g} "
        f"(Clopper-Pearson, {n_bad} violations in {n_samples} samples)"
    )
    return SampledCheck(
        status=status,
        method="sampled",
        seconds=time.perf_counter() - start,
        message=message,
        n_samples=n_samples,
        n_violations=n_bad,
        violation_rate=n_bad / n_samples,
        worst_residual=worst,
        counterexamples=found.states,
        counterexample_residuals=found.residuals,
        counterexamples_proved=found.proved,
        confidence=float(confidence),
        violation_probability_bound=bound,
        region=repr(region),
        margin=float(condition.margin),
        rtol=rtol,
    )


def _scan(condition, region, n_samples, batch_size, k_keep, rtol, generator, dtype):
    """Violation count, worst residual and the ``k_keep`` worst violating states."""
    n_bad, worst, done = 0, -float("inf"), 0
    top_x = torch.empty(0, condition.n_states, dtype=dtype)
    top_r = torch.empty(0, dtype=dtype)
    while done < n_samples:
        b = min(batch_size, n_samples - done)
        x = region.sample(b, generator=generator, dtype=dtype)
        r, bad = violations(condition, x, rtol)
        n_bad += int(bad.sum())
        worst = max(worst, float(r.max()))
        if k_keep and bool(bad.any()):
            top_x, top_r = torch.cat([top_x, x[bad]]), torch.cat([top_r, r[bad]])
            if top_r.shape[0] > k_keep:
                vals, idx = torch.topk(top_r, k_keep)
                top_r, top_x = vals, top_x[idx]
        done += b
    return n_bad, worst, top_x, top_r
