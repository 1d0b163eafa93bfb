"""Regions of the state space: boxes, balls, sublevel sets and level bands, with samplers."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import torch

from ._api import checked_kwargs
from ._errors import InvalidArgumentError, InvalidValueError, ShapeError
from ._tensors import as_positive, as_states, as_vector, positive_int
from .lyapunov import AbstractCandidate

__all__ = ["AbstractRegion", "Box", "Ball", "Sublevel", "Band"]


class AbstractRegion(abc.ABC):
    """A subset of the state space that can be sampled and tested for membership."""

    n_states: int

    @abc.abstractmethod
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``n`` states drawn uniformly from the region, shape ``(n, n_states)``."""

    @abc.abstractmethod
    def contains(self, x: Any) -> torch.Tensor:
        """Boolean mask ``(batch,)``: which states lie in the region."""

    @abc.abstractmethod
    def project(self, x: torch.Tensor) -> torch.Tensor:
        """A point of the enclosing box or ball near each state (exact projection for
        :class:`Box` and :class:`Ball`); membership is then checked with :meth:`contains`."""

    @abc.abstractmethod
    def bounding_box(self) -> Box:
        """The smallest axis-aligned box around the region (or an enclosing one)."""


class Box(AbstractRegion):
    """The box ``{x : lo <= x <= hi}``.

    Parameters
    ----------
    lo, hi : array_like, shape (n,)
        Corners, with ``lo < hi`` in every coordinate.

    Examples
    --------
    >>> import torch, lyactrl
    >>> box = lyactrl.Box([-1.0, -2.0], [1.0, 2.0])
    >>> box.sample(4, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 2])
    >>> box.contains([[0.0, 0.0], [3.0, 0.0]]).tolist()
    [True, False]
    """

    @checked_kwargs
    def __init__(self, lo: Any, hi: Any) -> None:
        self.lo = as_vector(lo, name="lo")
        self.hi = as_vector(hi, self.lo.shape[0], name="hi")
        if self.lo.shape[0] == 0:
            raise ShapeError("lo: expected at least one coordinate, received an empty vector")
        bad = (self.lo >= self.hi).nonzero().flatten().tolist()
        if bad:
            i = bad[0]
            raise InvalidValueError(
                f"hi: expected lo < hi in every coordinate, received lo[{i}] = "
                f"{float(self.lo[i])} >= hi[{i}] = {float(self.hi[i])} (an empty or inverted box)"
            )
        self.n_states = self.lo.shape[0]

    @classmethod
    def symmetric(cls, half_widths: Any) -> Box:
        """The box ``[-h, h]`` for half-widths ``h``."""
        h = as_vector(half_widths, name="half_widths")
        return cls(-h, h)

    @property
    def center(self) -> torch.Tensor:
        return 0.5 * (self.lo + self.hi)

    @property
    def volume(self) -> float:
        return float(torch.prod(self.hi - self.lo))

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        u = torch.rand(
            positive_int(n, "n"), self.n_states, generator=generator, dtype=dtype, device=device
        )
        lo = self.lo.to(dtype=dtype, device=u.device)
        return lo + (self.hi.to(dtype=dtype, device=u.device) - lo) * u

    def contains(self, x: Any) -> torch.Tensor:  # noqa: D102
        xt = as_states(x, self.n_states, name="x")
        lo, hi = self.lo.to(xt), self.hi.to(xt)
        return ((xt >= lo) & (xt <= hi)).all(-1)

    def project(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.maximum(torch.minimum(x, self.hi.to(x)), self.lo.to(x))

    def bounding_box(self) -> Box:  # noqa: D102
        return self

    def __repr__(self) -> str:
        return f"Box(lo={self.lo.tolist()}, hi={self.hi.tolist()})"


class Ball(AbstractRegion):
    """The Euclidean ball ``{x : ||x - center|| <= radius}``.

    Parameters
    ----------
    center : array_like, shape (n,)
        The centre.
    radius : float
        The radius (> 0).

    Examples
    --------
    >>> import torch, lyactrl
    >>> ball = lyactrl.Ball([0.0, 0.0], 1.0)
    >>> bool(ball.contains(ball.sample(100, generator=torch.Generator().manual_seed(0))).all())
    True
    """

    @checked_kwargs
    def __init__(self, center: Any, radius: float) -> None:
        self.center = as_vector(center, name="center")
        if self.center.shape[0] == 0:
            raise ShapeError("center: expected at least one coordinate, received an empty vector")
        self.radius = as_positive(radius, name="radius")
        self.n_states = self.center.shape[0]

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        n = positive_int(n, "n")
        d = torch.randn(n, self.n_states, generator=generator, dtype=dtype, device=device)
        d = d / d.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        r = torch.rand(n, 1, generator=generator, dtype=dtype, device=d.device)
        r = self.radius * r ** (1.0 / self.n_states)
        return self.center.to(d) + r * d

    def contains(self, x: Any) -> torch.Tensor:  # noqa: D102
        xt = as_states(x, self.n_states, name="x")
        return (xt - self.center.to(xt)).norm(dim=-1) <= self.radius

    def project(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        c = self.center.to(x)
        d = x - c
        norm = d.norm(dim=-1, keepdim=True)
        scale = torch.clamp(self.radius / norm.clamp_min(torch.finfo(x.dtype).tiny), max=1.0)
        return c + d * scale

    def bounding_box(self) -> Box:  # noqa: D102
        return Box(self.center - self.radius, self.center + self.radius)

    def __repr__(self) -> str:
        return f"Ball(center={self.center.tolist()}, radius={self.radius:g})"


class Sublevel(AbstractRegion):
    """The sublevel set ``{x in within : V(x) <= c}``.

    Parameters
    ----------
    V : AbstractCandidate
        The function whose sublevel set this is.
    c : float
        The level (> 0).
    within : Box or Ball
        A region that bounds the set (sampling is by rejection from it).

    Examples
    --------
    >>> import torch, lyactrl
    >>> V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    >>> S = lyactrl.Sublevel(V, 1.0, within=lyactrl.Box([-2.0, -2.0], [2.0, 2.0]))
    >>> S.contains([[0.5, 0.5], [1.0, 1.0]]).tolist()
    [True, False]
    """

    @checked_kwargs
    def __init__(self, V: AbstractCandidate, c: float, *, within: AbstractRegion) -> None:
        if not isinstance(V, AbstractCandidate):
            raise InvalidArgumentError(
                f"V: expected a Lyapunov candidate, received {type(V).__name__}"
            )
        if not isinstance(within, AbstractRegion):
            raise InvalidArgumentError(
                f"within: expected a Box or Ball, received {type(within).__name__}"
            )
        if V.n_states is not None and V.n_states != within.n_states:
            raise ShapeError(
                f"within: expected a region on {V.n_states} states to match V, received "
                f"{within.n_states}"
            )
        self.V = V
        self.c = as_positive(c, name="c")
        self.within = within
        self.n_states = within.n_states

    def _inside(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.V.value(x) <= self.c

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        return _rejection_sample(
            self.within,
            self._inside,
            positive_int(n, "n"),
            generator,
            dtype,
            device,
            lambda have, drawn: (
                f"c: the sublevel set {{V <= {self.c:g}}} holds only {have} of {drawn} "
                f"states drawn from {self.within!r}; expected a set of positive volume. "
                "Raise c or shrink within."
            ),
        )

    def contains(self, x: Any) -> torch.Tensor:  # noqa: D102
        xt = as_states(x, self.n_states, name="x")
        return self.within.contains(xt) & self._inside(xt)

    def project(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.within.project(x)

    def bounding_box(self) -> Box:  # noqa: D102
        return self.within.bounding_box()

    def __repr__(self) -> str:
        return f"Sublevel({self.V!r}, c={self.c:g}, within={self.within!r})"


class Band(AbstractRegion):
    """The level band ``{x in within : c1 <= V(x) <= c2}``.

    The region of a decrease condition stated between two level sets (see
    :class:`~lyactrl.Decrease`). The branch and bound discards a box when the sound enclosure
    of ``V`` on it misses ``[c1, c2]``; a counterexample counts only when the enclosure of
    ``V`` at the point lies inside ``[c1, c2]`` (proved membership), besides its residual.

    Parameters
    ----------
    V : AbstractCandidate
        The function whose levels bound the band.
    c1, c2 : float
        The levels, ``c1 < c2`` (any sign).
    within : Box or Ball
        A region that bounds the set (sampling is by rejection from it).

    Examples
    --------
    >>> import torch, lyactrl
    >>> V = lyactrl.Quadratic(torch.eye(2, dtype=torch.float64))
    >>> A = lyactrl.Band(V, 0.25, 1.0, within=lyactrl.Box([-2.0, -2.0], [2.0, 2.0]))
    >>> A.contains([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]).tolist()
    [False, True, False]
    """

    @checked_kwargs
    def __init__(
        self, V: AbstractCandidate, c1: float, c2: float, *, within: AbstractRegion
    ) -> None:
        if not isinstance(V, AbstractCandidate):
            raise InvalidArgumentError(
                f"V: expected a Lyapunov candidate, received {type(V).__name__}"
            )
        if not isinstance(within, AbstractRegion):
            raise InvalidArgumentError(
                f"within: expected a Box or Ball, received {type(within).__name__}"
            )
        if V.n_states is not None and V.n_states != within.n_states:
            raise ShapeError(
                f"within: expected a region on {V.n_states} states to match V, received "
                f"{within.n_states}"
            )
        lo, hi = _finite(c1, "c1"), _finite(c2, "c2")
        if not lo < hi:
            raise InvalidValueError(f"c2: expected c1 < c2, received c1 = {lo:g}, c2 = {hi:g}")
        self.V = V
        self.c1, self.c2 = lo, hi
        self.within = within
        self.n_states = within.n_states

    def _inside(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            v = self.V.value(x)
        return (v >= self.c1) & (v <= self.c2)

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        return _rejection_sample(
            self.within,
            self._inside,
            positive_int(n, "n"),
            generator,
            dtype,
            device,
            lambda have, drawn: (
                f"c1: the band {{{self.c1:g} <= V <= {self.c2:g}}} holds only {have} of "
                f"{drawn} states drawn from {self.within!r}; expected a set of positive "
                "volume. Widen the band or shrink within."
            ),
        )

    def contains(self, x: Any) -> torch.Tensor:  # noqa: D102
        xt = as_states(x, self.n_states, name="x")
        return self.within.contains(xt) & self._inside(xt)

    def project(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.within.project(x)

    def bounding_box(self) -> Box:  # noqa: D102
        return self.within.bounding_box()

    def __repr__(self) -> str:
        return f"Band({self.V!r}, c1={self.c1:g}, c2={self.c2:g}, within={self.within!r})"


def _rejection_sample(
    within: AbstractRegion,
    inside: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    generator: Any,
    dtype: torch.dtype,
    device: Any,
    empty: Callable[[int, int], str],
) -> torch.Tensor:
    """``n`` states of ``within`` where ``inside`` holds, by rejection; ``empty(have, drawn)``
    is the error message when the set holds (almost) none of the states drawn."""
    chunks: list[torch.Tensor] = []
    have, drawn = 0, 0
    while have < n:
        batch = max(1024, 2 * (n - have))
        cand = within.sample(batch, generator=generator, dtype=dtype, device=device)
        keep = cand[inside(cand)]
        chunks.append(keep)
        have += keep.shape[0]
        drawn += batch
        if drawn >= 1000 * n + 100_000 and have < n:
            raise InvalidValueError(empty(have, drawn))
    return torch.cat(chunks)[:n]


def _finite(c: Any, name: str) -> float:
    try:
        v = float(c)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name}: expected a real number, received {c!r}") from exc
    if v != v or v in (float("inf"), float("-inf")):
        raise InvalidValueError(f"{name}: expected a finite level, received {v}")
    return v
