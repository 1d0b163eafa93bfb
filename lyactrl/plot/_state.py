"""Phase portraits and residual maps (re-exported by :mod:`lyactrl.plot`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._api import checked_kwargs
from ._errors import InvalidArgumentError, InvalidValueError
from ._plot_base import (
    _CERTIFIED,
    _COUNTER,
    _LEVELS,
    _TRAJ,
    _chunked,
    _counterexamples,
    _finish,
    _grid,
    _initial_states,
    _levels,
    _mpl,
    _outline,
    _plane,
    _simulate_clipped,
    _state_labels,
    _target,
)
from ._tensors import as_positive, positive_int, to_numpy
from .conditions import AbstractCondition
from .lyapunov import AbstractCandidate
from .regions import AbstractRegion, Box
from .systems import AbstractSystem
from .systems._base import check_autonomous

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
        Axis names, one per state (from a :class:`SymbolicSystem`'s symbols by default).
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
    dims2, point, box = _plane(n, region, dims, at, system.x_eq)
    res = positive_int(resolution, "resolution")
    t_final = as_positive(t_final, name="t_final")
    if certified_level is not None and V is None:
        raise InvalidArgumentError("certified_level: needs V (the set is {V <= certified_level})")
    if V is not None and not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(f"V: expected a Lyapunov candidate, received {type(V).__name__}")
    fig, ax = _target(ax, size=(8.4, 5.6))
    i, j = dims2
    names = _state_labels(system, n, state_labels)
    X, Y, pts = _grid(box, dims2, point, res)
    f = to_numpy(_chunked(lambda z: system.vector_field(0.0, z), pts))
    U, W = f[:, i].reshape(X.shape), f[:, j].reshape(X.shape)
    speed = np.hypot(U, W)
    lw = 0.5 + 1.2 * speed / max(float(speed.max()), 1e-300)
    ax.streamplot(X, Y, U, W, color="0.55", linewidth=lw, density=1.1, arrowsize=0.9, zorder=1)
    handles: list[Any] = []
    mlines = _mpl("lines")
    mpatches = _mpl("patches")
    if V is not None:
        vals = to_numpy(_chunked(V.value, pts)).reshape(X.shape)
        lv = _levels(vals, levels)
        cs = ax.contour(X, Y, vals, levels=lv, colors=_LEVELS, linewidths=1.0, zorder=2)
        ax.clabel(cs, fmt="%.3g", fontsize=7, inline=True)
        handles.append(mlines.Line2D([], [], color=_LEVELS, lw=1.0, label="level sets of $V$"))
        if certified_level is not None:
            c = as_positive(certified_level, name="certified_level")
            inside = vals <= c
            if not isinstance(region, Box):
                inside &= to_numpy(region.contains(pts)).reshape(X.shape)
            ax.contourf(
                X,
                Y,
                inside.astype(float),
                levels=[0.5, 1.5],
                colors=[_CERTIFIED],
                alpha=0.22,
                zorder=0,
            )
            ax.contour(X, Y, vals, levels=[c], colors=[_CERTIFIED], linewidths=2.2, zorder=3)
            handles.append(
                mpatches.Patch(
                    fc=_CERTIFIED,
                    ec=_CERTIFIED,
                    alpha=0.45,
                    label=f"certified $\\{{V \\leq {c:.3g}\\}}$",
                )
            )
    _outline(ax, region, dims2, (X, Y, pts))
    handles.append(mlines.Line2D([], [], color="0.25", ls="--", label="region"))
    x0 = _initial_states(trajectories, region, n, generator)
    if x0 is not None:
        xs = _simulate_clipped(system, x0, t_final, box)
        for k, traj in enumerate(xs):
            ax.plot(
                traj[:, i],
                traj[:, j],
                color=_TRAJ,
                lw=1.4,
                zorder=4,
                label="trajectories" if k == 0 else None,
            )
        ax.plot(xs[:, 0, i], xs[:, 0, j], "o", ms=4, color=_TRAJ, zorder=5)
        handles.append(
            mlines.Line2D(
                [],
                [],
                color=_TRAJ,
                marker="o",
                ms=4,
                lw=1.4,
                label=f"trajectories ($t \\leq {t_final:g}$)",
            )
        )
    cx = _counterexamples(counterexamples, n)
    if cx is not None:
        ax.plot(cx[:, i], cx[:, j], "x", color=_COUNTER, ms=8, mew=2.0, zorder=6)
        handles.append(
            mlines.Line2D(
                [],
                [],
                color=_COUNTER,
                marker="x",
                ls="",
                mew=2.0,
                label=f"counterexamples ({len(cx)})",
            )
        )
    xe = to_numpy(point)
    ax.plot(xe[i], xe[j], "k+", ms=10, mew=2.0, zorder=6)
    handles.append(
        mlines.Line2D(
            [],
            [],
            color="k",
            marker="+",
            ls="",
            mew=2.0,
            label="equilibrium" if at is None else "slice point",
        )
    )
    pad_x = 0.03 * float(box.hi[i] - box.lo[i])
    pad_y = 0.03 * float(box.hi[j] - box.lo[j])
    ax.set_xlim(float(box.lo[i]) - pad_x, float(box.hi[i]) + pad_x)
    ax.set_ylim(float(box.lo[j]) - pad_y, float(box.hi[j]) + pad_y)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    sliced = f" (slice, {n - 2} other states fixed)" if n > 2 else ""
    ax.set_title(title if title is not None else f"Phase portrait{sliced}")
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0.0
    )
    return _finish(fig, path)


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
        Axis names, one per state.
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
    dims2, point, box = _plane(n, region, dims, at, condition.x_eq)
    res = positive_int(resolution, "resolution")
    mcolors = _mpl("colors")
    fig, ax = _target(ax, size=(6.6, 5.2))
    i, j = dims2
    X, Y, pts = _grid(box, dims2, point, res)
    r = to_numpy(_chunked(condition.evaluate, pts)).reshape(X.shape)
    if not isinstance(region, Box):
        r = np.where(to_numpy(region.contains(pts)).reshape(X.shape), r, np.nan)
    finite = r[np.isfinite(r)]
    if finite.size == 0:
        raise InvalidValueError("region: no grid point of the window lies in the region")
    scale = max(float(np.abs(finite).max()), 1e-12)
    lo, hi = min(float(finite.min()), -1e-3 * scale), max(float(finite.max()), 1e-3 * scale)
    norm = mcolors.TwoSlopeNorm(vmin=lo, vcenter=0.0, vmax=hi)
    mesh = ax.pcolormesh(X, Y, r, cmap="RdBu_r", norm=norm, shading="auto", rasterized=True)
    if float(finite.min()) < 0.0 < float(finite.max()):
        ax.contour(X, Y, r, levels=[0.0], colors="k", linewidths=1.5)
    if not isinstance(region, Box):
        _outline(ax, region, dims2, (X, Y, pts))
    label = "residual  (≤ 0: holds)"
    rate = getattr(condition, "rate", None)
    if type(condition).__name__ == "ExponentialStability":
        label = r"$\nabla V\cdot f + \kappa V$" + f"  (κ = {rate:g})"
    elif type(condition).__name__ == "BarrierCondition":
        label = r"$\nabla B\cdot f + \alpha B$" + f"  (α = {rate:g})"
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_ticks(np.unique(np.concatenate([np.linspace(lo, 0.0, 5), np.linspace(0.0, hi, 5)])))
    cbar.ax.yaxis.set_major_formatter(_mpl("ticker").FormatStrFormatter("%.3g"))
    cbar.set_label(label)
    cx = _counterexamples(counterexamples, n)
    if cx is not None:
        ax.plot(cx[:, i], cx[:, j], "x", color="k", ms=8, mew=2.0, label="counterexamples")
        ax.legend(loc="upper right", fontsize=8)
    names = _state_labels(getattr(condition, "system", None), n, state_labels)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    frac = float((finite > 0).mean())
    ax.set_title(
        title
        if title is not None
        else f"{type(condition).__name__} residual: {100 * frac:.1f}% of grid points violate"
    )
    return _finish(fig, path)
