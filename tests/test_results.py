"""Results (``lyactrl/_results.py``): the status vocabulary, exit codes, JSON and the field set
every result dataclass shares."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import pkgutil
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lyactrl
from lyactrl._results import (
    EXIT_BAD_INPUT,
    STATUSES,
    VERDICTS,
    ResultMixin,
    Status,
    exit_code,
    jsonable,
)
from lyactrl.cli._verify import EPILOG

# --- Status -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_status_compares_equal_to_its_string_and_prints_it(status):
    assert status == status.value and status.value == status
    assert hash(status) == hash(status.value)  # usable as the string in dicts and sets
    assert str(status) == status.value
    assert f"{status}" == status.value
    assert f"{status:>20}" == f"{status.value:>20}"
    assert repr(status) == repr(status.value)
    assert Status.of(status.value) is status and Status.of(status) is status
    assert json.dumps(status) == json.dumps(status.value)


def test_status_of_rejects_unknown_strings():
    for bad in ("Certified", "proved", "", "certified "):
        with pytest.raises(ValueError, match="is not a valid Status"):
            Status.of(bad)
    with pytest.raises(ValueError):
        Status.of(0)


def test_statuses_and_verdicts_are_the_members():
    assert STATUSES == tuple(s.value for s in Status) and len(set(STATUSES)) == len(Status)
    assert set(VERDICTS) == {"certified", "falsified", "holds_on_samples", "unknown"}


# --- exit codes -------------------------------------------------------------------------------

#: 0 holds, 1 refuted, 2 unknown: one row per member, so a new member needs a decision here.
EXPECTED_EXIT = {
    "certified": 0,
    "holds_on_samples": 0,
    "feasible": 0,
    "estimated": 0,
    "completed": 0,
    "stopped_early": 0,
    "falsified": 1,
    "infeasible": 1,
    "diverged": 1,
    "unknown": 2,
}


def test_every_status_has_its_exit_code():
    assert set(EXPECTED_EXIT) == set(STATUSES)
    for status in Status:
        assert exit_code(status) == EXPECTED_EXIT[status.value]
        assert exit_code(status.value) == EXPECTED_EXIT[status.value]
    with pytest.raises(ValueError):
        exit_code("maybe")


def _epilog_codes() -> dict[int, str]:
    block = EPILOG.split("exit codes:")[1].split("\n\n")[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\s+(\d)\s+(.+)$", block, re.M)}


def test_exit_codes_match_the_cli_epilog():
    codes = _epilog_codes()
    assert sorted(codes) == [0, 1, 2, 3]
    # the statuses `lyactrl verify` can end with, each named on the line of its code
    for status, phrase in (
        (Status.CERTIFIED, "certified"),
        (Status.HOLDS_ON_SAMPLES, "holds on samples"),
        (Status.FALSIFIED, "falsified"),
        (Status.UNKNOWN, "unknown"),
    ):
        code = exit_code(status)
        assert phrase in codes[code], (status, code, codes[code])
        assert all(phrase not in text for c, text in codes.items() if c != code)
    assert "bad input" in codes[EXIT_BAD_INPUT]
    assert EXIT_BAD_INPUT not in {exit_code(s) for s in Status}


# --- jsonable ---------------------------------------------------------------------------------


def test_jsonable_tensors_arrays_and_non_finite_floats():
    x = torch.tensor([[1.0, float("nan")], [float("inf"), -float("inf")]], requires_grad=True)
    assert jsonable(x) == [[1.0, "nan"], ["inf", "-inf"]]
    assert jsonable(torch.tensor(2.5)) == 2.5
    assert jsonable(torch.tensor([True, False])) == [True, False]
    assert jsonable(torch.arange(3)) == [0, 1, 2]
    assert jsonable(np.array([[1, 2]], dtype=np.int32)) == [[1, 2]]
    assert jsonable(np.array([np.nan, 0.5])) == ["nan", 0.5]
    assert jsonable(np.float32(0.5)) == 0.5 and type(jsonable(np.float32(0.5))) is float
    assert jsonable(np.int64(7)) == 7 and type(jsonable(np.int64(7))) is int
    assert jsonable(np.float64("inf")) == "inf"
    assert jsonable(math.nan) == "nan"


def test_jsonable_containers_enums_and_other_objects():
    value = {1: (Status.CERTIFIED, None), "k": [torch.zeros(0), {"deep": np.ones(2)}]}
    assert jsonable(value) == {"1": ["certified", None], "k": [[], {"deep": [1.0, 1.0]}]}
    obj = object()
    assert jsonable(obj) == repr(obj)
    assert jsonable(slice(1, 2)) == "slice(1, 2, None)"


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.builds(lambda v: np.array(v), st.lists(st.floats(), max_size=4)),
    st.builds(
        lambda v: torch.tensor(v, dtype=torch.float64), st.lists(st.floats(width=64), max_size=4)
    ),
    st.sampled_from(list(Status)),
)
_nested = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3),
    ),
    max_leaves=12,
)


def _same(a, b) -> bool:
    """``b`` (from JSON) is ``jsonable``'s image of ``a``: finite floats kept, others named."""
    if isinstance(a, enum_types):
        return b == a.value
    if isinstance(a, (torch.Tensor, np.ndarray)):
        return _same(a.tolist(), b)
    if isinstance(a, float):
        return b == a if math.isfinite(a) else b == str(a)
    if isinstance(a, dict):
        return set(b) == {str(k) for k in a} and all(_same(v, b[str(k)]) for k, v in a.items())
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return a == b and type(a) is type(b)


