"""State samplers for sampled constraint losses.

Every sampler has ``n_states`` and ``sample(n, *, generator=None, dtype=torch.float64,
device=None) -> (n, n_states)``. Uniform samplers delegate to :mod:`lyactrl.regions`.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any

import torch

from .._api import checked_kwargs, choice
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import as_positive, as_states, as_vector, check_finite, positive_int, to_tensor
from ..conditions import AbstractCondition
from ..regions import AbstractRegion, Ball, Box
from ..systems import SOLVERS, AbstractSystem, simulate
from ..verify import RTOL, Falsification, falsify

__all__ = [
    "AbstractSampler",
    "RegionSampler",
    "BoxSampler",
    "UniformBallSampler",
    "LyaNetBallSampler",
    "GaussianSampler",
    "TrajectorySampler",
    "MixtureSampler",
    "CounterexampleBuffer",
]


class AbstractSampler(abc.ABC):
    """A distribution over states.

    A subclass sets ``n_states`` and implements :meth:`sample`; samplers are passed to
    :class:`ConditionLoss`, :class:`MixtureSampler` and the LyaNet losses.
    """

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
        """``n`` states, shape ``(n, n_states)``."""


def _check_sampler(s: Any, name: str) -> AbstractSampler:
    if not isinstance(s, AbstractSampler):
        raise InvalidArgumentError(
            f"{name}: expected a sampler (e.g. BoxSampler), received {type(s).__name__}"
        )
    return s


class RegionSampler(AbstractSampler):
    """Uniform samples from a region (:class:`~lyactrl.Box`, :class:`~lyactrl.Ball`,
    :class:`~lyactrl.Sublevel`).

    Parameters
    ----------
    region : AbstractRegion
        The region; its ``sample`` draws the states.

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.train import RegionSampler
    >>> s = RegionSampler(lyactrl.Box([0.0], [1.0]))
    >>> s.sample(3, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([3, 1])
    """

    @checked_kwargs
    def __init__(self, region: AbstractRegion) -> None:
        if not isinstance(region, AbstractRegion):
            raise InvalidArgumentError(
                f"region: expected a Box, Ball or Sublevel, received {type(region).__name__}"
            )
        self.region = region
        self.n_states = region.n_states

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        return self.region.sample(n, generator=generator, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return f"RegionSampler({self.region!r})"


class BoxSampler(AbstractSampler):
    """Uniform samples from the box ``[lo, hi]`` (via :class:`~lyactrl.Box`).

    Parameters
    ----------
    lo, hi : array_like, shape (n,)
        Corners, ``lo < hi``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import BoxSampler
    >>> x = BoxSampler([-1.0, 0.0], [1.0, 2.0]).sample(100, generator=torch.Generator().manual_seed(0))
    >>> bool((x[:, 1] >= 0).all() and (x[:, 1] <= 2).all())
    True
    """

    @checked_kwargs
    def __init__(self, lo: Any, hi: Any) -> None:
        self.region = Box(lo, hi)
        self.n_states = self.region.n_states

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        return self.region.sample(n, generator=generator, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return f"BoxSampler(lo={self.region.lo.tolist()}, hi={self.region.hi.tolist()})"


class UniformBallSampler(AbstractSampler):
    """Samples uniform *in volume* on the ball (via :class:`~lyactrl.Ball`).

    The radius of a sample has density ``n r^(n-1) / R^n``: most samples lie near the sphere.

    Parameters
    ----------
    center : array_like, shape (n,)
        The centre.
    radius : float
        The radius (> 0).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import UniformBallSampler
    >>> x = UniformBallSampler([0.0, 0.0], 2.0).sample(50, generator=torch.Generator().manual_seed(0))
    >>> bool((x.norm(dim=1) <= 2.0).all())
    True
    """

    @checked_kwargs
    def __init__(self, center: Any, radius: float) -> None:
        self.region = Ball(center, radius)
        self.n_states = self.region.n_states

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        return self.region.sample(n, generator=generator, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return f"UniformBallSampler(center={self.region.center.tolist()}, radius={self.region.radius:g})"


class LyaNetBallSampler(AbstractSampler):
    """LyaNet's state sampler: a uniform radius in ``[0, radius]`` times a uniform direction.

    Not uniform in volume: the radius itself is uniform, so states concentrate towards the
    centre compared with :class:`UniformBallSampler` (as in the original LyaNet code).

    Parameters
    ----------
    center : array_like, shape (n,)
        Centre of the ball (LyaNet: the origin of the logit space).
    radius : float
        Largest radius (> 0).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import LyaNetBallSampler
    >>> x = LyaNetBallSampler([0.0, 0.0, 0.0], 1.0).sample(4, generator=torch.Generator().manual_seed(0))
    >>> x.shape, bool((x.norm(dim=1) <= 1.0).all())
    (torch.Size([4, 3]), True)
    """

    @checked_kwargs
    def __init__(self, center: Any, radius: float) -> None:
        self.center = as_vector(center, name="center")
        if self.center.shape[0] == 0:
            raise ShapeError("center: expected at least one coordinate, received an empty vector")
        self.radius = as_positive(radius, name="radius")
        self.n_states = self.center.shape[0]
        self._unit = Ball(torch.zeros_like(self.center), 1.0)

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        # the direction of a uniform sample of the unit ball is uniform on the sphere
        u = self._unit.sample(n, generator=generator, dtype=dtype, device=device)
        d = u / u.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        r = self.radius * torch.rand(
            u.shape[0], 1, generator=generator, dtype=dtype, device=d.device
        )
        return self.center.to(d) + r * d

    def __repr__(self) -> str:
        return f"LyaNetBallSampler(center={self.center.tolist()}, radius={self.radius:g})"


class GaussianSampler(AbstractSampler):
    """Samples ``mean + std * N(0, I)``.

    Parameters
    ----------
    mean : array_like, shape (n,)
        The mean.
    std : float or array_like, shape (n,)
        Standard deviation per coordinate (all > 0).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import GaussianSampler
    >>> x = GaussianSampler([1.0, -1.0], 0.1).sample(2000, generator=torch.Generator().manual_seed(0))
    >>> [round(v, 1) for v in x.mean(0).tolist()]
    [1.0, -1.0]
    """

    @checked_kwargs
    def __init__(self, mean: Any, std: Any) -> None:
        self.mean = as_vector(mean, name="mean")
        if self.mean.shape[0] == 0:
            raise ShapeError("mean: expected at least one coordinate, received an empty vector")
        self.n_states = self.mean.shape[0]
        s = check_finite(to_tensor(std, "std", torch.float64), "std")
        if s.ndim == 0:
            s = s.expand(self.n_states).clone()
        if s.shape != (self.n_states,):
            raise ShapeError(
                f"std: expected a scalar or shape ({self.n_states},), received {tuple(s.shape)}"
            )
        if bool((s <= 0).any()):
            raise InvalidValueError(f"std: expected values > 0, received {s.tolist()}")
        self.std = s

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        z = torch.randn(
            positive_int(n, "n"), self.n_states, generator=generator, dtype=dtype, device=device
        )
        return self.mean.to(z) + self.std.to(z) * z

    def __repr__(self) -> str:
        return f"GaussianSampler(mean={self.mean.tolist()}, std={self.std.tolist()})"


class TrajectorySampler(AbstractSampler):
    """States along trajectories of ``system`` started from ``x0_sampler``.

    Each call draws ``ceil(n / len(t))`` initial states, simulates them over ``t`` (without
    gradients) and returns ``n`` of the visited states chosen at random.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system (e.g. the ``NeuralSystem`` being trained).
    x0_sampler : AbstractSampler
        Initial states.
    t : array_like, shape (T,)
        Increasing times (``t[0]`` the start).
    method : str
        A torchdiffeq solver (fixed-step ``"rk4"`` by default, steps at the spacing of ``t``).

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.train import BoxSampler, TrajectorySampler
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    >>> s = TrajectorySampler(sys, BoxSampler([-1.0, -1.0], [1.0, 1.0]), torch.linspace(0, 2, 5))
    >>> s.sample(7, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([7, 2])
    """

    @checked_kwargs
    def __init__(
        self, system: AbstractSystem, x0_sampler: AbstractSampler, t: Any, *, method: str = "rk4"
    ) -> None:
        if not isinstance(system, AbstractSystem):
            raise InvalidArgumentError(
                f"system: expected a lyactrl system, received {type(system).__name__}"
            )
        self.x0_sampler = _check_sampler(x0_sampler, "x0_sampler")
        if x0_sampler.n_states != system.n_states:
            raise ShapeError(
                f"x0_sampler: expected states of dimension {system.n_states} to match the "
                f"system, received {x0_sampler.n_states}"
            )
        tt = check_finite(to_tensor(t, "t", torch.float64), "t")
        if tt.ndim != 1 or tt.shape[0] < 2 or not bool((tt[1:] > tt[:-1]).all()):
            raise InvalidValueError(
                f"t: expected at least 2 strictly increasing times, received shape {tuple(tt.shape)}"
            )
        self.system = system
        self.t = tt
        self.method = choice(method, "method", SOLVERS)
        self.n_states = system.n_states

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        n = positive_int(n, "n")
        m = math.ceil(n / self.t.shape[0])
        x0 = self.x0_sampler.sample(m, generator=generator, dtype=dtype, device=device)
        with torch.no_grad():
            traj = simulate(self.system, x0, self.t.to(dtype), method=self.method)
        pool = traj.x.reshape(-1, self.n_states)
        idx = torch.randperm(pool.shape[0], generator=generator, device="cpu")[:n]
        return pool[idx.to(pool.device)].detach()

    def __repr__(self) -> str:
        return f"TrajectorySampler({self.system!r}, {self.x0_sampler!r}, T={self.t.shape[0]})"


def _split_counts(n: int, weights: torch.Tensor) -> list[int]:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainder)."""
    raw = weights / weights.sum() * n
    counts = raw.floor().long()
    rest = n - int(counts.sum())
    if rest:
        order = torch.argsort(raw - counts, descending=True, stable=True)
        counts[order[:rest]] += 1
    return counts.tolist()


class MixtureSampler(AbstractSampler):
    """A deterministic mixture: ``n`` is split over the components in proportion to
    ``weights`` (largest remainder), and the parts are concatenated in order.

    Parameters
    ----------
    samplers : sequence of AbstractSampler
        The components, all of the same dimension.
    weights : array_like, optional
        Non-negative shares (equal by default).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import BoxSampler, GaussianSampler, MixtureSampler
    >>> mix = MixtureSampler([BoxSampler([-1.0], [1.0]), GaussianSampler([0.0], 0.1)], weights=[3, 1])
    >>> mix.sample(8, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([8, 1])
    """

    @checked_kwargs
    def __init__(self, samplers: Sequence[AbstractSampler], *, weights: Any = None) -> None:
        comps = list(samplers) if isinstance(samplers, (list, tuple)) else None
        if not comps:
            raise InvalidArgumentError(
                f"samplers: expected a non-empty list of samplers, received {samplers!r}"
            )
        for i, s in enumerate(comps):
            _check_sampler(s, f"samplers[{i}]")
            if s.n_states != comps[0].n_states:
                raise ShapeError(
                    f"samplers[{i}]: expected {comps[0].n_states} states like samplers[0], "
                    f"received {s.n_states}"
                )
        w = (
            torch.ones(len(comps), dtype=torch.float64)
            if weights is None
            else as_vector(weights, len(comps), name="weights")
        )
        if bool((w < 0).any()) or float(w.sum()) <= 0:
            raise InvalidValueError(
                f"weights: expected non-negative weights with a positive sum, received {w.tolist()}"
            )
        self.samplers = comps
        self.weights = w
        self.n_states = comps[0].n_states

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        parts = [
            s.sample(k, generator=generator, dtype=dtype, device=device)
            for s, k in zip(
                self.samplers, _split_counts(positive_int(n, "n"), self.weights), strict=True
            )
            if k > 0
        ]
        return torch.cat(parts)

    def __repr__(self) -> str:
        return f"MixtureSampler({self.samplers!r}, weights={self.weights.tolist()})"


class CounterexampleBuffer(AbstractSampler):
    """Counterexample-guided sampling: falsify's counterexamples mixed into a base sampler.

    :meth:`refresh` runs :func:`~lyactrl.falsify` and appends the counterexamples it finds
    (first in, first out, the newest ``capacity`` kept). :meth:`sample` then returns
    ``round(fraction * n)`` states drawn with replacement from the buffer (optionally jittered
    by Gaussian noise of scale ``jitter``) followed by the rest from ``base``; with an empty
    buffer every state comes from ``base``.

    Parameters
    ----------
    capacity : int
        Most counterexamples kept.
    base : AbstractSampler
        Sampler for the remaining states.
    fraction : float
        Share of each sample taken from the buffer, in [0, 1].
    jitter : float
        Standard deviation of the noise added to buffered states (0: none).

    Examples
    --------
    >>> import torch, lyactrl
    >>> from lyactrl.train import BoxSampler, CounterexampleBuffer
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2)), rate=2.1)
    >>> buf = CounterexampleBuffer(64, base=BoxSampler([-1.0, -1.0], [1.0, 1.0]))
    >>> g = torch.Generator().manual_seed(0)
    >>> buf.refresh(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), generator=g).status
    'falsified'
    >>> len(buf) > 0, buf.sample(10, generator=g).shape
    (True, torch.Size([10, 2]))
    """

    @checked_kwargs
    def __init__(
        self, capacity: int, *, base: AbstractSampler, fraction: float = 0.5, jitter: float = 0.0
    ) -> None:
        self.capacity = positive_int(capacity, "capacity")
        self.base = _check_sampler(base, "base")
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float))
            or not 0.0 <= fraction <= 1.0
        ):
            raise InvalidValueError(f"fraction: expected a number in [0, 1], received {fraction!r}")
        self.fraction = float(fraction)
        self.jitter = as_positive(jitter, name="jitter", allow_zero=True)
        self.n_states = base.n_states
        self.states = torch.empty(0, self.n_states, dtype=torch.float64)

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def add(self, x: Any) -> None:
        """Append states (``(k, n_states)``), keeping the newest ``capacity``."""
        xt = as_states(x, self.n_states, name="x", dtype=torch.float64).detach().cpu()
        self.states = torch.cat([self.states, xt])[-self.capacity :]

    @checked_kwargs
    def refresh(
        self,
        condition: AbstractCondition,
        region: AbstractRegion,
        *,
        generator: torch.Generator | None = None,
        n_starts: int = 512,
        steps: int = 200,
        step_size: float | None = None,
        rtol: float = RTOL,
    ) -> Falsification:
        """Run :func:`~lyactrl.falsify` on ``condition`` over ``region`` and add its
        counterexamples (up to the capacity); returns the falsification result.

        The keyword options are :func:`~lyactrl.falsify`'s.
        """
        res = falsify(
            condition,
            region,
            generator=generator,
            n_starts=n_starts,
            steps=steps,
            step_size=step_size,
            rtol=rtol,
            n_counterexamples=self.capacity,
        )
        if res.counterexamples.shape[0]:
            self.add(res.counterexamples)
        return res

    @checked_kwargs
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):  # noqa: D102
        n = positive_int(n, "n")
        k = min(n, round(self.fraction * n)) if len(self) else 0
        parts = []
        if k:
            idx = torch.randint(len(self), (k,), generator=generator)
            x = self.states[idx].to(dtype)
            if self.jitter:
                x = x + self.jitter * torch.randn(x.shape, generator=generator, dtype=dtype)
            parts.append(x.to(device) if device is not None else x)
        if n - k:
            parts.append(self.base.sample(n - k, generator=generator, dtype=dtype, device=device))
        return torch.cat(parts)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The buffered states, for checkpoints."""
        return {"states": self.states.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the buffered states saved by :meth:`state_dict`."""
        self.states = torch.empty(0, self.n_states, dtype=torch.float64)
        if state["states"].numel():
            self.add(state["states"])

    def __repr__(self) -> str:
        return f"CounterexampleBuffer({len(self)}/{self.capacity}, base={self.base!r}, fraction={self.fraction:g})"
