"""``ivr lint``: each usability rule on a small menu that breaks exactly that rule, the real menu, and the CLI."""

from __future__ import annotations

import copy
import json
import wave
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ivr.authoring.durations import PromptTimer, estimate_seconds, estimate_text_seconds
from ivr.authoring.lint import Finding, LintReport, lint_menu
from ivr.cli import main
from ivr.engine.actions import Say, SayAs, Words
from ivr.menu import load_menu

ROOT = Path(__file__).resolve().parent.parent
MENU_PATH = ROOT / "menus" / "12333.json"


def T(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en-US": en}


def base() -> dict[str, Any]:
    """A tiny two-language menu that breaks no rule."""
    return {
        "id": "tiny",
        "version": "1",
        "languages": ["zh-CN", "en-US"],
        "default_language": "zh-CN",
        "start": "main",
        "defaults": {
            "on_exhausted": "agent",
            "no_input_prompt": "@no_input",
            "invalid_prompt": "@invalid",
            "global_keys": {
                "*": {"action": "repeat"},
                "0": {"action": "goto", "target": "agent"},
                "#": {"action": "back"},
            },
        },
        "prompts": {
            "no_input": T("没有收到您的按键。", "We did not receive a key."),
            "invalid": T("您的输入有误。", "That key is not valid."),
        },
        "nodes": {
            "main": {
                "kind": "menu",
                "prompt": T(
                    "欢迎。查询，请按1；人工服务，请按0。", "Welcome. For status, press 1. For an agent, press 0."
                ),
                "options": {"1": "info", "0": "agent"},
            },
            "info": {
                "kind": "menu",
                "prompt": T("您的卡状态正常。返回主菜单，请按1。", "Your card is fine. For the main menu, press 1."),
                "options": {"1": "main"},
            },
            "agent": {"kind": "transfer", "to": "agent", "prompt": T("正在转接。", "Connecting you.")},
        },
    }


def lint(doc: dict[str, Any], tmp_path: Path, name: str = "menu.json") -> LintReport:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return lint_menu(load_menu(path), audio_dir=tmp_path / "no-audio")


def by_rule(report: LintReport, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule == rule]


def test_the_base_menu_is_clean(tmp_path: Path) -> None:
    assert lint(base(), tmp_path).findings == []


def test_too_many_options_below_the_main_menu(tmp_path: Path) -> None:
    doc = base()
    keys = "123456"
    doc["nodes"]["info"]["prompt"] = T(
        "".join(f"服务{k}，请按{k}；" for k in keys) + "人工服务，请按0。",
        " ".join(f"For service {k}, press {k}." for k in keys) + " For an agent, press 0.",
    )
    # 0 going to the agent is the global key doing its global job: not an option.
    doc["nodes"]["info"]["options"] = {**{k: "main" for k in keys}, "0": "agent"}
    # The main menu may have more.
    doc["nodes"]["main"]["prompt"] = doc["nodes"]["info"]["prompt"]
    doc["nodes"]["main"]["options"] = {**{k: "info" for k in keys}, "0": "agent"}
    [f] = by_rule(lint(doc, tmp_path), "too-many-options")
    assert f.severity == "warning"
    assert f.path == "$.nodes.info.options"
    assert (f.measured, f.limit) == (6, 5)
    assert "6 options (1, 2, 3, 4, 5, 6)" in f.message and "at most 5" in f.message


def test_five_options_are_fine(tmp_path: Path) -> None:
    doc = base()
    keys = "12345"
    doc["nodes"]["info"]["prompt"] = T(
        "".join(f"服务{k}，请按{k}；" for k in keys), " ".join(f"For service {k}, press {k}." for k in keys)
    )
    doc["nodes"]["info"]["options"] = {k: "main" for k in keys}
    assert by_rule(lint(doc, tmp_path), "too-many-options") == []


def _chain(depth: int) -> dict[str, Any]:
    """main 2 -> m1 1 -> ... -> m{depth-1} 1 -> a voicemail: the voicemail is ``depth`` key presses deep."""
    doc = base()
    doc["nodes"]["main"]["options"]["2"] = "m1" if depth > 1 else "vm"
    doc["nodes"]["main"]["prompt"] = T(
        "欢迎。查询，请按1；留言，请按2；人工服务，请按0。",
        "Welcome. For status, press 1. For messages, press 2. For an agent, press 0.",
    )
    for i in range(1, depth):
        doc["nodes"][f"m{i}"] = {
            "kind": "menu",
            "prompt": T("下一步，请按1。", "For the next step, press 1."),
            "options": {"1": f"m{i + 1}" if i + 1 < depth else "vm"},
        }
    doc["nodes"]["vm"] = {"kind": "voicemail", "prompt": T("请留言。", "Leave a message."), "next": "bye"}
    doc["nodes"]["bye"] = {"kind": "hangup", "prompt": T("再见。", "Goodbye.")}
    return doc


def test_a_service_four_choices_deep_is_too_deep(tmp_path: Path) -> None:
    [f] = by_rule(lint(_chain(4), tmp_path), "too-deep")
    assert f.severity == "warning"
    assert f.path == "$.nodes.vm"
    assert (f.measured, f.limit) == (4, 3)
    assert "main 2 → m1 1 → m2 1 → m3 1 → vm" in f.message


def test_three_choices_deep_is_fine_and_shortcuts_count(tmp_path: Path) -> None:
    assert by_rule(lint(_chain(3), tmp_path), "too-deep") == []
    # A shortcut from the main menu makes the deep service shallow.
    doc = _chain(4)
    doc["nodes"]["main"]["options"]["3"] = "vm"
    doc["nodes"]["main"]["prompt"] = T(
        "欢迎。查询，请按1；留言，请按2；直接留言，请按3；人工服务，请按0。",
        "Welcome. For status, press 1. For messages, press 2. To leave one now, press 3. For an agent, press 0.",
    )
    assert by_rule(lint(doc, tmp_path), "too-deep") == []


def test_a_menu_with_no_key_to_the_agent(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["global_keys"] = {"0": None}
    report = lint(doc, tmp_path)
    [f] = by_rule(report, "no-agent-key")
    assert f.severity == "error"
    assert f.path == "$.nodes.info"
    assert "switched off" in f.message and "agent" in f.message
    # Turning the global key off is also inconsistent.
    [g] = by_rule(report, "global-key-inconsistent")
    assert g.path == '$.nodes.info.global_keys["0"]'
    assert "switched off here; everywhere else it goes to agent" in g.message


def test_an_option_to_a_transfer_counts_as_the_agent(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["global_keys"] = {"0": None}
    doc["nodes"]["info"]["options"]["2"] = "agent"
    doc["nodes"]["info"]["prompt"] = T(
        "返回主菜单，请按1；转人工，请按2。", "For the main menu, press 1. For an agent, press 2."
    )
    assert by_rule(lint(doc, tmp_path), "no-agent-key") == []


def test_no_input_and_invalid_prompts_are_required(tmp_path: Path) -> None:
    doc = base()
    del doc["defaults"]["no_input_prompt"]
    doc["nodes"]["info"]["no_input_prompt"] = "@no_input"  # this one has its own
    [f] = by_rule(lint(doc, tmp_path), "no-retry-path")
    assert f.severity == "error"
    assert f.path == "$.defaults.no_input_prompt"
    assert f.measured == 1
    assert "(main)" in f.message


def test_giving_up_into_a_hangup_is_flagged(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["bye"] = {"kind": "hangup", "prompt": T("再见。", "Goodbye.")}
    doc["nodes"]["info"]["on_exhausted"] = "bye"
    [f] = by_rule(lint(doc, tmp_path), "exhausted-hangup")
    assert f.path == "$.nodes.info.on_exhausted"


def test_a_long_greeting(tmp_path: Path) -> None:
    doc = base()
    welcome = "欢迎致电人力资源和社会保障服务热线，我们将竭诚为您提供社会保险和就业等方面的咨询服务。"
    doc["nodes"]["main"]["prompt"] = T(welcome + "查询，请按1；人工服务，请按0。", "Welcome. For status, press 1.")
    [f] = by_rule(lint(doc, tmp_path), "greeting-too-long")
    assert f.path == "$.nodes.main.prompt"
    assert f.language == "zh-CN" and f.source == "estimated"
    assert f.limit == 8 and f.measured is not None and f.measured > 8
    assert f"{f.measured:.1f} s (estimated)" in f.message


def test_the_greeting_is_what_comes_before_the_short_prompt(tmp_path: Path) -> None:
    doc = base()
    doc["prompts"]["welcome"] = T("欢迎致电。", "Welcome.")
    doc["prompts"]["options"] = T(
        "查询卡状态和补卡进度，请按1；人工服务，请按0；重听，请按*号键。",
        "For your card's status and the progress of a replacement, press 1. For an agent, press 0. "
        "To hear these options again, press the star key.",
    )
    doc["nodes"]["main"]["prompt"] = ["@welcome", "@options"]
    doc["nodes"]["main"]["short_prompt"] = "@options"
    report = lint(doc, tmp_path)
    # The whole long prompt is over 8 s, the welcome alone is not.
    assert estimate_text_seconds(doc["prompts"]["options"]["en-US"], "en-US") > 8
    assert by_rule(report, "greeting-too-long") == []
    assert by_rule(report, "prompt-too-long") == []


def test_a_long_instruction_prompt(tmp_path: Path) -> None:
    doc = base()
    long_en = "Your card is fine. " * 12 + "For the main menu, press 1."
    doc["nodes"]["info"]["prompt"] = T("您的卡状态正常。返回主菜单，请按1。", long_en)
    [f] = by_rule(lint(doc, tmp_path), "prompt-too-long")
    assert f.path == "$.nodes.info.prompt"
    assert f.language == "en-US" and f.source == "estimated" and f.limit == 20
    assert f.measured is not None and f.measured > 20
    assert "en-US: lasts" in f.message and "at most 20 s" in f.message


def _wav(path: Path, seconds: float) -> int:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return path.stat().st_size


def test_durations_are_measured_from_rendered_audio_where_it_exists(tmp_path: Path) -> None:
    from ivr.audio.manifest import Entry, Manifest

    doc = base()
    path = tmp_path / "menu.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    menu = load_menu(path)
    # Pretend the renderer spoke the (short) English greeting slowly: 9.5 s.
    audio = tmp_path / "audio"
    audio.mkdir()
    text = doc["nodes"]["main"]["prompt"]["en-US"]
    name = "en-US-0123456789abcdef.wav"
    size = _wav(audio / name, 9.5)
    entry = Entry(kind="prompt", language="en-US", text=text, voice="test", engine="test", duration=9.5, size=size)
    Manifest(files={name: entry}).save(audio)
    report = lint_menu(menu, audio_dir=audio)
    [f] = by_rule(report, "greeting-too-long")
    assert (f.language, f.source, f.measured) == ("en-US", "measured", 9.5)
    assert "9.5 s (measured)" in f.message
    assert report.measured_prompts == 1 and report.estimated_prompts > 0
    assert report.durations.startswith("measured 1, estimated")


def test_without_audio_every_duration_is_estimated(tmp_path: Path) -> None:
    report = lint(base(), tmp_path)
    assert report.measured_prompts == 0 and report.durations == "estimated"


def test_estimation_rates() -> None:
    # 9 Chinese characters at 4.5 a second, 27 English words at 2.7 a second, 10 digits at 2.5 a second.
    assert abs(estimate_text_seconds("欢迎致电人力资源和社", "zh-CN") - 10 / 4.5) < 0.01
    assert abs(estimate_text_seconds(" ".join(["word"] * 27), "en-US") - 10.0) < 0.01
    say = Say("en-US", (Words("Your reference is "), SayAs("2026112200", "digits", "2 0 2 6 1 1 2 2 0 0")))
    assert abs(estimate_seconds(say) - (3 / 2.7 + 10 / 2.5)) < 0.01
    # Pauses between clauses, none after the last word.
    assert estimate_text_seconds("One. Two.", "en-US") == estimate_text_seconds("One, Two", "en-US") + 0.2


def test_key_first_wording(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["prompt"] = T(
        "您的卡状态正常。按1返回主菜单。", "Your card is fine. Press 1 for the main menu."
    )
    found = by_rule(lint(doc, tmp_path), "key-first")
    assert [(f.path, f.language) for f in found] == [("$.nodes.info.prompt", "zh-CN"), ("$.nodes.info.prompt", "en-US")]
    assert "按1返回主菜单" in found[0].message and "Press 1 for the main menu" in found[1].message
    assert all(f.severity == "warning" for f in found)


def test_key_first_across_a_comma_and_in_a_named_prompt(tmp_path: Path) -> None:
    doc = base()
    doc["prompts"]["info_text"] = T("按1，返回主菜单。", "For the main menu, press 1.")
    doc["nodes"]["info"]["prompt"] = "@info_text"
    [f] = by_rule(lint(doc, tmp_path), "key-first")
    assert (f.path, f.language) == ("$.prompts.info_text", "zh-CN")


def test_a_global_key_used_for_something_else(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["options"]["*"] = "agent"
    doc["nodes"]["info"]["prompt"] = T(
        "返回主菜单，请按1；转人工，请按*号键。", "For the main menu, press 1. For an agent, press the star key."
    )
    [f] = by_rule(lint(doc, tmp_path), "global-key-inconsistent")
    assert f.path == '$.nodes.info.options["*"]'
    assert f.message == "here * goes to agent; everywhere else it repeats the prompt"


def test_a_global_key_doing_its_job_as_an_option_is_consistent(tmp_path: Path) -> None:
    doc = base()
    # "*" replays the message this menu follows: a repeat.  "#" goes to the menu the caller came from: back.
    doc["nodes"]["main"]["options"]["1"] = "facts"
    doc["nodes"]["facts"] = {"kind": "message", "prompt": T("您的卡正常。", "Your card is fine."), "next": "info"}
    doc["nodes"]["info"]["options"] = {"*": "facts", "#": "main", "1": "main"}
    doc["nodes"]["info"]["prompt"] = T(
        "重听，请按*号键；返回，请按#号键；主菜单，请按1。",
        "To hear it again, press star. To go back, press hash. For the main menu, press 1.",
    )
    assert by_rule(lint(doc, tmp_path), "global-key-inconsistent") == []


def test_a_prompt_offering_a_key_nothing_handles(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["prompt"] = T(
        "返回主菜单，请按1；挂失，请按2。", "For the main menu, press 1. To report a loss, press 2."
    )
    found = by_rule(lint(doc, tmp_path), "unhandled-key")
    assert [(f.path, f.language) for f in found] == [("$.nodes.info.prompt", "zh-CN"), ("$.nodes.info.prompt", "en-US")]
    assert all(f.severity == "error" for f in found)
    assert "offers 2 ('请按2')" in found[0].message and "no option 2" in found[0].message
    assert "offers 2 ('press 2')" in found[1].message


def test_a_switched_off_global_key_offered_by_the_prompt_is_unhandled(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["global_keys"] = {"#": None}
    doc["nodes"]["info"]["prompt"] = T(
        "返回主菜单，请按1；返回上一级，请按#号键。", "For the main menu, press 1. To go back, press the hash key."
    )
    found = by_rule(lint(doc, tmp_path), "unhandled-key")
    assert {f.language for f in found} == {"zh-CN", "en-US"}
    assert all("offers #" in f.message for f in found)


def test_an_option_the_prompt_never_mentions(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["options"]["2"] = "agent"
    doc["nodes"]["info"]["prompt"] = T(
        "返回主菜单，请按1；转人工，请按2。", "For the main menu, press 1. For an agent, dial the operator."
    )
    [f] = by_rule(lint(doc, tmp_path), "option-not-announced")
    assert (f.path, f.language, f.severity) == ('$.nodes.info.options["2"]', "en-US", "error")
    assert "never tells the caller to press 2" in f.message


def test_key_mentions_in_both_languages_count(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["options"] = {"1": "main", "*": "info", "#": "main"}
    doc["nodes"]["info"]["prompt"] = T(
        "主菜单请按1，重听请按星号键，返回请按井号键。",
        "For the main menu, press 1. Again, press star. Back, press hash.",
    )
    report = lint(doc, tmp_path)
    assert by_rule(report, "option-not-announced") == []
    assert by_rule(report, "unhandled-key") == []


# -- the real menu ------------------------------------------------------------


def test_the_shipped_menu_lints_clean_in_strict_mode(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["lint", "--strict", "--audio", str(tmp_path), str(MENU_PATH)])
    assert result.exit_code == 0, result.output
    assert "clean" in result.output and "prompt durations estimated" in result.output


def test_the_shipped_menu_has_every_option_announced_and_no_key_first_wording() -> None:
    report = lint_menu(load_menu(MENU_PATH), audio_dir=None)
    assert report.findings == []


# -- the command line ---------------------------------------------------------


def _write(doc: dict[str, Any], tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _warning_only() -> dict[str, Any]:
    doc = base()
    doc["nodes"]["info"]["prompt"] = T(
        "您的卡状态正常。按1返回主菜单。", "Your card is fine. For the main menu, press 1."
    )
    return doc


def _with_error() -> dict[str, Any]:
    doc = base()
    doc["nodes"]["info"]["global_keys"] = {"0": None}
    return doc


def test_exit_codes_and_strict(tmp_path: Path) -> None:
    runner = CliRunner()
    audio = ["--audio", str(tmp_path / "none")]
    clean = _write(base(), tmp_path, "clean.json")
    warn = _write(_warning_only(), tmp_path, "warn.json")
    err = _write(_with_error(), tmp_path, "err.json")

    r = runner.invoke(main, ["lint", *audio, str(clean)])
    assert r.exit_code == 0 and f"{clean}: clean" in r.output

    r = runner.invoke(main, ["lint", *audio, str(warn)])
    assert r.exit_code == 0
    assert f"{warn}: warning: key-first: $.nodes.info.prompt: zh-CN: " in r.output
    assert "0 error(s), 1 warning(s)" in r.output
    assert runner.invoke(main, ["lint", "--strict", *audio, str(warn)]).exit_code == 1

    r = runner.invoke(main, ["lint", *audio, str(err)])
    assert r.exit_code == 1
    assert f"{err}: error: no-agent-key: $.nodes.info: " in r.output


def test_a_menu_that_does_not_load_exits_2_with_located_errors(tmp_path: Path) -> None:
    doc = base()
    doc["nodes"]["info"]["options"]["1"] = "nowhere"
    bad = _write(doc, tmp_path, "bad.json")
    syntax = tmp_path / "syntax.json"
    syntax.write_text('{"id": "x",\n  oops}', encoding="utf-8")
    clean = _write(base(), tmp_path, "clean.json")
    r = CliRunner().invoke(main, ["lint", str(clean), str(bad), str(syntax)])
    assert r.exit_code == 2
    assert f"{bad}: error: $.nodes.info.options[\"1\"]: there is no node 'nowhere'" in r.output
    assert f"{syntax}:2:3: error: $: JSON syntax" in r.output
    assert "Traceback" not in r.output
    assert isinstance(r.exception, SystemExit)


def test_a_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["lint", str(tmp_path / "missing.json")])
    assert r.exit_code == 2
    assert "cannot read the file" in r.output
    assert isinstance(r.exception, SystemExit)


def test_json_output(tmp_path: Path) -> None:
    warn = _write(_warning_only(), tmp_path, "warn.json")
    doc = copy.deepcopy(base())
    doc["nodes"]["info"]["prompt"] = T(
        "您的卡状态正常。返回主菜单，请按1。", "Your card is fine. " * 12 + "For the main menu, press 1."
    )
    long = _write(doc, tmp_path, "long.json")
    r = CliRunner().invoke(main, ["lint", "--json", "--audio", str(tmp_path / "none"), str(warn), str(long)])
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["summary"] == {"errors": 0, "warnings": 2, "strict": False, "exit": 0}
    assert [f["rule"] for f in data["findings"]] == ["key-first", "prompt-too-long"]
    first, second = data["findings"]
    assert set(first) == {"file", "rule", "severity", "path", "message", "measured", "limit", "language", "source"}
    assert first["file"] == str(warn) and first["severity"] == "warning" and first["source"] is None
    assert second["path"] == "$.nodes.info.prompt" and second["language"] == "en-US"
    assert second["source"] == "estimated" and second["limit"] == 20 and second["measured"] > 20
    assert [f["loaded"] for f in data["files"]] == [True, True]


def test_json_output_for_a_menu_that_does_not_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    r = CliRunner().invoke(main, ["lint", "--json", "--strict", str(bad)])
    assert r.exit_code == 2
    data = json.loads(r.output)
    assert data["summary"]["exit"] == 2
    [file] = data["files"]
    assert file["loaded"] is False and "a menu is a JSON object" in file["problems"][0]["message"]


def test_the_timer_falls_back_to_estimates_when_the_library_is_missing(tmp_path: Path) -> None:
    timer = PromptTimer(tmp_path / "does-not-exist")
    d = timer.duration(Say("en-US", (Words("Hello there."),)))
    assert d.source == "estimated" and d.seconds > 0
