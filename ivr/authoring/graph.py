"""Drawing a menu: DOT for Graphviz (SVG, PNG) and Mermaid text for docs.

:func:`build_graph` turns a menu into a small neutral graph: a node per menu
node, labelled with its title, kind, id and the first words of its prompt in
one language; an edge per way on, labelled with its key or outcome.  What
every menu shares (the global keys, where three failed attempts go, where a
failing service goes) is said once in a legend instead of on every node.
:func:`to_dot` and :func:`to_mermaid` write that graph out; :func:`run_dot`
has Graphviz lay it out.

A heat map colours nodes by traffic: :func:`visit_counts` counts the recorded
call events per node (``call_events.node``) in the call database.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ivr.menu.model import (
    Audio,
    InputNode,
    LanguageNode,
    Menu,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    ServiceNode,
    SetNode,
    SwitchNode,
    TransferNode,
    VoicemailNode,
    part_text,
)

__all__ = [
    "DOT_DEFAULTS",
    "DOT_EDGE",
    "DOT_SHAPES",
    "FORMATS",
    "MENU_FILL",
    "MERMAID_SHAPES",
    "GraphEdge",
    "GraphError",
    "GraphNode",
    "MenuGraph",
    "build_graph",
    "cjk_font_missing",
    "depths_from",
    "dot_str",
    "format_for",
    "heat_colour",
    "mermaid_id",
    "mermaid_str",
    "prompt_words",
    "run_dot",
    "shorten",
    "to_dot",
    "to_mermaid",
    "visit_counts",
]

Format = Literal["svg", "png", "mermaid", "dot"]
FORMATS: tuple[Format, ...] = ("svg", "png", "mermaid", "dot")
_SUFFIXES: dict[str, Format] = {
    ".svg": "svg",
    ".png": "png",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".md": "mermaid",
    ".dot": "dot",
    ".gv": "dot",
}
SNIPPET = 40
"""How many characters of a prompt a node's label shows."""

PALE = (255, 245, 240)
HOT = (203, 24, 29)
"""The heat map runs from PALE (fewest visits) to HOT (most)."""

EdgeStyle = Literal["key", "flow", "outcome", "error", "exhausted"]


class GraphError(Exception):
    """The diagram cannot be made (Graphviz is missing or failed, the database cannot be read)."""


@dataclass(frozen=True)
class GraphNode:
    """A node of the diagram."""

    id: str
    kind: str
    title: str
    snippet: str
    start: bool = False
    notes: tuple[str, ...] = ()
    visits: int | None = None


@dataclass(frozen=True)
class GraphEdge:
    """An edge of the diagram: ``src`` to ``dst``, labelled with keys or outcomes."""

    src: str
    dst: str
    label: str
    style: EdgeStyle
    back: bool = False
    """Whether the edge leads back up the tree (to a node no deeper than ``src``); it does not shape the layout."""


@dataclass
class MenuGraph:
    """A menu as nodes, edges and a legend, in one language."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    legend: list[str]
    language: str
    most_visits: int | None = None
    unknown_visits: dict[str, int] = field(default_factory=dict)


def format_for(path: Path) -> Format | None:
    """The format a file name asks for (``.svg``, ``.png``, ``.mmd``/``.md``, ``.dot``), or None."""
    return _SUFFIXES.get(path.suffix.lower())


def prompt_words(menu: Menu, prompt: Prompt | None, language: str) -> str:
    """A prompt's words in ``language`` as written (variables stay ``{name}``), on one line."""
    if prompt is None:
        return ""
    out = ""
    for part in prompt:
        text = part_text(part, menu.prompts)
        if isinstance(part, Audio):
            words = f"[play {part.play}]" if part.play else f"[tones {part.digits}]"
        elif text is None:
            continue
        else:
            words = text.in_language(language) or text.in_language(menu.default_language) or ""
        if out and words and not out[-1].isspace() and ord(out[-1]) <= 0x2E7F:
            out += " "
        out += words
    return " ".join(out.split())


