"""Flow coverage from X-IVR-Path, the shipped scenarios' coverage, and where scenarios keep their data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.console import Console

from ivr.menu import load_menu
from ivr.phone import events as ev
from ivr.phone.callers import parse_answers
from ivr.phone.run import simulate
from ivr.simulator.app import project_app
from ivr.simulator.coverage import Coverage, transitions
from ivr.simulator.pytest_plugin import POSTGRES_ENV, postgres_schema
from ivr.simulator.scenarios import ScenarioError, collect, load, run_all, run_one
from tests.conftest import MENU_PATH

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "scenarios"
SUNDAY = "2026-11-22T10:00:00+08:00"


def _request(node: str, path: tuple[str, ...] = ()) -> ev.Request:
    return ev.Request(method="POST", url="u", status=200, node=node, path=path)


def _wrong_initial_password(path: tuple[str, ...]) -> list[ev.Event]:
    """The last entry of an activation, answered by the app with a wrong-password message."""
    return [
        _request("activate_new_pin_again", ("activate_new_pin_again",)),
        ev.Input(digits="246802", finished_on_key=""),
        _request("activate_pin", path),
    ]


def test_a_path_proves_the_message_nodes_and_service_outcomes_inside_one_step() -> None:
    cov = Coverage(load_menu(MENU_PATH))
    cov.add_call(_wrong_initial_password(("activate_card", "activate_wrong_pin", "activate_pin")))
    assert {"activate_card", "activate_wrong_pin", "activate_pin"} <= cov.nodes
    assert cov.outcomes == {("activate_card", "wrong_password")}
    assert "activate_same_pin" not in cov.nodes


def test_without_a_path_coverage_falls_back_to_x_ivr_node_and_claims_only_what_is_certain() -> None:
    cov = Coverage(load_menu(MENU_PATH))
    # No X-IVR-Path (another server, or a replayed answer): a wrong password and a new password
    # equal to the initial one both lead back to activate_pin, so neither message is claimed.
    cov.add_call(_wrong_initial_password(()))
    assert "activate_card" in cov.nodes
    assert "activate_wrong_pin" not in cov.nodes and "activate_same_pin" not in cov.nodes
    assert not cov.outcomes


def test_a_path_claims_no_outcome_when_several_lead_to_the_same_node() -> None:
    cov = Coverage(load_menu(MENU_PATH))
    # No agent number: the transfer fails inside the step, and busy, no-answer and failed all
    # lead to agent_busy, so the path proves the hours check's outcome but not the transfer's.
    cov.add_call(
        [
            _request("main", ("main",)),
            ev.Input(digits="0", finished_on_key=""),
            _request("agent_busy", ("agent", "agent_transfer", "agent_busy")),
        ]
    )
    assert ("main", "0") in cov.options and ("agent", "open") in cov.outcomes
    assert {"agent", "agent_transfer", "agent_busy"} <= cov.nodes
    assert not any(node == "agent_transfer" for node, _ in cov.outcomes)


def test_an_option_counts_only_when_the_path_starts_where_it_leads() -> None:
    cov = Coverage(load_menu(MENU_PATH))
    # A server whose path disagrees with the menu (it went to ecard on key 1) proves no option.
    cov.add_call([_request("main", ("main",)), ev.Input(digits="1", finished_on_key=""), _request("ecard", ("ecard",))])
    assert ("main", "1") not in cov.options and "ecard" in cov.nodes
    cov.add_call([_request("main", ("main",)), ev.Input(digits="4", finished_on_key=""), _request("ecard", ("ecard",))])
    assert ("main", "4") in cov.options


def test_a_dial_outcome_counts_when_the_path_starts_at_its_destination() -> None:
    cov = Coverage(load_menu(MENU_PATH))
    cov.add_call(
        [
            _request("agent_transfer", ("main", "agent", "agent_transfer")),
            ev.DialEvent(number="+8610012333", status="busy"),
            _request("agent_busy", ("agent_busy",)),
        ]
    )
    assert ("agent_transfer", "busy") in cov.outcomes
    assert ("agent_transfer", "no-answer") not in cov.outcomes


def test_the_simulator_reads_x_ivr_path_from_the_app() -> None:
    with project_app(MENU_PATH, {"CLOCK": SUNDAY}) as app:
        result = simulate(app, parse_answers("1 -"))
    requests = [e for e in result.events if isinstance(e, ev.Request)]
    assert [r.path for r in requests[:2]] == [("main",), ("activate_intro", "activate_id")]
    assert [t.path for t in transitions(result.events)][:2] == [("main",), ("activate_intro", "activate_id")]
    # A retry in place enters no node: the app sends no path, and the node alone is used.
    assert requests[2].node == "activate_id" and requests[2].path == ()


@pytest.mark.slow
def test_the_shipped_scenarios_cover_every_branch_of_the_menu() -> None:
    console = Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115 - closed below
    try:
        report = run_all(collect([SCENARIOS]), console=console, coverage=True, menu=MENU_PATH)
    finally:
        console.file.close()
    assert report.ok, [f for r in report.results for f in r.failures]
    assert report.coverage is not None
    missed = [name for _, name, covered in report.coverage.items() if not covered]
    assert missed == []
    assert all(done == total for done, total in report.coverage.summary().values())


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


LOSS_REPORT = """
name: Li Na reports her card lost
seed: demo
clock: "2026-11-23T10:00:00+08:00"
steps: [{press: "2"}, {press: "1"}, {press: "310104199007181241"}, {press: "1"}, {press: "802461"}]
end: {hear: 临时挂失已受理, node: loss_reported_next}
"""


def test_each_seeded_scenario_gets_a_fresh_copy_of_the_demo_data(tmp_path: Path) -> None:
    scenario = load(_scenario(tmp_path, LOSS_REPORT))[0]
    # A shared database would answer the second report with "already reported".
    first, second = run_one(scenario, menu=MENU_PATH), run_one(scenario, menu=MENU_PATH)
    assert first.ok, first.failures
    assert second.ok, second.failures


def test_dropped_tables_make_the_service_fail_while_the_call_goes_on(tmp_path: Path) -> None:
    text = LOSS_REPORT.replace(
        "end: {hear: 临时挂失已受理, node: loss_reported_next}",
        "drop_tables: [cards]\nconfig: {LOG_LEVEL: CRITICAL}\n"
        "end: {hear: 感谢您的来电，再见, node: service_down, as: hangup}",
    )
    result = run_one(load(_scenario(tmp_path, text))[0], menu=MENU_PATH)
    assert result.ok, result.failures


def test_a_bad_table_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="drop_tables: cards; DROP is not a table name"):
        load(_scenario(tmp_path, "drop_tables: ['cards; DROP']\nsteps: []\n"))


def test_a_scenario_runs_on_postgresql_in_a_schema_of_its_own(tmp_path: Path) -> None:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (CI sets it; PostgreSQL tests need a server)")
    from sqlalchemy import create_engine, text

    scenario = load(_scenario(tmp_path, LOSS_REPORT))[0]
    with postgres_schema(base) as url:
        result = run_one(scenario, menu=MENU_PATH, database_url=url)
        assert result.ok, result.failures
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                schema = conn.execute(text("SELECT current_schema()")).scalar_one()
                reports = conn.execute(text("SELECT count(*) FROM audit_log WHERE service = 'card.report_loss'"))
                assert reports.scalar_one() == 1
        finally:
            engine.dispose()
    check = create_engine(base)
    try:
        with check.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"), {"s": schema}
            )
            assert left.scalar_one() == 0
    finally:
        check.dispose()
