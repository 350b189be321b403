"""The menu diagram for the overview page: SVG through Graphviz, or Mermaid text when it is missing.

The drawing itself is :mod:`ivr.authoring.graph`'s (the ``ivr graph``
command's).  Graphviz takes a fraction of a second for a menu, so each
picture is made once per menu version and language and kept.  Nothing here
raises: without Graphviz the page shows Mermaid text, and without the graph
module a plain outline of the menu.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from ivr.menu.model import Menu

__all__ = ["Diagram", "DiagramCache"]

log = logging.getLogger("ivr.admin")

DOT_TIMEOUT = 20.0
"""Seconds Graphviz may take; a page must not hang on it."""


@dataclass(frozen=True)
class Diagram:
    """A drawn menu: ``svg`` when Graphviz drew it, else ``text`` (Mermaid or an outline) and why."""

    svg: bytes | None
    text: str
    text_kind: str
    """What ``text`` is: "mermaid" or "outline"."""
    note: str = ""


class DiagramCache:
    """Diagrams by (menu id, version, language), made on first use."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, str, str], Diagram] = {}
        self._lock = threading.Lock()

    def get(self, menu: Menu, language: str) -> Diagram:
        """The diagram of ``menu`` with prompts in ``language``."""
        key = (menu.id, menu.version, language)
        with self._lock:
            # One drawing at a time: concurrent page loads wait for the first instead of all running dot.
            if key not in self._done:
                self._done[key] = _draw(menu, language)
            return self._done[key]


def _draw(menu: Menu, language: str) -> Diagram:
    try:
        from ivr.authoring import graph
    except ImportError as exc:
        log.warning("menu diagram: ivr.authoring.graph is not available (%s); showing an outline", exc)
        return Diagram(None, outline(menu), "outline", "The diagram module is not installed: an outline instead.")
    try:
        drawn = graph.build_graph(menu, language)
        mermaid = graph.to_mermaid(drawn)
    except Exception as exc:  # a bug in the drawing must not cost the page
        log.exception("menu diagram failed")
        return Diagram(None, outline(menu), "outline", f"The diagram could not be drawn ({type(exc).__name__}).")
    try:
        svg = graph.run_dot(graph.to_dot(drawn), "svg", timeout=DOT_TIMEOUT)
    except graph.GraphError as exc:
        log.warning("menu diagram: %s", exc)
        return Diagram(None, mermaid, "mermaid", f"{exc}. Showing the diagram as Mermaid text.")
    return Diagram(svg, mermaid, "mermaid")


def outline(menu: Menu) -> str:
    """The menu as indented text: each node, its kind and title, and where its keys lead."""
    lines = []
    for node_id, node in menu.nodes.items():
        mark = " (start)" if node_id == menu.start else ""
        lines.append(f"{node_id}{mark}: {node.kind} · {menu.node_title(node_id)}".rstrip(" ·"))
        options = getattr(node, "options", None)
        if isinstance(options, dict):
            for key, target in options.items():
                lines.append(f"    {key} → {target}")
        for attr in ("next", "on_exhausted"):
            target = getattr(node, attr, None)
            if isinstance(target, str) and target in menu.nodes:
                lines.append(f"    {attr} → {target}")
        outcomes = getattr(node, "outcomes", None)
        if isinstance(outcomes, dict):
            for outcome, target in outcomes.items():
                lines.append(f"    {outcome} → {target}")
    return "\n".join(lines)
