"""Sound bound propagation: interval jets (value, gradient, Hessian enclosures) for the
operations of lyactrl's systems, candidates and conditions, with outward rounding.

Sits between conditions/regions and verification: :func:`lyactrl.certify` branches and bounds
with :func:`bound_residual`. The pieces these are built of (interval jets, the mean-value
form, the stock-forward rule) are in :mod:`lyactrl.bounds.jets`. An unsupported operation
raises
:class:`~lyactrl.UnsupportedOperationError` naming it and listing :data:`SUPPORTED`; there is
never a silent fallback to sampling. A module is bounded as what ``module(x)`` computes now:
recognised classes only with their stock ``forward``, custom forwards by a fresh ``torch.fx``
trace, and hooks or train-mode randomness refused
(:func:`lyactrl.bounds.jets.check_module_tree`).
"""

from . import jets as jets
from ._fx import FX_OPERATIONS as FX_OPERATIONS
from ._models import CANDIDATES as CANDIDATES
from ._models import SYSTEMS as SYSTEMS
from ._residual import CONDITIONS as CONDITIONS
from ._residual import Bounds as Bounds
from ._residual import bound_candidate as bound_candidate
from ._residual import bound_residual as bound_residual
from ._residual import bound_system as bound_system
from ._residual import proved_positive as proved_positive
from ._rounding import FP_MARGIN as FP_MARGIN
from ._stock import MODULE_OPERATIONS as MODULE_OPERATIONS
from ._sympy import SYMPY_OPERATIONS as SYMPY_OPERATIONS

#: Everything the certifier supports, by kind.
SUPPORTED = {
    "conditions": CONDITIONS,
    "systems": SYSTEMS,
    "candidates": CANDIDATES,
    "sympy operations": SYMPY_OPERATIONS,
    "torch modules": MODULE_OPERATIONS,
    "operations in a traced custom forward": FX_OPERATIONS,
}
