"""Conditions: residual functions whose value ``<= 0`` means satisfied at a state.

One condition object serves sampled checks, falsification, sound certification and training:
its residual is written once (:meth:`AbstractCondition.combine`) and evaluated on tensors or
bounded on jets; it owns the equilibrium ``x_eq`` and the margin rule (see
:mod:`lyactrl.conditions._base`).
"""

from ._barrier import BarrierCondition as BarrierCondition
from ._base import AbstractCondition as AbstractCondition
from ._decrease import Decrease as Decrease
from ._exponential import ExponentialStability as ExponentialStability
from ._hinge import hinge_loss as hinge_loss
