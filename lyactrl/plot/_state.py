"""Phase portraits and residual maps (re-exported by :mod:`lyactrl.plot`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import as_positive, positive_int, to_numpy
from ..conditions import AbstractCondition
from ..lyapunov import AbstractCandidate
from ..regions import AbstractRegion, Box
from ..systems import AbstractSystem, check_autonomous
from ._base import (
    CERTIFIED_COLOR,
    COUNTER_COLOR,
    LEVELS_COLOR,
    TRAJECTORY_COLOR,
    axis_labels,
    check_plane,
    contour_levels,
    counterexample_states,
    evaluate_chunked,
    finish_figure,
    grid_points,
    initial_states,
    mpl_module,
    outline_region,
    simulate_clipped,
    target_axes,
)

__all__ = ["phase_portrait", "residual_heatmap"]


# --- phase portrait ------------------------------------------------------------------------
@checked_kwargs
def phase_portrait(
    system: AbstractSystem,
    region: AbstractRegion,
    *,
    V: AbstractCandidate | None = None,
    levels: int | Sequence[float] = 6,
    certified_level: float | None = None,
    counterexamples: Any = None,
    trajectories: Any = 8,
    t_final: float = 10.0,
    dims: Sequence[int] = (0, 1),
    at: Any = None,
    resolution: int = 60,
    state_labels: Sequence[str] | None = None,
    title: str | None = None,
    generator: torch.Generator | None = None,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Streamlines of ``x' = f(x)`` with trajectories, level sets of ``V`` and the certified set.

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system with at least two states.
    region : AbstractRegion
        The plotted window is its bounding box; its boundary is drawn dashed.
    V : AbstractCandidate, optional
        A Lyapunov candidate whose level sets are drawn.
    levels : int or sequence of float
        Level values of ``V``, or how many to draw (at quantiles of ``V`` over the window).
    certified_level : float, optional
        Shade ``{x in region : V(x) <= certified_level}``, e.g. ``region_of_attraction``'s
        ``level``; needs ``V``.
    counterexamples : array_like or result, optional
        States ``(k, n)`` to mark, or a result with ``.counterexamples`` (``falsify``,
        ``check_sampled``).
    trajectories : int or array_like
        Number of initial states drawn from ``region``, or initial states ``(k, n)``; 0 for none.
    t_final : float
        Simulated time of the trajectories (RK4 via :func:`lyactrl.simulate`; a trajectory is
        cut where it leaves the window enlarged three times).
    dims : pair of int
        The two state coordinates shown.
    at : array_like, optional
        For systems with more than two states: the point fixing the other coordinates
        (``system.x_eq`` by default). The picture is then a slice, and trajectories are
        projected onto it.
    resolution : int
        Grid points per axis for the streamlines and contours.
    state_labels : sequence of str, optional
        Axis names, one per state (the system's ``state_names`` by default).
    title : str, optional
        The axes title.
    generator : torch.Generator, optional
        Source of the random initial states (seed 0 by default, so figures are reproducible).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    path : str or pathlib.Path, optional
        Also write the figure as PNG and SVG there (no suffix).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lyactrl
    >>> from lyactrl.plot import phase_portrait
    >>> sys = lyactrl.LinearSystem([[0.0, 1.0], [-1.0, -0.5]])
    >>> V = lyactrl.Quadratic.from_linearization(sys)
    >>> fig = phase_portrait(sys, lyactrl.Box([-2.0, -2.0], [2.0, 2.0]), V=V, trajectories=3,
    ...                      resolution=20, certified_level=1.0)
    >>> len(fig.axes)
    1
    """
    check_autonomous(system)
    n = system.n_states
    dims2, point, box = check_plane(n, region, dims, at, system.x_eq)
    res = positive_int(resolution, "resolution")
    t_final = as_positive(t_final, name="t_final")
    if certified_level is not None and V is None:
        raise InvalidArgumentError("certified_level: needs V (the set is {V <= certified_level})")
    if V is not None and not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(f"V: expected a Lyapunov candidate, received {type(V).__name__}")
    fig, ax = target_axes(ax, size=(8.4, 5.6))
    grid = grid_points(box, dims2, point, res)
    _streamlines(ax, system, grid, dims2)
    handles: list[Any] = []
    if V is not None:
        handles += _level_sets(ax, V, region, grid, levels, certified_level)
    outline_region(ax, region, dims2, grid)
    handles.append(mpl_module("lines").Line2D([], [], color="0.25", ls="--", label="region"))
    x0 = initial_states(trajectories, region, n, generator)
    if x0 is not None:
        handles.append(
            _trajectories(ax, simulate_clipped(system, x0, t_final, box), dims2, t_final)
        )
    cx = counterexample_states(counterexamples, n)
    if cx is not None:
        handles.append(_counterexample_marks(ax, cx, dims2))
    handles.append(_equilibrium_mark(ax, to_numpy(point), dims2, sliced=at is not None))
    _frame(ax, box, dims2, axis_labels(system, n, state_labels))
    sliced = f" (slice, {n - 2} other states fixed)" if n > 2 else ""
    ax.set_title(title if title is not None else f"Phase portrait{sliced}")
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0.0
    )
    return finish_figure(fig, path)


