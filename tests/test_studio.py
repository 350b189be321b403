"""``ivr studio import``: Studio flows written for these tests, imported, validated and called.

The flows in tests/studio/flows are in the console's export format; their
imports are kept in tests/studio/menus, so the scenarios in
tests/studio/scenarios (collected by the project's pytest plugin) run on
them, and a test here keeps the kept imports current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.engine import Hangup, Transfer
from ivr.harness import Call
from ivr.menu.loader import parse_menu
from ivr.menu.model import Menu
from ivr.services.http import http_request
from ivr.services.registry import ServiceContext
from ivr.studio.flow import FlowError, read_flow
from ivr.studio.importer import END, import_flow
from ivr.studio.liquid import translate
from tests.twiml_tools import WebCall

HERE = Path(__file__).parent / "studio"
FLOWS = sorted((HERE / "flows").glob("*.json"))


def imported(name: str) -> tuple[Menu, list[str]]:
    flow = read_flow((HERE / "flows" / f"{name}.json").read_bytes(), name)
    result = import_flow(flow, name)
    return parse_menu(json.dumps(result.menu)), [f"{n.state}: {n.message}" for n in result.notes]


@pytest.mark.parametrize("flow", FLOWS, ids=[f.stem for f in FLOWS])
def test_the_kept_imports_are_what_the_importer_makes_now(flow: Path, tmp_path: Path) -> None:
    out = tmp_path / "menu.json"
    result = CliRunner().invoke(main, ["studio", "import", str(flow), "-o", str(out)])
    assert result.exit_code == 0, result.output
    kept = HERE / "menus" / flow.name
    root = HERE.parent.parent
    fix = f"ivr studio import {flow.relative_to(root)} -o {kept.relative_to(root)}"
    assert json.loads(out.read_text()) == json.loads(kept.read_text()), f"{kept} is stale; run: {fix}"


def test_the_greeting_flow_imports_with_nothing_to_say() -> None:
    menu, notes = imported("two-numbers")
    assert notes == []
    assert menu.start == "greeting"
    assert Call(menu).press("1").actions[-1] == Transfer("+15005550001", 30)
    assert Call(menu).press("2").actions[-1] == Transfer("+15005550002", 30)
    silent = Call(menu).silence()
    assert silent.ended and silent.node == END and silent.actions[-1] == Hangup("menu")


def test_the_help_desk_names_its_stand_in_and_the_widget_no_call_reaches() -> None:
    menu, notes = imported("help-desk")
    assert "old_greeting: no call reaches this widget from incomingCall; it is left out" in notes
    assert any(n.startswith("to_agent: send-to-flex is not available offline") for n in notes)
    assert "old_greeting" not in menu.nodes
    call = Call(menu, dial=lambda to: None).press("2")  # no agent number: the transfer fails
    assert "This step is not available offline: send-to-flex to_agent." in call.heard
    assert call.node == "voicemail" and "All our agents are busy." in call.heard


def test_every_widget_and_condition_type_imports_runs_and_is_named() -> None:
    menu, notes = imported("every-widget")
    expected = [
        "Trigger: incomingMessage starts a flow without a call; only incomingCall is imported",
        "sms_reply: no call reaches this widget from incomingCall; it is left out",
        "ask: the speech transition is not available offline; callers answer with keys",
        "route: match 9: the condition is_before_time is not available offline; the match never holds",
        "remember: variable shout: {{widgets.ask.Digits | upcase}}: Liquid filters are not evaluated offline (upcase)",
        "tell: say: {{flow.variables.never_set}}: nothing in the flow sets it offline, so it is blank",
        "sales: 2 numbers ring at once in Studio; offline the first, +15005550001, is dialled",
        "support: connect-call-to client support_agent: only a phone number can be dialled offline",
        "after_hours: run-subflow is not available offline: a stand-in says so and the flow goes on",
        "message: transcribe: recordings are not transcribed offline",
    ]
    for note in expected:
        assert note in notes
    kinds = {node.kind for node in menu.nodes.values()}
    assert kinds >= {"message", "input", "switch", "set", "transfer", "service", "voicemail", "hangup"}

    def route(keys: str) -> Call:
        return Call(menu, {"http.request": "offline"}, dial=lambda to: None if to == "agent" else to).press(keys)

    first = Call(menu).gather
    assert first is not None and (first.max_digits, first.finish_key, first.timeout) == (6, "*", 7)
    assert "Hola, +8613800000000. Prices {in braces}." in Call(menu).heard
    assert route("1").actions[-1] == Transfer("+15005550001", 20)
    assert "not available offline: connect-call-to client" in route("2").heard
    # A blank entry never reaches the split (an empty gather is a timeout), so its case is only looked at.
    blank = menu.nodes["route"].cases[2]  # type: ignore[union-attr]
    assert blank.if_.is_blank and blank.next == "after_hours"
    assert menu.nodes["after_hours"].prompt[0].root["en-US"].endswith("run-subflow after_hours.")  # type: ignore[union-attr]
    assert "Your code is 9123!" in route("9123").heard  # starts_with and less_than both hold
    assert "Your code is 9600" in route("9600").heard  # not less_than: noMatch, which also remembers
    assert "make-http-request lookup" in route("144").heard
    assert "The code belongs to , status ." in route("144").heard
    assert "run-function function" in route("712").heard
    assert "enqueue-call queue" in route("900000").heard
    flex = route("123")
    assert "send-to-flex flex" in flex.heard and flex.node == "message"


def test_a_gather_timing_out_into_itself_ends_as_studio_stops_it() -> None:
    menu, _ = imported("every-widget")
    call = Call(menu)
    for _ in range(9):  # ask entered 10 times in a row: Studio's limit, not over it
        call.silence()
    assert not call.ended and call.node == "ask"
    call.silence()
    assert call.ended and call.actions[-1] == Hangup("error")


@pytest.mark.xsd
def test_every_answer_of_an_imported_flow_is_valid_twiml(make_app: Any) -> None:
    app = make_app(MENU=str(HERE / "menus" / "help-desk.json"))
    call = WebCall(app.test_client(), xsd=True)
    assert call.node == "main_menu"
    call.press("7")
    assert "Sorry, 7 is not an option." in call.said
    call.press("1")
    assert call.node == "voicemail"


def test_liquid_outputs_become_variables_and_braces_stay_braces() -> None:
    names = {"widgets.ask.Digits": "widgets.ask.Digits", "trigger.call.From": "caller"}
    result = translate("You pressed {{ widgets.ask.Digits }} from {{trigger.call.From}} {x} {{'ok'}}", names.get)
    assert result.text == "You pressed {widgets.ask.Digits} from {caller} {{x}} ok"
    assert result.notes == []
    result = translate("{{flow.variables.nope}}{{ 1 + 1 }}", names.get)
    assert result.text == ""
    assert len(result.notes) == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "$: not JSON"),
        ('{"states": []}', "$.states"),
        ('{"states": [{"name": "a", "type": "say-play"}], "initial_state": "b"}', "there is no widget named 'b'"),
        ('{"states": [{"name": "a", "type": "x"}, {"name": "a", "type": "y"}], "initial_state": "a"}', "two widgets"),
        ("[1, 2]", "a flow definition is a JSON object"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_a_file_that_is_not_a_flow_is_refused_with_the_place(text: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(FlowError) as caught:
        read_flow(text, "f.json")
    assert any(problem in f"{p.path}: {p.message}" for p in caught.value.problems)
    path = tmp_path / "flow.json"
    path.write_text(text)
    result = CliRunner().invoke(main, ["studio", "import", str(path)])
    assert result.exit_code == 2
    assert "not a Studio flow definition" in result.output
    assert "Traceback" not in result.output


def test_a_flow_that_loops_without_waiting_imports_but_fails_validation(tmp_path: Path) -> None:
    flow = {
        "states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingCall", "next": "count"}]},
            {
                "name": "count",
                "type": "set-variables",
                "transitions": [{"event": "next", "next": "check"}],
                "properties": {"variables": [{"key": "n", "value": "1"}]},
            },
            {
                "name": "check",
                "type": "split-based-on",
                "transitions": [
                    {"event": "noMatch", "next": "count"},
                    {"event": "match", "next": "count", "conditions": [{"type": "equal_to", "value": "1"}]},
                ],
                "properties": {"input": "{{flow.variables.n}}"},
            },
        ],
        "initial_state": "Trigger",
    }
    path = tmp_path / "spin.json"
    path.write_text(json.dumps(flow))
    out = tmp_path / "spin-menu.json"
    result = CliRunner().invoke(main, ["studio", "import", str(path), "-o", str(out)])
    assert result.exit_code == 1
    assert "a loop that never waits for the caller" in result.output
    assert out.exists()


def context() -> ServiceContext:
    import datetime as dt

    return ServiceContext("CA1", "+15005550000", dt.datetime(2026, 12, 4, tzinfo=dt.UTC))


def test_http_requests_reach_only_allowed_hosts() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest"}, content=iter([b""]))
        body = json.dumps({"owner": "Li Na", "card": {"status": "active"}, "ok": True}).encode()
        # An iterator is a stream httpx does not read ahead, as a network answer.
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=iter([body]))

    client = httpx.Client(transport=httpx.MockTransport(answer))
    args = {"method": "GET", "url": "https://api.example.com/codes?code=144"}
    assert http_request((), client)(args, context()).outcome == "offline"
    assert http_request(("other.example.com",), client)(args, context()).outcome == "offline"
    assert (
        http_request(("api.example.com",), client)({**args, "url": "file:///etc/passwd"}, context()).outcome
        == "offline"
    )
    assert sent == []
    done = http_request(("api.example.com",), client)(args, context())
    assert done.outcome == "success"
    assert done.data["parsed.owner"] == "Li Na" and done.data["parsed.card.status"] == "active"
    assert done.data["parsed.ok"] == "true" and done.data["status_code"] == "200"
    moved = http_request(("api.example.com",), client)({**args, "url": "https://api.example.com/moved"}, context())
    assert moved.outcome == "failed" and [str(r.url.host) for r in sent] == ["api.example.com", "api.example.com"]
    assert all(r.headers["Accept-Encoding"] == "identity" for r in sent)


def test_an_imported_request_fills_the_widgets_variables_when_its_host_is_allowed() -> None:
    menu, _ = imported("every-widget")

    def lookup(args: dict[str, Any]) -> Any:
        from ivr.engine import ServiceDone

        assert args["url"] == "https://api.example.com/codes?code=144"
        return ServiceDone("success", {"parsed.owner": "Li Na", "status_code": "200"})

    call = Call(menu, {"http.request": lookup}).press("144")
    assert "The code belongs to Li Na, status 200." in call.heard
    assert "not available offline" not in call.heard


@pytest.mark.parametrize("name", ["two-numbers", "help-desk"])
def test_an_imported_flow_that_ends_on_silence_and_takes_any_key_lints_clean(name: str) -> None:
    from ivr.authoring.lint import lint_menu

    menu, _ = imported(name)
    report = lint_menu(menu, audio_dir=None)
    assert [f.rule for f in report.findings] == []


def test_liquid_that_says_digits_one_by_one_is_the_menus_digits() -> None:
    result = translate(
        "Your reference is {{flow.variables.ref | split: '' | join: ' '}}.",
        {"flow.variables.ref": "flow.variables.ref"}.get,
    )
    assert result.text == "Your reference is {flow.variables.ref:digits}." and result.notes == []


@pytest.mark.parametrize(
    ("args", "outcome", "value"),
    [
        ({"rule": "cn_ric", "value": "61011319950621122*"}, "valid", "61011319950621122X"),
        ({"rule": "cn_ric", "value": "610113199506211221"}, "invalid", None),
        ({"rule": "new_password", "value": "246810", "id_number": "310104199007181241"}, "valid", "246810"),
        ({"rule": "new_password", "value": "181241", "id_number": "310104199007181241"}, "invalid", None),
        ({"rule": "new_password", "value": "123456"}, "invalid", None),
    ],
)
def test_input_check_keeps_the_menu_languages_rules_for_an_exported_flow(
    args: dict[str, str], outcome: str, value: str | None
) -> None:
    from ivr.services.handlers import input_check

    done = input_check(args, context())
    assert done.outcome == outcome and done.data.get("value") == value


def test_a_regex_that_backtracks_for_ever_in_python_is_linear_here() -> None:
    import time

    doc = {
        "id": "redos",
        "version": "1",
        "languages": ["en-US"],
        "default_language": "en-US",
        "start": "ask",
        "defaults": {"on_exhausted": "bye"},
        "nodes": {
            "ask": {"kind": "input", "var": "d", "validate": "keys", "max_length": 64, "finish_key": "", "next": "s"},
            "s": {
                "kind": "switch",
                "value": "{d}",
                "cases": [{"if": {"regex": "^(\\d+)+$"}, "next": "bye"}],
                "default": "bye",
            },
            "bye": {"kind": "hangup", "prompt": {"en-US": "Bye."}},
        },
    }
    menu = parse_menu(json.dumps(doc))
    started = time.monotonic()
    call = Call(menu).press("1" * 63 + "*")  # with Python's re: longer than anyone would wait
    assert call.ended and time.monotonic() - started < 5
    doc["nodes"]["s"]["cases"][0]["if"]["regex"] = "(a)\\1"
    with pytest.raises(Exception, match="not a regular expression RE2 runs"):
        parse_menu(json.dumps(doc))


def test_odd_property_types_and_colliding_names_import_without_a_traceback() -> None:
    trigger = {"name": "T", "type": "trigger", "transitions": [{"event": "incomingCall", "next": "a b"}]}
    states = [
        trigger,
        {
            "name": "a b",
            "type": "say-play",
            "properties": {"say": "one"},
            "transitions": [{"event": "audioComplete", "next": "a_b"}],
        },
        {
            "name": "a_b",
            "type": "set-variables",
            "properties": {"variables": 5},
            "transitions": [{"event": "next", "next": "g"}],
        },
        {
            "name": "g",
            "type": "gather-input-on-call",
            "properties": {"number_of_digits": 10**400, "say": "{{trigger.call.To}}"},
            "transitions": [{"event": "keypress", "next": "s"}],
        },
        {
            "name": "s",
            "type": "split-based-on",
            "properties": {"input": "{{widgets.g.Digits}}"},
            "transitions": [
                {"event": "noMatch"},
                {"event": "match", "next": "later", "conditions": [{"type": "less_than", "value": "nan"}]},
            ],
        },
        {
            "name": "later",
            "type": "make-http-request",
            "properties": {"parameters": 5, "url": "https://x.example"},
            "transitions": [],
        },
    ]
    result = import_flow(read_flow(json.dumps({"initial_state": "T", "states": states}), "odd"), "odd")
    menu = parse_menu(json.dumps(result.menu))
    assert {"a_b", "a_b_2"} <= set(menu.nodes) and "later" not in menu.nodes
    notes = [f"{n.state}: {n.message}" for n in result.notes]
    assert "later: only a transition that cannot run offline leads here; it is left out" in notes
    assert "one" in Call(menu).heard


def test_the_allow_list_keeps_to_the_ports_it_names() -> None:
    from ivr.services.http import _allowed

    assert _allowed("https://api.example.com/x", ("api.example.com",))
    assert _allowed("https://api.example.com:443/x", ("api.example.com",))
    assert not _allowed("http://api.example.com:6379/", ("api.example.com",))
    assert _allowed("http://api.example.com:8080/", ("api.example.com:8080",))
    assert not _allowed("http://api.example.com:99999/", ("api.example.com",))
    assert not _allowed("http://api.example.com@evil.example/", ("api.example.com",))


def test_a_trickling_answer_ends_at_the_requests_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import ivr.services.http as http
    from ivr.errors import ServiceUnavailable

    def trickle() -> Any:
        for _ in range(20):
            time.sleep(0.1)
            yield b" "

    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=trickle())))
    monkeypatch.setattr(http, "TIMEOUT_SECONDS", 0.35)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="no whole answer"):
        http.http_request(("api.example.com",), client)({"url": "https://api.example.com/slow?pin=802461"}, context())
    assert time.monotonic() - started < 1.0


def test_request_parameters_are_form_encoded_whatever_the_caller_keyed() -> None:
    flow = {
        "initial_state": "T",
        "states": [
            {"name": "T", "type": "trigger", "transitions": [{"event": "incomingCall", "next": "ask"}]},
            {
                "name": "ask",
                "type": "gather-input-on-call",
                "properties": {"say": "Code?"},
                "transitions": [{"event": "keypress", "next": "send"}],
            },
            {
                "name": "send",
                "type": "make-http-request",
                "properties": {
                    "method": "GET",
                    "url": "https://api.example.com/c",
                    "parameters": [
                        {"key": "note", "value": "a&b=c d"},
                        {"key": "code", "value": "{{widgets.ask.Digits}}"},
                    ],
                },
                "transitions": [{"event": "success"}, {"event": "failed"}],
            },
        ],
    }
    menu = parse_menu(json.dumps(import_flow(read_flow(json.dumps(flow), "f"), "f").menu))
    seen: list[str] = []

    def send(args: Any) -> Any:
        seen.append(args["url"])
        return "failed"

    Call(menu, {"http.request": send}).press("1#*")
    assert seen == ["https://api.example.com/c?note=a%26b%3Dc%20d&code=1%23%2A"]
