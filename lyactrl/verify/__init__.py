"""Verification: sampled checks, falsification and certification.

Every sound search runs on one branch-and-bound engine (:func:`branch_and_bound`), which asks
each region type its geometry from a registry (:func:`register_geometry`); the geometry of
Box, Ball, Sublevel and Band is registered on import, one module each.
"""

from .._results import STATUSES as STATUSES
from . import _geometry_ball, _geometry_box, _geometry_sublevel  # noqa: F401
from ._branch_and_bound import Budget as Budget
from ._branch_and_bound import Frontier as Frontier
from ._branch_and_bound import SearchOutcome as SearchOutcome
from ._branch_and_bound import branch_and_bound as branch_and_bound
from ._certify import Certificate as Certificate
from ._certify import certify as certify
from ._containment import Containment as Containment
from ._containment import prove_contained as prove_contained
from ._counterexamples import RTOL as RTOL
from ._decay import DecayBound as DecayBound
from ._decay import decay_bound as decay_bound
from ._decay import quadratic_bounds as quadratic_bounds
from ._equilibrium import Equilibrium as Equilibrium
from ._equilibrium import find_equilibrium as find_equilibrium
from ._equilibrium import krawczyk as krawczyk
from ._falsify import Falsification as Falsification
from ._falsify import falsify as falsify
from ._fit_lyapunov import LyapunovFit as LyapunovFit
from ._fit_lyapunov import fit_lyapunov as fit_lyapunov
from ._fit_lyapunov import linear_decrease as linear_decrease
from ._front import RateLevelFront as RateLevelFront
from ._front import rate_level_front as rate_level_front
from ._geometry import AbstractGeometry as AbstractGeometry
from ._geometry import register_geometry as register_geometry
from ._positive import PositiveDefiniteness as PositiveDefiniteness
from ._positive import prove_positive_definite as prove_positive_definite
from ._rate import DEFAULT_RATE_FRACTION as DEFAULT_RATE_FRACTION
from ._rate import RateResult as RateResult
from ._rate import default_rate as default_rate
from ._rate import local_rate_limit as local_rate_limit
from ._rate import max_certified_rate as max_certified_rate
from ._roa import RegionOfAttraction as RegionOfAttraction
from ._roa import region_of_attraction as region_of_attraction
from ._sampled import SampledCheck as SampledCheck
from ._sampled import check_sampled as check_sampled
from ._sampled import violation_probability_bound as violation_probability_bound
from ._simulated_roa import SimulatedROA as SimulatedROA
from ._simulated_roa import grid_points as grid_points
from ._simulated_roa import simulated_region_of_attraction as simulated_region_of_attraction
from ._simulated_roa import volume_ratio as volume_ratio
