"""Lyapunov candidates V."""

from ._base import AbstractCandidate as AbstractCandidate
from ._module import ModuleCandidate as ModuleCandidate
from ._neural import NeuralLyapunov as NeuralLyapunov
from ._potentials import CrossEntropy as CrossEntropy
from ._potentials import SquaredError as SquaredError
from ._quadratic import Quadratic as Quadratic
from ._quadratic import best_quadratic_rate as best_quadratic_rate
from ._symbolic import SymbolicCandidate as SymbolicCandidate
