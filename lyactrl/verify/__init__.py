"""Verification: sampled checks, falsification and certification."""

from ._falsify import Falsification as Falsification
from ._falsify import falsify as falsify
from ._results import STATUSES as STATUSES
from ._sampled import SampledCheck as SampledCheck
from ._sampled import check_sampled as check_sampled
from ._sampled import violation_probability_bound as violation_probability_bound
