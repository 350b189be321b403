"""Words XML cannot carry (issue 15, item 1): refused in the menu where they are written, never sent to Twilio.

A prompt holding U+0007 used to pass ``ivr validate`` and ``ivr lint``; ``/voice``
then answered TwiML that was not XML, so every call failed.  Now:

- ``ivr validate`` refuses it (exit 1) with its JSON path, the character and its place;
  ``ivr lint`` and ``ivr serve`` refuse it as they refuse any broken menu (exit 2);
- whatever gets text to the TwiML writer anyway (a menu built without validation,
  a service's value, actions written directly), its answer is well-formed and valid
  against Twilio's XSD: the characters XML cannot carry are dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import defusedxml.ElementTree as SafeET
import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.cli import main
from ivr.config import VoiceSetting
from ivr.engine import Action, Engine, Gather, Hangup, Record, Say, Transfer
from ivr.engine.actions import SayAs, Words
from ivr.errors import MenuError
from ivr.menu.loader import parse_menu
from ivr.menu.model import Menu, Text
from ivr.web.twiml import TwimlWriter, apology
from tests.twiml_tools import WebCall, assert_valid_twiml
from tests.webapp import AppFactory

ROOT = Path(__file__).resolve().parents[1]
REAL_MENU = ROOT / "menus" / "12333.json"

ILLEGAL = (
    [chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)]
    + [chr(c) for c in range(0xD800, 0xE000)]
    + ["\ufffe", "\uffff"]
)
"""Every character XML 1.0 cannot carry."""
CONTROLS = [c for c in ILLEGAL if not 0xD800 <= ord(c) <= 0xDFFF]
"""Those a menu file can hold as JSON text (halves of surrogate pairs are refused as JSON, see test_validate)."""


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(REAL_MENU.read_text(encoding="utf-8"))
    return doc


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "bell.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def bell(tmp_path: Path) -> Path:
    """The 12333 menu with a bell (U+0007, as an author writes it in JSON: ``\\u0007``) in its welcome."""
    text = REAL_MENU.read_text(encoding="utf-8")
    assert "欢迎致电12333" in text
    path = tmp_path / "bell.json"
    path.write_text(text.replace("欢迎致电12333", "欢迎\\u0007致电12333", 1), encoding="utf-8")
    return path


BELL_PROBLEM = (
    '$.prompts.welcome["zh-CN"]: U+0007 (a control character) at character 3: '
    "XML, and so TwiML, cannot carry it; remove it"
)


# -- from outside: the commands ---------------------------------------------------------------------------------------


def test_ivr_validate_refuses_a_bell_in_a_prompt_with_where_it_is(bell: Path) -> None:
    run = CliRunner().invoke(main, ["validate", str(bell)])
    assert run.exit_code == 1, run.output
    assert run.stderr == f"{bell}: error: {BELL_PROBLEM}\n{bell}: 1 error(s)\n"


@pytest.mark.parametrize("command", ["lint", "serve"])
def test_lint_and_serve_refuse_it_as_any_broken_menu(
    bell: Path, tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[object] = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: served.append(kw))  # were it accepted: no server, please
    args = {
        "lint": ["lint", str(bell)],
        "serve": ["serve", "--menu", str(bell), "--database-url", f"sqlite:///{tmp_path / 'ivr.db'}"],
    }[command]
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 2, run.output
    assert run.stderr == f"{bell}: error: {BELL_PROBLEM}\n{bell}: 1 error(s)\n"
    assert run.stdout == "" and served == []


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_character_xml_cannot_carry_is_refused_by_name(char: str) -> None:
    doc = _doc()
    doc["prompts"]["welcome"]["en-US"] = f"Welcome{char}"
    with pytest.raises(MenuError) as caught:
        parse_menu(json.dumps(doc))
    [problem] = caught.value.problems
    assert problem.path == '$.prompts.welcome["en-US"]'
    assert problem.message.startswith(f"U+{ord(char):04X} (") and "at character 8:" in problem.message


@pytest.mark.parametrize(
    ("where", "path"),
    [
        pytest.param(
            ("nodes", "loss_reported", "prompt", "en-US"), '$.nodes.loss_reported.prompt["en-US"]', id="prompt"
        ),
        pytest.param(("nodes", "main", "title", "en-US"), '$.nodes.main.title["en-US"]', id="node-title"),
        pytest.param(("nodes", "agent", "title"), "$.nodes.agent.title", id="one-node-title"),
        pytest.param(("version",), "$.version", id="version"),
        pytest.param(("prompts", "main_options", "zh-CN"), '$.prompts.main_options["zh-CN"]', id="named-prompt"),
    ],
)
def test_every_text_a_menu_holds_is_checked(where: tuple[str, ...], path: str) -> None:
    doc = _doc()
    doc["nodes"]["agent"]["title"] = "Agent hours check"  # a title may be one text as well as one per language
    target = doc
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] += "\x00\x1b"
    with pytest.raises(MenuError) as caught:
        parse_menu(json.dumps(doc))
    assert [(p.path, p.message.split(":")[0]) for p in caught.value.problems] == [
        (path, f"U+0000 (a control character) at character {len(target[where[-1]]) - 1} (and 1 more such character)")
    ]


def test_a_menu_title_and_the_defaults_prompts_are_checked_too() -> None:
    doc = _doc()
    doc["title"] = {"zh-CN": "人社\x0c热线", "en-US": "12333"}
    doc["defaults"]["invalid_prompt"] = {"zh-CN": "输入有误", "en-US": "Sorry\uffff"}
    with pytest.raises(MenuError) as caught:
        parse_menu(json.dumps(doc))
    assert [(p.path, p.message.split(" at ")[0]) for p in caught.value.problems] == [
        ('$.title["zh-CN"]', "U+000C (a control character)"),
        ('$.defaults.invalid_prompt["en-US"]', "U+FFFF (not a character)"),
    ]


def test_tab_line_feed_and_carriage_return_are_words_xml_carries() -> None:
    doc = _doc()
    doc["prompts"]["welcome"]["en-US"] = "Welcome\tto the hotline.\r\nPlease listen."
    assert parse_menu(json.dumps(doc)).prompts["welcome"].in_language("en-US") == doc["prompts"]["welcome"]["en-US"]


# -- the writer, whatever reaches it ---------------------------------------------------------------------------------


def _say(text: str, language: str = "en-US") -> Say:
    return Say(language, (Words(text),))


@pytest.mark.xsd
def test_the_writer_never_writes_a_character_xml_cannot_carry() -> None:
    bad = "".join(ILLEGAL)
    actions: list[Action] = [
        _say(f"Hello{bad}world"),
        Gather((_say(f"Press{bad} 1"), Say("zh-CN", (Words("请按"), SayAs("1\x07", "digits", f"1{bad}")))), 1, "", 5),
        Transfer("agent", 30),
        Record(60, "#"),
        Hangup(),
    ]
    body = TwimlWriter().write(actions, f"/voice/step{bad}", 3, {"agent": f"+86{bad}10123456789"})
    data = body.encode("utf-8")  # a lone surrogate would not even encode
    root = SafeET.fromstring(data)
    assert_valid_twiml(data)
    assert [e.text for e in root.iter("Say")] == ["Helloworld", "Press 1", "请按1"]
    assert root.find("Dial") is not None and root.find("Dial").text == "+8610123456789"  # type: ignore[union-attr]
    assert not any(c in body for c in ILLEGAL)


@pytest.mark.xsd
def test_the_words_of_a_prompt_played_from_files_are_cleaned_too() -> None:
    # They travel in the X-IVR-Prompts header, URL-encoded as UTF-8, which a half surrogate pair is not.
    writer = TwimlWriter(files_for=lambda say: ["welcome.wav"])
    played: list[tuple[str, str]] = []
    assert_valid_twiml(writer.write([_say("Welcome\ud800\x07!"), Hangup()], "/voice/step", 1, {}, played))
    assert played == [("/audio/welcome.wav", "Welcome!")]
    assert urlencode(played) == "%2Faudio%2Fwelcome.wav=Welcome%21"


@pytest.mark.xsd
def test_the_words_xml_carries_are_written_as_they_are() -> None:
    words = "Tab\there,\nnew line,\r\n欢迎 😀 & <b>"
    body = TwimlWriter().write([_say(words), Hangup()], "/voice/step", 1, {})
    root = assert_valid_twiml(body)
    say = root.find("Say")
    assert say is not None and say.text == words.replace("\r\n", "\n")  # XML reads CR LF as LF


@pytest.mark.xsd
def test_the_apology_is_xml_too() -> None:
    voices = {"en-US": VoiceSetting(language="en-US\x00", voice="Polly.Joanna\x1f")}
    assert_valid_twiml(apology(voices))


def _unchecked(menu: Menu, name: str, words: dict[str, str]) -> Menu:
    """``menu`` with the named prompt's words replaced, skipping every check (as a menu built in code may)."""
    prompts = dict(menu.prompts)
    prompts[name] = Text.model_construct(words)
    return menu.model_copy(update={"prompts": prompts})


@pytest.mark.xsd
def test_voice_answers_xml_for_a_menu_that_skipped_validation(
    menu: Menu, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _unchecked(menu, "welcome", {"zh-CN": "欢迎\x07致电\ufffe12333\x00", "en-US": "Welcome\x1b"})
    assert Engine(bad).menu.prompts["welcome"].in_language("zh-CN") == "欢迎\x07致电\ufffe12333\x00"
    monkeypatch.setattr("ivr.web.menus.load_menu", lambda path: bad)
    app: Flask = make_app()
    call = WebCall(app.test_client(), xsd=True)  # every answer checked against Twilio's XSD
    assert call.said.startswith("欢迎致电12333")
    call.press("1")
    assert call.node == "activate_id"  # the call goes on: past the intro, to the ID entry
