"""Validation shared by the checks."""

from __future__ import annotations

from typing import Any

from .._errors import InvalidArgumentError, InvalidValueError
from ..conditions import AbstractCondition
from ..regions import AbstractRegion

__all__ = ["check_condition_region"]


def check_condition_region(condition: Any, region: Any) -> None:
    """Check the types of a condition and a region and that their dimensions agree."""
    if not isinstance(condition, AbstractCondition):
        raise InvalidArgumentError(
            f"condition: expected a condition (e.g. ExponentialStability), received "
            f"{type(condition).__name__}"
        )
    if not isinstance(region, AbstractRegion):
        raise InvalidArgumentError(
            f"region: expected a region (Box, Ball, Sublevel), received {type(region).__name__}"
        )
    if region.n_states != condition.n_states:
        raise InvalidValueError(
            f"region: expected a region on {condition.n_states} states to match the condition, "
            f"received one on {region.n_states}"
        )
