"""What ``lyactrl verify`` checks: the system, the region and the candidate ``V``, from the
command line's arguments (expressions, or ``PATH.py:ATTR`` files of the user's own code)."""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._errors import InvalidArgumentError, InvalidValueError, LyactrlError
from .._tensors import positive_int
from ._load import call_factory, load_attr, user_code

__all__ = [
    "Candidate",
    "CANDIDATES",
    "DEFAULT_RATE",
    "build_system",
    "build_region",
    "build_candidate",
    "probe_system",
    "parse_params",
]

#: The built-in kinds of ``--candidate`` (anything else is read as ``PATH.py:ATTR``).
CANDIDATES = ("quadratic", "sos", "neural")

#: Rate used when ``--rate`` is not given and the default rate policy
#: (:func:`lyactrl.verify.default_rate`, half the local limit at x_eq) has no answer for V.
DEFAULT_RATE = 0.1

_TX_HINT = "a module called as module(t, x) needs --inputs t,x"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A candidate ``V`` (``None`` when the search for one failed, ``message`` says why) and
    the rate to check when ``--rate`` is not given."""

    V: Any
    rate: float
    message: str = ""


def parse_params(items: list[str]) -> dict[str, float]:
    """The ``--param NAME=NUMBER`` options as a dict."""
    params = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            params[name.strip()] = float(value)
        except ValueError as exc:
            raise InvalidValueError(f"--param: expected NAME=NUMBER, received {item!r}") from exc
    return params


def _expr_system(args: argparse.Namespace) -> Any:
    from .. import SymbolicSystem

    if not args.states:
        raise InvalidValueError("--expr: needs --states, e.g. --states x1,x2")
    params = parse_params(args.param)
    exprs = [e.strip() for e in args.expr.split(",")]
    n = len([s for s in args.states.replace(",", " ").split() if s])
    x_eq = _x_eq(args, n)
    with _as_x_eq_error():
        return SymbolicSystem(exprs, args.states, parameters=params, x_eq=x_eq)


def _x_eq(args: argparse.Namespace, n: int) -> list[float] | None:
    """The numbers of ``--x-eq`` (``None`` when not given), one per state."""
    text = getattr(args, "x_eq", None)
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise InvalidValueError(
            f"--x-eq: expected {n} comma-separated numbers, received {text!r}"
        ) from exc
    if len(values) != n:
        raise InvalidValueError(
            f"--x-eq: expected {n} numbers (one per state), received {len(values)}: {text!r}"
        )
    return values


@contextmanager
def _as_x_eq_error() -> Iterator[None]:
    """A constructor's complaint about ``x_eq`` is about ``--x-eq``."""
    try:
        yield
    except LyactrlError as exc:
        if not str(exc).startswith("x_eq:"):
            raise
        raise type(exc)("--x-eq" + str(exc)[len("x_eq") :]) from exc


def _file_system_x_eq(args: argparse.Namespace, system: Any) -> Any:
    """A lyactrl system from a file keeps its own ``x_eq``; ``--x-eq`` may only repeat it."""
    import torch

    x_eq = _x_eq(args, system.n_states)
    if x_eq is None:
        return system
    given = torch.tensor(x_eq, dtype=torch.float64)
    if system.x_eq_declared and torch.allclose(system.x_eq.to(given), given):
        return system
    raise InvalidValueError(
        f"--x-eq: SYSTEM {args.system} is a lyactrl system with x_eq="
        f"{system.x_eq.tolist()}{'' if system.x_eq_declared else ' (a default)'}; received "
        f"{x_eq}. --x-eq sets the equilibrium of --expr and nn.Module systems; give x_eq= to "
        "the lyactrl system's constructor in the file instead"
    )


