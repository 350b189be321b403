"""``ivr graph``: Mermaid, DOT, SVG and PNG diagrams of the menu, and the traffic heat map."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.authoring.graph import GraphError, build_graph, heat_colour, run_dot, to_dot, to_mermaid, visit_counts
from ivr.cli import main
from ivr.menu import Menu
from ivr.menu.model import MenuNode

ROOT = Path(__file__).resolve().parent.parent
MENU_PATH = ROOT / "menus" / "12333.json"

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)"
)

_MERMAID_EDGE = re.compile(r'^\s*(\w+) -\.?->(?:\|"([^"]*)"\|)? (\w+)$')
_MERMAID_NODE = re.compile(r"^\s*(n_\w+)[\[({]")


def _mermaid_edges(text: str) -> list[tuple[str, list[str], str]]:
    out = []
    for line in text.splitlines():
        m = _MERMAID_EDGE.match(line)
        if m:
            out.append((m.group(1), (m.group(2) or "").split(" / "), m.group(3)))
    return out


def test_mermaid_has_every_node_and_every_key_of_the_real_menu(menu: Menu, tmp_path: Path) -> None:
    out = tmp_path / "menu.mmd"
    r = CliRunner().invoke(main, ["graph", str(MENU_PATH), "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("flowchart")
    lines = {m.group(1): line for line in text.splitlines() if (m := _MERMAID_NODE.match(line))}
    for node_id, node in menu.nodes.items():
        mid = "n_" + node_id
        assert mid in lines, node_id
        assert f"{node.kind} · {node_id}" in lines[mid]
        assert menu.node_title(node_id) in lines[mid]  # the title in the menu's language, zh-CN
    edges = _mermaid_edges(text)
    for node_id, node in menu.nodes.items():
        if not isinstance(node, MenuNode):
            continue
        for key, target in node.options.items():
            drawn = any(s == "n_" + node_id and key in labels and d == "n_" + target for s, labels, d in edges)
            folded = target == menu.start and f"{key} → {menu.start}" in lines["n_" + node_id]
            assert drawn or folded, (node_id, key, target)
    # Service outcomes and transfer statuses label their edges.
    assert ("n_agent", ["open"], "n_agent_transfer") in edges
    assert ("n_agent_transfer", ["busy", "no-answer", "failed"], "n_agent_busy") in edges
    # The keys every menu shares are said once, in the legend.
    assert "Global keys in every menu: * repeat · 0 → agent · # back" in text


def test_labels_show_the_prompt_in_the_chosen_language(menu: Menu) -> None:
    zh = to_mermaid(build_graph(menu, "zh-CN"))
    en = to_mermaid(build_graph(menu, "en-US"))
    assert "社保卡电话临时挂失，请按1" in zh
    assert "To report a lost card temporarily" in en
    # Shortened: at most 40 characters of a prompt.
    for n in build_graph(menu, "en-US").nodes:
        assert len(n.snippet) <= 40


def test_markdown_output_is_a_fenced_mermaid_block(tmp_path: Path) -> None:
    out = tmp_path / "menu.md"
    r = CliRunner().invoke(main, ["graph", str(MENU_PATH), "-o", str(out), "--language", "en-US"])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("```mermaid\nflowchart") and text.rstrip().endswith("```")


@needs_dot
def test_dot_output_is_valid_graphviz(menu: Menu, tmp_path: Path) -> None:
    out = tmp_path / "menu.dot"
    r = CliRunner().invoke(main, ["graph", str(MENU_PATH), "-o", str(out)])
    assert r.exit_code == 0, r.output
    done = subprocess.run(["dot", "-Tsvg", str(out)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert b"<svg" in done.stdout
    for node_id in menu.nodes:
        assert f'"{node_id}" [label=' in out.read_text(encoding="utf-8")


@needs_dot
def test_svg_and_png_are_written(tmp_path: Path) -> None:
    runner = CliRunner()
    svg, png = tmp_path / "menu.svg", tmp_path / "menu.png"
    r = runner.invoke(main, ["graph", str(MENU_PATH), "-o", str(svg)])
    assert r.exit_code == 0, r.output
    assert b"<svg" in svg.read_bytes() and "主菜单".encode() in svg.read_bytes()  # titles in the menu's language
    r = runner.invoke(main, ["graph", str(MENU_PATH), "-o", str(png), "--language", "en-US"])
    assert r.exit_code == 0, r.output
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    # --format wins over the extension.
    odd = tmp_path / "menu.img"
    r = runner.invoke(main, ["graph", str(MENU_PATH), "-o", str(odd), "--format", "svg"])
    assert r.exit_code == 0 and b"<svg" in odd.read_bytes()


def test_a_missing_dot_command_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphError, match="graphviz"):
        run_dot("digraph { a }", "svg")
    out = tmp_path / "menu.svg"
    r = CliRunner().invoke(main, ["graph", str(MENU_PATH), "-o", str(out)])
    assert r.exit_code == 1
    assert "Debian package graphviz" in r.output
    assert not out.exists() and isinstance(r.exception, SystemExit)


def test_unknown_extension_language_and_bad_menu(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["graph", str(MENU_PATH), "-o", str(tmp_path / "menu.txt")])
    assert r.exit_code == 2 and "cannot tell the format" in r.output
    r = runner.invoke(main, ["graph", str(MENU_PATH), "-o", str(tmp_path / "m.mmd"), "--language", "fr-FR"])
    assert r.exit_code == 2 and "'fr-FR' is not one of the menu's languages" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": ', encoding="utf-8")
    r = runner.invoke(main, ["graph", str(bad), "-o", str(tmp_path / "m.mmd")])
    assert r.exit_code == 2 and f"{bad}:1:8: error: $: JSON syntax" in r.output
    assert isinstance(r.exception, SystemExit)


def _fill_events(url: str, visits: dict[str, int]) -> None:
    from ivr.storage.db import Database
    from ivr.storage.models import CallEvent, CallRecord

    db = Database(url)
    db.upgrade()
    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    with db.session() as s:
        s.add(
            CallRecord(
                call_sid="CA1",
                caller="+8613900000000",
                menu_id="12333",
                menu_version="1",
                node="main",
                state="{}",
                step=1,
                last_twiml="",
                status="completed",
                started_at=now,
                updated_at=now,
            )
        )
        s.flush()  # the call before its events (a foreign key)
        seq = 0
        for node, count in visits.items():
            for _ in range(count):
                seq += 1
                s.add(CallEvent(call_sid="CA1", seq=seq, at=now, kind="Digits", node=node, detail="{}"))
        s.add(CallEvent(call_sid="CA1", seq=seq + 1, at=now, kind="status", node="", detail="{}"))
    db.dispose()


def _fill(dot_text: str, node_id: str) -> str:
    m = re.search(rf'^  "{re.escape(node_id)}" \[.*fillcolor="(#[0-9a-f]{{6}})"', dot_text, re.M)
    assert m, node_id
    return m.group(1)


def test_heat_map_colours_the_most_visited_node_hottest(menu: Menu, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    _fill_events(url, {"main": 9, "loss": 3, "agent": 1, "old_node": 2})
    assert visit_counts(url) == {"main": 9, "loss": 3, "agent": 1, "old_node": 2}
    out = tmp_path / "heat.dot"
    r = CliRunner().invoke(main, ["graph", str(MENU_PATH), "-o", str(out), "--heat", url])
    assert r.exit_code == 0, r.output
    assert "heat from 15 event(s)" in r.output and "2 at nodes not in this menu" in r.output
    text = out.read_text(encoding="utf-8")
    assert _fill(text, "main") == heat_colour(9, 9) == "#cb181d"

    def redness(colour: str) -> int:
        # Pale is (255, 245, 240); the hotter, the less green.
        return 255 - int(colour[3:5], 16)

    assert redness(_fill(text, "main")) > redness(_fill(text, "loss")) > redness(_fill(text, "agent"))
    assert redness(_fill(text, "agent")) > redness(_fill(text, "ecard")) == redness(heat_colour(0, 9)) == 10
    assert '\\n9 visits"' in text and '\\n1 visit"' in text
    mermaid = to_mermaid(build_graph(menu, visits=visit_counts(url)))
    assert "style n_main fill:#cb181d" in mermaid


@needs_dot
def test_heat_map_svg(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    _fill_events(url, {"main": 4, "ecard": 2})
    out = tmp_path / "heat.svg"
    r = CliRunner().invoke(main, ["graph", str(MENU_PATH), "-o", str(out), "--heat", url])
    assert r.exit_code == 0, r.output
    assert b'fill="#cb181d"' in out.read_bytes()


def test_heat_map_errors_are_clear(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "m.mmd"
    missing = tmp_path / "nope.db"
    r = runner.invoke(main, ["graph", str(MENU_PATH), "-o", str(out), "--heat", f"sqlite:///{missing}"])
    assert r.exit_code == 1 and "no such SQLite database file" in r.output
    assert not missing.exists()  # not created by looking
    empty = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(empty).close()
    r = runner.invoke(main, ["graph", str(MENU_PATH), "-o", str(out), "--heat", f"sqlite:///{empty}"])
    assert r.exit_code == 1 and "has no call_events table" in r.output
    r = runner.invoke(main, ["graph", str(MENU_PATH), "-o", str(out), "--heat", "not a url"])
    assert r.exit_code == 1 and "not a database URL" in r.output
    assert isinstance(r.exception, SystemExit)


def test_dot_escapes_quotes_and_backslashes(menu: Menu) -> None:
    g = build_graph(menu, "en-US")
    g.legend.append('a "quoted" \\ legend')
    text = to_dot(g)
    assert 'a \\"quoted\\" \\\\ legend' in text
