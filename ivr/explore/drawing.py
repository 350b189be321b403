"""Drawing the map ``ivr explore`` found: Graphviz (SVG, PNG) or Mermaid, in the look of ``ivr graph``.

The map is drawn from what was heard, not from a menu file, so it works for
any TwiML app: a node per state (what the caller hears there, its kind and
its id), an edge per input that leads from one state to another.  Shapes,
colours, fonts and escaping are those of :mod:`ivr.authoring.graph`: a
state that waits for keys looks like a menu node, a recording like a
voicemail node, and so on; an error state is red, as failing services are.

:func:`map_format` checks a file name before a long exploration starts;
:func:`render_map` writes the file.  Both raise ``click.BadParameter`` for a
suffix they cannot write (the user's choice of ``-o``: click prints it as a
usage error); :func:`render_map` raises :class:`~ivr.authoring.graph.GraphError`
when Graphviz is missing or fails or the file cannot be written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click

from ivr.authoring.graph import (
    DOT_DEFAULTS,
    DOT_EDGE,
    DOT_SHAPES,
    MENU_FILL,
    MERMAID_SHAPES,
    SNIPPET,
    GraphError,
    cjk_font_missing,
    depths_from,
    dot_str,
    mermaid_id,
    mermaid_str,
    run_dot,
    shorten,
)

__all__ = [
    "KINDS",
    "MAP_SUFFIXES",
    "MapEdge",
    "MapNode",
    "font_note",
    "map_format",
    "render_map",
    "to_dot",
    "to_mermaid",
]

KINDS = ("start", "gather", "record", "hangup", "transfer", "voicemail", "error", "other")
"""The kinds of state a map node can be."""

MapFormat = Literal["svg", "png", "mermaid"]
MAP_SUFFIXES: dict[str, MapFormat] = {".svg": "svg", ".png": "png", ".mmd": "mermaid"}
"""The file name suffixes :func:`render_map` writes, and the format each means."""

EDGE_LABEL = 24
"""How many characters of an input an edge's label shows (a card number and its "#" fit)."""

# Each kind of state drawn as the menu node kind it resembles, so a map and a
# menu's graph read alike: a state waiting for keys is a menu, a recording a voicemail.
_LOOKS_LIKE = {
    "start": "menu",
    "gather": "menu",
    "record": "voicemail",
    "voicemail": "voicemail",
    "hangup": "hangup",
    "transfer": "transfer",
    "other": "message",
}
_ERROR_COLOUR = "#b71c1c"  # the colour of ivr graph's error edges
_ERROR_FILL = "#fdecea"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class MapNode:
    """A state of the call flow: its id, what the caller hears there (shortened) and its kind (one of KINDS)."""

    id: str
    label: str
    kind: str


@dataclass(frozen=True)
class MapEdge:
    """An input that leads from state ``src`` to state ``dst``: "1", "silence", "310104…#", "rec:2"."""

    src: str
    dst: str
    label: str


def map_format(out: Path) -> MapFormat:
    """The format ``out``'s suffix asks for; ``click.BadParameter`` naming the accepted suffixes otherwise."""
    fmt = MAP_SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise click.BadParameter(
            f"cannot draw a map as {out.name!r}: name it .svg or .png (Graphviz) or .mmd (Mermaid)",
            param_hint="'-o'",
        )
    return fmt