enum_types = (Status,)


@given(_nested)
def test_jsonable_output_is_strict_json_and_keeps_the_values(value):
    out = jsonable(value)
    text = json.dumps(out, allow_nan=False)  # no NaN/Infinity tokens
    back = json.loads(text)
    if not _has_colliding_keys(value):
        assert _same(value, back)


def _has_colliding_keys(value) -> bool:
    """``{1: a, "1": b}`` collapses to one key: such inputs are only checked to be JSON."""
    if isinstance(value, dict):
        keys = [str(k) for k in value]
        return len(set(keys)) < len(keys) or any(map(_has_colliding_keys, value.values()))
    if isinstance(value, (list, tuple)):
        return any(map(_has_colliding_keys, value))
    return False


# --- ResultMixin.to_dict ----------------------------------------------------------------------


def test_to_dict_of_a_certificate_with_its_decay_bound_is_json():
    sys = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    V = lyactrl.Quadratic(torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64)))
    cert = lyactrl.certify(
        lyactrl.ExponentialStability(sys, V, rate=1.0), lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    )
    assert cert.status == "certified" and isinstance(cert.decay_bound, lyactrl.DecayBound)
    d = cert.to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert set(back) == {f.name for f in dataclasses.fields(cert)}
    assert back["status"] == "certified" and back["method"] == "certify"
    assert back["decay_bound"] == cert.decay_bound.to_dict()
    # V = x1^2 + 4 x2^2 and rate 1: c = sqrt(4 / 1), alpha = rate / 2
    assert back["decay_bound"]["status"] == "certified"
    assert back["decay_bound"]["alpha"] == 0.5
    assert back["decay_bound"]["c"] == pytest.approx(2.0, rel=1e-12)
    assert back["counterexamples"] == [] and back["undecided_lo"] == []
    assert back["local_lo"] == cert.local_lo.tolist()


