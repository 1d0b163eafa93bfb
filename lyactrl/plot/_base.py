"""Plumbing shared by the figures of :mod:`lyactrl.plot`: figures, grids, labels, saving.

Only :func:`save_figure` is public (re-exported by :mod:`lyactrl.plot`); the other names are
the package's internal helpers, shared by its drawing modules.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError, ShapeError
from .._tensors import as_states, positive_int, to_numpy
from ..regions import AbstractRegion, Ball, Box, Sublevel
from ..systems import AbstractSystem, simulate

__all__ = [
    "save_figure",
    "new_figure",
    "target_axes",
    "finish_figure",
    "mpl_module",
    "check_plane",
    "grid_points",
    "evaluate_chunked",
    "axis_labels",
    "outline_region",
    "counterexample_states",
    "initial_states",
    "simulate_clipped",
    "contour_levels",
    "CERTIFIED_COLOR",
    "COUNTER_COLOR",
    "LEVELS_COLOR",
    "TRAJECTORY_COLOR",
]

CERTIFIED_COLOR = "#2ca02c"
COUNTER_COLOR = "#d62728"
LEVELS_COLOR = "#7b3294"
TRAJECTORY_COLOR = "#1f77b4"


# --- plumbing ------------------------------------------------------------------------------
def mpl_module(sub: str) -> Any:
    """``matplotlib.<sub>``, imported on first use (matplotlib is a core dependency)."""
    return importlib.import_module(f"matplotlib.{sub}")


def new_figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6.4, 5.2)) -> Any:
    """A constrained-layout figure (no pyplot) and its ``(nrows, ncols)`` axes array."""
    mfig = mpl_module("figure")
    fig = mfig.Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def target_axes(ax: Any, **figure_options: Any) -> tuple[Any, Any]:
    """``(figure, axes)``: a new figure, or the figure of the given ``ax``."""
    if ax is None:
        fig, axes = new_figure(**figure_options)
        return fig, axes[0, 0]
    if not hasattr(ax, "figure") or not hasattr(ax, "plot"):
        raise InvalidArgumentError(
            f"ax: expected a matplotlib Axes or None, received {type(ax).__name__}"
        )
    return ax.figure, ax


@checked_kwargs
def save_figure(fig: Any, path: str | Path, *, dpi: int = 110) -> list[Path]:
    """Write ``fig`` as ``<path>.png`` and ``<path>.svg``; return both paths.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    path : str or pathlib.Path
        The file name without suffix (a ``.png`` or ``.svg`` suffix is dropped); missing
        parent directories are created.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    list of pathlib.Path
        The PNG and the SVG file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from lyactrl.plot import accuracy_vs_steps, save_figure
    >>> fig = accuracy_vs_steps({"lyanet": {1: 0.9, 2: 0.95}})
    >>> out = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "acc")
    >>> [p.suffix for p in out]
    ['.png', '.svg']
    """
    mfig = mpl_module("figure")
    if not isinstance(fig, mfig.Figure):
        raise InvalidArgumentError(
            f"fig: expected a matplotlib Figure, received {type(fig).__name__}"
        )
    if not isinstance(path, (str, Path)):
        raise InvalidArgumentError(f"path: expected a str or Path, received {type(path).__name__}")
    base = Path(path)
    if base.suffix.lower() in (".png", ".svg"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    out = [base.with_name(base.name + ".png"), base.with_name(base.name + ".svg")]
    fig.savefig(out[0], dpi=positive_int(dpi, "dpi"))
    fig.savefig(out[1])
    return out


def finish_figure(fig: Any, path: str | Path | None) -> Any:
    """Write ``fig`` to ``path`` (PNG and SVG) when one is given; return it."""
    if path is not None:
        save_figure(fig, path)
    return fig


def check_plane(
    n_states: int, region: AbstractRegion, dims: Sequence[int], at: Any, x_eq: torch.Tensor | None
) -> tuple[tuple[int, int], torch.Tensor, Box]:
    """Validate the plotted pair of coordinates and the point fixing the others."""
    if not isinstance(region, AbstractRegion):
        raise InvalidArgumentError(
            f"region: expected a Box, Ball or Sublevel, received {type(region).__name__}"
        )
    if region.n_states != n_states:
        raise ShapeError(
            f"region: expected a region on {n_states} states, received one on {region.n_states}"
        )
    if n_states < 2:
        raise ShapeError(f"system: expected at least 2 states to draw a plane, received {n_states}")
    d = tuple(int(i) for i in dims)
    if len(d) != 2 or d[0] == d[1] or min(d) < 0 or max(d) >= n_states:
        raise InvalidValueError(
            f"dims: expected two distinct state indices in [0, {n_states}), received {dims!r}"
        )
    if at is None:
        point = torch.zeros(n_states, dtype=torch.float64) if x_eq is None else x_eq.double()
    else:
        point = as_states(at, n_states, name="at", dtype=torch.float64)[0]
    return (d[0], d[1]), point, region.bounding_box()


def grid_points(
    box: Box, dims: tuple[int, int], point: torch.Tensor, resolution: int
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """A ``resolution``-square grid on the plane of ``dims`` through ``point``."""
    i, j = dims
    gx = torch.linspace(float(box.lo[i]), float(box.hi[i]), resolution, dtype=torch.float64)
    gy = torch.linspace(float(box.lo[j]), float(box.hi[j]), resolution, dtype=torch.float64)
    X, Y = torch.meshgrid(gx, gy, indexing="xy")
    pts = point.repeat(resolution * resolution, 1)
    pts[:, i] = X.reshape(-1)
    pts[:, j] = Y.reshape(-1)
    return to_numpy(X), to_numpy(Y), pts


def evaluate_chunked(fn: Any, pts: torch.Tensor, chunk: int = 65_536) -> torch.Tensor:
    """``fn(pts)`` without gradients, in chunks of ``chunk`` states."""
    with torch.no_grad():
        return torch.cat([fn(pts[k : k + chunk]).detach() for k in range(0, len(pts), chunk)])


_GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
    "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega".split()
)


def _tex(name: str) -> str:
    """``x1`` -> ``x_{1}``, ``theta`` -> ``\\theta``, ``omega_2`` -> ``\\omega_{2}``."""
    m = re.match(r"^([A-Za-z]+)_?(\d*)$", name)
    if not m:
        return name.replace("_", r"\_")
    base = "\\" + m.group(1) if m.group(1) in _GREEK else m.group(1)
    return base + (f"_{{{m.group(2)}}}" if m.group(2) else "")


def _name_label(name: str) -> str:
    """``theta`` -> ``$\\theta$``; a name that is not a letter word with an index (``x[0]``,
    ``angle (rad)``) stays plain text."""
    return "$" + _tex(name) + "$" if re.match(r"^[A-Za-z]+_?\d*$", name) else name


def axis_labels(system: Any, n: int, labels: Sequence[str] | None) -> list[str]:
    """Axis names: ``labels``, the system's ``state_names``, or ``x_1 ... x_n``."""
    if labels is not None:
        out = [str(s) for s in labels]
        if len(out) != n:
            raise ShapeError(f"state_labels: expected {n} names, received {len(out)}")
        return out
    names = getattr(system, "state_names", None)
    if isinstance(names, tuple) and len(names) == n:
        return [_name_label(str(s)) for s in names]
    return [f"$x_{{{k + 1}}}$" for k in range(n)]