def build_system(args: argparse.Namespace) -> Any:
    """The system of ``--expr`` or of ``SYSTEM`` (a lyactrl system, a python-control system
    converted by :func:`~lyactrl.from_control`, an ``nn.Module``, or a function returning one
    of these, defined in a Python file)."""
    import torch

    from .. import NeuralSystem
    from ..systems import AbstractSystem

    if (args.system is None) == (args.expr is None):
        raise InvalidArgumentError("SYSTEM, --expr: give exactly one of PATH.py:ATTR and --expr")
    if args.expr is not None:
        return _expr_system(args)
    what = f"SYSTEM {args.system}"
    obj = load_attr(args.system, name="SYSTEM")
    obj = call_factory(obj, what)
    if _is_control_system(obj):
        from .. import from_control

        obj = from_control(obj)
    if isinstance(obj, AbstractSystem):
        return _file_system_x_eq(args, obj)
    if not isinstance(obj, torch.nn.Module):
        raise InvalidArgumentError(
            "SYSTEM: expected a lyactrl system, a python-control system or an nn.Module, "
            f"received {type(obj).__name__}"
        )
    if args.n_states is None:
        raise InvalidValueError("--n-states: an nn.Module system needs it, received none")
    x_eq = _x_eq(args, positive_int(args.n_states, "--n-states"))
    with user_code(what, hint=_TX_HINT if args.inputs == "x" else ""), _as_x_eq_error():
        return NeuralSystem(obj, args.n_states, inputs=args.inputs, x_eq=x_eq)


def _is_control_system(obj: Any) -> bool:
    """Whether ``obj`` is a python-control ``StateSpace`` or ``NonlinearIOSystem`` (without
    importing python-control when the user's file did not)."""
    import sys

    ct = sys.modules.get("control")
    return ct is not None and isinstance(obj, (ct.StateSpace, ct.NonlinearIOSystem))


def build_region(args: argparse.Namespace, n: int) -> Any:
    """The box of ``--box LO,HI ...`` (one pair per state)."""
    from .. import Box

    if not args.box:
        raise InvalidValueError(f"--box: expected {n} LO,HI pairs, received none")
    if len(args.box) != n:
        raise InvalidValueError(
            f"--box: expected {n} LO,HI pairs (one per state), received {len(args.box)}"
        )
    lo, hi = [], []
    for pair in args.box:
        try:
            a, b = (float(v) for v in pair.split(","))
        except ValueError as exc:
            raise InvalidValueError(f"--box: expected LO,HI numbers, received {pair!r}") from exc
        lo.append(a)
        hi.append(b)
    return Box(lo, hi)


def _sos(args: argparse.Namespace, system: Any, region: Any) -> Candidate:
    from .. import sos_lyapunov

    rate = args.rate if args.rate is not None else DEFAULT_RATE
    found = sos_lyapunov(system, degree=args.sos_degree, rate=rate, domain=region)
    if found.V is None or str(found.status) != "feasible":
        why = (
            f"--candidate sos: no SOS Lyapunov function of degree {args.sos_degree} with rate "
            f"{rate:g} on the box ({found.status}: {found.message}); this refutes nothing"
        )
        return Candidate(None, rate, why)
    return Candidate(found.V, rate)


def _neural(args: argparse.Namespace, system: Any, region: Any) -> Candidate:
    from .. import fit_lyapunov

    rate = args.rate if args.rate is not None else 0.01
    fit = fit_lyapunov(
        system,
        region,
        rate=rate,
        steps=positive_int(args.neural_steps, "--neural-steps"),
        grid=positive_int(args.neural_grid, "--neural-grid"),
        certify=False,  # lyactrl verify checks V itself, with --method
        seed=args.seed,
        progress=progress_option(args),
    )
    return Candidate(fit.V, rate)


