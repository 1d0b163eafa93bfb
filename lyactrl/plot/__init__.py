"""Figures: phase portraits, residual maps, decay envelopes, the rate-level front, the LyaNet
toy picture and convergence figure, curves, a learned controller's certified sets.

Every function returns a :class:`matplotlib.figure.Figure` and, given ``path``, also writes it
as PNG and SVG (see :func:`save_figure`). Figures are built without ``pyplot``, so they do not
pile up in pyplot's registry and need no display; matplotlib is imported only when a function
here is called (``import lyactrl`` does not import it).
"""

from ._base import save_figure as save_figure
from ._control import controller_plot as controller_plot
from ._curves import accuracy_vs_steps as accuracy_vs_steps
from ._curves import decay_plot as decay_plot
from ._curves import rate_level_plot as rate_level_plot
from ._curves import robustness_curves as robustness_curves
from ._lyanet import lyanet_toy_figure as lyanet_toy_figure
from ._lyanet_convergence import lyanet_convergence_figure as lyanet_convergence_figure
from ._state import phase_portrait as phase_portrait
from ._state import residual_heatmap as residual_heatmap

__all__ = [
    "phase_portrait",
    "residual_heatmap",
    "decay_plot",
    "lyanet_toy_figure",
    "lyanet_convergence_figure",
    "accuracy_vs_steps",
    "robustness_curves",
    "rate_level_plot",
    "controller_plot",
    "save_figure",
]
