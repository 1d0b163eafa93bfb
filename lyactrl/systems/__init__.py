"""Systems: what evolves."""

from ._base import AbstractSystem as AbstractSystem
from ._base import check_autonomous as check_autonomous
from ._base import linearize as linearize
from ._closed_loop import ClosedLoop as ClosedLoop
from ._control import FROM_CONTROL_METHODS as FROM_CONTROL_METHODS
from ._control import ControlFunctionSystem as ControlFunctionSystem
from ._control import from_control as from_control
from ._control import to_control as to_control
from ._discrete import DISCRETIZATIONS as DISCRETIZATIONS
from ._discrete import DiscreteSystem as DiscreteSystem
from ._linear import LinearSystem as LinearSystem
from ._neural import NeuralSystem as NeuralSystem
from ._simulate import SOLVERS as SOLVERS
from ._simulate import Trajectory as Trajectory
from ._simulate import simulate as simulate
from ._symbolic import SymbolicSystem as SymbolicSystem
from ._trace import TRACED_OPERATIONS as TRACED_OPERATIONS
