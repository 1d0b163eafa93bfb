"""Meta-tests of the public API: docstrings, documented parameters, keyword checking, API pages.

The public names are read from ``lyactrl/__init__.py`` (every ``from ... import X as X``), from
``lyactrl.plot.__all__`` and from the curated ``__init__`` of every public subpackage, so new
names are checked as soon as they are exported.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

import lyactrl
import lyactrl.plot

#: Subpackages whose curated exports are public API (beyond the top level).
SUBPACKAGES = (
    "systems",
    "lyapunov",
    "conditions",
    "sdp",
    "bounds",
    "bounds.jets",
    "verify",
    "robust",
    "train",
    "train.lyanet",
    "synthesis",
    "cli",
)

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "lyactrl" / "__init__.py"
API_DIR = ROOT / "docs" / "api"

# Gaps found in other modules, kept here so that the suite stays green until they are fixed;
# each entry is "<check>:<name>". The lead removes entries as the gaps are closed (a test
# below fails on entries that no longer correspond to a gap, so the list cannot go stale).
KNOWN_GAPS: set[str] = set()

_SELF = ("self", "cls")


def _exported() -> list[str]:
    return re.findall(r"^from \S+ import (\w+) as \1\b", INIT.read_text(), re.M)


def _package_exports(name: str) -> list[str]:
    mod = importlib.import_module(f"lyactrl.{name}")
    src = Path(mod.__file__).read_text()  # type: ignore[arg-type]
    return re.findall(r"^from \S+ import (\w+) as \1\b", src, re.M)


def public_objects() -> dict[str, object]:
    """``"lyactrl.X"`` / ``"lyactrl.pkg.x"`` -> object, for every public name (each object
    once, under its shortest public name)."""
    out: dict[str, object] = {f"lyactrl.{n}": getattr(lyactrl, n) for n in _exported()}
    out.update({f"lyactrl.plot.{n}": getattr(lyactrl.plot, n) for n in lyactrl.plot.__all__})
    seen = {id(v) for v in out.values()}
    for pkg in SUBPACKAGES:
        mod = importlib.import_module(f"lyactrl.{pkg}")
        for n in _package_exports(pkg):
            obj = getattr(mod, n)
            if inspect.ismodule(obj) or id(obj) in seen or not (callable(obj)):
                continue
            seen.add(id(obj))
            out[f"lyactrl.{pkg}.{n}"] = obj
    return out


PUBLIC = public_objects()


# --- numpydoc parsing -----------------------------------------------------------------------
_HEADER = re.compile(r"^(\S[^\n]*)\n-{3,}\s*$", re.M)


def _sections(doc: str) -> dict[str, str]:
    heads = list(_HEADER.finditer(doc))
    out = {}
    for k, m in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(doc)
        out[m.group(1).strip()] = doc[m.end() : end]
    return out


def documented_parameters(doc: str | None) -> set[str] | None:
    """Names in the Parameters (and Other Parameters) sections, or None without a section."""
    if not doc:
        return None
    secs = _sections(inspect.cleandoc(doc))
    bodies = [secs[s] for s in ("Parameters", "Other Parameters") if s in secs]
    if not bodies:
        return None
    names: set[str] = set()
    for body in bodies:
        for line in body.splitlines():
            if not line.strip() or line[0].isspace():
                continue
            head = line.split(" : ")[0].split(":")[0] if " : " in line else line
            for name in head.split(","):
                name = name.strip().lstrip("*").strip("`")
                if name:
                    names.add(name)
    return names


def test_documented_parameters_parser():
    doc = """Summary.

    Parameters
    ----------
    x : int
        The x.
    rtol, atol : float
        Tolerances.
    n_samples, squared
        As elsewhere.
    *args
        Extra.

    Returns
    -------
    y : int
    """
    assert documented_parameters(doc) == {"x", "rtol", "atol", "n_samples", "squared", "args"}
    assert documented_parameters("Summary only.") is None


# --- what to check --------------------------------------------------------------------------
def _is_exception(obj: object) -> bool:
    return inspect.isclass(obj) and issubclass(obj, BaseException)


def _signature_target(obj: object):
    """(callable whose signature is documented, docstrings to read) or None to skip."""
    if inspect.isfunction(obj):
        return obj, [obj.__doc__]
    if not inspect.isclass(obj) or _is_exception(obj) or inspect.isabstract(obj):
        return None
    if dataclasses.is_dataclass(obj):
        return None  # results: built by the library, documented by their attributes
    init = obj.__dict__.get("__init__")
    if init is None:
        return None
    return init, [obj.__doc__, init.__doc__]


def _params(fn) -> list[inspect.Parameter]:
    sig = inspect.signature(fn)
    return [p for p in sig.parameters.values() if p.name not in _SELF]


def gaps_docstrings() -> set[str]:
    return {f"docstring:{n}" for n, o in PUBLIC.items() if not (o.__doc__ or "").strip()}


def gaps_parameters() -> set[str]:
    gaps = set()
    for name, obj in PUBLIC.items():
        target = _signature_target(obj)
        if target is None:
            continue
        fn, docs = target
        params = _params(fn)
        required = {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        optional = {p.name for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        found = [d for d in (documented_parameters(doc) for doc in docs) if d is not None]
        if not required:
            continue
        if not found:
            gaps.add(f"params-missing-section:{name}")
            continue
        documented = set().union(*found)
        for p in sorted(required - documented):
            gaps.add(f"params-undocumented:{name}({p})")
        for p in sorted(documented - required - optional):
            gaps.add(f"params-not-in-signature:{name}({p})")
    return gaps


def _keyword_callables() -> dict[str, object]:
    """Public functions, concrete constructors and public methods with keyword-only params."""
    out: dict[str, object] = {}
    for name, obj in PUBLIC.items():
        if inspect.isfunction(obj):
            out[name] = obj
        elif inspect.isclass(obj) and not _is_exception(obj):
            if not inspect.isabstract(obj) and not dataclasses.is_dataclass(obj):
                init = obj.__dict__.get("__init__")
                if init is not None:
                    out[name] = init
            for attr, raw in vars(obj).items():
                if attr.startswith("_"):
                    continue
                fn = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
                if inspect.isfunction(fn) and not getattr(fn, "__isabstractmethod__", False):
                    out[f"{name}.{attr}"] = fn
    return {
        n: fn
        for n, fn in out.items()
        if any(p.kind is p.KEYWORD_ONLY for p in inspect.signature(fn).parameters.values())
    }


KEYWORD_CALLABLES = _keyword_callables()


def gaps_unknown_keyword() -> set[str]:
    """Call each with placeholder positionals and a bogus keyword; expect the lyactrl error.

    ``checked_kwargs`` checks keywords before running the function, and Python rejects an
    unexpected keyword before the body runs, so placeholders (None) are never used.
    """
    gaps = set()
    for name, fn in KEYWORD_CALLABLES.items():
        sig = inspect.signature(fn)
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            # options collected in **kwargs: must be checked inside (check_options); the
            # decorator cannot see them, so require an explicit marker of that check
            src = inspect.getsource(inspect.unwrap(fn))
            if "check_options" not in src:
                gaps.add(f"kwargs:{name}")
            continue
        raw = inspect.unwrap(fn)
        n_pos = sum(
            1
            for p in inspect.signature(raw).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        )
        try:
            fn(*([None] * n_pos), not_an_option_xyz=1)
        except lyactrl.UnknownArgumentError as exc:
            if "not_an_option_xyz" not in str(exc):
                gaps.add(f"kwargs:{name}")
        except Exception:  # noqa: BLE001 - any other outcome is the gap
            gaps.add(f"kwargs:{name}")
        else:
            gaps.add(f"kwargs:{name}")
    return gaps


def gaps_api_pages() -> set[str]:
    text = "\n".join(p.read_text() for p in sorted(API_DIR.glob("*.md")))
    entries = set(re.findall(r"^:::\s+(\S+)\s*$", text, re.M))
    return {f"api:{name}" for name in PUBLIC if name not in entries}


# --- the tests ------------------------------------------------------------------------------
def test_public_names_are_found():
    assert "lyactrl.LinearSystem" in PUBLIC and "lyactrl.check_sampled" in PUBLIC
    assert "lyactrl.plot.phase_portrait" in PUBLIC
    assert len(PUBLIC) >= 50


def test_every_public_name_has_a_docstring():
    assert gaps_docstrings() - KNOWN_GAPS == set()


def test_documented_parameters_match_signatures():
    assert gaps_parameters() - KNOWN_GAPS == set()


def test_unknown_keywords_raise_unknown_argument_error():
    assert KEYWORD_CALLABLES, "expected public callables with keyword-only parameters"
    assert gaps_unknown_keyword() - KNOWN_GAPS == set()


def test_every_public_name_is_in_the_api_reference():
    assert gaps_api_pages() - KNOWN_GAPS == set()


def test_known_gaps_are_still_gaps():
    """An entry of KNOWN_GAPS that is fixed must be removed from the list."""
    current = gaps_docstrings() | gaps_parameters() | gaps_unknown_keyword() | gaps_api_pages()
    assert KNOWN_GAPS - current == set()


@pytest.mark.parametrize("name", ["lyactrl.simulate", "lyactrl.Box", "lyactrl.plot.decay_plot"])
def test_checks_catch_a_planted_gap(name, monkeypatch):
    """The checks are not vacuous: a missing docstring and an unchecked keyword are found."""
    obj = PUBLIC[name]
    monkeypatch.setattr(obj, "__doc__", "")
    assert f"docstring:{name}" in gaps_docstrings()

    def plain(a, *, option=1):
        """Doc.

        Parameters
        ----------
        a : int
            A.
        option : int
            O.
        """

    monkeypatch.setitem(KEYWORD_CALLABLES, "planted", plain)
    assert "kwargs:planted" in gaps_unknown_keyword()
