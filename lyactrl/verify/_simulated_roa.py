"""The region of attraction estimated by simulation on a grid, and volume ratios against it."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, ShapeError
from .._progress import progress_bar
from .._results import ResultMixin, Status
from .._tensors import as_positive, positive_int
from ..regions import AbstractRegion, Box
from ..systems import AbstractSystem, simulate

__all__ = ["SimulatedROA", "simulated_region_of_attraction", "volume_ratio", "grid_points"]


@dataclasses.dataclass(frozen=True)
class SimulatedROA(ResultMixin):
    """The result of :func:`simulated_region_of_attraction`.

    A numerical estimate, not a proof: ``mask[i]`` says that the trajectory from
    ``points[i]``, integrated with fixed-step RK4 (step ``step``) up to ``t_final``, stayed
    finite and ended within ``tol`` of ``x_eq``. Points are cell centres of a regular grid, so
    ``fraction`` estimates the share of the box's volume in the region of attraction.
    """

    status: Status
    method: str
    seconds: float
    message: str
    points: torch.Tensor
    mask: torch.Tensor
    fraction: float
    n_points: int
    n_converged: int
    grid_shape: tuple[int, ...]
    domain: str
    t_final: float
    step: float
    tol: float

    def __str__(self) -> str:
        return (
            f"simulated region of attraction: {self.n_converged}/{self.n_points} grid points "
            f"converge ({100 * self.fraction:.2f} % of {self.domain})"
        )


@checked_kwargs
def grid_points(domain: Box, grid: int | Sequence[int]) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Cell centres of a regular grid on ``domain``: ``(prod(shape), n)`` float64 and the shape.

    Parameters
    ----------
    domain : Box
        The box to cover.
    grid : int or sequence of int
        Cells per dimension (one count for all, or one per state).

    Returns
    -------
    (torch.Tensor, tuple of int)
        The centres in C order (the last state varies fastest) and the grid shape.

    Examples
    --------
    >>> import lyactrl
    >>> from lyactrl.verify import grid_points
    >>> pts, shape = grid_points(lyactrl.Box([0.0], [1.0]), 4)
    >>> pts.flatten().tolist(), shape
    ([0.125, 0.375, 0.625, 0.875], (4,))
    """
    n = domain.n_states
    counts = [grid] * n if isinstance(grid, int) else list(grid)
    if len(counts) != n:
        raise ShapeError(f"grid: expected an int or {n} ints, received {grid!r}")
    counts = [positive_int(c, "grid") for c in counts]
    axes = [
        float(lo) + (float(hi) - float(lo)) * (torch.arange(k, dtype=torch.float64) + 0.5) / k
        for lo, hi, k in zip(domain.lo, domain.hi, counts, strict=True)
    ]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1), tuple(counts)