def _clean(text: str) -> str:
    """``text`` on one line without control characters: they would end a Mermaid line or spoil the SVG's XML."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _label_lines(node: MapNode) -> list[str]:
    # What was heard gets two lines of a graph node's snippet: states often differ only after the greeting.
    heard = shorten(_clean(node.label), 2 * SNIPPET)
    lines = [heard[i : i + SNIPPET] for i in range(0, len(heard), SNIPPET)] or ["(silence)"]
    return [*lines, f"{node.kind} · {_clean(node.id)}"]


@dataclass(frozen=True)
class _Edge:
    src: str
    dst: str
    label: str
    style: str
    back: bool


MERGED_LABELS = 3
"""Inputs named on one edge; more (nine ID numbers leading to one read-back) are counted instead."""


def _edges(nodes: Sequence[MapNode], edges: Sequence[MapEdge]) -> list[_Edge]:
    """One edge per (src, dst): "3 / 4 / 5" rather than three arrows; styled as ivr graph styles its edges."""
    kinds = {n.id: n.kind for n in nodes}
    merged: dict[tuple[str, str], list[str]] = {}
    for e in edges:
        missing = [end for end in (e.src, e.dst) if end not in kinds]
        if missing:
            raise ValueError(f"map edge {e.src!r} -> {e.dst!r}: no node {missing[0]!r}")
        labels = merged.setdefault((e.src, e.dst), [])
        label = shorten(_clean(e.label), EDGE_LABEL)
        if label and label not in labels:
            labels.append(label)
    starts = [n.id for n in nodes if n.kind == "start"] or [nodes[0].id]
    depth = depths_from(starts[0], list(merged))
    out = []
    for (src, dst), labels in merged.items():
        if kinds[dst] == "error":
            style = "error"
        elif all(label == "silence" or label.startswith("rec:") for label in labels):
            style = "flow"  # what a caller does without choosing a key
        else:
            style = "key"
        shown = labels if len(labels) <= MERGED_LABELS else [*labels[:2], f"… {len(labels) - 2} more"]
        out.append(_Edge(src, dst, " / ".join(shown), style, depth.get(dst, 0) <= depth.get(src, 0)))
    return out


def _check_nodes(nodes: Sequence[MapNode]) -> None:
    if not nodes:
        raise ValueError("a map needs at least one node")
    seen: set[str] = set()
    for n in nodes:
        if n.id in seen:
            raise ValueError(f"map node {n.id!r} is given twice")
        if n.kind not in KINDS:
            raise ValueError(f"map node {n.id!r}: kind {n.kind!r} is not one of {', '.join(KINDS)}")
        seen.add(n.id)


def to_dot(nodes: Sequence[MapNode], edges: Sequence[MapEdge]) -> str:
    """The map as Graphviz DOT text, with ``ivr graph``'s defaults, shapes and edge colours."""
    _check_nodes(nodes)
    lines = ["digraph map {", *DOT_DEFAULTS]
    for n in nodes:
        attrs = [f"label={dot_str(chr(10).join(_label_lines(n)))}"]
        if n.kind == "error":
            attrs += ["shape=doubleoctagon", 'style="filled"', f'fillcolor="{_ERROR_FILL}"', f'color="{_ERROR_COLOUR}"']
        else:
            looks = _LOOKS_LIKE[n.kind]
            attrs.append(f"shape={DOT_SHAPES.get(looks, 'box')}")
            if looks == "menu":
                attrs.append(f'fillcolor="{MENU_FILL}"')
            else:
                attrs.append('style="filled"')
        if n.kind == "start":
            attrs.append("penwidth=2.5")
        lines.append(f"  {dot_str(n.id)} [{', '.join(attrs)}];")
    for e in _edges(nodes, edges):
        label = f"label={dot_str(e.label)}, " if e.label else ""
        back = ", constraint=false" if e.back else ""  # loops back up do not stretch the layout
        lines.append(f"  {dot_str(e.src)} -> {dot_str(e.dst)} [{label}{DOT_EDGE[e.style]}{back}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """``text`` for inside a quoted Mermaid label: ivr graph's escaping, and what a heard text may add to it.

    ``#`` first (it starts Mermaid's entity codes, so a heard "#quot;" stays
    itself), then ``|`` (it ends an edge label) and the backtick (it starts
    a Markdown string), all as Mermaid's decimal entity codes.
    """
    text = mermaid_str(text.replace("#", "#35;"))[1:-1]
    return text.replace("|", "#124;").replace("`", "#96;")


def to_mermaid(nodes: Sequence[MapNode], edges: Sequence[MapEdge]) -> str:
    """The map as a Mermaid flowchart, with ``ivr graph``'s shapes and arrows."""
    _check_nodes(nodes)
    ids: dict[str, str] = {}
    for n in nodes:
        mermaid_id(n.id, ids)
    lines = ["flowchart LR"]
    for n in nodes:
        left, right = ("(((", ")))") if n.kind == "error" else MERMAID_SHAPES.get(_LOOKS_LIKE[n.kind], ("[", "]"))
        label = "<br/>".join(_mermaid_text(s) for s in _label_lines(n))
        lines.append(f'  {ids[n.id]}{left}"{label}"{right}')
    for e in _edges(nodes, edges):
        arrow = "-.->" if e.style == "error" else "-->"
        label = f'|"{_mermaid_text(e.label)}"|' if e.label else ""
        lines.append(f"  {ids[e.src]} {arrow}{label} {ids[e.dst]}")
    for n in nodes:
        if n.kind == "start":
            lines.append(f"  style {ids[n.id]} stroke-width:3px")
        elif n.kind == "error":
            lines.append(f"  style {ids[n.id]} fill:{_ERROR_FILL},stroke:{_ERROR_COLOUR}")
    return "\n".join(lines) + "\n"


def render_map(nodes: Sequence[MapNode], edges: Sequence[MapEdge], out: Path) -> None:
    """Write .svg/.png (Graphviz) or .mmd (Mermaid) by the suffix of ``out``.

    ``click.BadParameter`` for another suffix; GraphError when Graphviz's
    ``dot`` is missing or fails, or ``out`` cannot be written; ValueError
    when an edge names a node that is not in ``nodes`` (the caller's bug).
    """
    fmt = map_format(out)
    data = to_mermaid(nodes, edges).encode("utf-8") if fmt == "mermaid" else run_dot(to_dot(nodes, edges), fmt)
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise GraphError(f"cannot write {out}: {exc.strerror or exc}") from None


def font_note(nodes: Sequence[MapNode], out: Path) -> str | None:
    """The note ``ivr graph`` prints when a PNG's Chinese text would show as boxes (no CJK font), or None."""
    if out.suffix.lower() != ".png" or not any(_has_cjk(n.label) for n in nodes) or not cjk_font_missing():
        return None
    return (
        "note: no Chinese font is installed, so the PNG's Chinese text may show as boxes; install "
        "fonts-noto-cjk, or use SVG (the browser brings its fonts) or Mermaid (.mmd)"
    )


def _has_cjk(text: str) -> bool:
    return any(unicodedata.east_asian_width(c) in ("W", "F") for c in text)