def _streamlines(ax: Any, system: AbstractSystem, grid: Any, dims: tuple[int, int]) -> None:
    """Streamlines of the vector field on the plane, thicker where the flow is faster."""
    X, Y, pts = grid
    i, j = dims
    f = to_numpy(evaluate_chunked(lambda z: system.vector_field(0.0, z), pts))
    U, W = f[:, i].reshape(X.shape), f[:, j].reshape(X.shape)
    speed = np.hypot(U, W)
    lw = 0.5 + 1.2 * speed / max(float(speed.max()), 1e-300)
    ax.streamplot(X, Y, U, W, color="0.55", linewidth=lw, density=1.1, arrowsize=0.9, zorder=1)


def _level_sets(
    ax: Any,
    V: AbstractCandidate,
    region: AbstractRegion,
    grid: Any,
    levels: int | Sequence[float],
    certified_level: float | None,
) -> list[Any]:
    """Level sets of ``V`` and the shaded certified set; returns their legend handles."""
    X, Y, pts = grid
    vals = to_numpy(evaluate_chunked(V.value, pts)).reshape(X.shape)
    lv = contour_levels(vals, levels)
    cs = ax.contour(X, Y, vals, levels=lv, colors=LEVELS_COLOR, linewidths=1.0, zorder=2)
    ax.clabel(cs, fmt="%.3g", fontsize=7, inline=True)
    handles = [
        mpl_module("lines").Line2D([], [], color=LEVELS_COLOR, lw=1.0, label="level sets of $V$")
    ]
    if certified_level is None:
        return handles
    c = as_positive(certified_level, name="certified_level")
    inside = vals <= c
    if not isinstance(region, Box):
        inside &= to_numpy(region.contains(pts)).reshape(X.shape)
    green = [CERTIFIED_COLOR]
    ax.contourf(X, Y, inside.astype(float), levels=[0.5, 1.5], colors=green, alpha=0.22, zorder=0)
    ax.contour(X, Y, vals, levels=[c], colors=green, linewidths=2.2, zorder=3)
    label = f"certified $\\{{V \\leq {c:.3g}\\}}$"
    patch = mpl_module("patches").Patch(
        fc=CERTIFIED_COLOR, ec=CERTIFIED_COLOR, alpha=0.45, label=label
    )
    return [*handles, patch]


def _trajectories(ax: Any, xs: np.ndarray, dims: tuple[int, int], t_final: float) -> Any:
    """Simulated trajectories (projected on the plane) and their starts; the legend handle."""
    i, j = dims
    for k, traj in enumerate(xs):
        label = "trajectories" if k == 0 else None
        ax.plot(traj[:, i], traj[:, j], color=TRAJECTORY_COLOR, lw=1.4, zorder=4, label=label)
    ax.plot(xs[:, 0, i], xs[:, 0, j], "o", ms=4, color=TRAJECTORY_COLOR, zorder=5)
    label = f"trajectories ($t \\leq {t_final:g}$)"
    return mpl_module("lines").Line2D(
        [], [], color=TRAJECTORY_COLOR, marker="o", ms=4, lw=1.4, label=label
    )


def _counterexample_marks(ax: Any, cx: np.ndarray, dims: tuple[int, int]) -> Any:
    """Crosses at the counterexamples; the legend handle."""
    i, j = dims
    ax.plot(cx[:, i], cx[:, j], "x", color=COUNTER_COLOR, ms=8, mew=2.0, zorder=6)
    label = f"counterexamples ({len(cx)})"
    return mpl_module("lines").Line2D(
        [], [], color=COUNTER_COLOR, marker="x", ls="", mew=2.0, label=label
    )


def _equilibrium_mark(ax: Any, xe: np.ndarray, dims: tuple[int, int], *, sliced: bool) -> Any:
    """A plus at the equilibrium (or at the slice point); the legend handle."""
    i, j = dims
    ax.plot(xe[i], xe[j], "k+", ms=10, mew=2.0, zorder=6)
    label = "slice point" if sliced else "equilibrium"
    return mpl_module("lines").Line2D([], [], color="k", marker="+", ls="", mew=2.0, label=label)


def _frame(ax: Any, box: Box, dims: tuple[int, int], names: list[str]) -> None:
    """Limits (the window with a 3% margin) and axis labels."""
    i, j = dims
    pad_x = 0.03 * float(box.hi[i] - box.lo[i])
    pad_y = 0.03 * float(box.hi[j] - box.lo[j])
    ax.set_xlim(float(box.lo[i]) - pad_x, float(box.hi[i]) + pad_x)
    ax.set_ylim(float(box.lo[j]) - pad_y, float(box.hi[j]) + pad_y)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])


