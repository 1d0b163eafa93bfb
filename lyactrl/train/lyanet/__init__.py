"""LyaNet: classifiers whose logits follow a learned flow, trained by a sampled Lyapunov loss.

The classifier (:class:`LyaNetClassifier`, :func:`build_classifier`), its two training rules
(LyaNet's :func:`lyanet_loss`, the Neural ODE baseline :func:`node_loss`), training,
evaluation and loading (:func:`train_classifier`, :func:`evaluate_classifier`,
:func:`load_classifier`), the data sets it is trained on (:func:`load_digits`,
:func:`load_mnist`, :func:`load_cifar10`, :func:`load_dataset`) and the demo run.
The two-moons toy model of the LyaNet figure (:func:`train_toy`) lives here too.
"""

from ._augment import random_shift as random_shift
from ._classifier import DYNAMICS as DYNAMICS
from ._classifier import ENCODERS as ENCODERS
from ._classifier import ODE_METHODS as ODE_METHODS
from ._classifier import POTENTIALS as POTENTIALS
from ._classifier import LyaNetClassifier as LyaNetClassifier
from ._classifier import MLPDynamics as MLPDynamics
from ._classifier import Normalize as Normalize
from ._classifier import VertexDynamics as VertexDynamics
from ._classifier import build_classifier as build_classifier
from ._classifier_fit import LR_SCHEDULES as LR_SCHEDULES
from ._classifier_fit import LYANET_DEFAULTS as LYANET_DEFAULTS
from ._classifier_fit import OPTIMIZERS as OPTIMIZERS
from ._classifier_fit import TRAIN_DEFAULTS as TRAIN_DEFAULTS
from ._classifier_fit import evaluate_classifier as evaluate_classifier
from ._classifier_fit import load_classifier as load_classifier
from ._classifier_fit import train_classifier as train_classifier
from ._data import DATASETS as DATASETS
from ._data import DataError as DataError
from ._data import Dataset as Dataset
from ._data import load_cifar10 as load_cifar10
from ._data import load_dataset as load_dataset
from ._data import load_digits as load_digits
from ._data import load_mnist as load_mnist
from ._data import read_idx as read_idx
from ._demo import run_lyanet_demo as run_lyanet_demo
from ._lyanet import METHODS as METHODS
from ._lyanet import SAMPLE_AROUND as SAMPLE_AROUND
from ._lyanet import lyanet_condition_loss as lyanet_condition_loss
from ._lyanet import lyanet_loss as lyanet_loss
from ._lyanet import lyapunov_residual as lyapunov_residual
from ._lyanet import node_loss as node_loss
from ._lyanet import sample_states as sample_states
from ._official import GainSchedule as GainSchedule
from ._official import OfficialDynamics as OfficialDynamics
from ._official import official_preset as official_preset
from ._official import official_rate as official_rate
from ._toy import SCALE as SCALE
from ._toy import TOY_POTENTIALS as TOY_POTENTIALS
from ._toy import WINDOW as WINDOW
from ._toy import ToyModel as ToyModel
from ._toy import ToyResult as ToyResult
from ._toy import grid_starts as grid_starts
from ._toy import toy_potential as toy_potential
from ._toy import train_toy as train_toy
