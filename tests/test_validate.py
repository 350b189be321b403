"""`ivr validate`: a good menu passes; every broken one is refused with its location, never a traceback.

Broken menus are either files under ``tests/menus/broken/`` or the real 12333
menu with one thing changed, written to ``tmp_path``.  Each case checks what
the author sees: a non-zero exit, no traceback, and ``file[:line:col]: error:
$.json.path: message`` pointing at the mistake.
"""

from __future__ import annotations

import codecs
import copy
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.errors import MenuError
from ivr.menu.loader import MAX_MENU_BYTES, parse_menu
from ivr.schema import schema_text

ROOT = Path(__file__).resolve().parent.parent
REAL_MENU = ROOT / "menus" / "12333.json"
SCHEMA = ROOT / "menus" / "schema.json"
FIXTURES = Path(__file__).resolve().parent / "menus"
BROKEN = FIXTURES / "broken"
TINY = FIXTURES / "tiny.json"

Doc = dict[str, Any]
Mutation = Callable[[Doc], None]


def validate(*args: str | Path) -> Result:
    """Run ``ivr validate ARGS`` in-process."""
    return CliRunner().invoke(main, ["validate", *map(str, args)])


def assert_refused(result: Result, *expected: str) -> None:
    """The command failed politely and printed every ``expected`` fragment."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code != 0, result.output
    for fragment in expected:
        assert fragment in result.output, f"{fragment!r} is not in the output:\n{result.output}"


def real_doc() -> Doc:
    doc: Doc = json.loads(REAL_MENU.read_text(encoding="utf-8"))
    return doc


def write_doc(tmp_path: Path, doc: Doc, name: str = "broken.json") -> Path:
    path = tmp_path / name
    # ASCII escapes, so that a lone surrogate ("\ud800") can be written at all.
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def put(value: Any, *keys: str) -> Mutation:
    """Set ``doc[k1][k2]...`` to ``value``."""

    def mutate(doc: Doc) -> None:
        target = doc
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = copy.deepcopy(value)

    return mutate


def drop(*keys: str) -> Mutation:
    """Delete ``doc[k1][k2]...``."""

    def mutate(doc: Doc) -> None:
        target = doc
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


def append_text(suffix: str, *keys: str) -> Mutation:
    """Add ``suffix`` to the string at ``doc[k1][k2]...``."""

    def mutate(doc: Doc) -> None:
        target = doc
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] += suffix

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(doc: Doc) -> None:
        for m in mutations:
            m(doc)

    return mutate


# --- the real menu --------------------------------------------------------------------------------------------------


def test_the_12333_menu_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = validate("menus/12333.json")
    assert result.exit_code == 0, result.output
    assert "menus/12333.json: ok, " in result.output
    assert "error" not in result.output


def test_the_tiny_fixture_is_valid() -> None:
    result = validate(TINY)
    assert result.exit_code == 0, result.output
    assert f"{TINY}: ok, 3 nodes, 0 warning(s)" in result.output


def test_the_real_menu_with_a_utf8_bom_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(codecs.BOM_UTF8 + REAL_MENU.read_bytes())
    result = validate(path)
    assert result.exit_code == 0, result.output


# --- one mistake in the real menu -----------------------------------------------------------------------------------

MUTATIONS = [
    # shape: types, unknown and missing fields
    pytest.param(put("five", "defaults", "timeout"), ["$.defaults.timeout: expected a number"], id="timeout-five"),
    pytest.param(put("5", "defaults", "timeout"), ["$.defaults.timeout: expected a number"], id="timeout-string-5"),
    pytest.param(put(99, "defaults", "timeout"), ["$.defaults.timeout: "], id="timeout-too-long"),
    pytest.param(
        put("yes", "nodes", "loss_pin", "masked"), ["$.nodes.loss_pin.masked: expected true or false"], id="masked-yes"
    ),
    pytest.param(
        put(True, "defaults", "max_invalid"), ["$.defaults.max_invalid: expected a whole number"], id="max-invalid-true"
    ),
    pytest.param(put(1, "nodes", "loss", "extra"), ["$.nodes.loss.extra: unknown field"], id="unknown-key"),
    pytest.param(put(1, "colour"), ["$.colour: unknown field"], id="unknown-top-level-key"),
    pytest.param(put("menuu", "nodes", "loss", "kind"), ["$.nodes.loss: unknown node kind 'menuu'"], id="unknown-kind"),
    pytest.param(put(5, "nodes", "loss", "kind"), ["$.nodes.loss: unknown node kind"], id="kind-is-a-number"),
    pytest.param(drop("nodes", "loss", "kind"), ['$.nodes.loss: a node needs a "kind"'], id="missing-kind"),
    pytest.param(
        drop("nodes", "loss", "prompt"), ["$.nodes.loss.prompt: required field is missing"], id="missing-prompt"
    ),
    pytest.param(drop("start"), ["$.start: required field is missing"], id="missing-start"),
    pytest.param(put([], "nodes"), ["$.nodes: expected an object, got an array"], id="nodes-array"),
    pytest.param(put("x", "nodes", "loss"), ["$.nodes.loss: expected an object"], id="node-is-a-string"),
    pytest.param(
        put(["x"], "nodes", "loss", "options", "1"),
        ['$.nodes.loss.options["1"]: expected a string'],
        id="option-target-array",
    ),
    pytest.param(
        put("main", "nodes", "loss", "options", "A"),
        ["$.nodes.loss.options.A: 'A' is not valid here"],
        id="option-key-not-dtmf",
    ),
    pytest.param(
        put({"kind": "hangup"}, "nodes", "bad id!"), ["$.nodes[\"bad id!\"]: 'bad id!' is not valid"], id="bad-node-id"
    ),
    pytest.param(
        put("nope", "nodes", "activate_new_pin", "validate"),
        ["$.nodes.activate_new_pin.validate: unknown rule 'nope'"],
        id="unknown-validate-rule",
    ),
    pytest.param(
        put({"action": "goto"}, "defaults", "global_keys", "0"),
        ['$.defaults.global_keys["0"]: a "goto" global key needs a "target"'],
        id="goto-without-target",
    ),
    pytest.param(
        put("x", "prompts", "welcome"),
        ["$.prompts.welcome: expected an object, got the string 'x'"],
        id="named-prompt-is-a-string",
    ),
    pytest.param(
        put("hello", "nodes", "loss", "prompt"),
        ['$.nodes.loss.prompt: a prompt written as a string must name a prompt, like "@welcome"'],
        id="prompt-plain-string",
    ),
    pytest.param(put(5, "nodes", "loss", "prompt"), ['$.nodes.loss.prompt: a prompt is "@name"'], id="prompt-number"),
    pytest.param(
        put(["@welcome", 5], "nodes", "loss", "prompt"),
        ["$.nodes.loss.prompt[1]: a prompt part is"],
        id="prompt-part-number",
    ),
    pytest.param(
        put([{"zh-CN": 5, "en-US": "x"}], "nodes", "loss", "prompt"),
        ['$.nodes.loss.prompt[0]["zh-CN"]: expected a string'],
        id="prompt-text-number",
    ),
    pytest.param(
        put(float("nan"), "nodes", "loss_pin", "timeout"), ["$.nodes.loss_pin.timeout: NaN is not JSON"], id="nan"
    ),
    pytest.param(
        put(1, "nodes", "loss", "\ud800"), ['$.nodes.loss["\\ud800"]: the key holds \\ud800'], id="lone-surrogate-key"
    ),
    pytest.param(
        put("caf\udce9", "prompts", "welcome", "en-US"),
        ['$.prompts.welcome["en-US"]: the text holds'],
        id="lone-surrogate-text",
    ),
    pytest.param(
        put("Welcome\u0007", "prompts", "welcome", "en-US"),
        ['$.prompts.welcome["en-US"]: U+0007 (a control character) at character 8: XML, and so TwiML, cannot carry it'],
        id="control-character-text",
    ),
    pytest.param(
        put("Main\u0000menu\ufffe", "nodes", "main", "title"),
        ["$.nodes.main.title: U+0000 (a control character) at character 5 (and 1 more such character)"],
        id="control-character-title",
    ),
    # input rules
    pytest.param(
        put(8, "nodes", "loss_pin", "min_length"),
        ["$.nodes.loss_pin: min_length 8 is more than max_length 6"],
        id="min-over-max",
    ),
    pytest.param(
        put("@confirm_id", "nodes", "loss_pin", "confirm"),
        ['$.nodes.loss_pin: a masked entry is never read back: drop "confirm" or "masked"'],
        id="masked-with-confirm",
    ),
    pytest.param(
        both(put(6, "nodes", "loss_id", "min_length"), put(6, "nodes", "loss_id", "max_length")),
        ["$.nodes.loss_id: a cn_ric entry is 18 keys long"],
        id="cn-ric-too-short",
    ),
    pytest.param(
        put("nope", "nodes", "activate_new_pin_again", "match"),
        ["$.nodes.activate_new_pin_again.match: no input node sets the variable 'nope'"],
        id="match-unknown",
    ),
    # targets
    pytest.param(
        put("nowhere", "nodes", "main", "options", "2"),
        ["$.nodes.main.options[\"2\"]: there is no node 'nowhere'"],
        id="dangling-option",
    ),
    pytest.param(
        put("nowhere", "defaults", "on_exhausted"),
        ["$.defaults.on_exhausted: there is no node 'nowhere'"],
        id="dangling-default-on-exhausted",
    ),
    pytest.param(
        put("nowhere", "nodes", "loss", "on_exhausted"),
        ["$.nodes.loss.on_exhausted: there is no node 'nowhere'"],
        id="dangling-node-on-exhausted",
    ),
    pytest.param(
        put("nowhere", "defaults", "global_keys", "0", "target"),
        ["$.defaults.global_keys[\"0\"].target: there is no node 'nowhere'"],
        id="dangling-global-key",
    ),
    pytest.param(
        put({"5": {"action": "goto", "target": "nowhere"}}, "nodes", "loss", "global_keys"),
        ["$.nodes.loss.global_keys[\"5\"].target: there is no node 'nowhere'"],
        id="dangling-node-global-key",
    ),
    pytest.param(
        put({"0": {"action": "goto", "target": "nowhere"}}, "nodes", "loss", "global_keys"),
        ["$.nodes.loss.global_keys[\"0\"].target: there is no node 'nowhere'"],
        id="dangling-shadowed-global-key",
    ),
    pytest.param(put("nowhere", "start"), ["$.start: there is no node 'nowhere'"], id="dangling-start"),
    pytest.param(
        put("nowhere", "nodes", "voicemail", "next"),
        ["$.nodes.voicemail.next: there is no node 'nowhere'"],
        id="dangling-next",
    ),
    pytest.param(
        put("nowhere", "nodes", "agent", "outcomes", "open"),
        ["$.nodes.agent.outcomes.open: there is no node 'nowhere'"],
        id="dangling-outcome",
    ),
    pytest.param(
        put("nowhere", "defaults", "on_error"),
        ["$.defaults.on_error: there is no node 'nowhere'"],
        id="dangling-default-on-error",
    ),
    pytest.param(
        put("nowhere", "nodes", "agent_transfer", "outcomes", "busy"),
        ["$.nodes.agent_transfer.outcomes.busy: there is no node 'nowhere'"],
        id="dangling-transfer-outcome",
    ),
    # the graph
    pytest.param(
        put({"kind": "hangup"}, "nodes", "orphan"), ["$.nodes.orphan: no call can reach this node"], id="unreachable"
    ),
    pytest.param(
        both(
            put("loss_wrong_pin", "nodes", "loss_reported", "next"),
            put("loss_reported", "nodes", "loss_wrong_pin", "next"),
        ),
        [
            "$.nodes.loss_reported: this node is on a loop that never waits for the caller: "
            "loss_reported -> loss_wrong_pin -> loss_reported"
        ],
        id="message-loop",
    ),
    pytest.param(
        put("voicemail_empty", "nodes", "voicemail_empty", "next"),
        ["$.nodes.voicemail_empty: this node is on a loop that never waits for the caller"],
        id="message-loops-to-itself",
    ),
    # languages
    pytest.param(
        drop("prompts", "welcome", "en-US"),
        ["$.prompts.welcome: the prompt has no en-US text, and the menu declares en-US"],
        id="prompt-missing-language",
    ),
    pytest.param(
        put("Hello", "nodes", "loss", "prompt", "fr-FR"),
        ["$.nodes.loss.prompt: 'fr-FR' is not one of the menu's languages"],
        id="prompt-extra-language",
    ),
    pytest.param(
        put("fr-FR", "nodes", "language", "options", "3"),
        ["$.nodes.language.options[\"3\"]: 'fr-FR' is not one of the menu's languages"],
        id="language-option-undeclared",
    ),
    pytest.param(
        put(["zh-CN", "en-US", "zh-CN"], "languages"), ["$.languages: a language is listed twice"], id="language-twice"
    ),
    pytest.param(
        put("fr-FR", "default_language"),
        ["$.default_language: 'fr-FR' is not one of"],
        id="default-language-undeclared",
    ),
    # named prompts and variables
    pytest.param(
        put(["@nope", "@main_options"], "nodes", "main", "prompt"),
        ["$.nodes.main.prompt[0]: there is no prompt named 'nope'"],
        id="unknown-named-prompt",
    ),
    pytest.param(
        put("@nope", "nodes", "main", "short_prompt"),
        ["$.nodes.main.short_prompt: there is no prompt named 'nope'"],
        id="unknown-named-prompt-alone",
    ),
    pytest.param(
        append_text(" {nope:digits}", "prompts", "confirm_id", "en-US"),
        ["$.prompts.confirm_id: en-US: no input node or service sets the variable 'nope'"],
        id="unknown-variable",
    ),
    pytest.param(
        put({"zh-CN": "{reference:shout}", "en-US": "{reference:digits}"}, "nodes", "loss_reported", "prompt"),
        ["$.nodes.loss_reported.prompt: zh-CN: {reference:shout}: say it as one of text, digits"],
        id="unknown-say-as",
    ),
    pytest.param(
        append_text(" {", "prompts", "welcome", "en-US"),
        ["$.prompts.welcome: en-US: a lone '{'; write {{ for a literal brace"],
        id="lone-brace",
    ),
    # services
    pytest.param(
        put("agent.hourz", "nodes", "agent", "service"),
        ["$.nodes.agent.service: no service named 'agent.hourz' is registered"],
        id="unregistered-service",
    ),
    pytest.param(
        drop("nodes", "agent", "outcomes", "closed"),
        ["$.nodes.agent.outcomes: the outcome 'closed' of agent.hours goes nowhere"],
        id="outcome-not-routed",
    ),
    pytest.param(
        put("agent_closed", "nodes", "agent", "outcomes", "maybe"),
        ["$.nodes.agent.outcomes.maybe: agent.hours never returns 'maybe'"],
        id="outcome-never-returned",
    ),
    pytest.param(
        drop("nodes", "loss_report", "args", "pin"),
        ["$.nodes.loss_report.args: card.report_loss needs the parameter 'pin'"],
        id="missing-param",
    ),
    pytest.param(
        put("pin", "nodes", "loss_report", "args", "colour"),
        ["$.nodes.loss_report.args.colour: card.report_loss takes no parameter 'colour'"],
        id="unknown-param",
    ),
    pytest.param(
        put("nope", "nodes", "loss_report", "args", "pin"),
        ["$.nodes.loss_report.args.pin: no node sets the variable 'nope'"],
        id="param-unknown-variable",
    ),
    pytest.param(
        both(drop("defaults", "on_error"), drop("nodes", "agent", "on_error")),
        ['$.nodes.agent: where should the call go if the service fails? Set "on_error"'],
        id="service-without-on-error",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), MUTATIONS)
def test_a_broken_menu_is_refused_with_its_location(tmp_path: Path, mutate: Mutation, expected: list[str]) -> None:
    doc = real_doc()
    mutate(doc)
    path = write_doc(tmp_path, doc)
    assert_refused(validate(path), *(f"{path}: error: {e}" for e in expected))


def test_a_wrong_prompt_part_is_reported_once(tmp_path: Path) -> None:
    # pydantic also calls such a prompt "too short" (it counts the parts that passed): not news to the author.
    doc = real_doc()
    doc["nodes"]["loss"]["prompt"] = [{"zh-CN": "挂失\u001b", "en-US": "Loss"}]
    result = validate(write_doc(tmp_path, doc))
    assert_refused(result, '$.nodes.loss.prompt[0]["zh-CN"]: U+001B (a control character) at character 3')
    assert result.output.count("error:") == 1, result.output


def test_a_bad_default_target_is_reported_once(tmp_path: Path) -> None:
    # Every node inherits the default; the author made one mistake and hears of it once.
    doc = real_doc()
    doc["defaults"]["on_exhausted"] = "nowhere"
    doc["defaults"]["global_keys"]["0"]["target"] = "nowhere"
    result = validate(write_doc(tmp_path, doc))
    assert_refused(result, "$.defaults.on_exhausted: ", '$.defaults.global_keys["0"].target: ')
    assert result.output.count("$.defaults.on_exhausted: ") == 1, result.output
    assert result.output.count('$.defaults.global_keys["0"].target: ') == 1, result.output


# --- broken files under tests/menus/broken --------------------------------------------------------------------------

FIXTURE_CASES = [
    pytest.param("syntax.json", ":3:5: error: $: JSON syntax: Expecting property name", id="syntax"),
    pytest.param("empty.json", ": error: $: the file is empty", id="empty"),
    pytest.param("whitespace.json", ": error: $: the file is only white space", id="whitespace"),
    pytest.param("array.json", ": error: $: a menu is a JSON object, not an array", id="array"),
    pytest.param(
        "duplicate_key.json", ": error: $.nodes.main.options: the key '1' appears more than once", id="duplicate-key"
    ),
    pytest.param("no_way_out.json", ": error: $.nodes.main: a call that gets here can never end", id="no-way-out"),
    pytest.param(
        "message_loop.json",
        ": error: $.nodes.news: this node is on a loop that never waits for the caller: news -> more_news -> news",
        id="message-loop",
    ),
]


@pytest.mark.parametrize(("name", "expected"), FIXTURE_CASES)
def test_a_broken_fixture_is_refused_with_its_location(name: str, expected: str) -> None:
    path = BROKEN / name
    assert_refused(validate(path), f"{path}{expected}")


def test_no_way_out_names_every_node_of_the_trap() -> None:
    path = BROKEN / "no_way_out.json"
    assert_refused(validate(path), f"{path}: error: $.nodes.main: ", f"{path}: error: $.nodes.help: ")


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.json")), ids=lambda p: p.name)
def test_every_broken_fixture_is_refused(path: Path) -> None:
    result = validate(path)
    assert_refused(result, f"{path}: ", " error(s)")
    assert "ok," not in result.output


# --- bytes that are not a menu --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            b'{\n  "id": "caf\xe9"\n}\n', ":2:13: error: $: the file is not UTF-8 text (byte 0xe9)", id="latin-1"
        ),
        # The column counts characters, as editors do: 中 is three bytes but one column.
        pytest.param(
            '{\n "a": "中'.encode() + b'\xff"}',
            ":2:9: error: $: the file is not UTF-8 text (byte 0xff)",
            id="after-multibyte",
        ),
        pytest.param(
            codecs.BOM_UTF8 + b'{\n "a": "\xff"}',
            ":2:8: error: $: the file is not UTF-8 text (byte 0xff)",
            id="after-bom",
        ),
        pytest.param(
            '{"id": "tiny"}'.encode("utf-16"), ":1:1: error: $: the file is UTF-16 text; save it as UTF-8", id="utf-16"
        ),
        pytest.param(b'{"id": "x",\n "nodes": {"a": 1,}}', ":2:19: error: $: JSON syntax:", id="trailing-comma"),
        pytest.param(b'{"id": "x" // a comment\n}', ":1:12: error: $: JSON syntax:", id="comment"),
        pytest.param(b"\x00\x01", ":1:1: error: $: JSON syntax:", id="binary"),
    ],
)
def test_unreadable_bytes_are_refused_with_line_and_column(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(data)
    assert_refused(validate(path), f"{path}{expected}")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param('"timeout": 5,', '"timeout": Infinity,', "$.defaults.timeout: Infinity is not JSON", id="inf"),
        pytest.param(
            '"timeout": 5,', '"timeout": -Infinity,', "$.defaults.timeout: -Infinity is not JSON", id="minus-inf"
        ),
        # Python refuses to read integers over 4300 digits with a ValueError: it must not become a traceback.
        pytest.param(
            '"timeout": 5,',
            '"timeout": 1' + "0" * 5000 + ",",
            "$.defaults.timeout: a number of 5001 digits is too long",
            id="huge-integer",
        ),
    ],
)
def test_numbers_json_does_not_have_are_refused(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = REAL_MENU.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.json"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert_refused(validate(path), f"{path}: error: {expected}")


def nested(depth: int, kind: str) -> str:
    return '{"a": ' * depth + "1" + "}" * depth if kind == "object" else "[" * depth + "]" * depth


TOO_DEEP = ": error: $: the JSON is nested too deeply to be a menu"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("[" * 100_000, TOO_DEEP, id="100000-open-brackets"),
        pytest.param(nested(5000, "object"), TOO_DEEP, id="object-5000-deep"),
        pytest.param(nested(100_000, "array"), TOO_DEEP, id="array-100000-deep"),
        # Deep, but maybe not too deep for json (that depends on the stack): then pydantic meets it in the menu.
        pytest.param(
            REAL_MENU.read_text(encoding="utf-8").replace('"id":', f'"title": {nested(900, "object")}, "id":', 1),
            ": error: $",
            id="menu-with-a-900-deep-title",
        ),
        pytest.param(
            REAL_MENU.read_text(encoding="utf-8").replace('"kind": "menu"', f'"kind": {nested(900, "array")}', 1),
            ": error: $",
            id="menu-with-a-900-deep-kind",
        ),
    ],
)
def test_deep_nesting_is_refused_quickly(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    result = validate(path)
    assert time.monotonic() - started < 5
    assert_refused(result, f"{path}{expected}")


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as f:
        f.write(b'{"id": "huge", "pad": "')
        f.write(b"x" * MAX_MENU_BYTES)
        f.write(b'"}')
    assert_refused(validate(path), f"{path}: error: $: the menu is too big to read", "8 MiB")


def test_huge_text_is_refused_by_parse_menu() -> None:
    with pytest.raises(MenuError) as caught:
        parse_menu(" " * (MAX_MENU_BYTES + 1))
    assert "too big" in caught.value.problems[0].message


# Runs `ivr` with its address space capped, so that a regression fails this test and nothing else.
_CAPPED_IVR = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    "from ivr.cli import main; sys.argv[0] = 'ivr'; main()"
)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_refused_quickly() -> None:
    # /dev/zero says its size is 0 and never ends; reading it all would hang and eat the memory.
    done = subprocess.run(
        [sys.executable, "-c", _CAPPED_IVR, "validate", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "/dev/zero: error: $: the menu is too big to read" in done.stderr


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    assert_refused(validate(path), f"{path}: error: $: cannot read the file: No such file or directory")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert_refused(validate(tmp_path), "is a directory")


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    # In a real process, with its own stack depth and stderr, not click's test runner.
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")
    big_number = tmp_path / "number.json"
    big_number.write_text('{"timeout": ' + "9" * 5000 + "}", encoding="utf-8")
    surrogate = tmp_path / "surrogate.json"
    surrogate.write_text('{"nodes": {"\\ud800": 1}}', encoding="utf-8")
    files = [deep, big_number, surrogate, BROKEN / "syntax.json", tmp_path / "missing.json"]
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "validate", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    for path in files:
        assert f"{path}: " in done.stderr
    assert '$.nodes["\\ud800"]' in done.stderr


# --- several files, --json and --strict -----------------------------------------------------------------------------


def test_several_files_report_the_bad_one(tmp_path: Path) -> None:
    doc = real_doc()
    doc["start"] = "nowhere"
    bad = write_doc(tmp_path, doc, "bad.json")
    result = validate(TINY, bad, REAL_MENU)
    assert_refused(result, f"{bad}: error: $.start: there is no node 'nowhere'", f"{bad}: 1 error(s)")
    assert f"{TINY}: ok" in result.output
    assert f"{REAL_MENU}: ok" in result.output


def test_the_good_files_alone_pass() -> None:
    result = validate(TINY, REAL_MENU)
    assert result.exit_code == 0, result.output


def test_json_lines(tmp_path: Path) -> None:
    doc = real_doc()
    doc["nodes"]["loss"]["extra"] = 1
    bad = write_doc(tmp_path, doc, "bad.json")
    syntax = BROKEN / "syntax.json"
    result = CliRunner().invoke(main, ["validate", "--json", str(TINY), str(bad), str(syntax)])
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records, result.output
    for record in records:
        assert {"file", "path", "message", "severity"} <= record.keys()
        assert record["severity"] in ("error", "warning")
    assert {r["file"] for r in records} == {str(bad), str(syntax)}
    extra = next(r for r in records if r["file"] == str(bad))
    assert extra["path"] == "$.nodes.loss.extra"
    assert extra["severity"] == "error"
    assert "unknown field" in extra["message"]
    located = next(r for r in records if r["file"] == str(syntax))
    assert (located["path"], located["line"], located["column"]) == ("$", 3, 5)


def test_strict_fails_on_a_warning(tmp_path: Path) -> None:
    doc = real_doc()
    doc["prompts"]["unused"] = {"zh-CN": "从不使用", "en-US": "Never used"}
    path = write_doc(tmp_path, doc, "warned.json")

    lenient = validate(path)
    assert lenient.exit_code == 0, lenient.output
    assert f"{path}: warning: $.prompts.unused: this named prompt is never used" in lenient.output
    assert "1 warning(s)" in lenient.output

    strict = CliRunner().invoke(main, ["validate", "--strict", str(path)])
    assert strict.exit_code == 1, strict.output
    assert "$.prompts.unused: this named prompt is never used" in strict.output

    json_strict = CliRunner().invoke(main, ["validate", "--strict", "--json", str(path)])
    assert json_strict.exit_code == 1
    (record,) = [json.loads(line) for line in json_strict.stdout.splitlines()]
    assert (record["path"], record["severity"]) == ("$.prompts.unused", "warning")


def test_strict_passes_a_menu_without_warnings() -> None:
    result = CliRunner().invoke(main, ["validate", "--strict", str(TINY), str(REAL_MENU)])
    assert result.exit_code == 0, result.output


# --- parse_menu lists every problem ---------------------------------------------------------------------------------


def test_parse_menu_lists_every_meaning_problem() -> None:
    doc = real_doc()
    doc["nodes"]["main"]["options"]["2"] = "nowhere"
    doc["nodes"]["main"]["short_prompt"] = "@nope"
    doc["prompts"]["welcome"].pop("en-US")
    doc["prompts"]["confirm_id"]["en-US"] += " {nope:digits}"
    doc["nodes"]["agent"]["service"] = "agent.hourz"
    doc["nodes"]["loss_pin"]["next"] = "loss_pin_typo"
    doc["nodes"]["orphan"] = {"kind": "hangup"}
    with pytest.raises(MenuError) as caught:
        parse_menu(json.dumps(doc), "m.json")
    paths = {p.path for p in caught.value.problems}
    assert {
        '$.nodes.main.options["2"]',
        "$.nodes.main.short_prompt",
        "$.prompts.welcome",
        "$.prompts.confirm_id",
        "$.nodes.agent.service",
        "$.nodes.loss_pin.next",
        "$.nodes.orphan",
    } <= paths
    assert all(p.severity == "error" for p in caught.value.problems)
    assert "more)" in str(caught.value)


def test_parse_menu_lists_every_shape_problem() -> None:
    doc = real_doc()
    doc["defaults"]["timeout"] = "five"
    doc["nodes"]["loss"]["extra"] = 1
    doc["nodes"]["main"]["kind"] = "menuu"
    del doc["nodes"]["voicemail"]["next"]
    with pytest.raises(MenuError) as caught:
        parse_menu(json.dumps(doc))
    paths = [p.path for p in caught.value.problems]
    assert set(paths) == {"$.defaults.timeout", "$.nodes.loss.extra", "$.nodes.main", "$.nodes.voicemail.next"}
    assert len(paths) == 4, caught.value.problems  # one message each, not one per union member


def test_parse_menu_accepts_the_tiny_menu_as_text_and_bytes() -> None:
    data = TINY.read_bytes()
    assert parse_menu(data).id == "tiny"
    assert parse_menu(data.decode()).start == "main"


# --- the JSON Schema ------------------------------------------------------------------------------------------------


def test_the_schema_file_is_up_to_date() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), (
        "menus/schema.json no longer matches the menu model; run: ivr schema -o menus/schema.json"
    )


def test_the_menus_point_at_the_schema() -> None:
    assert real_doc()["$schema"] == "./schema.json"
    tiny = json.loads(TINY.read_text(encoding="utf-8"))
    assert (TINY.parent / tiny["$schema"]).resolve() == SCHEMA.resolve()


@pytest.mark.skipif(importlib.util.find_spec("jsonschema") is None, reason="jsonschema is not installed")
@pytest.mark.parametrize("path", [REAL_MENU, TINY], ids=lambda p: p.name)
def test_the_menus_validate_against_the_schema(path: Path) -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = list(validator_class(schema).iter_errors(json.loads(path.read_text(encoding="utf-8"))))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors]


@pytest.mark.skipif(importlib.util.find_spec("jsonschema") is None, reason="jsonschema is not installed")
@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        pytest.param(put("5", "defaults", "timeout"), ["defaults", "timeout"], id="timeout-string"),
        pytest.param(put("yes", "nodes", "loss_pin", "masked"), ["nodes", "loss_pin", "masked"], id="masked-yes"),
        pytest.param(put(1, "nodes", "loss", "extra"), ["nodes", "loss"], id="unknown-key"),  # additionalProperties
        pytest.param(put([], "nodes", "loss", "prompt"), ["nodes", "loss", "prompt"], id="empty-prompt"),
        pytest.param(
            put(["@welcome"] * 25, "nodes", "loss", "prompt"), ["nodes", "loss", "prompt"], id="25-part-prompt"
        ),
        pytest.param(put("Loss\u0007", "nodes", "loss", "title"), ["nodes", "loss", "title"], id="control-in-title"),
        pytest.param(
            put({"zh-CN": "挂失\u001b", "en-US": "Lost"}, "nodes", "loss_reported", "prompt"),
            ["nodes", "loss_reported", "prompt"],
            id="control-in-prompt",
        ),
        pytest.param(put("Welcome\uffff", "prompts", "welcome", "en-US"), ["prompts", "welcome"], id="u-ffff"),
    ],
)
def test_the_schema_refuses_what_ivr_validate_refuses(tmp_path: Path, mutate: Mutation, where: list[str]) -> None:
    # An editor that honours "$schema" should flag what `ivr validate` refuses, where it is.
    import jsonschema

    doc = real_doc()
    mutate(doc)
    assert_refused(validate(write_doc(tmp_path, doc)), "$." + ".".join(where))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    # Under a oneOf (a node's "kind") the precise error is among the alternatives' reasons.
    errors = list(validator.iter_errors(doc))
    flagged: list[list[Any]] = []
    while errors:
        error = errors.pop()
        flagged.append(list(error.absolute_path))
        errors.extend(error.context or ())
    assert any(path[: len(where)] == where for path in flagged), flagged
