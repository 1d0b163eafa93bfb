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
from .lyapunov import SOSResult as SOSResult
from .lyapunov import SquaredError as SquaredError
from .lyapunov import SymbolicCandidate as SymbolicCandidate
from .lyapunov import best_quadratic_rate as best_quadratic_rate
from .lyapunov import sos_level as sos_level
from .lyapunov import sos_lyapunov as sos_lyapunov
from .lyapunov import sos_roa as sos_roa
from .regions import AbstractRegion as AbstractRegion
from .regions import Ball as Ball
from .regions import Box as Box
from .regions import Sublevel as Sublevel

# --- robustness (issue 5) ---
from .robust import CertifiedRadius as CertifiedRadius
from .robust import LipschitzBound as LipschitzBound
from .robust import attack_accuracy as attack_accuracy
from .robust import certified_radius as certified_radius
from .robust import lipschitz_bound as lipschitz_bound
from .robust import pgd_attack as pgd_attack
from .robust import quadratic_iss as quadratic_iss
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

# --- training (issue 4) ---
from .train import BoxSampler as BoxSampler
from .train import ConditionLoss as ConditionLoss
from .train import CounterexampleBuffer as CounterexampleBuffer
from .train import GaussianSampler as GaussianSampler
from .train import LyaNetBallSampler as LyaNetBallSampler
from .train import LyaNetClassifier as LyaNetClassifier
from .train import MixtureSampler as MixtureSampler
from .train import StableDynamics as StableDynamics
from .train import TrainingAdapter as TrainingAdapter
from .train import TrajectorySampler as TrajectorySampler
from .train import UniformBallSampler as UniformBallSampler
from .train import build_classifier as build_classifier
from .train import evaluate_classifier as evaluate_classifier
from .train import load_checkpoint as load_checkpoint
from .train import load_classifier as load_classifier
from .train import save_checkpoint as save_checkpoint
from .train import train_classifier as train_classifier

# --- certification (issue 3) ---
from .verify import Certificate as Certificate
from .verify import DecayBound as DecayBound
from .verify import Falsification as Falsification
from .verify import LMIRate as LMIRate
from .verify import LyapunovFit as LyapunovFit
from .verify import RateResult as RateResult
from .verify import RegionOfAttraction as RegionOfAttraction
from .verify import SampledCheck as SampledCheck
from .verify import SimulatedROA as SimulatedROA
from .verify import certify as certify
from .verify import check_sampled as check_sampled
from .verify import falsify as falsify
from .verify import fit_lyapunov as fit_lyapunov
from .verify import lmi_rate as lmi_rate
from .verify import max_certified_rate as max_certified_rate
from .verify import region_of_attraction as region_of_attraction
from .verify import simulated_region_of_attraction as simulated_region_of_attraction
from .verify import volume_ratio as volume_ratio

__version__ = "0.1.0"
