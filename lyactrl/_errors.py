"""Exception classes.

Every error lyactrl raises for misuse derives from :class:`LyactrlError` and from the matching
built-in exception, so ``except ValueError`` keeps working in user code. Messages name the
argument, what was expected and what was received.
"""

from __future__ import annotations

__all__ = [
    "LyactrlError",
    "InvalidValueError",
    "ShapeError",
    "NonFiniteError",
    "NotPositiveDefiniteError",
    "NotHurwitzError",
    "NotStabilizableError",
    "InvalidArgumentError",
    "UnknownArgumentError",
    "UnsupportedOperationError",
    "MissingDependencyError",
    "CheckpointError",
]


class LyactrlError(Exception):
    """Base class of every error raised by lyactrl."""


class InvalidValueError(LyactrlError, ValueError):
    """An argument has the right type but an invalid value."""


class ShapeError(InvalidValueError):
    """An array or tensor argument has the wrong shape."""


class NonFiniteError(InvalidValueError):
    """An argument contains NaN or Inf."""


class NotPositiveDefiniteError(InvalidValueError):
    """A matrix that must be symmetric positive definite is not."""


class NotHurwitzError(InvalidValueError):
    """A linearisation that must be Hurwitz (all eigenvalues in the open left half-plane) is not."""


class NotStabilizableError(InvalidValueError):
    """A plant's linearisation has an unstable mode that no input reaches (the PBH test fails)."""


class InvalidArgumentError(LyactrlError, TypeError):
    """An argument has the wrong type."""


class UnknownArgumentError(InvalidArgumentError):
    """A keyword argument is not accepted by the function."""


class UnsupportedOperationError(LyactrlError, TypeError):
    """A model uses an operation that the requested method does not support."""


class MissingDependencyError(LyactrlError, ImportError):
    """An optional dependency is needed but not installed."""


class CheckpointError(LyactrlError, ValueError):
    """A checkpoint file is missing, truncated, corrupted or of the wrong kind."""
