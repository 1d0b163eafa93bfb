"""A sound tube around a numerically integrated trajectory (derivation in
``docs/robustness.md``, section 3).

Let ``p(t)`` be the piecewise-linear interpolant of computed points ``p_0, ..., p_N`` of
``eta' = f(eta)`` (any solver: the points are only a guess) and ``eta(t)`` a trajectory of a
perturbed flow ``f'`` with ``||f' - f||_2 <= delta`` everywhere and ``eta(0) = p(0)``. On segment
``k`` the *defect* ``||p' - f(p)||_2 <= D_k`` is bounded soundly from :func:`bound_system` on the
segment's box, and ``mu_j`` bounds the logarithmic norm of ``df/deta`` on chunk ``j``'s box
widened by ``m`` (the largest eigenvalue of the symmetric part of the Jacobian enclosure). While
``||eta - p||_2 <= m``, the deviation ``w = ||eta - p||_2`` obeys ``w' <= mu_j w + D_k + delta``,
so ``w(t_k) <= a_k + b_k delta`` with

    a_(k+1) = a_k e^(mu h) + D_k phi,  b_(k+1) = b_k e^(mu h) + phi,  phi = (e^(mu h) - 1) / mu,

and ``w`` is monotone on each segment. If ``a_k + b_k delta < m`` at every node, the perturbed
trajectory never reaches the tube's boundary: at every time of chunk ``j`` it lies in chunk
``j``'s box. Nothing about the solver's error is assumed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import as_positive, positive_int
from ..bounds import bound_system
from ..bounds.jets import EPS, Jet, symmetric_upper_eig, system_jet
from ..systems import AbstractSystem

__all__ = ["Tube", "enclose_tube", "enclose_tubes"]

#: Relative inflation of every step of the recursion (each of its few float64 operations
#: rounds by at most ``EPS``).
_STEP_ROUNDING = 1.0 + 16 * EPS


@dataclasses.dataclass(frozen=True)
class Tube:
    """A proved tube of radius ``m`` (2-norm) around a computed trajectory.

    Attributes
    ----------
    m : float
        The tube radius.
    boxes : list of (torch.Tensor, torch.Tensor)
        One box per chunk: the chunk's segments widened by ``m`` (in every coordinate).
    chunk_times : torch.Tensor
        ``(n_chunks + 1,)`` start and end times of the chunks.
    a, b : torch.Tensor
        ``(N + 1,)``: ``||eta(t_k) - p(t_k)||_2 <= a_k + b_k delta`` while the perturbed
        trajectory stays in the tube.
    log_norm : torch.Tensor
        ``(n_chunks,)`` upper bounds of the logarithmic norm of ``df/deta`` on the boxes.
    defect : float
        The largest segment defect bound ``D_k``.
    """

    m: float
    boxes: list[tuple[torch.Tensor, torch.Tensor]]
    chunk_times: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    log_norm: torch.Tensor
    defect: float

    def delta_max(self) -> float:
        """The largest perturbation ``delta`` (exclusive) that keeps the trajectory inside."""
        if not bool(torch.isfinite(self.a).all()) or bool((self.a[1:] >= self.m).any()):
            return 0.0
        return max(0.0, float(((self.m - self.a[1:]) / self.b[1:]).min()) * (1 - 1e-9))

    def delta_for_margin(self, margin: float) -> float:
        """The largest ``delta`` (exclusive) with ``||eta(T) - p(T)||_2 < margin`` proved."""
        a, b = float(self.a[-1]), float(self.b[-1])
        if not math.isfinite(a) or a >= margin:
            return 0.0
        return min(self.delta_max(), (margin - a) / b * (1 - 1e-9))


def _phi(mu: float, h: float) -> float:
    return h if abs(mu * h) < 1e-12 else math.expm1(mu * h) / mu


@checked_kwargs
def enclose_tube(
    system: AbstractSystem,
    times: torch.Tensor,
    points: torch.Tensor,
    *,
    m: float,
    n_chunks: int = 8,
) -> Tube:
    """The proved tube of radius ``m`` around computed points of ``system``'s trajectory.

    Parameters
    ----------
    system : AbstractSystem
        An ordinary system the bounds support (for a LyaNet classifier, the flow bound to one
        input's context: :meth:`LyaNetClassifier.system_for`).
    times : torch.Tensor
        ``(N + 1,)`` increasing times, from the start of the trajectory.
    points : torch.Tensor
        ``(N + 1, n)`` computed states at ``times`` (any solver; only a guess). The perturbed
        trajectories the tube speaks of start at ``points[0]``.
    m : float
        The tube radius (2-norm).
    n_chunks : int
        Consecutive groups of segments, one box (and one log-norm bound) each.

    Returns
    -------
    Tube
        With the chunk boxes and the deviation bound ``a + b delta`` at every node.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.robust import enclose_tube
    >>> system = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    >>> t = torch.linspace(0.0, 1.0, 257, dtype=torch.float64)
    >>> p = torch.exp(-t).unsqueeze(1) * torch.tensor([1.0, 1.0], dtype=torch.float64)
    >>> tube = enclose_tube(system, t, p, m=0.1, n_chunks=4)
    >>> [round(float(mu), 6) for mu in tube.log_norm]  # the symmetric part is -I
    [-1.0, -1.0, -1.0, -1.0]
    >>> round(tube.delta_max(), 3)  # b(T) = 1 - e^(-1): delta < 0.1 / 0.632
    0.157
    """
    if not isinstance(system, AbstractSystem):
        raise InvalidArgumentError(
            f"system: expected a lyactrl system, received {type(system).__name__}"
        )
    m = as_positive(m, name="m")
    n_chunks = positive_int(n_chunks, "n_chunks")
    times, points = torch.as_tensor(times), torch.as_tensor(points)
    if times.ndim != 1 or points.shape != (times.shape[0], system.n_states) or times.shape[0] < 2:
        raise ShapeError(
            f"points: expected shape (len(times), {system.n_states}) with len(times) >= 2, "
            f"received times {tuple(times.shape)} and points {tuple(points.shape)}"
        )
    if not bool((times[1:] > times[:-1]).all()):
        raise InvalidValueError("times: expected strictly increasing times, received others")
    return enclose_tubes(system, times, points, (m,), n_chunks)[0]


def enclose_tubes(
    system: AbstractSystem,
    times: torch.Tensor,
    points: torch.Tensor,
    margins: Sequence[float],
    n_chunks: int,
) -> list[Tube]:
    """:func:`enclose_tube` for several radii at once (inputs already checked): the segment
    defects, which do not depend on ``m``, are bounded once, and the Jacobians of every
    radius's chunk boxes in one batch."""
    times = times.to(torch.float64)
    points = points.to(torch.float64)
    seg_lo = torch.minimum(points[:-1], points[1:])
    seg_hi = torch.maximum(points[:-1], points[1:])
    h = times[1:] - times[:-1]
    f = bound_system(system, seg_lo, seg_hi)
    slope = (points[1:] - points[:-1]) / h.unsqueeze(1)
    # the slope's own rounding: a few ulps of its size (h is a float of the grid)
    err = 8 * EPS * (slope.abs() + (points[1:].abs() + points[:-1].abs()) / h.unsqueeze(1))
    dev = torch.maximum(slope - f.lower, f.upper - slope) + err
    defect = torch.linalg.vector_norm(dev, dim=1) * _STEP_ROUNDING
    chunks = torch.tensor_split(torch.arange(h.shape[0]), n_chunks)
    chunks = [c for c in chunks if c.numel()]
    inf = torch.tensor(math.inf, dtype=torch.float64)
    core_lo = torch.stack([seg_lo[c].min(0).values for c in chunks])
    core_hi = torch.stack([seg_hi[c].max(0).values for c in chunks])
    lo = torch.cat([torch.nextafter(core_lo - m, -inf) for m in margins])
    hi = torch.cat([torch.nextafter(core_hi + m, inf) for m in margins])
    J = system_jet(system, Jet.variables(lo, hi, 1)).d
    assert J is not None
    sym_lo = 0.5 * (J[0] + J[0].transpose(-1, -2))
    sym_hi = 0.5 * (J[1] + J[1].transpose(-1, -2))
    n = J[0].shape[-1]
    mu = symmetric_upper_eig(sym_lo, sym_hi) + 4 * n * EPS * (sym_lo.abs() + sym_hi.abs()).amax(
        (-1, -2)
    )
    bounds = torch.tensor([float(times[c[0]]) for c in chunks] + [float(times[-1])])
    k = len(chunks)
    tubes = []
    for i, m in enumerate(margins):
        part = slice(i * k, (i + 1) * k)
        a, b = _deviation(mu[part], chunks, h, defect)
        tubes.append(
            Tube(
                m=m,
                boxes=list(zip(lo[part], hi[part], strict=True)),
                chunk_times=bounds.to(torch.float64),
                a=a,
                b=b,
                log_norm=mu[part],
                defect=float(defect.max()),
            )
        )
    return tubes


def _deviation(
    mu: torch.Tensor, chunks: list[torch.Tensor], h: torch.Tensor, defect: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``a, b`` of the deviation bound at every node (the recursion of the module notes, each
    step rounded up)."""
    a = [0.0]
    b = [0.0]
    for j, c in enumerate(chunks):
        mu_j = float(mu[j])
        for k in c.tolist():
            hk = float(h[k])
            grow, phi = math.exp(mu_j * hk) * _STEP_ROUNDING, _phi(mu_j, hk) * _STEP_ROUNDING
            a.append((a[-1] * grow + float(defect[k]) * phi) * _STEP_ROUNDING)
            b.append((b[-1] * grow + phi) * _STEP_ROUNDING)
    return torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
