"""Robustness: Lipschitz bounds, perturbation (ISS) bounds, certified radii, attacks."""

from ._attacks import ATTACKS as ATTACKS
from ._attacks import AttackResult as AttackResult
from ._attacks import attack_accuracy as attack_accuracy
from ._attacks import pgd_attack as pgd_attack
from ._lipschitz import METHODS as METHODS
from ._lipschitz import LipschitzBound as LipschitzBound
from ._lipschitz import lipschitz_bound as lipschitz_bound
from ._norms import NORMS as NORMS
from ._norms import check_norm as check_norm
from ._perturbation import QuadraticISS as QuadraticISS
from ._perturbation import disturbance_bound as disturbance_bound
from ._perturbation import quadratic_iss as quadratic_iss
from ._perturbation import simulate_worst_case as simulate_worst_case
from ._perturbation import ultimate_bound as ultimate_bound
from ._radius import CertifiedRadius as CertifiedRadius
from ._radius import certified_radius as certified_radius
from ._rates import radius_from_rate as radius_from_rate
from ._rates import rates_delta as rates_delta
from ._sensitivity import Sensitivity as Sensitivity
from ._sensitivity import classifier_sensitivity as classifier_sensitivity
from ._square import square_attack as square_attack
from ._tube import Tube as Tube
from ._tube import enclose_tube as enclose_tube