# --- residual map --------------------------------------------------------------------------
@checked_kwargs
def residual_heatmap(
    condition: AbstractCondition,
    region: AbstractRegion,
    *,
    resolution: int = 200,
    dims: Sequence[int] = (0, 1),
    at: Any = None,
    counterexamples: Any = None,
    state_labels: Sequence[str] | None = None,
    title: str | None = None,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """The residual of a condition over a plane: diverging colours centred at 0, contour at 0.

    Blue is where the condition holds (residual < 0), red where it is violated; the black
    contour is the boundary ``residual = 0``. States outside ``region`` are left blank.

    Parameters
    ----------
    condition : AbstractCondition
        For example :class:`lyactrl.ExponentialStability`.
    region : AbstractRegion
        The plotted window is its bounding box.
    resolution : int
        Grid points per axis.
    dims : pair of int
        The two state coordinates shown.
    at : array_like, optional
        The point fixing the other coordinates when there are more than two states
        (``condition.x_eq``, or zeros, by default).
    counterexamples : array_like or result, optional
        States to mark (or a result with ``.counterexamples``).
    state_labels : sequence of str, optional
        Axis names, one per state (the system's ``state_names`` by default).
    title : str, optional
        The axes title.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    path : str or pathlib.Path, optional
        Also write the figure as PNG and SVG there (no suffix).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lyactrl
    >>> from lyactrl.plot import residual_heatmap
    >>> sys = lyactrl.LinearSystem([[-1.0, 2.0], [0.0, -1.0]])
    >>> cond = lyactrl.ExponentialStability(sys, lyactrl.Quadratic([[1.0, 0.0], [0.0, 1.0]]), 0.5)
    >>> fig = residual_heatmap(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), resolution=30)
    >>> len(fig.axes)  # the map and its colourbar
    2
    """
    if not isinstance(condition, AbstractCondition):
        raise InvalidArgumentError(
            f"condition: expected a lyactrl condition, received {type(condition).__name__}"
        )
    n = condition.n_states
    dims2, point, box = check_plane(n, region, dims, at, condition.x_eq)
    res = positive_int(resolution, "resolution")
    fig, ax = target_axes(ax, size=(6.6, 5.2))
    i, j = dims2
    grid = grid_points(box, dims2, point, res)
    finite = _residual_map(fig, ax, condition, region, grid)
    if not isinstance(region, Box):
        outline_region(ax, region, dims2, grid)
    cx = counterexample_states(counterexamples, n)
    if cx is not None:
        ax.plot(cx[:, i], cx[:, j], "x", color="k", ms=8, mew=2.0, label="counterexamples")
        ax.legend(loc="upper right", fontsize=8)
    names = axis_labels(getattr(condition, "system", None), n, state_labels)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    frac = float((finite > 0).mean())
    ax.set_title(
        title
        if title is not None
        else f"{type(condition).__name__} residual: {100 * frac:.1f}% of grid points violate"
    )
    return finish_figure(fig, path)


def _colorbar(
    fig: Any, ax: Any, mesh: Any, condition: AbstractCondition, lo: float, hi: float
) -> None:
    """The residual's colourbar, ticks on both sides of 0, labelled with the condition."""
    label = "residual  (≤ 0: holds)"
    rate = getattr(condition, "rate", None)
    if type(condition).__name__ == "ExponentialStability":
        label = r"$\nabla V\cdot f + \kappa V$" + f"  (κ = {rate:g})"
    elif type(condition).__name__ == "BarrierCondition":
        label = r"$\nabla B\cdot f + \alpha B$" + f"  (α = {rate:g})"
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_ticks(np.unique(np.concatenate([np.linspace(lo, 0.0, 5), np.linspace(0.0, hi, 5)])))
    cbar.ax.yaxis.set_major_formatter(mpl_module("ticker").FormatStrFormatter("%.3g"))
    cbar.set_label(label)


def _residual_map(
    fig: Any, ax: Any, condition: AbstractCondition, region: AbstractRegion, grid: Any
) -> np.ndarray:
    """The residual on the grid in diverging colours, its zero contour and colourbar; returns
    the finite residuals (grid points in the region)."""
    X, Y, pts = grid
    r = to_numpy(evaluate_chunked(condition.evaluate, pts)).reshape(X.shape)
    if not isinstance(region, Box):
        r = np.where(to_numpy(region.contains(pts)).reshape(X.shape), r, np.nan)
    finite = r[np.isfinite(r)]
    if finite.size == 0:
        raise InvalidValueError("region: no grid point of the window lies in the region")
    scale = max(float(np.abs(finite).max()), 1e-12)
    lo, hi = min(float(finite.min()), -1e-3 * scale), max(float(finite.max()), 1e-3 * scale)
    norm = mpl_module("colors").TwoSlopeNorm(vmin=lo, vcenter=0.0, vmax=hi)
    mesh = ax.pcolormesh(X, Y, r, cmap="RdBu_r", norm=norm, shading="auto", rasterized=True)
    if float(finite.min()) < 0.0 < float(finite.max()):
        ax.contour(X, Y, r, levels=[0.0], colors="k", linewidths=1.5)
    _colorbar(fig, ax, mesh, condition, lo, hi)
    return finite
