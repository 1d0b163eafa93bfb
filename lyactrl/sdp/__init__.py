"""Semidefinite programming (cvxpy): LMI rates, SOS Lyapunov functions and polynomials.

Every cvxpy solve of lyactrl goes through :func:`solve_problem` (Clarabel, then SCS).
"""

from ._lmi import LMIRate as LMIRate
from ._lmi import lmi_rate as lmi_rate
from ._lmi import verify_quadratic_rate as verify_quadratic_rate
from ._polynomials import MonomialIndex as MonomialIndex
from ._polynomials import evaluate_monomials as evaluate_monomials
from ._polynomials import monomials as monomials
from ._solve import SOLVERS as SOLVERS
from ._solve import SolveOutcome as SolveOutcome
from ._solve import check_solver as check_solver
from ._solve import solve_problem as solve_problem
from ._sos import SOSResult as SOSResult
from ._sos import sos_lyapunov as sos_lyapunov
from ._sos_level import sos_level as sos_level
from ._sos_roa import sos_roa as sos_roa
