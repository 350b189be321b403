"""Reading a menu file: bytes to JSON to a checked :class:`~ivr.menu.model.Menu`.

Every fault is turned into a :class:`~ivr.errors.Problem` with its location: a
line and column for syntax, a JSON path for the rest.  Nothing here lets a
traceback or a hang reach the author, however odd the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ivr.errors import MenuError, Problem
from ivr.menu.checks import check_menu
from ivr.menu.model import NODE_KINDS, Menu
from ivr.services.registry import ServiceSpec, default_registry

__all__ = ["MAX_MENU_BYTES", "load_menu", "parse_menu", "json_path"]

MAX_MENU_BYTES = 8 * 1024 * 1024
"""Menus larger than this are refused before they are parsed (a 10,000-node menu is ~3 MB)."""


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it saw more than once."""

    duplicates: list[str]


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def json_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("nodes", "main", "options", "1")`` as ``$.nodes.main.options["1"]``."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def _duplicate_keys(doc: Any) -> list[Problem]:
    # Iterative, because the document may be nested as deep as json allows.
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, _Object):
            for key in value.duplicates:
                problems.append(Problem(json_path(loc), f"the key {key!r} appears more than once here"))
            stack.extend((v, (*loc, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(value))
    problems.sort(key=lambda p: p.path)
    return problems


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the discriminator's value in the location of a tagged union
    # member ("nodes", "main", "menu", "prompt"); the author never wrote it.
    parts = list(loc)
    if len(parts) >= 3 and parts[0] == "nodes" and parts[2] in NODE_KINDS:
        del parts[2]
    # Likewise for the members of unions that are not tagged.
    return tuple(p for p in parts if p not in ("str", "Text", "function-before[_as_list(), tuple[...]]")
                 and not (isinstance(p, str) and p.startswith(("function-", "constrained-str", "DigitsRule",
                                                                "NewPasswordRule", "GlobalKey"))))


def _schema_problems(err: ValidationError) -> list[Problem]:
    problems = []
    seen: set[tuple[str, str]] = set()
    for e in err.errors(include_url=False):
        path = json_path(_clean_loc(tuple(e["loc"])))
        kind = e["type"]
        given = e.get("input")
        # A union reports why each alternative failed; keep the one meant for
        # what the author wrote (a string for "@name", an object for a text).
        if (kind == "dict_type" and isinstance(given, str)) or (kind == "string_type" and isinstance(given, dict)):
            continue
        if kind == "extra_forbidden":
            message = "unknown field (check its spelling against docs/menu-language.md)"
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "union_tag_invalid":
            message = f"unknown node kind; use one of {', '.join(NODE_KINDS)}"
        elif kind == "union_tag_not_found":
            message = f'a node needs a "kind": one of {", ".join(NODE_KINDS)}'
        elif kind == "string_pattern_mismatch" and isinstance(e.get("input"), str) and "@" in str(
            e.get("ctx", {}).get("pattern", "")
        ):
            message = f'a prompt written as a string must name a prompt, like "@welcome"; got {e["input"]!r}'
        else:
            message = e["msg"]
        if (path, message) not in seen:
            seen.add((path, message))
            problems.append(Problem(path, message))
    return problems


def parse_menu(
    data: bytes | str,
    source: str = "<menu>",
    services: Mapping[str, ServiceSpec] | None = None,
) -> Menu:
    """Parse and check a menu document; raise :class:`MenuError` listing every problem.

    ``services`` are the service contracts the menu may call (default: the
    project's registry).  Warnings do not raise; use :func:`ivr.menu.checks.check_menu`
    to see them.
    """
    if isinstance(data, bytes):
        if len(data) > MAX_MENU_BYTES:
            raise MenuError(source, [Problem("$", f"the file is {len(data)} bytes; a menu may be at most {MAX_MENU_BYTES}")])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise MenuError(
                source, [Problem("$", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line, column=column)]
            ) from None
    else:
        text = data
        if len(text) > MAX_MENU_BYTES:
            raise MenuError(source, [Problem("$", f"the text is {len(text)} characters; a menu may be at most {MAX_MENU_BYTES}")])
    if not text.strip():
        raise MenuError(source, [Problem("$", "the file is empty; a menu is a JSON object")])
    try:
        doc = json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as exc:
        raise MenuError(source, [Problem("$", f"JSON syntax: {exc.msg}", line=exc.lineno, column=exc.colno)]) from None
    except RecursionError:
        raise MenuError(source, [Problem("$", "the JSON is nested too deeply to be a menu")]) from None
    if not isinstance(doc, dict):
        raise MenuError(source, [Problem("$", f"a menu is a JSON object, not {type(doc).__name__}")])
    problems = _duplicate_keys(doc)
    try:
        menu = Menu.model_validate(doc)
    except ValidationError as exc:
        raise MenuError(source, problems + _schema_problems(exc)) from None
    except RecursionError:
        raise MenuError(source, [Problem("$", "the JSON is nested too deeply to be a menu")]) from None
    problems += check_menu(menu, default_registry() if services is None else services)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise MenuError(source, errors)
    return menu


def load_menu(path: str | Path, services: Mapping[str, ServiceSpec] | None = None) -> Menu:
    """Read, parse and check the menu file at ``path``."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_MENU_BYTES:
            raise MenuError(str(p), [Problem("$", f"the file is {size} bytes; a menu may be at most {MAX_MENU_BYTES}")])
        data = p.read_bytes()
    except OSError as exc:
        raise MenuError(str(p), [Problem("$", f"cannot read the file: {exc.strerror or exc}")]) from None
    return parse_menu(data, str(p), services)
