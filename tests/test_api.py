"""The public-API helpers (``lyactrl/_api.py``): strategy names validated by ``choice``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lyactrl
from lyactrl._api import choice

METHODS = ("rk4", "euler", "dopri5")


@pytest.mark.parametrize("name", METHODS)
def test_choice_returns_an_accepted_name(name):
    out = choice(name, "method", METHODS)
    assert out == name and type(out) is str


def test_choice_reads_the_keys_of_a_mapping_registry():
    registry = {"product": 1, "lipsdp": 2}
    assert choice("lipsdp", "method", registry) == "lipsdp"
    with pytest.raises(lyactrl.InvalidValueError, match=r"\('product', 'lipsdp'\)"):
        choice(1, "method", registry)


def test_choice_maps_aliases_to_their_canonical_name():
    aliases = {"RK4": "rk4", 2: "euler", None: "dopri5", "l2": "rk4"}
    assert choice("RK4", "method", METHODS, aliases=aliases) == "rk4"
    assert choice(2, "method", METHODS, aliases=aliases) == "euler"
    assert choice(None, "method", METHODS, aliases=aliases) == "dopri5"
    assert choice("euler", "method", METHODS, aliases=aliases) == "euler"
    with pytest.raises(lyactrl.InvalidValueError):
        choice(3, "method", METHODS, aliases=aliases)


def test_choice_error_names_argument_accepted_set_and_received_with_a_hint():
    with pytest.raises(lyactrl.InvalidValueError) as info:
        choice("eulr", "integrator", METHODS)
    msg = str(info.value)
    assert msg.startswith("integrator: expected one of ('rk4', 'euler', 'dopri5')")
    assert "received 'eulr'" in msg and msg.endswith("Did you mean 'euler'?")


def test_choice_gives_no_hint_without_a_close_match():
    with pytest.raises(lyactrl.InvalidValueError) as info:
        choice("zzzzzz", "method", METHODS)
    assert "Did you mean" not in str(info.value)


@pytest.mark.parametrize("bad", [None, 4, 1.5, ("rk4",), ["rk4"], {"rk4": 1}, b"rk4"])
def test_choice_rejects_non_string_input_with_the_lyactrl_error(bad):
    with pytest.raises(lyactrl.InvalidValueError) as info:
        choice(bad, "method", METHODS, aliases={"x": "rk4"})
    msg = str(info.value)
    assert f"received {bad!r}" in msg and "Did you mean" not in msg
    assert isinstance(info.value, ValueError)  # also the builtin, for callers that catch it


@given(st.text(max_size=8))
def test_choice_accepts_exactly_the_registry(value):
    if value in METHODS:
        assert choice(value, "method", METHODS) == value
    else:
        with pytest.raises(lyactrl.InvalidValueError, match="^method: expected one of"):
            choice(value, "method", METHODS)