def shorten(text: str, most: int = SNIPPET) -> str:
    """``text`` cut to ``most`` characters, ending in "…" when it was cut."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _snippet(menu: Menu, node: Node, language: str) -> str:
    if isinstance(node, (MenuNode, LanguageNode, InputNode)):
        words = prompt_words(menu, node.short_prompt or node.prompt, language)
    elif isinstance(node, ServiceNode):
        said = prompt_words(menu, node.prompt, language)
        words = f"{node.service}" + (f": {said}" if said else "")
    elif isinstance(node, TransferNode):
        said = prompt_words(menu, node.prompt, language)
        words = f"→ {node.to}" + (f": {said}" if said else "")
    elif isinstance(node, SetNode):
        words = ", ".join(f"{name} = {value}" for name, value in node.vars.items())
    elif isinstance(node, SwitchNode):
        words = f"switch on {node.value}"
    else:
        words = prompt_words(menu, node.prompt, language)
    return shorten(words) if words else ""


def _global_key_text(key: str, action: str, target: str | None) -> str:
    if action == "goto":
        return f"{key} → {target}"
    return f"{key} {action}"


def build_graph(
    menu: Menu, language: str | None = None, visits: Mapping[str, int] | None = None, fold_home: bool = True
) -> MenuGraph:
    """The diagram of ``menu`` with prompts in ``language`` (default: the menu's), optionally with visit counts.

    With ``fold_home`` (the default), a key that returns to the start node from
    a later menu is written in that node's label ("1 → main") rather than drawn
    as one more long arrow back to the start.
    """
    language = language or menu.default_language
    d = menu.defaults
    raw: list[GraphEdge] = []
    for node_id, node in menu.nodes.items():
        raw.extend(_edges(menu, node_id, node))
    # One edge per (src, dst, style): "busy / no-answer / failed" rather than three arrows.
    merged: dict[tuple[str, str, EdgeStyle], list[str]] = {}
    home: dict[str, list[str]] = {}
    for e in raw:
        if e.dst not in menu.nodes:
            continue
        if fold_home and e.dst == menu.start and e.src != menu.start and e.style == "key":
            home.setdefault(e.src, []).append(e.label)
            continue
        labels = merged.setdefault((e.src, e.dst, e.style), [])
        if e.label and e.label not in labels:
            labels.append(e.label)
    depth = depths_from(menu.start, [(src, dst) for src, dst, _ in merged])
    edges = [
        GraphEdge(src, dst, " / ".join(labels), style, depth.get(dst, 0) <= depth.get(src, 0))
        for (src, dst, style), labels in merged.items()
    ]
    nodes: list[GraphNode] = []
    for node_id, node in menu.nodes.items():
        notes: list[str] = []
        if isinstance(node, LanguageNode):
            notes.append(" · ".join(f"{k} {lang}" for k, lang in node.options.items()))
        if isinstance(node, (MenuNode, LanguageNode)) and node.global_keys:
            for key, gk in node.global_keys.items():
                if gk is None and key in d.global_keys:
                    notes.append(f"global {key} off")
        if node_id in home:
            notes.append(f"{' / '.join(home[node_id])} → {menu.start}")
        nodes.append(
            GraphNode(
                id=node_id,
                kind=node.kind,
                title=menu.node_title(node_id, language),
                snippet=_snippet(menu, node, language),
                start=node_id == menu.start,
                notes=tuple(notes),
                visits=None if visits is None else visits.get(node_id, 0),
            )
        )
    legend = []
    if d.global_keys:
        keys = [_global_key_text(k, gk.action, gk.target) for k, gk in d.global_keys.items() if gk is not None]
        legend.append("Global keys in every menu: " + " · ".join(keys))
    legend.append(f"No input {d.max_no_input}× or invalid {d.max_invalid}× → {d.on_exhausted}")
    if d.on_error:
        legend.append(f"A failing service → {d.on_error}")
    if home:
        legend.append(f"“KEY → {menu.start}” in a node: that key returns to the start")
    most = None
    unknown: dict[str, int] = {}
    if visits is not None:
        most = max((visits.get(n, 0) for n in menu.nodes), default=0)
        unknown = {n: c for n, c in visits.items() if n not in menu.nodes}
        legend.append(f"Heat: visits per node, pale = few, red = most ({most})")
    return MenuGraph(nodes, edges, legend, language, most, unknown)


def depths_from(start: str, pairs: list[tuple[str, str]]) -> dict[str, int]:
    """Each node's number of edges from ``start`` (breadth first)."""
    out: dict[str, list[str]] = {}
    for src, dst in pairs:
        out.setdefault(src, []).append(dst)
    depth = {start: 0}
    todo = [start]
    for here in todo:
        for nxt in out.get(here, ()):
            if nxt not in depth:
                depth[nxt] = depth[here] + 1
                todo.append(nxt)
    return depth


def _edges(menu: Menu, node_id: str, node: Node) -> list[GraphEdge]:
    out: list[GraphEdge] = []
    d = menu.defaults
    if isinstance(node, MenuNode):
        out += [GraphEdge(node_id, t, k, "key") for k, t in node.options.items()]
    if isinstance(node, LanguageNode):
        out.append(GraphEdge(node_id, node.next, "/".join(node.options), "key"))
    if isinstance(node, (MenuNode, LanguageNode)) and node.global_keys:
        # Only keys this node sets itself; the shared ones are in the legend.
        for key, gk in node.global_keys.items():
            if gk is not None and gk.action == "goto" and gk.target and key not in node.options:
                out.append(GraphEdge(node_id, gk.target, key, "key"))
    if isinstance(node, (MenuNode, LanguageNode, InputNode)) and node.on_exhausted:
        out.append(GraphEdge(node_id, node.on_exhausted, "exhausted", "exhausted"))
    if isinstance(node, (MenuNode, LanguageNode, InputNode)) and node.on_no_input:
        out.append(GraphEdge(node_id, node.on_no_input, "silence", "exhausted"))
    if isinstance(node, InputNode):
        out.append(GraphEdge(node_id, node.next, "entered", "flow"))
    if isinstance(node, (MessageNode, SetNode)):
        out.append(GraphEdge(node_id, node.next, "", "flow"))
    if isinstance(node, SwitchNode):
        for case in node.cases:
            tests = ", ".join(
                f"{test} {value}" if value is not True else test for test, value in case.if_ if value is not None
            )
            out.append(GraphEdge(node_id, case.next, shorten(tests, 40), "outcome"))
        out.append(GraphEdge(node_id, node.default, "no match", "outcome"))
    if isinstance(node, VoicemailNode):
        out.append(GraphEdge(node_id, node.next, "recorded", "flow"))
        if node.on_no_audio:
            out.append(GraphEdge(node_id, node.on_no_audio, "no audio", "flow"))
    if isinstance(node, ServiceNode):
        out += [GraphEdge(node_id, t, o, "outcome") for o, t in node.outcomes.items()]
        if node.default:
            out.append(GraphEdge(node_id, node.default, "other", "outcome"))
        if node.on_error and node.on_error != d.on_error:
            out.append(GraphEdge(node_id, node.on_error, "error", "error"))
    if isinstance(node, TransferNode):
        out += [GraphEdge(node_id, t, s, "outcome") for s, t in node.outcomes.items()]
    return out


def heat_colour(count: int, most: int) -> str:
    """The fill colour for ``count`` visits when the busiest node has ``most``: pale to red."""
    share = 0.0 if most <= 0 else max(0.0, min(1.0, count / most))
    r, g, b = (round(p + (h - p) * share) for p, h in zip(PALE, HOT, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _label_lines(node: GraphNode) -> list[str]:
    lines = [node.title, f"{node.kind} · {node.id}"]
    if node.snippet:
        lines.append(node.snippet)
    lines += node.notes
    if node.visits is not None:
        lines.append(f"{node.visits} visit" + ("" if node.visits == 1 else "s"))
    return lines


# -- DOT ------------------------------------------------------------------------

DOT_SHAPES = {
    "menu": "box",
    "language": "box",
    "input": "parallelogram",
    "message": "note",
    "service": "component",
    "transfer": "house",
    "voicemail": "cylinder",
    "hangup": "octagon",
    "set": "cds",
    "switch": "diamond",
}
DOT_EDGE = {
    "key": 'color="#1f4e79"',
    "flow": 'color="#555555"',
    "outcome": 'color="#2e7d32"',
    "error": 'color="#b71c1c", style=dashed',
    "exhausted": 'color="#888888", style=dotted',
}
LEGEND_ID = "(legend)"
"""The legend's node id: parentheses never appear in a menu's node ids."""


DOT_DEFAULTS = (
    '  graph [rankdir=LR, fontname="sans-serif", nodesep=0.25, ranksep=0.6];',
    '  node [fontname="sans-serif", fontsize=10, style="rounded,filled", fillcolor="#ffffff"];',
    '  edge [fontname="sans-serif", fontsize=9];',
)
"""The graph, node and edge defaults of every diagram: left to right, a sans-serif font (fontconfig finds CJK)."""
MENU_FILL = "#eef4fb"
"""The fill of menu nodes (the ones that wait for keys)."""


def dot_str(text: str) -> str:
    """``text`` as a quoted DOT string (backslashes, quotes and newlines escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: MenuGraph) -> str:
    """The graph as Graphviz DOT text."""
    lines = ["digraph menu {", *DOT_DEFAULTS]
    for n in graph.nodes:
        attrs = [f"label={dot_str(chr(10).join(_label_lines(n)))}", f"shape={DOT_SHAPES.get(n.kind, 'box')}"]
        if n.kind not in ("menu", "language"):
            attrs.append('style="filled"')
        if n.start:
            attrs.append("penwidth=2.5")
        if n.visits is not None and graph.most_visits is not None:
            fill = heat_colour(n.visits, graph.most_visits)
            attrs.append(f'fillcolor="{fill}"')
            if graph.most_visits and n.visits / graph.most_visits > 0.6:
                attrs.append('fontcolor="#ffffff"')
        elif n.kind in ("menu", "language"):
            attrs.append(f'fillcolor="{MENU_FILL}"')
        lines.append(f"  {dot_str(n.id)} [{', '.join(attrs)}];")
    for e in graph.edges:
        label = f"label={dot_str(e.label)}, " if e.label else ""
        back = ", constraint=false" if e.back else ""
        lines.append(f"  {dot_str(e.src)} -> {dot_str(e.dst)} [{label}{DOT_EDGE[e.style]}{back}];")
    if graph.legend:
        legend = "\\l".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in graph.legend) + "\\l"
        lines.append(f'  {dot_str(LEGEND_ID)} [label="{legend}", shape=note, style=filled, fillcolor="#fffde7"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def cjk_font_missing() -> bool:
    """Whether fontconfig knows no Chinese font, so a PNG's Chinese text would show as boxes.

    False when it cannot tell (no ``fc-list``): the note this drives is advice, not an error.
    """
    fc = shutil.which("fc-list")
    if fc is None:
        return False
    try:
        out = subprocess.run([fc, ":lang=zh"], capture_output=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return not out.strip()


def run_dot(dot_text: str, fmt: Literal["svg", "png"], timeout: float = 60) -> bytes:
    """Lay out ``dot_text`` with Graphviz's ``dot`` command; GraphError when it is missing or fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphError(
            "the Graphviz 'dot' command is not installed; install the Debian package graphviz "
            "(apt-get install graphviz, or run scripts/sysdeps.sh), or write Mermaid (-o FILE.mmd) or DOT (-o FILE.dot)"
        )
    try:
        done = subprocess.run(
            [exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise GraphError(f"Graphviz took more than {timeout:g} s to lay out the diagram") from None
    except OSError as exc:
        raise GraphError(f"cannot run Graphviz's dot: {exc.strerror or exc}") from None
    if done.returncode != 0 or not done.stdout:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphError(f"Graphviz's dot failed (exit {done.returncode}): {why[0] if why else 'no output'}")
    return done.stdout


# -- Mermaid --------------------------------------------------------------------

MERMAID_SHAPES = {
    "menu": ("[", "]"),
    "language": ("[", "]"),
    "input": ("[/", "/]"),
    "message": ("(", ")"),
    "service": ("[[", "]]"),
    "transfer": ("{{", "}}"),
    "voicemail": ("[(", ")]"),
    "hangup": ("((", "))"),
    "set": (">", "]"),
    "switch": ("{", "}"),
}


def mermaid_id(node_id: str, taken: dict[str, str]) -> str:
    """A Mermaid-safe id for ``node_id``, unique among ``taken`` (which it is added to)."""
    base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)
    out = base
    i = 2
    while out in taken.values():
        out = f"{base}_{i}"
        i += 1
    taken[node_id] = out
    return out


def mermaid_str(text: str) -> str:
    """``text`` as a quoted Mermaid label (``&``, quotes and angle brackets as entity codes)."""
    text = text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    return '"' + text + '"'


def to_mermaid(graph: MenuGraph) -> str:
    """The graph as a Mermaid flowchart."""
    ids: dict[str, str] = {}
    for n in graph.nodes:
        mermaid_id(n.id, ids)
    lines = ["flowchart LR"]
    for n in graph.nodes:
        left, right = MERMAID_SHAPES.get(n.kind, ("[", "]"))
        label = "<br/>".join(mermaid_str(s)[1:-1] for s in _label_lines(n))
        lines.append(f'  {ids[n.id]}{left}"{label}"{right}')
    for e in graph.edges:
        arrow = "-.->" if e.style in ("error", "exhausted") else "-->"
        label = f"|{mermaid_str(e.label)}|" if e.label else ""
        lines.append(f"  {ids[e.src]} {arrow}{label} {ids[e.dst]}")
    if graph.legend:
        legend = "<br/>".join(mermaid_str(s)[1:-1] for s in graph.legend)
        lines.append(f'  legend["{legend}"]')
        lines.append("  style legend fill:#fffde7,stroke:#999999")
    for n in graph.nodes:
        if n.start:
            lines.append(f"  style {ids[n.id]} stroke-width:3px")
        if n.visits is not None and graph.most_visits is not None:
            fill = heat_colour(n.visits, graph.most_visits)
            lines.append(f"  style {ids[n.id]} fill:{fill}")
    return "\n".join(lines) + "\n"


# -- heat -------------------------------------------------------------------------


def visit_counts(url: str) -> dict[str, int]:
    """Recorded call events per node (the ``node`` column of ``call_events``) in the database at ``url``.

    GraphError when the URL is malformed, the database cannot be opened, or it
    has no ``call_events`` table.  An SQLite file that does not exist is an
    error too, rather than a new empty database.
    """
    # Imported here: drawing a menu needs no database driver.
    from ivr.storage.db import StoreUnavailable
    from ivr.storage.reports import visit_counts as stored_visit_counts

    try:
        return stored_visit_counts(url)
    except StoreUnavailable as exc:
        raise GraphError(str(exc)) from None
