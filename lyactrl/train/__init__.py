"""Training: sampled constraint losses, samplers, the training adapter, LyaNet.

The engine (condition losses, samplers, the adapter, :func:`fit`, checkpoints) is imported
before the :mod:`lyactrl.train.lyanet` application, which builds on it. Distributed helpers
live in :mod:`lyactrl.train.distributed`; ``write_json`` in :mod:`lyactrl.train.checkpoint`.
"""

from ..conditions import hinge_loss as hinge_loss
from ._adapter import TrainingAdapter as TrainingAdapter
from ._condition_loss import ConditionLoss as ConditionLoss
from ._fit import FitResult as FitResult
from ._fit import fit as fit
from ._projection import StableDynamics as StableDynamics
from ._samplers import AbstractSampler as AbstractSampler
from ._samplers import BoxSampler as BoxSampler
from ._samplers import CounterexampleBuffer as CounterexampleBuffer
from ._samplers import GaussianSampler as GaussianSampler
from ._samplers import LyaNetBallSampler as LyaNetBallSampler
from ._samplers import MixtureSampler as MixtureSampler
from ._samplers import RegionSampler as RegionSampler
from ._samplers import TrajectorySampler as TrajectorySampler
from ._samplers import UniformBallSampler as UniformBallSampler
from .checkpoint import Checkpoint as Checkpoint
from .checkpoint import load_checkpoint as load_checkpoint
from .checkpoint import save_checkpoint as save_checkpoint
from .lyanet import LyaNetClassifier as LyaNetClassifier
from .lyanet import MLPDynamics as MLPDynamics
from .lyanet import Normalize as Normalize
from .lyanet import VertexDynamics as VertexDynamics
from .lyanet import build_classifier as build_classifier
from .lyanet import evaluate_classifier as evaluate_classifier
from .lyanet import load_classifier as load_classifier
from .lyanet import lyanet_loss as lyanet_loss
from .lyanet import lyapunov_residual as lyapunov_residual
from .lyanet import node_loss as node_loss
from .lyanet import run_lyanet_demo as run_lyanet_demo
from .lyanet import sample_states as sample_states
from .lyanet import train_classifier as train_classifier
