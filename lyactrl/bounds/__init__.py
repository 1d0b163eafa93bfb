"""Sound bound propagation: interval jets (value, gradient, Hessian enclosures) for the
operations of lyactrl's systems, candidates and conditions, with outward rounding.

Sits between conditions/regions and verification: :func:`lyactrl.certify` branches and bounds
with :func:`bound_residual`. An unsupported operation raises
:class:`~lyactrl.UnsupportedOperationError` naming it and listing :data:`SUPPORTED`; there is
never a silent fallback to sampling. A module is bounded as what ``module(x)`` computes now:
recognised classes only with their stock ``forward``, custom forwards by a fresh ``torch.fx``
trace, and hooks or train-mode randomness refused (:func:`check_module_tree`).
"""

from ._functions import ipow as ipow
from ._functions import powi as powi
from ._fx import FX_OPERATIONS as FX_OPERATIONS
from ._jet import Jet as Jet
from ._models import CANDIDATES as CANDIDATES
from ._models import SYSTEMS as SYSTEMS
from ._models import candidate_jets as candidate_jets
from ._models import system_jet as system_jet
from ._models import time_jet as time_jet
from ._residual import CONDITIONS as CONDITIONS
from ._residual import Bounds as Bounds
from ._residual import bound_candidate as bound_candidate
from ._residual import bound_residual as bound_residual
from ._residual import bound_system as bound_system
from ._residual import mean_value_bounds as mean_value_bounds
from ._residual import proved_positive as proved_positive
from ._residual import residual_jet as residual_jet
from ._rounding import EPS as EPS
from ._rounding import FP_MARGIN as FP_MARGIN
from ._stock import MODULE_OPERATIONS as MODULE_OPERATIONS
from ._stock import check_module_tree as check_module_tree
from ._stock import is_stock as is_stock
from ._sympy import SYMPY_OPERATIONS as SYMPY_OPERATIONS
from ._sympy import expr_jet as expr_jet
from ._torch import module_jet as module_jet

#: Everything the certifier supports, by kind.
SUPPORTED = {
    "conditions": CONDITIONS,
    "systems": SYSTEMS,
    "candidates": CANDIDATES,
    "sympy operations": SYMPY_OPERATIONS,
    "torch modules": MODULE_OPERATIONS,
    "operations in a traced custom forward": FX_OPERATIONS,
}
