"""LyaNet: logit-flow classifiers trained with the sampled Lyapunov loss; the two-moons toy."""

from ._toy import POTENTIALS as POTENTIALS
from ._toy import SCALE as SCALE
from ._toy import WINDOW as WINDOW
from ._toy import ToyModel as ToyModel
from ._toy import ToyResult as ToyResult
from ._toy import grid_starts as grid_starts
from ._toy import toy_potential as toy_potential
from ._toy import train_toy as train_toy
