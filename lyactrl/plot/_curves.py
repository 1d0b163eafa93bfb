"""Decay envelopes and curves from plain dicts (re-exported by :mod:`lyactrl.plot`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._api import checked_kwargs
from .._errors import InvalidArgumentError, InvalidValueError
from .._tensors import as_positive, as_states, positive_int, to_numpy
from ..lyapunov import AbstractCandidate
from ..systems import AbstractSystem, check_autonomous, simulate
from ._base import evaluate_chunked, finish_figure, mpl_module, new_figure, target_axes

__all__ = ["decay_plot", "accuracy_vs_steps", "robustness_curves"]


# --- decay ---------------------------------------------------------------------------------
@checked_kwargs
def decay_plot(
    system: AbstractSystem,
    V: AbstractCandidate,
    x0: Any,
    *,
    rate: float,
    t_final: float,
    c: float | None = None,
    alpha: float | None = None,
    n_points: int = 200,
    title: str | None = None,
    path: str | Path | None = None,
) -> Any:
    """``V(x(t))`` along trajectories on a log scale, with the certified envelope ``e^(-rate t)``.

    Each trajectory's ``V(x(t))`` (solid) is drawn with its envelope ``V(x0) e^(-rate t)``
    (dashed, same colour). Given ``c`` and ``alpha`` a second panel shows
    ``||x(t) - x_eq||`` against ``c e^(-alpha t) ||x0 - x_eq||``. The title reports whether
    the simulated curves stay under their envelopes (to a relative 1e-6).

    Parameters
    ----------
    system : AbstractSystem
        An autonomous system.
    V : AbstractCandidate
        The Lyapunov function.
    x0 : array_like, shape (k, n) or (n,)
        Initial states.
    rate : float
        The certified decay rate ``kappa`` of ``V``.
    t_final : float
        Simulated time.
    c, alpha : float, optional
        Constants of the state bound ``||x(t) - x_eq|| <= c e^(-alpha t) ||x0 - x_eq||``.
    n_points : int
        Output times.
    title : str, optional
        The figure title.
    path : str or pathlib.Path, optional
        Also write the figure as PNG and SVG there (no suffix).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lyactrl
    >>> from lyactrl.plot import decay_plot
    >>> sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    >>> V = lyactrl.Quadratic([[1.0, 0.0], [0.0, 1.0]])
    >>> fig = decay_plot(sys, V, [[1.0, 1.0], [0.5, -1.0]], rate=2.0, t_final=3.0, n_points=30)
    >>> len(fig.axes)
    1
    """
    check_autonomous(system)
    if not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(f"V: expected a Lyapunov candidate, received {type(V).__name__}")
    if (c is None) != (alpha is None):
        raise InvalidArgumentError("c, alpha: give both constants of the state bound, or neither")
    kappa = as_positive(rate, name="rate")
    tf = as_positive(t_final, name="t_final")
    x = as_states(x0, system.n_states, name="x0", dtype=torch.float64)
    t = torch.linspace(0.0, tf, positive_int(n_points, "n_points"), dtype=torch.float64)
    with torch.no_grad():
        xs = simulate(system, x, t).x
    k, T, n = xs.shape
    v = to_numpy(evaluate_chunked(V.value, xs.reshape(k * T, n))).reshape(k, T)
    tn = to_numpy(t)
    fig, axes = new_figure(ncols=1 if c is None else 2, size=(6.4 if c is None else 11.0, 4.4))
    colors = [f"C{q % 10}" for q in range(k)]
    _decay_panel(axes[0, 0], tn, v, kappa, colors)
    if c is not None and alpha is not None:
        cc, aa = as_positive(c, name="c"), as_positive(alpha, name="alpha")
        d = np.linalg.norm(to_numpy(xs) - to_numpy(system.x_eq)[None, None, :], axis=-1)
        _state_bound_panel(axes[0, 1], tn, d, cc, aa, colors)
    if title is not None:
        fig.suptitle(title)
    return finish_figure(fig, path)


def _envelope_legend(ax: Any, solid: str, dashed: str) -> None:
    mlines = mpl_module("lines")
    ax.legend(
        handles=[
            mlines.Line2D([], [], color="0.2", lw=1.6, label=solid),
            mlines.Line2D([], [], color="0.2", lw=1.2, ls="--", label=dashed),
        ],
        fontsize=8,
        loc="lower left",
    )


def _decay_panel(ax: Any, tn: np.ndarray, v: np.ndarray, kappa: float, colors: list[str]) -> None:
    """``V(x(t))`` (solid) and ``V(x0) e^(-kappa t)`` (dashed); the title says which wins."""
    env = v[:, :1] * np.exp(-kappa * tn)[None, :]
    floor = max(float(np.nanmax(v)) * 1e-14, 1e-300)
    for q, color in enumerate(colors):
        ax.semilogy(tn, np.maximum(v[q], floor), color=color, lw=1.6)
        ax.semilogy(tn, np.maximum(env[q], floor), color=color, lw=1.2, ls="--")
    _envelope_legend(ax, "$V(x(t))$ (simulated)", f"envelope $V(x_0)\\,e^{{-{kappa:g} t}}$")
    ax.set_xlabel("time $t$")
    ax.set_ylabel("$V(x(t))$ (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ok = bool(np.all(v <= env * (1 + 1e-6) + 1e-12 * floor))
    verdict = "under the envelope" if ok else "EXCEEDS the envelope"
    ax.set_title(f"Lyapunov decay, rate κ = {kappa:g}: {verdict}")


def _state_bound_panel(
    ax: Any, tn: np.ndarray, d: np.ndarray, c: float, alpha: float, colors: list[str]
) -> None:
    """``||x(t) - x_eq||`` (solid) against ``c e^(-alpha t) ||x0 - x_eq||`` (dashed)."""
    floor = max(float(d.max()) * 1e-14, 1e-300)
    for q, color in enumerate(colors):
        ax.semilogy(tn, np.maximum(d[q], floor), color=color, lw=1.6)
        bound = np.maximum(c * d[q, 0] * np.exp(-alpha * tn), floor)
        ax.semilogy(tn, bound, color=color, lw=1.2, ls="--")
    dashed = f"${c:.3g}\\,e^{{-{alpha:.3g} t}}\\,\\|x_0-x_{{eq}}\\|$"
    _envelope_legend(ax, r"$\|x(t)-x_{eq}\|$", dashed)
    ax.set_xlabel("time $t$")
    ax.set_ylabel(r"$\|x(t) - x_{eq}\|$ (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("State bound")


# --- curves from plain dicts ---------------------------------------------------------------
_LABELS = {"lyanet": "LyaNet", "node": "Neural ODE"}


def _curves(
    results: Any, ax: Any, xlabel: str, ylabel: str, title: str, log_x: bool, percent: bool
) -> Any:
    if not isinstance(results, Mapping) or not results:
        raise InvalidArgumentError(
            "results: expected a non-empty dict {method: {x: value}}, received "
            f"{type(results).__name__}"
        )
    fig, ax = target_axes(ax, size=(6.0, 4.2))
    for k, (name, curve) in enumerate(results.items()):
        if not isinstance(curve, Mapping) or not curve:
            raise InvalidArgumentError(
                f"results[{name!r}]: expected a non-empty dict {{x: value}}, received "
                f"{type(curve).__name__}"
            )
        try:
            pairs = sorted((float(x), float(y)) for x, y in curve.items())
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(
                f"results[{name!r}]: expected numbers for keys and values, received {curve!r}"
            ) from exc
        xs, ys = np.array(pairs).T
        if not np.all(np.isfinite(xs)) or not np.all(np.isfinite(ys)):
            raise InvalidValueError(
                f"results[{name!r}]: expected finite numbers, received {curve!r}"
            )
        if percent and (ys.min() < 0 or ys.max() > 1):
            raise InvalidValueError(
                f"results[{name!r}]: expected accuracies in [0, 1], received {ys.tolist()}"
            )
        ax.plot(
            xs,
            100 * ys if percent else ys,
            marker="os^vD<>"[k % 7],
            lw=1.8,
            ms=5,
            color=f"C{k % 10}",
            label=_LABELS.get(str(name).lower(), str(name)),
        )
    if log_x:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(mpl_module("ticker").FuncFormatter(lambda v, _: f"{v:g}"))
    if percent:
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, -2.0), min(high, 102.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" [%]" if percent else ""))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9)
    return fig


@checked_kwargs
def accuracy_vs_steps(
    results: Mapping[str, Mapping[int, float]],
    *,
    title: str = "Test accuracy vs. solver steps",
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Accuracy against the number of fixed solver steps, one line per method.

    Parameters
    ----------
    results : dict
        ``{method: {steps: accuracy}}`` with accuracies in ``[0, 1]``, e.g. the
        ``accuracy_per_steps`` of ``lyactrl train``'s ``metrics.json``.
    title : str
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
    >>> from lyactrl.plot import accuracy_vs_steps
    >>> fig = accuracy_vs_steps({"lyanet": {1: 0.90, 2: 0.95, 4: 0.96},
    ...                          "node": {1: 0.40, 2: 0.80, 4: 0.95}})
    >>> fig.axes[0].get_xlabel()
    'solver steps (RK4, fixed)'
    """
    fig = _curves(results, ax, "solver steps (RK4, fixed)", "test accuracy", title, True, True)
    return finish_figure(fig, path)


