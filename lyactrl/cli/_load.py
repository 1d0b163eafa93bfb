"""Code the user hands to the command line: ``PATH.py:ATTR`` files and what they define.

Errors raised by that code are the user's, not lyactrl's: :func:`user_code` turns them into a
:class:`UserCodeError` naming the object and the exception, and :func:`raised_in_user_file`
recognises a later exception whose traceback passes through a loaded file.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._errors import InvalidValueError, LyactrlError

__all__ = [
    "UserCodeError",
    "load_attr",
    "user_code",
    "raised_in_user_file",
    "describe_user_error",
    "forget_user_files",
    "call_factory",
]

_LOADED: set[str] = set()


class UserCodeError(LyactrlError):
    """Code from a file given on the command line (or a model it defines) raised an exception."""


@contextmanager
def user_code(what: str, hint: str = "") -> Iterator[None]:
    """Run user code: any exception but a :class:`~lyactrl.LyactrlError` becomes bad input.

    Examples
    --------
    >>> from lyactrl.cli._load import UserCodeError, user_code
    >>> try:
    ...     with user_code("SYSTEM my.py:f"):
    ...         int("x")
    ... except UserCodeError as exc:
    ...     print(exc)
    SYSTEM my.py:f raised ValueError: invalid literal for int() with base 10: 'x'
    """
    try:
        yield
    except LyactrlError:
        raise
    except Exception as exc:
        message = f"{what} raised {type(exc).__name__}: {exc}"
        raise UserCodeError(message + (f" ({hint})" if hint else "")) from exc


def load_attr(spec: str, *, name: str) -> Any:
    """The attribute ``ATTR`` of the Python file ``PATH`` named by ``spec = "PATH.py:ATTR"``.

    ``name`` is the command-line argument (``"SYSTEM"``, ``"--candidate"``) named in errors.

    Examples
    --------
    >>> from lyactrl.cli._load import load_attr
    >>> load_attr("no_such_file.py:system", name="SYSTEM")
    Traceback (most recent call last):
    ...
    lyactrl._errors.InvalidValueError: SYSTEM: 'no_such_file.py' is not a file
    """
    path, _, attr = spec.rpartition(":")
    if not path or not attr:
        raise InvalidValueError(f"{name}: expected PATH.py:ATTR, received {spec!r}")
    file = Path(path)
    if not file.is_file():
        raise InvalidValueError(f"{name}: {path!r} is not a file")
    module_spec = importlib.util.spec_from_file_location(file.stem, file)
    if module_spec is None or module_spec.loader is None:
        raise InvalidValueError(f"{name}: cannot import {path!r} (expected a Python file)")
    module = importlib.util.module_from_spec(module_spec)
    _LOADED.add(os.path.realpath(file))
    with user_code(f"{name} {spec}: importing {path!r}"):
        module_spec.loader.exec_module(module)
    if not hasattr(module, attr):
        raise InvalidValueError(f"{name}: {path!r} has no attribute {attr!r}")
    return getattr(module, attr)


def call_factory(obj: Any, what: str) -> Any:
    """``obj()`` when ``obj`` is a function or class callable without arguments, else ``obj``.

    Examples
    --------
    >>> from lyactrl.cli._load import call_factory
    >>> call_factory(lambda: 42, "SYSTEM f.py:make"), call_factory(abs, "SYSTEM f.py:abs") is abs
    (42, True)
    """
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return obj
    try:
        required = [
            p
            for p in inspect.signature(obj).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):  # no signature to read: leave it alone
        return obj
    if required:
        return obj
    with user_code(what):
        return obj()


def raised_in_user_file(exc: BaseException) -> bool:
    """Whether ``exc``'s traceback passes through a file loaded by :func:`load_attr`."""
    return any(_in_user_file(frame.filename) for frame in traceback.extract_tb(exc.__traceback__))


def _in_user_file(filename: str) -> bool:
    return os.path.realpath(filename) in _LOADED


def describe_user_error(exc: BaseException) -> str:
    """``"<file>, line <n>: <Exception>: <message>"`` at the innermost frame in a user file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _in_user_file(f.filename)]
    where = f"{frames[-1].filename}, line {frames[-1].lineno}: " if frames else ""
    return f"{where}{type(exc).__name__}: {exc}"


def forget_user_files() -> None:
    """Start a new command: no file is loaded yet."""
    _LOADED.clear()
