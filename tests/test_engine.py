"""The engine's rules on small menus made for each case, and its contract with adapters."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.engine import (
    CallStarted,
    CallState,
    Digits,
    Engine,
    Gather,
    Hangup,
    HungUp,
    Invoke,
    NoInput,
    RecordingDone,
    Say,
    SayAs,
    ServiceDone,
    ServiceFailed,
)
from ivr.engine.speech import say_value
from ivr.errors import EngineUsageError, StaleStateError
from ivr.harness import Call
from ivr.menu.loader import parse_menu
from ivr.menu.model import Menu
from ivr.services.registry import ServiceSpec

EN = {"en-US": "x"}

BASE: dict[str, Any] = {
    "id": "t",
    "version": "1",
    "languages": ["en-US"],
    "default_language": "en-US",
    "start": "top",
    "defaults": {
        "on_exhausted": "bye",
        "on_error": "sorry",
        "invalid_prompt": {"en-US": "Wrong key."},
        "no_input_prompt": {"en-US": "Nothing pressed."},
        "global_keys": {"*": {"action": "repeat"}, "#": {"action": "back"}, "0": {"action": "goto", "target": "bye"}},
    },
    "nodes": {
        "top": {
            "kind": "menu",
            "prompt": {"en-US": "Welcome. For a, press 1. For the number, press 2."},
            "short_prompt": {"en-US": "For a, press 1."},
            "options": {"1": "a", "2": "num", "3": "svc"},
        },
        "a": {"kind": "menu", "prompt": {"en-US": "Menu A. For b, press 1."}, "options": {"1": "b"}},
        "b": {"kind": "menu", "prompt": {"en-US": "Menu B."}, "options": {"1": "bye"}, "max_invalid": 1},
        "num": {
            "kind": "input",
            "var": "n",
            "prompt": {"en-US": "Enter 4 to 6 digits."},
            "min_length": 4,
            "max_length": 6,
            "confirm": {"en-US": "You entered {n:digits}. Press 1 to confirm, 2 to re-enter."},
            "next": "said",
        },
        "said": {"kind": "message", "prompt": {"en-US": "Thanks."}, "next": "top"},
        "svc": {
            "kind": "service",
            "service": "t.lookup",
            "args": {"q": "caller"},
            "outcomes": {"found": "found"},
            "default": "top",
        },
        "found": {"kind": "message", "prompt": {"en-US": "Ref {ref:digits}, due {due:date}."}, "next": "xfer"},
        "xfer": {"kind": "transfer", "to": "agent", "outcomes": {"busy": "vm"}},
        "vm": {"kind": "voicemail", "prompt": {"en-US": "Speak."}, "next": "bye"},
        "sorry": {"kind": "hangup", "prompt": {"en-US": "Sorry."}},
        "bye": {"kind": "hangup", "prompt": {"en-US": "Bye."}},
    },
}
SPECS = {"t.lookup": ServiceSpec("t.lookup", ("q",), ("found", "other"), ("ref", "due"))}


def make(**changes: Any) -> Menu:
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = doc
        for p in parents:
            target = target[p]
        target[last] = value
    return parse_menu(__import__("json").dumps(doc), services=SPECS)


@pytest.fixture
def small() -> Engine:
    return Engine(make())


def test_first_visit_long_prompt_later_visits_short(small: Engine) -> None:
    call = Call(small)
    assert "Welcome" in call.last_heard
    call.press("1").press("#")
    assert call.last_heard == "For a, press 1."


def test_invalid_prompt_then_short_prompt_inside_one_gather(small: Engine) -> None:
    call = Call(small).press("9")
    gather = call.actions[-1]
    assert isinstance(gather, Gather)
    assert [s.text for s in gather.prompts] == ["Wrong key.", "For a, press 1."]


def test_node_overrides_max_invalid(small: Engine) -> None:
    call = Call(small).press("1").press("1").press("7")
    assert call.ended and "Bye." in call.last_heard


def test_back_walks_up_the_trail_and_repeats_at_the_top(small: Engine) -> None:
    call = Call(small).press("1").press("1")
    assert call.node == "b"
    call.press("#")
    assert call.node == "a"
    call.press("#")
    assert call.node == "top"
    call.press("#")
    assert call.node == "top" and "Welcome" in call.last_heard


def test_global_key_can_be_switched_off_in_a_node() -> None:
    menu = make(nodes__a__global_keys={"0": None})
    call = Call(menu).press("1").press("0")
    assert call.node == "a" and call.state.invalid == 1


def test_option_wins_over_a_global_key() -> None:
    menu = make(nodes__a__options={"1": "b", "0": "top"})
    assert Call(menu).press("1").press("0").node == "top"


@pytest.mark.parametrize("keys", ["12", "", "x", "١", "\x00", "1" * 500, "**", "#"])
def test_odd_keys_in_a_menu_are_wrong_entries_not_errors(small: Engine, keys: str) -> None:
    call = Call(small).press("1")  # at menu "a", where "#" goes back and the rest is invalid
    call.press(keys)
    assert not call.ended
    if keys == "#":
        assert call.node == "top"
    elif keys == "":
        assert call.state.no_input == 1
    else:
        assert call.state.invalid == 1


def test_input_length_bounds_and_confirm(small: Engine) -> None:
    call = Call(small).press("2")
    gather = call.actions[-1]
    assert isinstance(gather, Gather) and (gather.min_digits, gather.max_digits, gather.finish_key) == (4, 6, "#")
    call.press("123")
    assert call.state.invalid == 1
    call.press("1234567")
    assert call.state.invalid == 2
    call.press("12*4")  # the third wrong entry: on to on_exhausted
    assert call.ended and "Bye." in call.last_heard


def test_confirm_reads_back_digit_by_digit(small: Engine) -> None:
    call = Call(small).press("2").press("4821")
    assert "You entered 4 8 2 1." in call.last_heard
    call.silence()
    assert "Nothing pressed." in call.last_heard and call.state.awaiting == "confirm"
    call.press("5")
    assert call.state.awaiting == "confirm" and call.state.invalid == 1
    call.press("1")
    assert "Thanks." in call.heard and call.node == "top"


def test_service_values_are_said_as_their_kind() -> None:
    call = Call(make(), {"t.lookup": lambda args: "found"})
    call.press("3")
    assert call.node == "xfer"
    call = Call(make(), {"t.lookup": lambda args: _found()})
    call.press("3")
    says = [a for a in call.actions if isinstance(a, Say)]
    parts = [p for s in says for p in s.parts if isinstance(p, SayAs)]
    assert [(p.how, p.text) for p in parts] == [("digits", "9 0 1"), ("date", "March 5, 2027")]


def _found() -> Any:
    return ServiceDone("found", {"ref": "901", "due": "2027-03-05"})


def test_unrouted_outcome_uses_default_and_failure_uses_on_error() -> None:
    assert Call(make(), {"t.lookup": "other"}).press("3").node == "top"
    call = Call(make(), {}).press("3")
    assert call.ended and "Sorry." in call.last_heard


def test_transfer_outcomes_and_voicemail() -> None:
    call = Call(make(), {"t.lookup": "found"}).press("3").transfer_ends("busy")
    assert call.state.awaiting == "recording"
    call.record(9)
    assert call.ended and call.state.vars["recording_seconds"] == "9"
    call = Call(make(), {"t.lookup": "found"}).press("3").transfer_ends("no-answer")
    assert call.ended and isinstance(call.actions[-1], Hangup)


def test_events_that_cannot_happen_are_the_adapters_fault(small: Engine) -> None:
    step = small.start(CallStarted())
    with pytest.raises(EngineUsageError):
        small.send(step.state, ServiceDone("found"))
    with pytest.raises(EngineUsageError):
        small.send(step.state, CallStarted())
    step = small.send(step.state, Digits("3"))
    assert isinstance(step.actions[-1], Invoke)
    with pytest.raises(EngineUsageError):
        small.send(step.state, Digits("1"))
    with pytest.raises(EngineUsageError):
        small.send(step.state, RecordingDone())


def test_hangup_ends_the_call_from_any_state(small: Engine) -> None:
    step = small.start(CallStarted())
    step = small.send(step.state, HungUp())
    assert step.actions == () and step.state.awaiting == "ended"
    with pytest.raises(EngineUsageError):
        small.send(step.state, NoInput())


def test_state_from_another_menu_version_is_stale(small: Engine) -> None:
    state = small.start(CallStarted()).state
    with pytest.raises(StaleStateError):
        small.send(state.evolve(menu_version="0"), NoInput())
    with pytest.raises(StaleStateError):
        small.send(state.evolve(node="gone"), NoInput())
    with pytest.raises(StaleStateError):
        CallState.from_json('{"node": 1}')
    with pytest.raises(StaleStateError):
        CallState.from_json("not json")


def test_the_stored_state_holds_every_field_and_reads_back_the_same(small: Engine) -> None:
    import dataclasses
    import json

    state = small.start(CallStarted(caller="+8613800000000")).state.evolve(
        vars={"caller": "+86138", "pw": "123456", "名": "李"},
        secret=("pw",),
        heard=("main",),
        trail=("main",),
        repeats=2,
    )
    text = state.to_json()
    assert set(json.loads(text)) == {f.name for f in dataclasses.fields(CallState)}
    assert CallState.from_json(text) == state
    assert "李" in text  # kept as it is, not escaped


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # what a form decodes to: no lone surrogates
_NAMES = st.lists(_TEXT, max_size=3).map(tuple)


@given(
    state=st.builds(
        CallState,
        menu_id=_TEXT,
        menu_version=_TEXT,
        node=_TEXT,
        awaiting=st.sampled_from(["digits", "confirm", "service", "transfer", "recording", "ended"]),
        language=_TEXT,
        vars=st.dictionaries(_TEXT, _TEXT, max_size=4),
        secret=_NAMES,
        no_input=st.integers(0, 9),
        invalid=st.integers(0, 9),
        heard=_NAMES,
        trail=_NAMES,
        repeats=st.integers(0, 9),
    ),
    node=_TEXT,
)
def test_any_state_is_stored_as_the_json_it_is_and_read_back_the_same(state: CallState, node: str) -> None:
    import dataclasses
    import json

    text = state.to_json()
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(CallState)}
    assert json.loads(text) == json.loads(json.dumps(fields, ensure_ascii=False))
    assert CallState.from_json(text) == state
    moved = state.evolve(node=node, no_input=state.no_input + 1)
    assert moved == dataclasses.replace(state, node=node, no_input=state.no_input + 1)


def test_service_failure_drops_passwords(small: Engine) -> None:
    state = small.start(CallStarted()).state.evolve(vars={"caller": "", "pw": "1234"}, secret=("pw",))
    state = small.send(state, Digits("3")).state
    step = small.send(state, ServiceFailed("db down"))
    assert "pw" not in step.state.vars and step.state.awaiting == "ended"


def test_redacted_vars_mask_ids_and_secrets() -> None:
    state = CallState(
        "m", "1", "n", "digits", "en-US", {"id": "110101199003074258", "pw": "864209", "c": "+86"}, ("pw",)
    )
    assert state.redacted_vars() == {"id": "110***********4258", "pw": "******", "c": "+86"}


@pytest.mark.parametrize(
    ("value", "how", "language", "spoken"),
    [
        ("2026-12-14", "date", "zh-CN", "2026年12月14日"),
        ("2026-12-14", "date", "en-US", "December 14, 2026"),
        ("not-a-date", "date", "en-US", "not-a-date"),
        ("11010519491231002X", "digits", "zh-CN", "1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2 X"),
        ("007", "number", "en-US", "7"),
        ("abc", "number", "en-US", "abc"),
    ],
)
def test_say_value(value: str, how: str, language: str, spoken: str) -> None:
    assert say_value(value, how, language) == spoken


def test_match_without_on_mismatch_asks_the_same_entry_again() -> None:
    menu = make(
        nodes__num__next="again",
        nodes__again={
            "kind": "input",
            "var": "m",
            "prompt": {"en-US": "Again."},
            "match": "n",
            "next": "said",
            "invalid_prompt": {"en-US": "Those differ."},
        },
    )
    call = Call(menu).press("2").press("4821").press("1").press("4822")
    assert call.node == "again" and call.state.invalid == 1 and "Those differ." in call.last_heard
    call.press("4821")
    assert "Thanks." in call.heard


def test_hanging_up_drops_what_was_keyed_in_secret(small: Engine) -> None:
    state = small.start(CallStarted()).state.evolve(vars={"caller": "", "pw": "1234"}, secret=("pw",))
    ended = small.send(state, HungUp()).state
    assert ended.awaiting == "ended" and "pw" not in ended.vars and ended.secret == ()
