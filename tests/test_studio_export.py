"""``ivr studio export``: menus as Studio flow definitions, checked against Studio's schema and imported back.

The round trips keep what scenarios check: the 12333 menu's information and
language scenarios, and the Studio fixtures' own scenarios, pass on the menu
that comes back, their ``hear`` and ``end`` checks all (``node`` checks are
left out: a node's other gathers, per language and for its short prompt, are
widgets of their own in Studio).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.menu.loader import load_menu, parse_menu
from ivr.menu.model import HangupNode, Menu
from ivr.simulator.scenarios import Scenario, load, run_one
from ivr.studio.exporter import export_menu
from ivr.studio.flow import read_flow
from ivr.studio.importer import import_flow
from ivr.studio.schema import check_flow

ROOT = Path(__file__).resolve().parents[1]
STUDIO = ROOT / "tests" / "studio"


def round_trip(menu: Menu, tmp_path: Path, name: str) -> Path:
    exported = export_menu(menu)
    assert check_flow(exported.flow) == []
    flow = read_flow(json.dumps(exported.flow), name)
    back = import_flow(flow, menu.id)
    parse_menu(json.dumps(back.menu))  # it validates
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(back.menu, ensure_ascii=False))
    return path


def without_node_checks(scenario: Scenario) -> Scenario:
    steps = tuple(dataclasses.replace(step, node=None) for step in scenario.steps)
    return dataclasses.replace(scenario, steps=steps, end=dataclasses.replace(scenario.end, node=None), menu=None)


def test_the_12333_menu_exports_to_a_valid_flow_whose_widgets_keep_the_node_ids() -> None:
    menu = load_menu(ROOT / "menus" / "12333.json")
    exported = export_menu(menu)
    assert check_flow(exported.flow) == []
    names = {state["name"] for state in exported.flow["states"]}
    kept = [n for n, node in menu.nodes.items() if not (isinstance(node, HangupNode) and node.prompt is None)]
    assert [n for n in kept if n not in names] == []
    assert len(exported.flow["states"]) <= 1000
    notes = dict.fromkeys(f"{n}: {m}" for n, m in exported.notes)
    assert "activate_id: the cn_ric rule has no Studio widget: it is the run-function input.check" in notes
    assert "agent: the service agent.hours is a run-function: deploy a Function for it at its url" in notes


SCENARIO_FILES = sorted(p.name for p in (ROOT / "tests" / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("file", SCENARIO_FILES)
def test_the_12333_scenarios_pass_on_the_menu_imported_back(file: str, tmp_path: Path) -> None:
    # info.yaml and language.yaml are the ones the export promises; the others hold too.
    back = round_trip(load_menu(ROOT / "menus" / "12333.json"), tmp_path, "12333")
    scenarios = load(ROOT / "tests" / "scenarios" / file)
    for scenario in scenarios:
        result = run_one(without_node_checks(scenario), menu=back)
        assert result.ok, f"{scenario.name}: {result.failures}"


@pytest.mark.parametrize("name", ["two-numbers", "help-desk"])
def test_import_export_import_keeps_the_scenarios_of_a_studio_flow(name: str, tmp_path: Path) -> None:
    first = parse_menu((STUDIO / "menus" / f"{name}.json").read_text())
    back = round_trip(first, tmp_path, name)
    for scenario in load(STUDIO / "scenarios" / f"{name}.yaml"):
        result = run_one(without_node_checks(scenario), menu=back)
        assert result.ok, f"{scenario.name}: {result.failures}"


def test_a_broken_export_is_caught_by_the_schema_check() -> None:
    flow = export_menu(load_menu(ROOT / "menus" / "12333.json")).flow
    flow["states"][1]["transitions"][0]["next"] = "nowhere"
    kind = flow["states"][2]["type"]
    flow["states"][2]["type"] = "teleport"
    assert any("'teleport' is not one of" in p for p in check_flow(flow))
    flow["states"][2]["type"] = kind
    assert any("leads to 'nowhere', which is no widget" in p for p in check_flow(flow))


def test_the_export_command_writes_the_flow_and_refuses_a_broken_menu(tmp_path: Path) -> None:
    out = tmp_path / "flow.json"
    result = CliRunner().invoke(main, ["studio", "export", str(ROOT / "menus" / "12333.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["initial_state"] == "Trigger"
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "x"}')
    result = CliRunner().invoke(main, ["studio", "export", str(broken)])
    assert result.exit_code == 2
    assert "required field is missing" in result.output and "Traceback" not in result.output
