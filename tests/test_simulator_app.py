"""The simulator against the project's own app in-process, the CLI, scenarios and flow coverage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.menu import load_menu
from ivr.phone import events as ev
from ivr.phone.callers import parse_answers
from ivr.phone.run import simulate
from ivr.simulator.app import project_app
from ivr.simulator.coverage import Coverage
from ivr.simulator.scenarios import ScenarioError, check, load, run_one
from tests.conftest import MENU_PATH

ROOT = Path(__file__).resolve().parent.parent
SUNDAY = "2026-11-22T10:00:00+08:00"
EVENT_FIELDS = {
    "call": {"call_sid", "from", "to", "url"},
    "request": {"method", "url", "status"},
    "say": {"text", "language", "voice"},
    "gather": {"numDigits", "timeout", "finishOnKey", "action"},
    "input": {"digits", "finished_on_key"},
    "no_input": set(),
    "redirect": {"url"},
    "end": {"reason", "duration"},
}


def test_in_process_call_to_the_hotline_walks_the_menu_by_its_nodes() -> None:
    with project_app(MENU_PATH, {"CLOCK": SUNDAY}) as app:
        result = simulate(app, parse_answers("4 1 # - 0"))
    *steps, callback = [e for e in result.events if isinstance(e, ev.Request)]
    assert [e.node for e in steps] == ["main", "ecard", "ecard_download", "ecard", "ecard", "agent_closed"]
    # The status callback the app announced (X-IVR-Status-Callback).
    assert callback.url == "http://localhost/status" and callback.status == 204
    assert any("电子社保卡" in e.text for e in result.events if isinstance(e, ev.SayEvent))
    assert result.reason == "caller_hangup" and result.exit_code == 0


def test_cli_json_lines_carry_the_issue_event_names_and_fields() -> None:
    run = CliRunner().invoke(main, ["simulate", "--fresh", "--keys", "9 2 -", "--mute", "--json", "--clock", SUNDAY])
    assert run.exit_code == 0, run.output
    lines = [json.loads(line) for line in run.output.splitlines()]
    assert lines[0]["event"] == "call" and lines[-1]["event"] == "end"
    for line in lines:
        assert EVENT_FIELDS.get(line["event"], set()) <= set(line), line
    inputs = [line["digits"] for line in lines if line["event"] == "input"]
    assert inputs == ["9", "2"]
    assert lines[-1]["reason"] == "caller_hangup"


def test_cli_rejects_a_bad_answer_and_a_bad_menu_without_a_traceback(tmp_path: Path) -> None:
    bad_keys = CliRunner().invoke(main, ["simulate", "--keys", "1 x", "--mute"])
    assert bad_keys.exit_code == 2 and "'x' is not an answer" in bad_keys.output
    broken = tmp_path / "broken.json"
    broken.write_text("{}", encoding="utf-8")
    bad_menu = CliRunner().invoke(main, ["simulate", str(broken), "--keys", "1", "--mute"])
    assert bad_menu.exit_code == 2 and f"{broken}: error: $.start: required field is missing" in bad_menu.output
    assert "Traceback" not in bad_keys.output + bad_menu.output


def test_cli_without_keys_and_without_a_terminal_says_what_to_do() -> None:
    run = CliRunner().invoke(main, ["simulate", "--mute"], input="")
    assert run.exit_code == 2 and "--keys" in run.output


def test_shipped_scenarios_pass_through_the_cli_with_coverage() -> None:
    run = CliRunner().invoke(main, ["test", str(ROOT / "tests" / "scenarios" / "info.yaml"), "--coverage"])
    assert run.exit_code == 0, run.output
    assert "5 passed, 0 failed" in run.output
    assert "Flow coverage of menu 12333" in run.output and "Never reached:" in run.output


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_scenario_fails_when_the_caller_hears_something_else(tmp_path: Path) -> None:
    path = _scenario(tmp_path, 'steps:\n  - hear: "this is never said"\n    press: "4"\nend: hangup\n')
    result = run_one(load(path)[0], menu=MENU_PATH)
    assert not result.ok
    assert any("expected to hear 'this is never said'" in f for f in result.failures)
    assert any("expected the call to end as hangup" in f for f in result.failures)


def test_a_scenario_fails_when_the_call_ends_before_its_steps(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        'clock: "2026-11-22T10:00:00+08:00"\n'
        'steps:\n  - press: "0"\n  - press: "1"\n  - press: "rec:5"\n  - press: "1"\n',
    )
    result = run_one(load(path)[0], menu=MENU_PATH)
    assert any("step 4 (press 1): the call ended (hangup) after 3 answer(s)" in f for f in result.failures)


def test_a_scenario_node_expectation_is_checked(tmp_path: Path) -> None:
    path = _scenario(tmp_path, 'steps:\n  - press: "4"\n  - node: register\n    press: "1"\n')
    result = run_one(load(path)[0], menu=MENU_PATH)
    assert result.call is not None
    ecard_menu = next(e.text for e in result.call.events if isinstance(e, ev.SayEvent) and "请按1" in e.text[:12])
    assert check(load(path)[0], result.call) == [
        "step 2 (before pressing 1): expected the call at node 'register', it was at 'ecard'",
        f"step 2 (before pressing 1): heard: {ecard_menu}",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: [{press: '1', colour: red}]", "unknown key(s) colour"),
        ("steps: [{hear: x}]", "needs press"),
        ("steps: [{press: 'x1'}]", "not an answer"),
        ("steps: [{press: '1', hear_re: '('}]", "bad regular expression"),
        ("end: teleported", "not one of"),
        ("dial: [maybe]", "not among"),
        ("steps: [", "not valid YAML"),
    ],
)
def test_bad_scenario_files_are_reported_with_their_location(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load(_scenario(tmp_path, text))
    assert message in str(err.value) and "s.yaml" in str(err.value)


def test_coverage_infers_pass_through_nodes_and_service_outcomes() -> None:
    cov = Coverage(load_menu(MENU_PATH))
    events: list[ev.Event] = [
        ev.Request(method="POST", url="u", status=200, node="main"),
        ev.Input(digits="0", finished_on_key=""),
        ev.Request(method="POST", url="u", status=200, node="agent_closed"),
    ]
    cov.add_call(events)
    assert {"main", "agent", "agent_closed"} <= cov.nodes
    assert ("main", "0") in cov.options and ("agent", "closed") in cov.outcomes
    assert ("agent", "open") not in cov.outcomes and "agent_transfer" not in cov.nodes
    done, total = cov.summary()["node"]
    assert done == len(cov.nodes) and total == len(cov.menu.nodes)


def test_pytest_collects_scenario_files_through_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "menus").mkdir()
    (tmp_path / "menus" / "12333.json").write_text(MENU_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "scenarios" / "s.yaml").write_text(
        "- name: good\n  steps: [{press: '4', hear: 欢迎致电}]\n- name: bad\n  steps: [{press: '4', hear: nope}]\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "IVR_TEST_POSTGRES_URL"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    # Each scenario is collected twice: on SQLite, and on PostgreSQL (skipped here, with the reason).
    assert "1 failed, 1 passed, 2 skipped" in run.stdout
    assert "expected to hear 'nope'" in run.stdout and "the call:" in run.stdout
    assert "IVR_TEST_POSTGRES_URL is not set" in run.stdout