def _from_file(args: argparse.Namespace, system: Any, region: Any) -> Candidate:
    import torch

    from .. import AbstractCandidate

    what = f"--candidate {args.candidate}"
    V = load_attr(args.candidate, name="--candidate")
    V = call_factory(V, what)
    if not isinstance(V, AbstractCandidate):
        raise InvalidArgumentError(
            f"--candidate: expected a lyactrl candidate (e.g. lyactrl.Quadratic) or a function "
            f"returning one, received {type(V).__name__}"
        )
    x = region.sample(4, generator=torch.Generator().manual_seed(0))
    with user_code(what + " evaluated on states of the box"):
        V(x)
        V.grad(x)
    return Candidate(V, _policy_rate(system, V))


def _policy_rate(system: Any, V: Any) -> float:
    """The default rate policy where ``V`` allows it, else :data:`DEFAULT_RATE`."""
    from .._errors import LyactrlError
    from ..verify import default_rate

    try:
        return default_rate(system, V)
    except LyactrlError:
        return DEFAULT_RATE


def build_candidate(args: argparse.Namespace, system: Any, region: Any) -> Candidate:
    """The candidate of ``--candidate``: ``quadratic`` (from the linearisation), ``sos`` (an
    SOS search on the box), ``neural`` (``fit_lyapunov`` on the box) or ``PATH.py:ATTR`` (a
    lyactrl candidate, or a function returning one); checked at the default rate policy
    (:func:`lyactrl.verify.default_rate`) unless ``--rate`` is given."""
    from .. import Quadratic
    from ..verify import default_rate

    if args.candidate == "quadratic":
        V = Quadratic.from_linearization(system)
        return Candidate(V, default_rate(system, V))
    if args.candidate == "sos":
        return _sos(args, system, region)
    if args.candidate == "neural":
        return _neural(args, system, region)
    return _from_file(args, system, region)


def probe_system(args: argparse.Namespace, system: Any, region: Any) -> None:
    """Evaluate a system from a file once on states of the box, so its errors are the user's."""
    import torch

    if args.system is None:
        return
    x = region.sample(4, generator=torch.Generator().manual_seed(0))
    hint = _TX_HINT if getattr(args, "inputs", "x") == "x" else ""
    what = f"SYSTEM {args.system} evaluated on states of the box"
    with _cli_spelling(what), user_code(what, hint=hint):
        system(x)


@contextmanager
def _cli_spelling(what: str) -> Iterator[None]:
    """An API message that says ``inputs='t,x'`` says ``--inputs t,x`` on the command line."""
    try:
        yield
    except InvalidArgumentError as exc:
        text = str(exc)
        if "inputs=" not in text:
            raise
        cli = re.sub(r"inputs='([^']*)'", r"--inputs \1", text)
        raise InvalidArgumentError(f"{what}: {cli}") from exc


def locate_equilibrium(args: argparse.Namespace, system: Any, region: Any) -> tuple[Any, Any]:
    """Find and prove the equilibrium of an ``nn.Module`` system when none is given.

    When ``--x-eq`` is not given and ``f`` does not vanish at the default ``x_eq = 0`` (a
    trained network with biases), :func:`~lyactrl.find_equilibrium` looks for a root in the
    box and proves it; the system is then centred there, and the proved box is returned for
    the condition's ``x_eq_box``. Returns ``(system, equilibrium or None)``.
    """
    import torch

    from .. import NeuralSystem, find_equilibrium

    if getattr(args, "x_eq", None) is not None or not isinstance(system, NeuralSystem):
        return system, None
    if system.x_eq_declared:
        return system, None
    with torch.no_grad():
        at_zero = system(system.x_eq[None])
    if bool((at_zero == 0).all()):
        return system, None
    eq = find_equilibrium(system, region=region)
    if str(eq.status) != "certified":
        return system, eq
    centred = NeuralSystem(system.module, system.n_states, inputs=system.inputs, x_eq=eq.x)
    return centred, eq


def progress_option(args: argparse.Namespace) -> bool | None:
    """Progress bars on a terminal, none with ``--json`` or ``--quiet``."""
    return False if (getattr(args, "json", False) or getattr(args, "quiet", False)) else None
