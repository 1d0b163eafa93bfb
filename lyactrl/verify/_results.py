"""Result objects shared by the checks: a status, the time spent, the method, ``to_dict``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

__all__ = ["STATUSES", "jsonable", "ResultMixin"]

#: Every status a check can return.
#: ``certified``: proved on the whole region (sound, floating-point margin stated);
#: ``falsified``: a concrete state where the residual is > 0 was found and re-evaluated;
#: ``holds_on_samples``: no violation among the samples (a statistical statement, not a proof);
#: ``unknown``: neither proved nor refuted within the budget.
STATUSES = ("certified", "falsified", "holds_on_samples", "unknown")


def jsonable(value: Any) -> Any:
    """Convert tensors, arrays and nested containers into JSON-serialisable Python values."""
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, np.integer)):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


class ResultMixin:
    """``to_dict`` for the frozen dataclasses that hold results."""

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-serialisable dict."""
        return {
            f.name: jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }
