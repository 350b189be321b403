"""``ivr explore``: the state rule, the crawl, its findings, the command, and the scenarios it writes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.cli import main
from ivr.explore.findings import find
from ivr.explore.inputs import InputEntry, Inputs, InputsError, load_inputs
from ivr.explore.search import MISTAKE, Exploration, Explorer, Limits
from ivr.explore.states import Wait, fingerprint, normalise_text, stable_url
from ivr.explore.target import wsgi_target
from tests import explore_apps

ROOT = Path(__file__).resolve().parents[1]


def _explore(app: Flask, **limits: float) -> Exploration:
    return Explorer(wsgi_target(app), limits=Limits(**limits)).run()  # type: ignore[arg-type]


def _kinds(x: Exploration) -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for f in find(x):
        out.setdefault(f.kind, []).append(f.path)
    return out


# -- the state rule -------------------------------------------------------------------


def test_what_changes_from_call_to_call_is_not_part_of_a_state() -> None:
    spoken = "您输入的身份证号码是3 1 0 1 0 4 1 9 9 0 0 7 1 8 1 2 4 1，确认请按1"
    assert normalise_text(spoken) == "您输入的身份证号码是#，确认请按1"
    assert normalise_text("受理编号202611190000018，有效期至2026年12月10日") == "受理编号#，有效期至<date>"
    sid = "CA" + "0f" * 16
    assert stable_url(f"http://h/voice/step?s=12&CallSid={sid}&lang=en") == "/voice/step?lang=en"
    one = fingerprint(["Press 1"], Wait("gather", 1, "#", 5, "http://h/step?s=1"))
    assert one == fingerprint(["Press 1"], Wait("gather", 1, "#", 5, "http://h/step?s=7"))
    assert one != fingerprint(["Press 2"], Wait("gather", 1, "#", 5, "http://h/step?s=1"))
    assert one != fingerprint(["Press 1"], Wait("gather", 1, "#", 5, "http://h/other?s=1"))
    # Where the app says the call is (X-IVR-Node) counts: one prompt in two flows is two states.
    assert fingerprint(["Press 1"], Wait("gather", 1), "a") != fingerprint(["Press 1"], Wait("gather", 1), "b")


def test_a_bad_inputs_file_is_refused_with_its_place(tmp_path: Path) -> None:
    bad = tmp_path / "inputs.yaml"
    bad.write_text('inputs:\n  - when: "("\n    keys: ["12#"]\n  - when: x\n    keys: ["-"]\n', encoding="utf-8")
    with pytest.raises(InputsError) as exc:
        load_inputs(bad)
    assert "inputs.0.when" in str(exc.value) and "inputs.1.keys" in str(exc.value)
    run = CliRunner().invoke(main, ["explore", "--inputs", str(bad)])
    assert run.exit_code == 2 and "inputs.0.when" in run.output and "Traceback" not in run.output


# -- the crawl and its findings -----------------------------------------------------------


def test_a_broken_branch_is_an_error_at_its_key() -> None:
    x = _explore(explore_apps.broken_tree())
    kinds = _kinds(x)
    assert ("2",) in kinds["http-error"]
    assert "no-agent" not in kinds  # 0 dials
    assert all(f.path[-1] == "2" for f in find(x) if f.severity == "error")  # only the broken key fails


def test_step_counters_and_callsids_in_urls_converge_on_the_real_states() -> None:
    x = _explore(explore_apps.step_counter(), max_calls=400)
    assert x.stopped == "done"
    waiting = {s.id for s in x.states.values() if not s.ending}
    # main (first and after an invalid key, the same words), billing; and the support goodbye.
    assert len(waiting) == 2
    assert [s.wait.ending for s in x.states.values() if s.ending] == ["hangup"]


def test_a_loop_with_no_exit_is_a_warning_once_retries_were_tried() -> None:
    x = _explore(explore_apps.endless_loop())
    assert x.stopped == "done"
    assert _kinds(x)["loop"] == [()]
    assert max(len(c.path) for c in x.calls) >= 4  # the same key pressed again: retry limits tried


def test_an_announced_key_that_does_what_an_invalid_key_does() -> None:
    kinds = _kinds(_explore(explore_apps.dead_key()))
    assert ("2",) in kinds["dead-key"] and all(p[-1] == "2" for p in kinds["dead-key"])
    assert "unannounced-key" not in kinds


ACCOUNTS = Inputs(
    inputs=[InputEntry(when="account", keys=["1111#", "2222#"]), InputEntry(when="PIN", keys=["1234#", "9999#"])]
)


def _endings(x: Exploration) -> set[str]:
    return {s.heard[0] for s in x.states.values() if s.ending and s.heard}


def test_one_question_in_two_flows_is_two_states_when_the_app_names_its_nodes() -> None:
    x = Explorer(wsgi_target(explore_apps.shared_entry(node_header=True)), ACCOUNTS, Limits(max_calls=400)).run()
    assert x.stopped == "done"
    assert {"Your card is active. Goodbye.", "Your card is reported lost. Goodbye."} <= _endings(x)
    assert "Too many wrong PINs. Goodbye." in _endings(x)
    kinds = _kinds(x)
    assert "nondeterminism" not in kinds  # another account number explains another outcome
    # "Wrong PIN, 2 tries left" asks the PIN again: its work waits until the values offered are tried.
    retries = [s for s in x.states.values() if s.heard and s.heard[0].startswith("Wrong PIN")]
    assert retries and all(s.tier >= MISTAKE for s in retries)


def test_without_node_names_the_second_flow_is_followed_and_reported_as_hidden_state() -> None:
    x = Explorer(wsgi_target(explore_apps.shared_entry(node_header=False)), ACCOUNTS, Limits(max_calls=400)).run()
    assert x.stopped == "done"
    # The account question is one state for both flows, yet the report flow's ending is found ...
    assert {"Your card is active. Goodbye.", "Your card is reported lost. Goodbye."} <= _endings(x)
    # ... and the same account and PIN leading to two endings is hidden state, at the PIN question.
    located = [f for f in find(x) if f.kind == "nondeterminism"]
    assert any(f.path == ("1", "1111#") and "1234# → 2 states" in f.message for f in located), located


def test_a_long_prompt_is_reported_once_and_a_greeting_against_its_own_limit() -> None:
    x = _explore(explore_apps.long_greeting())
    long = [f for f in find(x) if f.kind == "prompt-too-long"]
    assert len(long) == 1, long  # heard at the start and after every invalid key: once
    assert long[0].path == () and long[0].message.startswith("the greeting “Welcome")
    assert "limit is 8 s" in long[0].message


# -- over HTTP, with the command ----------------------------------------------------------------


def test_explore_url_reports_the_500_at_each_keys_path_and_exits_1() -> None:
    with explore_apps.served(explore_apps.all_500()) as base:
        run = CliRunner().invoke(main, ["explore", "--url", f"{base}/voice", "--json"])
    assert run.exit_code == 1, run.output
    report = json.loads(run.output)
    errors = {tuple(f["path"]) for f in report["findings"] if f["kind"] == "http-error"}
    assert {("1",), ("2",), ("3",)} <= errors
    assert all("HTTP 500" in f["message"] for f in report["findings"] if f["kind"] == "http-error")
    assert "coverage" not in report and report["fresh_store_per_call"] is False


def test_an_unreachable_url_is_a_usage_error() -> None:
    run = CliRunner().invoke(main, ["explore", "--url", "http://127.0.0.1:9/voice"])
    assert run.exit_code == 2 and "cannot reach" in run.output


def test_a_get_survey_is_explored_to_every_question_and_its_scenarios_pass(tmp_path: Path) -> None:
    out = tmp_path / "scenarios"
    with explore_apps.served(explore_apps.survey()) as base:
        url = f"{base}/survey"
        run = CliRunner().invoke(main, ["explore", "--url", url, "--method", "GET", "--json", "--scenarios", str(out)])
        assert run.exit_code == 0, run.output
        written = sorted(out.glob("*.yaml"))
        text = "\n".join(p.read_text(encoding="utf-8") for p in written)
        for question in ("Question 1", "Question 2", "Question 3", "Thank you for your comment"):
            assert question in text
        assert "method: GET" in text and "rec:2" in text
        drawn = tmp_path / "survey.mmd"
        mapped = CliRunner().invoke(main, ["explore", "--url", url, "--method", "GET", "-o", str(drawn)])
        assert mapped.exit_code == 0, mapped.output
        flowchart = drawn.read_text(encoding="utf-8")
        assert flowchart.startswith("flowchart") and "Question 3" in flowchart and "rec:2" in flowchart
        again = CliRunner().invoke(main, ["test", "--url", url, str(out)])
    assert again.exit_code == 0, again.output
    assert f"{len(written)} passed, 0 failed" in again.output


# -- this project's menu ------------------------------------------------------------------------------


def test_the_12333_menu_in_process_with_the_demo_cardholders(tmp_path: Path) -> None:
    out = tmp_path / "scenarios"
    args = ["explore", "--demo-data", "--clock", "2026-11-23T10:00:00+08:00", "--json"]
    args += ["--inputs", str(ROOT / "tests/explore/12333-inputs.yaml"), "--scenarios", str(out)]
    run = CliRunner().invoke(main, args)  # the default budget: 500 calls
    assert run.exit_code == 0, run.output
    report = json.loads(run.output.splitlines()[-1])
    assert report["calls"] == 500 and report["states"] > 40 and report["fresh_store_per_call"]
    coverage = report["coverage"]
    assert coverage["nodes_total"] == 49 and coverage["nodes_reached"] >= 0.9 * 49, coverage
    agent = [f for f in report["findings"] if f["kind"] == "no-agent"]
    assert agent and "IVR_AGENT_NUMBER is not set" in agent[0]["message"]  # the demo app has no agent number
    written = sorted(out.glob("*.yaml"))
    text = "\n".join(p.read_text(encoding="utf-8") for p in written)
    for ending in ("您的社保卡已激活成功", "临时挂失", "人工坐席正忙"):
        assert ending in text
    again = CliRunner().invoke(main, ["test", str(out)])
    assert again.exit_code == 0, again.output
    assert f"{len(written)} passed, 0 failed" in again.output


def test_in_a_terminal_a_progress_bar_shows_the_states_found(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    ivr = Path(sys.executable).parent / "ivr"
    if not ivr.exists():
        pytest.skip("the ivr command is not installed in this environment")
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    args = ["explore", "--demo-data", "--clock", "2026-11-23T10:00:00+08:00", "--max-calls", "80"]
    child = pexpect.spawn(str(ivr), args, env=env, dimensions=(40, 120), encoding="utf-8", timeout=60, cwd=ROOT)
    try:
        child.expect(r"exploring: (\d+) states")
        assert int(child.match.group(1)) >= 1
        child.expect_exact("found in 80 calls")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_an_app_that_fails_at_once_gets_the_failure_alone() -> None:
    app = Flask("down")
    app.add_url_rule("/voice", "voice", lambda: ("down for maintenance", 503), methods=["POST"])
    x = _explore(app)
    assert [(f.severity, f.kind, f.path) for f in find(x)] == [("error", "http-error", ())]


def test_a_key_added_to_a_12333_prompt_but_not_to_its_options_is_found_early(tmp_path: Path) -> None:
    menu = json.loads((ROOT / "menus/12333.json").read_text(encoding="utf-8"))
    menu["nodes"]["ecard"]["prompt"]["zh-CN"] += "查询办理进度请按7。"  # the author forgot options["7"]
    broken = tmp_path / "12333.json"
    broken.write_text(json.dumps(menu, ensure_ascii=False), encoding="utf-8")
    run = CliRunner().invoke(main, ["explore", str(broken), "--max-calls", "150", "--json"])
    assert run.exit_code == 0, run.output
    findings = json.loads(run.output.splitlines()[-1])["findings"]
    # Well inside the budget the unannounced keys come last in, key 7 is compared with an invalid key.
    assert {"severity": "warning", "kind": "dead-key", "path": ["4", "7"]} in [
        {k: f[k] for k in ("severity", "kind", "path")} for f in findings
    ]
