"""``ivr explore -o``: the map drawn from what was heard, as Mermaid, SVG and PNG."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import click
import pytest
from defusedxml import ElementTree

from ivr.authoring.graph import GraphError
from ivr.explore.drawing import MapEdge, MapNode, render_map

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)"
)

NODES = [
    MapNode("s0", "欢迎致电12333。查询请按1，人工服务请按0", "start"),
    MapNode("s1", "请输入身份证号码，以井号键结束", "gather"),
    MapNode("s2", "请在提示音后留言", "record"),
    MapNode("s3", "再见", "hangup"),
    MapNode("s4", "HTTP 500", "error"),
]
EDGES = [
    MapEdge("s0", "s1", "1"),
    MapEdge("s0", "s2", "0"),
    MapEdge("s0", "s4", "2"),
    MapEdge("s0", "s4", "3"),
    MapEdge("s1", "s3", "310104…#"),
    MapEdge("s1", "s1", "silence"),
    MapEdge("s2", "s3", "rec:2"),
    MapEdge("s3", "s0", "*"),
]

HOSTILE = [
    MapNode('a"]|b', 'say "hi"] | [x] <script>alert(1)</script> & `tick` #quot;', "start"),
    MapNode("b\nc", "line one\nline two\r\n\x1b[31mred\x00", "other"),
]
HOSTILE_EDGES = [MapEdge('a"]|b', "b\nc", '1|"]\n<b>'), MapEdge("b\nc", 'a"]|b', "-->|x|")]


def _svg_text(path: Path) -> str:
    """All the text the SVG shows, decoded from XML (it must parse)."""
    root = ElementTree.fromstring(path.read_bytes())
    return "\n".join("".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text"))


def test_the_mermaid_map_is_a_flowchart_of_every_state_and_input(tmp_path: Path) -> None:
    out = tmp_path / "map.mmd"
    render_map(NODES, EDGES, out)
    assert out.read_text(encoding="utf-8") == (
        "flowchart LR\n"
        '  n_s0["欢迎致电12333。查询请按1，人工服务请按0<br/>start · s0"]\n'
        '  n_s1["请输入身份证号码，以井号键结束<br/>gather · s1"]\n'
        '  n_s2[("请在提示音后留言<br/>record · s2")]\n'
        '  n_s3(("再见<br/>hangup · s3"))\n'
        '  n_s4((("HTTP 500<br/>error · s4")))\n'
        '  n_s0 -->|"1"| n_s1\n'
        '  n_s0 -->|"0"| n_s2\n'
        '  n_s0 -.->|"2 / 3"| n_s4\n'
        '  n_s1 -->|"310104…#35;"| n_s3\n'
        '  n_s1 -->|"silence"| n_s1\n'
        '  n_s2 -->|"rec:2"| n_s3\n'
        '  n_s3 -->|"*"| n_s0\n'
        "  style n_s0 stroke-width:3px\n"
        "  style n_s4 fill:#fdecea,stroke:#b71c1c\n"
    )


def test_long_labels_are_shortened() -> None:
    from ivr.explore.drawing import to_dot, to_mermaid

    nodes = [MapNode("s0", "请按" * 200, "start"), MapNode("s1", "x", "other")]
    edges = [MapEdge("s0", "s1", "1" * 100 + "#")]
    mermaid = to_mermaid(nodes, edges)
    assert "请按" * 200 not in mermaid and "1" * 100 not in mermaid
    node_line = mermaid.splitlines()[1]
    assert node_line.count("<br/>") == 2 and "…" in node_line  # two lines of what was heard, then kind · id
    assert "…" in to_dot(nodes, edges).split("->")[1]


@needs_dot
def test_the_svg_map_is_xml_that_shows_every_label(tmp_path: Path) -> None:
    out = tmp_path / "map.svg"
    render_map(NODES, EDGES, out)
    shown = _svg_text(out)
    for node in NODES:
        assert node.label in shown and f"{node.kind} · {node.id}" in shown
    for label in ("1", "0", "2 / 3", "310104…#", "silence", "rec:2", "*"):
        assert re.search(rf"^{re.escape(label)}$", shown, re.M), label


@needs_dot
def test_the_png_map_is_a_png(tmp_path: Path) -> None:
    out = tmp_path / "map.png"
    render_map(NODES, EDGES, out)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_hostile_labels_keep_the_mermaid_map_one_statement_a_line(tmp_path: Path) -> None:
    out = tmp_path / "map.mmd"
    render_map(HOSTILE, HOSTILE_EDGES, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "flowchart LR"
    node_line = re.compile(r'^  n_\w+(\[|\(|\(\(|\[\(|\(\(\()"(?:[^"|`<>\n]|<br/>)*"(\]|\)|\)\)|\)\]|\)\)\))$')
    edge_line = re.compile(r'^  n_\w+ -\.?->\|"[^"|`<>]*"\| n_\w+$')
    # Two node statements, two edges, the start's style: nothing a label said leaked out of its quotes.
    assert [bool(node_line.match(s)) for s in lines[1:3]] == [True, True], lines
    assert all(edge_line.match(s) for s in lines[3:5]), lines
    assert lines[5].startswith("  style ") and len(lines) == 6
    text = "\n".join(lines)
    assert "<script" not in text and "#lt;script#gt;" in text
    assert "#quot;hi#quot;" in text and "#124;" in text and "#96;tick#96;" in text
    assert "#35;quot;" in text  # a heard "#quot;" is shown as itself, not as a quote


@needs_dot
def test_hostile_labels_are_text_in_the_svg_map(tmp_path: Path) -> None:
    out = tmp_path / "map.svg"
    render_map(HOSTILE, HOSTILE_EDGES, out)
    root = ElementTree.fromstring(out.read_bytes())
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    shown = _svg_text(out)
    assert "<script>alert(1)</script>" in shown.replace("\n", "")
    assert 'say "hi"] | [x]' in shown and "line one line two [31mred" in shown
    assert '1|"] <b>' in shown and "-->|x|" in shown


def test_a_suffix_it_cannot_draw_is_refused_naming_the_ones_it_can(tmp_path: Path) -> None:
    out = tmp_path / "map.jpg"
    with pytest.raises(click.BadParameter) as err:
        render_map(NODES, EDGES, out)
    message = err.value.format_message()
    assert all(s in message for s in (".svg", ".png", ".mmd")) and "map.jpg" in message
    assert not out.exists()


def test_missing_graphviz_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(GraphError, match="Graphviz 'dot' command is not installed"):
        render_map(NODES, EDGES, tmp_path / "map.svg")
    render_map(NODES, EDGES, tmp_path / "map.mmd")  # Mermaid needs no Graphviz
    assert (tmp_path / "map.mmd").exists()


def test_an_unwritable_file_and_a_dangling_edge_are_errors(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="cannot write"):
        render_map(NODES, EDGES, tmp_path / "no such dir" / "map.mmd")
    with pytest.raises(ValueError, match="no node 'nowhere'"):
        render_map(NODES, [MapEdge("s0", "nowhere", "1")], tmp_path / "map.mmd")


def test_a_png_of_chinese_prompts_without_a_chinese_font_gets_ivr_graphs_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr.explore import drawing

    monkeypatch.setattr(drawing, "cjk_font_missing", lambda: True)
    note = drawing.font_note(NODES, tmp_path / "map.png")
    assert note is not None and "fonts-noto-cjk" in note
    assert drawing.font_note(NODES, tmp_path / "map.svg") is None  # the browser brings its fonts
    assert drawing.font_note([MapNode("s0", "Press 1", "start")], tmp_path / "map.png") is None
    monkeypatch.setattr(drawing, "cjk_font_missing", lambda: False)
    assert drawing.font_note(NODES, tmp_path / "map.png") is None


def test_many_inputs_to_one_state_are_counted_on_the_edge(tmp_path: Path) -> None:
    out = tmp_path / "map.mmd"
    ids = [MapEdge("s1", "s3", f"{n}10104199007181241#") for n in range(1, 10)]
    render_map(NODES, [*EDGES[:4], *ids], out)
    edge = next(line for line in out.read_text(encoding="utf-8").splitlines() if "n_s1 -->" in line)
    assert edge.count("10104") == 2 and "… 7 more" in edge
