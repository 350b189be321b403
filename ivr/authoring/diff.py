"""What changed between two menus, node by node and prompt by prompt (``ivr menu diff``).

The documents are compared as their authors wrote them (JSON), so a change
reads as it would in the file: ``nodes.main.options["6"]`` added,
``prompts.welcome [zh-CN]`` changed from one text to another.  Changes are
grouped by where they are: the menu's own fields, each named prompt, each
node (named by its title as well as its id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ivr.menu.loader import json_path

__all__ = ["Change", "MenuDiff", "diff_documents"]

ChangeKind = Literal["added", "removed", "changed"]
Section = Literal["menu", "prompt", "node"]


@dataclass(frozen=True)
class Change:
    """One difference: at ``path`` (a JSON path in the document), ``old`` became ``new``."""

    section: Section
    name: str
    """The prompt's name or the node's id; empty for the menu's own fields."""
    path: str
    kind: ChangeKind
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        """The change as ``ivr menu diff --json`` prints it."""
        return {
            "section": self.section,
            "name": self.name,
            "path": self.path,
            "change": self.kind,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True)
class MenuDiff:
    """Every change from document ``a`` to document ``b``, in document order."""

    changes: tuple[Change, ...]
    titles: Mapping[str, str]
    """Node titles by id (``b``'s, else ``a``'s), to name nodes by."""

    def __bool__(self) -> bool:
        return bool(self.changes)

    def nodes_changed(self) -> list[str]:
        """The ids of nodes added, removed or changed."""
        return list(dict.fromkeys(c.name for c in self.changes if c.section == "node"))

    def prompts_changed(self) -> list[str]:
        """The names of the named prompts added, removed or changed."""
        return list(dict.fromkeys(c.name for c in self.changes if c.section == "prompt"))

    def lines(self) -> Iterator[str]:
        """The changes as text: one heading per node or prompt, one line per change under it."""
        heading = None
        for change in self.changes:
            here = _heading(change, self.titles)
            if here != heading:
                heading = here
                yield heading
            yield "  " + _describe(change)


def diff_documents(a: Mapping[str, Any], b: Mapping[str, Any]) -> MenuDiff:
    """The changes from menu document ``a`` to ``b`` (both parsed JSON objects)."""
    changes: list[Change] = []
    for key in _keys(a, b):
        if key == "prompts":
            for name in _keys(_mapping(a.get(key)), _mapping(b.get(key))):
                old, new = _mapping(a.get(key)).get(name, _MISSING), _mapping(b.get(key)).get(name, _MISSING)
                changes += _walk("prompt", name, (key, name), old, new)
        elif key == "nodes":
            for node in _keys(_mapping(a.get(key)), _mapping(b.get(key))):
                old, new = _mapping(a.get(key)).get(node, _MISSING), _mapping(b.get(key)).get(node, _MISSING)
                if old is _MISSING or new is _MISSING:
                    # A node added or removed is one change, not one per field.
                    kind: ChangeKind = "added" if old is _MISSING else "removed"
                    changes.append(Change("node", node, json_path((key, node)), kind, _value(old), _value(new)))
                else:
                    changes += _walk("node", node, (key, node), old, new)
        else:
            changes += _walk("menu", "", (key,), a.get(key, _MISSING), b.get(key, _MISSING))
    titles = {**_titles(a), **_titles(b)}
    return MenuDiff(tuple(changes), titles)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _value(v: Any) -> Any:
    return None if v is _MISSING else v


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The keys of both, ``a``'s order first, then ``b``'s new ones."""
    return list(dict.fromkeys([*a, *b]))


def _walk(section: Section, name: str, loc: tuple[Any, ...], old: Any, new: Any) -> Iterator[Change]:
    """The leaf changes from ``old`` to ``new`` at ``loc``."""
    if old is _MISSING and new is _MISSING:
        return
    if old is _MISSING or new is _MISSING:
        yield Change(section, name, json_path(loc), "added" if old is _MISSING else "removed", _value(old), _value(new))
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in _keys(old, new):
            yield from _walk(section, name, (*loc, key), old.get(key, _MISSING), new.get(key, _MISSING))
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            yield from _walk(section, name, (*loc, i), o, n)
        return
    if old != new or type(old) is not type(new):
        yield Change(section, name, json_path(loc), "changed", old, new)


def _titles(doc: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    language = doc.get("default_language")
    for node_id, node in _mapping(doc.get("nodes")).items():
        title = _mapping(node).get("title")
        if isinstance(title, Mapping):
            title = title.get(language) or next(iter(title.values()), None)
        if isinstance(title, str) and title:
            out[node_id] = title
    return out


def _heading(change: Change, titles: Mapping[str, str]) -> str:
    if change.section == "menu":
        return "menu"
    if change.section == "prompt":
        return f"prompt {change.name}"
    title = titles.get(change.name)
    return f"node {change.name}" + (f" ({title})" if title else "")


def _short(value: Any, most: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= most else text[: most - 1] + "…"


def _describe(change: Change) -> str:
    where = change.path
    if change.kind == "added":
        return f"+ {where}: {_short(change.new)}"
    if change.kind == "removed":
        return f"- {where}: {_short(change.old)}"
    return f"~ {where}: {_short(change.old)} → {_short(change.new)}"
