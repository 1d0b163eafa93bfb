"""The jet toolkit, for code that builds on the certifier (lyactrl's own ``verify`` and
``robust`` layers, or a user's extension).

:mod:`lyactrl.bounds` exports what a user calls (``bound_residual``, ``bound_candidate``,
``bound_system``, ``proved_positive``, ``Bounds``, ``SUPPORTED``); this module exports the
pieces those are made of: the interval jet (:class:`Jet`: value, gradient and Hessian
enclosures with outward rounding), the jets of systems, candidates and residuals, the
mean-value form, integer powers, the machine epsilon the rounding margins use, and the
stock-forward rule that decides which modules are bounded by formula.
"""

from ._functions import ipow as ipow
from ._functions import powi as powi
from ._interval import iadd as iadd
from ._interval import ilinear as ilinear
from ._interval import imul as imul
from ._interval import iscale as iscale
from ._interval import symmetric_upper_eig as symmetric_upper_eig
from ._jet import Jet as Jet
from ._models import candidate_jets as candidate_jets
from ._models import system_jet as system_jet
from ._models import time_jet as time_jet
from ._residual import mean_value_bounds as mean_value_bounds
from ._residual import residual_jet as residual_jet
from ._rounding import EPS as EPS
from ._rounding import sum_bounds as sum_bounds
from ._stock import check_module_tree as check_module_tree
from ._stock import dropout_is_identity as dropout_is_identity
from ._stock import is_stock as is_stock
from ._sympy import expr_jet as expr_jet
from ._torch import module_jet as module_jet
from ._torch import relaxed_mlps as relaxed_mlps
