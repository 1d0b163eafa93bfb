"""Lyapunov candidates V."""

from ._base import AbstractCandidate as AbstractCandidate
from ._neural import NeuralLyapunov as NeuralLyapunov
from ._potentials import CrossEntropy as CrossEntropy
from ._potentials import SquaredError as SquaredError
from ._quadratic import Quadratic as Quadratic
from ._quadratic import best_quadratic_rate as best_quadratic_rate
from ._sos import SOSResult as SOSResult
from ._sos import sos_lyapunov as sos_lyapunov
from ._sos_level import sos_level as sos_level
from ._sos_roa import sos_roa as sos_roa
from ._symbolic import SymbolicCandidate as SymbolicCandidate
