"""The figure of a learned controller: certified sets, trajectories and inputs (re-exported by
:mod:`lyactrl.plot`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError
from .._tensors import positive_int, to_numpy
from ..systems import ClosedLoop, simulate
from ._base import (
    CERTIFIED_COLOR,
    LEVELS_COLOR,
    axis_labels,
    check_plane,
    evaluate_chunked,
    finish_figure,
    grid_points,
    new_figure,
)

__all__ = ["controller_plot"]


def _starts(fit: Any, pts: torch.Tensor, v: torch.Tensor, k: int) -> torch.Tensor:
    """``k`` states spread over the outer part of the learned certified set."""
    inside = pts[(v <= fit.level) & (v >= 0.6 * fit.level)]
    if inside.shape[0] == 0:
        inside = pts[v <= fit.level]
    idx = torch.linspace(0, inside.shape[0] - 1, k).round().long()
    angles = torch.atan2(*(inside - fit.plant.x_eq.double()).T[[1, 0]])
    return inside[torch.argsort(angles)][idx]


@checked_kwargs
def controller_plot(
    fit: Any,
    *,
    trajectories: int = 6,
    t_final: float = 10.0,
    steps: int = 400,
    dims: Sequence[int] = (0, 1),
    resolution: int = 160,
    state_labels: Sequence[str] | None = None,
    title: str | None = None,
    path: str | Path | None = None,
) -> Any:
    """The learned controller's certified set over the LQR's, trajectories from inside it, and
    the input along them against the limits.

    Left: the certified set ``{V <= level}`` of :func:`~lyactrl.fit_controller`'s result
    (filled) and the saturated LQR controller's (dashed outline), closed-loop trajectories
    from states of the learned set. Right: the input ``u(t)`` along those trajectories, with
    the limits as horizontal lines.

    Parameters
    ----------
    fit : ControllerFit
        The result of :func:`lyactrl.fit_controller`.
    trajectories : int
        Number of trajectories (initial states on the outer part of the learned set).
    t_final : float
        Simulated time (RK4) of a flow; ``steps`` steps of a map.
    steps : int
        Output steps of a flow's trajectory; iterations of a map.
    dims : pair of int
        The two state coordinates shown (others at ``x_eq``).
    resolution : int
        Grid points per axis of the contours.
    state_labels : sequence of str, optional
        Axis names, one per state.
    title : str, optional
        The left axes' title.
    path : str or pathlib.Path, optional
        Also write the figure as PNG and SVG there (no suffix).

    Returns
    -------
    matplotlib.figure.Figure
        With two axes: the state plane and the input.

    Examples
    --------
    >>> import lyactrl
    >>> from lyactrl.plot import controller_plot
    >>> plant = lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])
    >>> fit = lyactrl.fit_controller(plant, lyactrl.Box([-1, -1], [1, 1]), u_bounds=1.0,
    ...     controller="linear", steps=10, rounds=1, time_limit=5)
    >>> len(controller_plot(fit, trajectories=2, resolution=40).axes)
    2
    """
    plant = getattr(fit, "plant", None)
    if plant is None or not hasattr(fit, "lqr_V"):
        raise InvalidArgumentError(
            f"fit: expected the result of fit_controller, received {type(fit).__name__}"
        )
    k = positive_int(trajectories, "trajectories")
    n_out = positive_int(steps, "steps")
    d, point, box = check_plane(plant.n_states, fit.domain, dims, None, plant.x_eq)
    fig, axes = new_figure(ncols=2, size=(11.0, 4.6))
    ax, axu = axes[0, 0], axes[0, 1]
    X, Y, pts = grid_points(box, d, point, positive_int(resolution, "resolution"))
    v = evaluate_chunked(fit.V.value, pts)
    shape = X.shape
    if fit.level > 0:
        ax.contourf(
            X,
            Y,
            to_numpy(v).reshape(shape),
            levels=[-np.inf, fit.level],
            colors=[CERTIFIED_COLOR],
            alpha=0.3,
        )
        ax.contour(
            X,
            Y,
            to_numpy(v).reshape(shape),
            levels=[fit.level],
            colors=[CERTIFIED_COLOR],
            linewidths=1.8,
        )
    if fit.lqr_level > 0:
        vq = evaluate_chunked(fit.lqr_V.value, pts)
        ax.contour(
            X,
            Y,
            to_numpy(vq).reshape(shape),
            levels=[fit.lqr_level],
            colors=[LEVELS_COLOR],
            linestyles="--",
            linewidths=1.5,
        )
    handles = [
        _patch(CERTIFIED_COLOR, f"learned: certified set ({fit.volume_share:.1%} of the box)"),
        _line(LEVELS_COLOR, "--", f"saturated LQR ({fit.lqr_volume_share:.1%})"),
    ]
    loop = ClosedLoop(plant, fit.controller)
    lo, hi = fit.controller.u_lo, fit.controller.u_hi
    if fit.level > 0:
        x0 = _starts(fit, pts, v, k)
        with torch.no_grad():
            if plant.is_discrete:
                traj = simulate(loop, x0, n_out)
            else:
                t = torch.linspace(0.0, float(t_final), n_out + 1, dtype=torch.float64)
                traj = simulate(loop, x0, t, method="rk4")
            xs = traj.x
            us = fit.controller(xs.reshape(-1, plant.n_states)).reshape(
                xs.shape[0], xs.shape[1], -1
            )
        tt = to_numpy(traj.t)
        for i in range(xs.shape[0]):
            xi = to_numpy(xs[i])
            (line,) = ax.plot(xi[:, d[0]], xi[:, d[1]], lw=1.0)
            ax.plot(xi[0, d[0]], xi[0, d[1]], "o", ms=3, color=line.get_color())
            for j in range(us.shape[-1]):
                axu.plot(
                    tt if tt.ndim == 1 else tt[i],
                    to_numpy(us[i, :, j]),
                    lw=1.0,
                    color=line.get_color(),
                )
    for b in sorted(set(lo + hi)):
        axu.axhline(b, color="k", ls=":", lw=1.0)
    xe = to_numpy(plant.x_eq.double())
    ax.plot(xe[d[0]], xe[d[1]], "k+", ms=10)
    names = axis_labels(plant, plant.n_states, state_labels)
    ax.set_xlim(float(box.lo[d[0]]), float(box.hi[d[0]]))
    ax.set_ylim(float(box.lo[d[1]]), float(box.hi[d[1]]))
    ax.set_xlabel(names[d[0]])
    ax.set_ylabel(names[d[1]])
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    ax.set_title(title or f"certified sets ({fit.status})")
    axu.set_xlabel("t = k dt" if plant.is_discrete else "t")
    axu.set_ylabel(", ".join(plant.input_names))
    axu.set_title("input along the trajectories, limits dotted")
    return finish_figure(fig, path)


def _patch(color: str, label: str) -> Any:
    from ._base import mpl_module

    return mpl_module("patches").Patch(facecolor=color, alpha=0.3, edgecolor=color, label=label)


def _line(color: str, ls: str, label: str) -> Any:
    from ._base import mpl_module

    return mpl_module("lines").Line2D([], [], color=color, ls=ls, label=label)
