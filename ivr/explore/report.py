"""What ``ivr explore`` writes: the summary, the ``--json`` object, the map's nodes and edges, the scenarios.

Scenarios (``--scenarios DIR``) are one YAML file per distinct path to each
ending (hangup, transfer, voicemail...; a failing path is a finding, not a
baseline), in the format of :mod:`ivr.simulator.scenarios`: the keys, the
stable words heard at each step (the longest stretch of each prompt with no
digits run, date or time in it, so reference numbers and read-backs never
make a scenario fail), the target (the menu, seed and clock; or the URL and,
when it is GET, the method).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ivr.explore.findings import Finding, path_text
from ivr.explore.search import Call, Exploration
from ivr.explore.states import normalise_text
from ivr.explore.target import Target

__all__ = ["as_json", "map_parts", "stable_fragment", "write_scenarios"]

_VOLATILE = re.compile(
    r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?|\d{1,2}\s*月\s*\d{1,2}\s*[日号]|\d{4}\s*年"
    r"|\d{1,2}[:：]\d{2}|\d(?:[\s-]*[\dXx*])+"
)


def stable_fragment(text: str) -> str | None:
    """The longest stretch of ``text`` with no volatile part in it (None when nothing of 2+ characters is left)."""
    parts = [p.strip() for p in _VOLATILE.split(text)]
    best = max(parts, key=len, default="")
    return best if len(best) >= 2 else None


def _heard(heard: Sequence[str]) -> list[str]:
    out = []
    for text in heard:
        fragment = stable_fragment(text)
        if fragment and fragment not in out and not fragment.startswith("http"):
            out.append(fragment)
    return out


def _scenario(call: Call, upto: int, name: str, target: Target, directory: Path) -> dict[str, Any]:
    """The scenario of ``call``'s first ``upto`` answers: what was heard before each, and how it ended after."""
    doc: dict[str, Any] = {"name": name}
    if target.url:
        doc["url"] = target.url
        if target.method == "GET":
            doc["method"] = "GET"
    elif target.menu is not None:
        doc["menu"] = os.path.relpath(target.menu.resolve(), directory.resolve())
        if target.seed:
            doc["seed"] = target.seed
        if target.clock:
            doc["clock"] = target.clock
    steps = []
    for answer, seg in zip(call.path[:upto], call.segments, strict=False):
        step: dict[str, Any] = {}
        if heard := _heard(seg.heard):
            step["hear"] = heard
        step["press"] = answer
        steps.append(step)
    doc["steps"] = steps
    last = call.segments[upto]
    end: dict[str, Any] = {"as": last.wait.ending if last.wait.kind == "end" else "caller_hangup"}
    if heard := _heard(last.heard):
        end["hear"] = heard
    doc["end"] = end
    return doc


def write_scenarios(x: Exploration, target: Target, directory: Path) -> list[Path]:
    """The regression suite: one scenario per distinct path to each ending, and one to each leaf of the map.

    An ending is where the app ended the call (errors left out: they are
    findings, not a baseline).  A leaf is a state that no other state was first
    reached through, such as a transaction's result: its scenario hangs up
    there (``caller_hangup``) after checking what was heard, so that together
    the scenarios pass every state found.
    """
    directory.mkdir(parents=True, exist_ok=True)
    seen: set[tuple[str, ...]] = set()
    wanted: list[tuple[Call, int, str]] = []
    for call in x.calls:
        last = call.segments[-1]
        if last.wait.kind != "end" or last.wait.ending in ("error", "unsupported") or not call.path:
            continue
        key = tuple(call.states)
        if key not in seen:
            seen.add(key)
            wanted.append((call, len(call.path), last.wait.ending))
    through = {state.path[:-1] for state in x.states.values() if state.path}
    first_call: dict[str, tuple[Call, int]] = {}
    for call in x.calls:
        for i, sid in enumerate(call.states):
            if i <= len(call.path) and sid not in first_call and call.path[:i] == x.states[sid].path:
                first_call[sid] = (call, i)
    for state in sorted(x.states.values(), key=lambda s: (len(s.path), s.path)):
        if state.ending or not state.path or state.path in through or state.id not in first_call:
            continue
        call, upto = first_call[state.id]
        wanted.append((call, upto, "caller_hangup"))
    written: list[Path] = []
    for n, (call, upto, ending) in enumerate(wanted, start=1):
        name = f"{ending}: {path_text(call.path[:upto])}"
        path = directory / f"explore-{n:03d}-{ending.replace('_', '-')}.yaml"
        doc = _scenario(call, upto, name, target, directory)
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def map_parts(x: Exploration) -> tuple[list[Any], list[Any]]:
    """The map's nodes (states, by what was heard) and edges (the inputs), for :mod:`ivr.explore.drawing`."""
    from ivr.explore.drawing import MapEdge, MapNode

    start = x.calls[0].states[0] if x.calls else None
    nodes = []
    for state in x.states.values():
        kind = "start" if state.id == start else state.wait.kind
        if state.ending:
            kind = {"hangup": "hangup", "transfer": "transfer", "voicemail": "voicemail", "error": "error"}.get(
                state.wait.ending, "other"
            )
        words = normalise_text(" ".join(state.heard)) or f"({state.wait.ending or state.wait.kind})"
        nodes.append(MapNode(state.id, words[:60], kind))
    edges = [MapEdge(src, dst, answer) for (src, answer), nexts in x.transitions.items() for dst in nexts]
    return nodes, edges


def as_json(
    x: Exploration, findings: Sequence[Finding], target: Target, coverage: tuple[int, int] | None
) -> dict[str, Any]:
    """The ``--json`` object."""
    out: dict[str, Any] = {
        "states": len(x.states),
        "calls": x.call_count,
        "seconds": round(x.seconds, 2),
        "stopped": x.stopped,
        "fresh_store_per_call": target.fresh_store,
        "findings": [f.as_json() for f in findings],
    }
    if coverage is not None:
        out["coverage"] = {"nodes_reached": coverage[0], "nodes_total": coverage[1]}
    return out