def test_to_dict_names_non_finite_fields_and_nests_results():
    bound = lyactrl.DecayBound(
        status=Status.CERTIFIED,
        method="decay_bound",
        seconds=0.0,
        message="",
        c=math.inf,
        alpha=0.5,
        lambda_1=0.0,
        lambda_2=math.inf,
        rate=1.0,
        invariant=False,
    )

    @dataclasses.dataclass(frozen=True)
    class Outer(ResultMixin):
        status: Status
        inner: list
        table: dict

    d = Outer(Status.UNKNOWN, [bound], {"x": torch.tensor([math.nan])}).to_dict()
    assert d["status"] == "unknown" and isinstance(d["status"], str)
    assert d["inner"][0]["c"] == "inf" and d["inner"][0]["lambda_2"] == "inf"
    assert d["inner"][0]["invariant"] is False
    assert d["table"] == {"x": ["nan"]}
    json.dumps(d, allow_nan=False)


# --- every result has status, method, seconds, message ----------------------------------------

REQUIRED = ("status", "method", "seconds", "message")

#: Result classes that do not have the field set yet, as "<class>:<missing field>". A test
#: below fails on an entry that is no longer a gap, so the list cannot go stale.
KNOWN_GAPS: set[str] = set()  # every result has the field set

#: Results the brief names; the collection below must find them (it is not vacuous).
NAMED = {
    "Certificate",
    "RegionOfAttraction",
    "RateResult",
    "SampledCheck",
    "Falsification",
    "SimulatedROA",
    "LyapunovFit",
    "DecayBound",
    "LMIRate",
    "SOSResult",
    "FitResult",
    "CertifiedRadius",
    "LipschitzBound",
}


def _import_all() -> None:
    for mod in pkgutil.walk_packages(lyactrl.__path__, "lyactrl."):
        if not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def _exported_results() -> dict[str, type]:
    """Dataclasses that are results, exported by lyactrl or one of its packages."""
    _import_all()
    found: dict[str, type] = {}
    for mod in [lyactrl, *vars(lyactrl).values()]:
        if not inspect.ismodule(mod) or not mod.__name__.startswith("lyactrl"):
            continue
        for sub in [mod, *(v for v in vars(mod).values() if inspect.ismodule(v))]:
            for attr, obj in vars(sub).items():
                if attr.startswith("_") or not inspect.isclass(obj):
                    continue
                if dataclasses.is_dataclass(obj) and issubclass(obj, ResultMixin):
                    found[obj.__name__] = obj
    return found


def _all_results() -> dict[str, type]:
    _import_all()
    subs = {c for c in _subclasses(ResultMixin) if c.__module__.startswith("lyactrl.")}
    return {c.__name__: c for c in subs}


def _gaps(classes: dict[str, type]) -> set[str]:
    gaps = set()
    for name, cls in classes.items():
        assert dataclasses.is_dataclass(cls), name
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for req in REQUIRED:
            if req not in fields:
                gaps.add(f"{name}:{req}")
        if "status" in fields and fields["status"].type not in ("Status", Status):
            gaps.add(f"{name}:status-type")
        if fields.get("seconds") is not None and fields["seconds"].type not in ("float", float):
            gaps.add(f"{name}:seconds-type")
        for old in ("reason", "statement"):
            if old in fields:
                gaps.add(f"{name}:{old}")
    return gaps


def test_the_collection_finds_the_exported_results():
    exported = _exported_results()
    assert NAMED <= set(exported), NAMED - set(exported)
    assert set(exported) <= set(_all_results())
    for name in NAMED & set(vars(lyactrl)):
        assert exported[name] is getattr(lyactrl, name)


def test_every_result_has_status_method_seconds_message():
    assert _gaps(_all_results()) - KNOWN_GAPS == set()


def test_known_result_gaps_are_still_gaps():
    assert KNOWN_GAPS - _gaps(_all_results()) == set()


def test_the_field_check_catches_a_planted_gap():
    @dataclasses.dataclass(frozen=True)
    class Planted(ResultMixin):
        status: Status
        method: str
        reason: str

    assert _gaps({"Planted": Planted}) == {"Planted:seconds", "Planted:message", "Planted:reason"}
