"""The one torch <-> numpy boundary, and validation of tensors handed in by users."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._errors import InvalidArgumentError, InvalidValueError, NonFiniteError, ShapeError

__all__ = [
    "as_states",
    "as_matrix",
    "as_vector",
    "as_positive",
    "check_finite",
    "to_numpy",
    "float_dtype",
    "positive_int",
    "unit_fraction",
    "as_equilibrium",
    "to_tensor",
]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def to_tensor(value: Any, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        t = value
    elif isinstance(value, (np.ndarray, list, tuple, float, int, np.floating, np.integer)):
        try:
            arr = np.asarray(value)
        except ValueError as exc:
            raise ShapeError(f"{name}: expected a rectangular array, received {value!r}") from exc
        if arr.dtype == object:
            raise InvalidArgumentError(
                f"{name}: expected a numeric array or tensor, received an object array"
            )
        t = torch.from_numpy(np.array(arr, copy=True))
        if not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool:
            t = t.to(torch.float64)
    else:
        raise InvalidArgumentError(
            f"{name}: expected a torch tensor or numpy array, received {type(value).__name__}"
        )
    if t.dtype not in _FLOATS:
        raise InvalidArgumentError(
            f"{name}: expected a floating-point tensor (float32 or float64), received dtype "
            f"{t.dtype}; convert with x.double() or x.float()"
        )
    if dtype is not None:
        t = t.to(dtype)
    return t


def check_finite(t: torch.Tensor, name: str) -> torch.Tensor:
    """Raise :class:`NonFiniteError` if ``t`` holds NaN or Inf."""
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise NonFiniteError(
            f"{name}: expected finite values, received {bad} NaN/Inf entries in a tensor of "
            f"shape {tuple(t.shape)}"
        )
    return t


def as_states(
    x: Any, n_states: int, *, name: str = "x", dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Validate a batch of states: shape ``(batch, n_states)``, floating point, finite.

    A 1-D input of length ``n_states`` is read as a batch of one.
    """
    t = to_tensor(x, name, dtype)
    if t.ndim == 1 and t.shape[0] == n_states:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[1] != n_states:
        raise ShapeError(f"{name}: expected shape (batch, {n_states}), received {tuple(t.shape)}")
    return check_finite(t, name)


def as_vector(
    v: Any, n: int | None = None, *, name: str = "x", dtype: torch.dtype | None = torch.float64
) -> torch.Tensor:
    """Validate a 1-D finite vector, of length ``n`` when given."""
    t = to_tensor(v, name, dtype)
    if t.ndim != 1 or (n is not None and t.shape[0] != n):
        want = f"({n},)" if n is not None else "(n,)"
        raise ShapeError(f"{name}: expected shape {want}, received {tuple(t.shape)}")
    return check_finite(t, name)


def as_matrix(
    m: Any,
    *,
    name: str = "A",
    square: bool = True,
    rows: int | None = None,
    cols: int | None = None,
    dtype: torch.dtype | None = torch.float64,
) -> torch.Tensor:
    """Validate a finite 2-D matrix (square unless ``square=False``)."""
    t = to_tensor(m, name, dtype)
    if t.ndim != 2 or (square and t.shape[0] != t.shape[1]):
        want = "a square matrix (n, n)" if square else "a matrix (rows, cols)"
        raise ShapeError(f"{name}: expected {want}, received shape {tuple(t.shape)}")
    if (rows is not None and t.shape[0] != rows) or (cols is not None and t.shape[1] != cols):
        raise ShapeError(
            f"{name}: expected shape ({rows if rows is not None else 'rows'}, "
            f"{cols if cols is not None else 'cols'}), received {tuple(t.shape)}"
        )
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ShapeError(f"{name}: expected a non-empty matrix, received shape {tuple(t.shape)}")
    return check_finite(t, name)


def as_positive(value: Any, *, name: str, allow_zero: bool = False) -> float:
    """Validate a finite scalar > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value)
        else:
            raise InvalidArgumentError(
                f"{name}: expected a real number, received {type(value).__name__}"
            )
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidValueError(f"{name}: expected a finite number {bound}, received {value!r}")
    return v


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """Detach, move to the CPU and convert to numpy."""
    return t.detach().cpu().numpy()


def float_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """The widest floating dtype among ``tensors`` (float64 when none is given)."""
    dts = [t.dtype for t in tensors if t is not None and t.is_floating_point()]
    if not dts:
        return torch.float64
    return torch.float64 if torch.float64 in dts else dts[0]


def positive_int(value: Any, name: str, *, allow_zero: bool = False) -> int:
    """Validate an int >= 1 (>= 0 with ``allow_zero``; bools rejected)."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        want = "an int >= 0" if allow_zero else "a positive int"
        raise InvalidValueError(f"{name}: expected {want}, received {value!r}")
    return value


def unit_fraction(value: Any, name: str) -> float:
    """Validate a number in ``[0, 1)`` (a share held out, a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InvalidValueError(f"{name}: expected a number in [0, 1), received {value!r}")
    return float(value)


def as_equilibrium(x_eq: Any, n: int) -> torch.Tensor:
    """The equilibrium argument: zeros of length ``n`` when ``None``, else a validated vector."""
    if x_eq is None:
        return torch.zeros(n, dtype=torch.float64)
    return as_vector(x_eq, n, name="x_eq")