def outline_region(ax: Any, region: AbstractRegion, dims: tuple[int, int], grid: Any) -> None:
    """Draw the region's boundary (dashed)."""
    mpatches = mpl_module("patches")
    i, j = dims
    style = {"fill": False, "ls": "--", "lw": 1.2, "ec": "0.25", "label": "region"}
    if isinstance(region, Box):
        lo, hi = region.lo.tolist(), region.hi.tolist()
        ax.add_patch(mpatches.Rectangle((lo[i], lo[j]), hi[i] - lo[i], hi[j] - lo[j], **style))
    elif isinstance(region, Ball):
        c = region.center.tolist()
        ax.add_patch(mpatches.Circle((c[i], c[j]), region.radius, **style))
    elif isinstance(region, Sublevel) and grid is not None:
        X, Y, pts = grid
        vals = to_numpy(evaluate_chunked(region.V.value, pts)).reshape(X.shape)
        ax.contour(X, Y, vals, levels=[region.c], colors="0.25", linestyles="--", linewidths=1.2)


def counterexample_states(counterexamples: Any, n: int) -> np.ndarray | None:
    """Counterexamples (states or a result holding them) as an array."""
    if counterexamples is None:
        return None
    cx = getattr(counterexamples, "counterexamples", counterexamples)
    if isinstance(cx, torch.Tensor) and cx.numel() == 0:
        return None
    return to_numpy(as_states(cx, n, name="counterexamples", dtype=torch.float64))


def initial_states(
    trajectories: Any, region: AbstractRegion, n: int, generator: torch.Generator | None
) -> torch.Tensor | None:
    """Initial states: ``trajectories`` samples of ``region``, or given."""
    if trajectories is None or (isinstance(trajectories, int) and trajectories == 0):
        return None
    if isinstance(trajectories, int) and not isinstance(trajectories, bool):
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        return region.sample(positive_int(trajectories, "trajectories"), generator=g)
    return as_states(trajectories, n, name="trajectories", dtype=torch.float64)


def simulate_clipped(
    system: AbstractSystem, x0: torch.Tensor, t_final: float, box: Box, steps: int = 400
) -> np.ndarray:
    """Fixed-step RK4 trajectories, cut (NaN) after they leave a 3x enlarged box."""
    t = torch.linspace(0.0, t_final, steps + 1, dtype=torch.float64)
    with torch.no_grad():
        xs = to_numpy(simulate(system, x0, t, method="rk4").x)
    lo, hi = to_numpy(box.lo), to_numpy(box.hi)
    half = hi - lo
    out = ~np.all((xs >= lo - half) & (xs <= hi + half) & np.isfinite(xs), axis=-1)
    gone = np.cumsum(out, axis=1) > 0
    xs = np.where(gone[..., None], np.nan, xs)
    return xs


def contour_levels(values: np.ndarray, levels: int | Sequence[float]) -> list[float]:
    """Level values: quantiles of ``values``, or the given levels sorted."""
    if isinstance(levels, int) and not isinstance(levels, bool):
        q = np.linspace(0.04, 0.7, positive_int(levels, "levels"))
        return sorted(set(np.quantile(values[np.isfinite(values)], q).tolist()))
    out = sorted(float(v) for v in levels)
    if not out:
        raise InvalidValueError("levels: expected a positive int or a non-empty sequence")
    return out
