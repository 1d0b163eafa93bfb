"""lyactrl: treat a trained neural network as a dynamical system.

Lyapunov candidates, exponential-stability checks (sampled, falsification, sound
certification), robustness bounds and LyaNet training. See ``docs/`` and the README.
"""

from ._errors import CheckpointError as CheckpointError
from ._errors import InvalidArgumentError as InvalidArgumentError
from ._errors import InvalidValueError as InvalidValueError
from ._errors import LyactrlError as LyactrlError
from ._errors import MissingDependencyError as MissingDependencyError
from ._errors import NonFiniteError as NonFiniteError
from ._errors import NotHurwitzError as NotHurwitzError
from ._errors import NotPositiveDefiniteError as NotPositiveDefiniteError
from ._errors import ShapeError as ShapeError
from ._errors import UnknownArgumentError as UnknownArgumentError
from ._errors import UnsupportedOperationError as UnsupportedOperationError
from .conditions import AbstractCondition as AbstractCondition
from .conditions import BarrierCondition as BarrierCondition
from .conditions import ExponentialStability as ExponentialStability
from .lyapunov import AbstractCandidate as AbstractCandidate
from .lyapunov import CrossEntropy as CrossEntropy
from .lyapunov import NeuralLyapunov as NeuralLyapunov
from .lyapunov import Quadratic as Quadratic
from .lyapunov import SquaredError as SquaredError
from .lyapunov import SymbolicCandidate as SymbolicCandidate
from .lyapunov import best_quadratic_rate as best_quadratic_rate
from .regions import AbstractRegion as AbstractRegion
from .regions import Ball as Ball
from .regions import Box as Box
from .regions import Sublevel as Sublevel
from .systems import AbstractSystem as AbstractSystem
from .systems import ClosedLoop as ClosedLoop
from .systems import LinearSystem as LinearSystem
from .systems import NeuralSystem as NeuralSystem
from .systems import SymbolicSystem as SymbolicSystem
from .systems import Trajectory as Trajectory
from .systems import from_control as from_control
from .systems import linearize as linearize
from .systems import simulate as simulate
from .systems import to_control as to_control
from .verify import Falsification as Falsification
from .verify import SampledCheck as SampledCheck
from .verify import check_sampled as check_sampled
from .verify import falsify as falsify

# --- certification (issue 3) ---
# --- training (issue 4) ---
# --- robustness (issue 5) ---

__version__ = "0.1.0"