@checked_kwargs
def simulated_region_of_attraction(
    system: AbstractSystem,
    domain: Box,
    *,
    grid: int | Sequence[int] = 101,
    t_final: float = 20.0,
    step: float = 0.01,
    tol: float = 1e-2,
    batch_size: int = 16_384,
    progress: bool | None = None,
) -> SimulatedROA:
    """Estimate the region of attraction of ``system.x_eq`` inside ``domain`` by simulation.

    Every cell centre of a regular grid on ``domain`` is integrated forward, all at once (in
    batches of ``batch_size``), with torchdiffeq's fixed-step RK4; a point counts as converging
    when its final state is finite and within ``tol`` of ``x_eq``. Trajectories that blow up
    become non-finite and count as diverging. Too short a ``t_final`` under-counts points near
    the boundary of the region (slow convergence); too large a ``step`` can make RK4 unstable.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system.
    domain : Box
        Where to sample.
    grid : int or sequence of int
        Points per axis.
    t_final : float
        Integration horizon.
    step : float
        RK4 step.
    tol : float
        Convergence radius around ``x_eq`` (Euclidean).
    batch_size : int
        Points integrated together.
    progress : bool or None
        A progress bar of the points integrated, on standard error (``None``: when it is a
        terminal).

    Returns
    -------
    SimulatedROA
        ``points``, ``mask`` and ``fraction``.

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.SymbolicSystem(["-x + x**3"], "x")        # region of attraction (-1, 1)
    >>> roa = lyactrl.simulated_region_of_attraction(sys, lyactrl.Box([-2.0], [2.0]), grid=40)
    >>> roa.fraction
    0.5
    """
    start = time.perf_counter()
    if not isinstance(system, AbstractSystem):
        raise InvalidArgumentError(
            f"system: expected a lyactrl system, received {type(system).__name__}"
        )
    if not isinstance(domain, Box):
        raise InvalidArgumentError(f"domain: expected a Box, received {type(domain).__name__}")
    if domain.n_states != system.n_states:
        raise ShapeError(
            f"domain: expected a Box on {system.n_states} states, received {domain.n_states}"
        )
    t_final = as_positive(t_final, name="t_final")
    step = as_positive(step, name="step")
    tol = as_positive(tol, name="tol")
    batch_size = positive_int(batch_size, "batch_size")
    points, shape = grid_points(domain, grid)
    n_steps = max(1, math.ceil(t_final / step))
    times = torch.tensor([0.0, n_steps * step], dtype=torch.float64)
    x_eq = system.x_eq.to(torch.float64)
    masks = []
    bar = progress_bar(progress, desc="simulated region", total=points.shape[0], unit="pt")
    with torch.no_grad(), bar:
        for chunk in points.split(batch_size):
            final = simulate(system, chunk, times, method="rk4", step_size=step).final
            dist = (final - x_eq).norm(dim=1)
            masks.append(torch.isfinite(final).all(dim=1) & (dist < tol))
            bar.update(chunk.shape[0])
    mask = torch.cat(masks)
    n_conv = int(mask.sum())
    return SimulatedROA(
        status=Status.ESTIMATED,
        method="simulation-rk4",
        seconds=time.perf_counter() - start,
        message=(
            f"numerical estimate, not a proof: RK4 with step {step:g} to t = {n_steps * step:g}; "
            f"converged means finite and within {tol:g} of x_eq at the final time"
        ),
        points=points,
        mask=mask,
        fraction=n_conv / points.shape[0],
        n_points=points.shape[0],
        n_converged=n_conv,
        grid_shape=shape,
        domain=repr(domain),
        t_final=n_steps * step,
        step=step,
        tol=tol,
    )


@checked_kwargs
def volume_ratio(certified: Any, simulated: SimulatedROA) -> float:
    """Grid points inside the certified set / grid points inside the simulated region.

    Parameters
    ----------
    certified : AbstractRegion or bool tensor
        The certified set (e.g. ``Sublevel(V, level, within=domain)``), or its mask on
        ``simulated.points``.
    simulated : SimulatedROA
        From :func:`simulated_region_of_attraction`.

    Returns
    -------
    float
        The ratio (the yardstick of SYSTEMS.md). A warning is issued when certified points lie
        outside the simulated region (an unsound certificate or too strict a simulation).

    Examples
    --------
    >>> import lyactrl
    >>> sys = lyactrl.SymbolicSystem(["-x + x**3"], "x")
    >>> roa = lyactrl.simulated_region_of_attraction(sys, lyactrl.Box([-2.0], [2.0]), grid=40)
    >>> lyactrl.volume_ratio(lyactrl.Box([-0.5], [0.5]), roa)
    0.5
    """
    if not isinstance(simulated, SimulatedROA):
        raise InvalidArgumentError(
            f"simulated: expected a SimulatedROA, received {type(simulated).__name__}"
        )
    if isinstance(certified, AbstractRegion):
        mask = certified.contains(simulated.points)
    elif isinstance(certified, torch.Tensor) and certified.dtype == torch.bool:
        mask = certified
    else:
        raise InvalidArgumentError(
            f"certified: expected a region or a bool mask, received {type(certified).__name__}"
        )
    if mask.shape != simulated.mask.shape:
        raise ShapeError(
            f"certified: expected a mask of shape {tuple(simulated.mask.shape)}, received "
            f"{tuple(mask.shape)}"
        )
    outside = int((mask & ~simulated.mask).sum())
    if outside:
        warnings.warn(
            f"{outside} certified grid points did not converge in the simulation",
            stacklevel=2,
        )
    if simulated.n_converged == 0:
        return float("nan")
    return int(mask.sum()) / simulated.n_converged
