"""The menu language's flow features: variables, switches, audio parts, voices, silence that ends a call, repeat limits.

A menu written for these tests exercises each feature through the in-memory
call (:class:`ivr.harness.Call`); the TwiML writer's answers for them are
checked against Twilio's schema.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ivr.engine import Hangup, Play, Record, Say, Transfer
from ivr.engine.conditions import holds
from ivr.errors import MenuError
from ivr.harness import Call
from ivr.menu.loader import parse_menu
from ivr.menu.model import Condition, Menu
from ivr.phone.twiml import Gather as TwimlGather
from ivr.phone.twiml import Play as TwimlPlay
from ivr.phone.twiml import Record as TwimlRecord
from ivr.phone.twiml import Say as TwimlSay
from ivr.web.twiml import TwimlWriter
from tests.twiml_tools import Twiml, assert_valid_twiml

FLOW: dict[str, Any] = {
    "id": "flow",
    "version": "1",
    "languages": ["en-US"],
    "default_language": "en-US",
    "start": "greet",
    "defaults": {"on_exhausted": "bye", "max_node_repeats": 3},
    "nodes": {
        "greet": {
            "kind": "input",
            "var": "widgets.greet.Digits",
            "validate": "keys",
            "max_length": 4,
            "finish_key": "#",
            "prompt": [
                {"say": {"en-US": "Bienvenido."}, "language": "es-ES", "voice": "Polly.Conchita"},
                {"play": "https://example.com/jingle.mp3", "loop": 2},
                {"en-US": "Press 1 for sales, 2 or 3 for support."},
            ],
            "on_no_input": "hang_up",
            "next": "route",
        },
        "route": {
            "kind": "switch",
            "value": "{widgets.greet.Digits}",
            "cases": [
                {"if": {"equal_to": "1"}, "next": "sales"},
                {"if": {"matches_any_of": ["2", "3"]}, "next": "support"},
                {"if": {"regex": "^9[0-9]+$", "less_than": 1000}, "next": "remember"},
                {"if": {"starts_with": "*"}, "next": "again"},
            ],
            "default": "invalid",
        },
        "invalid": {"kind": "message", "prompt": {"en-US": "That is not an option."}, "next": "greet"},
        "remember": {
            "kind": "set",
            "vars": {"flow.code": "{widgets.greet.Digits}", "flow.said": "code {widgets.greet.Digits}"},
            "next": "tell",
        },
        "tell": {"kind": "message", "prompt": {"en-US": "You keyed {flow.code:digits}, {flow.said}."}, "next": "bye"},
        "again": {
            "kind": "input",
            "var": "again",
            "validate": "keys",
            "prompt": {"en-US": "Still there?"},
            "on_no_input": "again",
            "next": "bye",
        },
        "sales": {"kind": "transfer", "to": "+15551230001"},
        "support": {"kind": "transfer", "to": "+15551230002", "outcomes": {"no-answer": "message"}},
        "message": {
            "kind": "voicemail",
            "max_seconds": 30,
            "finish_key": "1#",
            "silence": 3,
            "beep": False,
            "on_no_audio": "hang_up",
            "next": "bye",
        },
        "bye": {"kind": "hangup", "prompt": {"en-US": "Goodbye."}},
        "hang_up": {"kind": "hangup"},
    },
}


def flow(**changes: Any) -> Menu:
    doc = copy.deepcopy(FLOW)
    doc.update(changes)
    return parse_menu(json.dumps(doc))


def problems(doc: dict[str, Any]) -> list[str]:
    try:
        parse_menu(json.dumps(doc))
    except MenuError as exc:
        return [f"{p.path}: {p.message}" for p in exc.problems]
    return []


def test_keys_route_through_a_switch_to_the_right_number() -> None:
    assert isinstance(Call(flow()).press("1").actions[-1], Transfer)
    assert Call(flow()).press("1").actions[-1] == Transfer("+15551230001", 30)
    assert Call(flow()).press("3").actions[-1] == Transfer("+15551230002", 30)


def test_a_value_no_case_matches_takes_the_default_and_loops_back() -> None:
    call = Call(flow()).press("5")
    assert "That is not an option." in call.last_heard
    assert call.node == "greet"
    assert "Press 1 for sales" in call.last_heard


def test_silence_ends_the_call_at_once_with_no_reprompt() -> None:
    call = Call(flow()).silence()
    assert call.ended
    assert call.last_heard == ""
    assert call.actions[-1] == Hangup("menu")


def test_set_fills_variables_that_later_prompts_and_tests_read() -> None:
    call = Call(flow()).press("912")
    assert call.ended
    assert "You keyed 9 1 2, code 912." in call.heard
    assert call.state.vars["flow.code"] == "912"


def test_every_test_of_a_case_must_hold() -> None:
    # 9999 passes the regex but not less_than 1000: no case holds.
    call = Call(flow()).press("9999")
    assert call.node == "greet" and "That is not an option." in call.last_heard


def test_audio_parts_and_voices_reach_the_gather_in_order() -> None:
    call = Call(flow())
    gather = call.gather
    assert gather is not None
    first, jingle, rest = gather.prompts
    assert isinstance(first, Say) and (first.language, first.voice, first.text) == (
        "es-ES",
        "Polly.Conchita",
        "Bienvenido.",
    )
    assert jingle == Play("https://example.com/jingle.mp3", "", 2)
    assert isinstance(rest, Say) and rest.voice is None and rest.language == "en-US"


def test_a_recording_with_no_audio_goes_its_own_way() -> None:
    call = Call(flow()).press("2").transfer_ends("no-answer")
    record = call.actions[-1]
    assert record == Record(30, "1#", 3, False)
    assert Call(flow()).press("2").transfer_ends("no-answer").record(0).ended
    assert "Goodbye." not in Call(flow()).press("2").transfer_ends("no-answer").record(0).heard
    assert "Goodbye." in Call(flow()).press("2").transfer_ends("no-answer").record(4).heard


def test_a_node_entered_more_times_in_a_row_than_allowed_ends_the_call() -> None:
    call = Call(flow()).press("*")
    assert call.node == "again"
    call.silence().silence()  # entered three times in a row: the limit
    assert not call.ended
    call.silence()
    assert call.ended and call.actions[-1] == Hangup("error")
    # With no limit the same silence goes round for as long as the caller waits.
    call = Call(flow(defaults={"on_exhausted": "bye"})).press("*")
    for _ in range(12):
        call.silence()
    assert not call.ended


@pytest.mark.parametrize(
    ("test", "value", "yes", "no"),
    [
        ("equal_to", "12", "12", "123"),
        ("not_equal_to", "12", "13", "12"),
        ("matches_any_of", ["1", "{flow.x}"], "7", "2"),
        ("does_not_match_any_of", ["1", "2"], "3", "1"),
        ("is_blank", True, " ", "0"),
        ("is_not_blank", True, "0", ""),
        ("starts_with", "31", "3101", "1031"),
        ("does_not_start_with", "31", "1031", "3101"),
        ("contains", "04", "310104", "3101"),
        ("does_not_contain", "04", "3101", "310104"),
        ("regex", "^[0-9]{3}$", "123", "1234"),
        ("less_than", 10, "9.5", "10"),
        ("greater_than", 10, "11", "ten"),
    ],
)
def test_each_condition_type(test: str, value: object, yes: str, no: str) -> None:
    condition = Condition.model_validate({test: value})
    variables = {"flow.x": "7"}
    assert holds(condition, yes, variables)
    assert not holds(condition, no, variables)


def test_the_validator_refuses_broken_flow_features() -> None:
    doc = copy.deepcopy(FLOW)
    doc["nodes"]["route"]["cases"][0] = {"if": {}, "next": "sales"}
    doc["nodes"]["route"]["cases"][1] = {"if": {"regex": "(unclosed"}, "next": "nowhere"}
    doc["nodes"]["route"]["value"] = "{widgets.nobody.Digits}"
    doc["nodes"]["remember"]["vars"]["bad name"] = "x"
    doc["nodes"]["greet"]["prompt"][1] = {"play": "https://example.com/a.mp3", "digits": "12"}
    found = "\n".join(problems(doc))
    assert "$.nodes.route.cases[0].if: a condition needs at least one test" in found
    assert "regex '(unclosed' is not a regular expression" in found
    assert "$.nodes.remember.vars" in found
    assert 'either a URL ("play") or key tones ("digits")' in found
    doc = copy.deepcopy(FLOW)
    doc["nodes"]["route"]["value"] = "{widgets.nobody.Digits}"
    doc["nodes"]["route"]["cases"][1]["next"] = "nowhere"
    doc["nodes"]["greet"]["prompt"][0]["say"] = {"fr-FR": "Bonjour"}
    found = "\n".join(problems(doc))
    assert "$.nodes.route.value: no input node or service sets the variable 'widgets.nobody.Digits'" in found
    assert "$.nodes.route.cases[1].next: there is no node 'nowhere'" in found
    assert "$.nodes.greet.prompt[0].say: the prompt has no en-US text" in found


def test_a_loop_of_switches_and_sets_that_never_waits_is_refused() -> None:
    doc = copy.deepcopy(FLOW)
    doc["nodes"]["remember"]["next"] = "route"
    assert any("a loop that never waits for the caller: route -> remember -> route" in p for p in problems(doc))


def test_the_twiml_of_flow_features_is_valid_for_twilio() -> None:
    writer = TwimlWriter()
    call = Call(flow())
    body = writer.write(call.actions, "/voice/step", 1, {})
    assert_valid_twiml(body)
    gather = Twiml.parse(body).find(TwimlGather)
    assert gather is not None
    assert [type(p).__name__ for p in gather.prompts] == ["Say", "Play", "Say"]
    call = Call(flow()).press("2")
    before = len(call.actions)
    call.transfer_ends("no-answer")
    body = writer.write(call.actions[before:], "/voice/step", 2, {})
    assert_valid_twiml(body)
    record = Twiml.parse(body).find(TwimlRecord)
    assert record is not None and record.finish_on_key == "1#" and not record.play_beep and record.timeout == 3
    doc = copy.deepcopy(FLOW)
    doc["nodes"]["bye"]["prompt"] = [{"digits": "1w2"}, {"say": "@bye", "loop": 2}]
    doc["prompts"] = {"bye": {"en-US": "Goodbye."}}
    call = Call(parse_menu(json.dumps(doc)))
    before = len(call.actions)
    call.press("912")
    body = writer.write(call.actions[before:], "/voice/step", 3, {})
    assert_valid_twiml(body)
    verbs = Twiml.parse(body).verbs  # the message first, then the goodbye: tones, then words said twice
    assert verbs[1] == TwimlPlay(None, 1, "1w2")
    assert isinstance(verbs[2], TwimlSay) and (verbs[2].text, verbs[2].loop) == ("Goodbye.", 2)