@checked_kwargs
def robustness_curves(
    results: Mapping[str, Mapping[float, float]],
    *,
    xlabel: str = "perturbation radius ε",
    ylabel: str = "accuracy",
    percent: bool = True,
    title: str = "Accuracy under perturbation",
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """A value against a perturbation size, one line per method (e.g. accuracy under attack).

    Parameters
    ----------
    results : dict
        ``{method: {radius: value}}``.
    xlabel, ylabel : str
        Axis names.
    percent : bool
        Values are fractions in ``[0, 1]`` shown as percentages.
    title : str
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
    >>> from lyactrl.plot import robustness_curves
    >>> fig = robustness_curves({"lyanet": {0.0: 0.97, 0.1: 0.90}, "node": {0.0: 0.97, 0.1: 0.7}})
    >>> fig.axes[0].get_ylabel()
    'accuracy [%]'
    """
    fig = _curves(results, ax, str(xlabel), str(ylabel), title, False, bool(percent))
    return finish_figure(fig, path)


@checked_kwargs
def rate_level_plot(
    front: Any,
    *,
    title: str = "Certified rate vs. certified level",
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """The Pareto front of a :func:`lyactrl.rate_level_front`: certified level against rate.

    Each point is a certified region of attraction ``{V <= level}`` with decay rate ``rate``;
    the local limit at the equilibrium (the largest rate possible near ``x_eq``) is marked.

    Parameters
    ----------
    front : RateLevelFront
        From :func:`lyactrl.rate_level_front`.
    title : str
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
    >>> from lyactrl.plot import rate_level_plot
    >>> sys = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    >>> V = lyactrl.Quadratic.from_linearization(sys)
    >>> front = lyactrl.rate_level_front(sys, V, lyactrl.Box([-2.5, -3.5], [2.5, 3.5]),
    ...                                  fractions=(0.1, 0.5, 0.9))
    >>> rate_level_plot(front).axes[0].get_xlabel()
    'certified rate kappa'
    """
    if not (hasattr(front, "rates") and hasattr(front, "levels")):
        raise InvalidArgumentError(
            f"front: expected a RateLevelFront, received {type(front).__name__}"
        )
    fig, ax = target_axes(ax)
    ax.plot(front.rates, front.levels, "o-", color="C0", label="certified (rate, level)")
    ax.axvline(front.local_limit, color="0.5", ls="--", lw=1, label="local limit at x_eq")
    ax.set_xlabel("certified rate kappa")
    ax.set_ylabel("certified level c of {V <= c}")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return finish_figure(fig, path)
