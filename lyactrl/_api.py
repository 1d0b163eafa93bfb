"""Small helpers shared by the public API: keyword checking and lazy optional imports."""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from ._errors import InvalidValueError, MissingDependencyError, UnknownArgumentError

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["checked_kwargs", "optional_import", "check_options", "choice"]


def _unknown(name: str, key: str, accepted: list[str]) -> UnknownArgumentError:
    close = difflib.get_close_matches(key, accepted, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownArgumentError(
        f"{name}() got an unknown keyword argument {key!r}; expected one of "
        f"{sorted(accepted)}.{hint}"
    )


def checked_kwargs(fn: F) -> F:
    """Make unknown keyword arguments raise :class:`UnknownArgumentError`.

    Python raises a bare ``TypeError`` for them; this decorator raises lyactrl's subclass with
    the accepted names and a close match. The check is a set lookup per keyword.
    """
    sig = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return fn
    accepted = [
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
    ]
    accepted_set = frozenset(accepted)
    qual = fn.__qualname__.replace(".__init__", "")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for key in kwargs:
            if key not in accepted_set:
                raise _unknown(qual, key, accepted)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def check_options(name: str, options: dict[str, Any], accepted: list[str]) -> None:
    """Raise :class:`UnknownArgumentError` if ``options`` has keys outside ``accepted``."""
    for key in options:
        if key not in accepted:
            raise _unknown(name, key, accepted)


def optional_import(module: str, extra: str | None = None) -> ModuleType:
    """Import a heavy or optional dependency lazily, or raise an error that says how to get it.

    ``extra`` names the lyactrl extra that brings an optional package (``"control"``); core
    dependencies that are imported lazily only for speed (sympy, cvxpy) pass ``None``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        how = f"pip install 'lyactrl[{extra}]'" if extra else f"pip install {module}"
        raise MissingDependencyError(
            f"this feature needs the package {module!r}; install it with `{how}` "
            f"(received ImportError: {exc})"
        ) from exc


def choice(value: Any, name: str, registry: Any, *, aliases: dict[Any, str] | None = None) -> str:
    """Validate a strategy given as a string against its one registry.

    ``registry`` is the tuple (or mapping, by its keys) of accepted names; ``aliases`` maps
    other accepted spellings to a name of the registry. Returns the canonical name; anything
    else raises :class:`~lyactrl.InvalidValueError` naming the argument and the accepted set.

    Examples
    --------
    >>> from lyactrl._api import choice
    >>> choice("rk4", "method", ("rk4", "euler"))
    'rk4'
    """
    accepted = tuple(registry)
    if aliases and _hashable(value) and value in aliases:
        return aliases[value]
    if isinstance(value, str) and value in accepted:
        return value
    close = difflib.get_close_matches(value, accepted, n=1) if isinstance(value, str) else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InvalidValueError(f"{name}: expected one of {accepted}, received {value!r}.{hint}")


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
