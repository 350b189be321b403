"""Reading a menu file: bytes to JSON to a checked :class:`~ivr.menu.model.Menu`.

Every fault is turned into a :class:`~ivr.errors.Problem` with its location: a
line and column for syntax, a JSON path for the rest.  Nothing here lets a
traceback or a hang reach the author, however odd the file.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ivr.contracts import SPECS_BY_NAME, ServiceSpec
from ivr.errors import MenuError, Problem
from ivr.menu.checks import check_menu
from ivr.menu.model import NODE_KINDS, VAR_NAME, Menu

__all__ = ["MAX_MENU_BYTES", "json_path", "load_menu", "parse_menu"]

MAX_MENU_BYTES = 8 * 1024 * 1024
"""Menus larger than this are refused before they are parsed (a 10,000-node menu is ~3 MB)."""

MAX_NUMBER_DIGITS = 100
"""Longer integers are refused (Python would refuse those over 4,300 digits with a traceback)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_NESTED_TOO_DEEPLY = "the JSON is nested too deeply to be a menu"


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it saw more than once."""

    duplicates: list[str]


class _NotJson:
    """Stands in for a value Python's json reads but a menu may not hold (NaN, a 5,000-digit number)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"<{self.message}>"


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _constant(name: str) -> _NotJson:
    # json.loads accepts NaN, Infinity and -Infinity, which JSON does not.
    return _NotJson(f"{name} is not JSON; write a number")


def _integer(digits: str) -> int | _NotJson:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        return _NotJson(f"a number of {len(digits.lstrip('-'))} digits is too long for a menu")
    return int(digits)


def json_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("nodes", "main", "options", "1")`` as ``$.nodes.main.options["1"]``."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            # A lone surrogate cannot be printed or written as UTF-8: escape it.
            out += f"[{json.dumps(part, ensure_ascii=bool(_SURROGATE.search(str(part))))}]"
    return out


def _document_problems(doc: Any) -> tuple[list[Problem], list[Problem]]:
    """Faults of the JSON itself: duplicate keys, and values JSON does not have.

    The second list holds those values (NaN, huge numbers, half surrogate pairs);
    pydantic's message about any of them would say nothing new.
    """
    # Iterative, because the document may be nested as deep as json allows.
    duplicates: list[Problem] = []
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, _Object):
            for key in dict.fromkeys(value.duplicates):
                duplicates.append(Problem(json_path(loc), f"the key {key!r} appears more than once here"))
            for k, v in value.items():
                if _SURROGATE.search(k):
                    problems.append(Problem(json_path((*loc, k)), _surrogate_message(k, "key")))
                stack.append((v, (*loc, k)))
        elif isinstance(value, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(value))
        elif isinstance(value, _NotJson):
            problems.append(Problem(json_path(loc), value.message))
        elif isinstance(value, str) and _SURROGATE.search(value):
            problems.append(Problem(json_path(loc), _surrogate_message(value, "text")))
    duplicates.sort(key=lambda p: p.path)
    problems.sort(key=lambda p: p.path)
    return duplicates, problems


def _surrogate_message(text: str, what: str) -> str:
    half = _SURROGATE.search(text)
    code = f"\\u{ord(half.group()):04x}" if half else "\\ud800"
    return f"the {what} holds {code}, half of a UTF-16 pair, which is not text; write the character itself"


def _show(text: str, most: int = 60) -> str:
    """``text`` quoted for a message, cut short if long (it may be a whole paragraph, or 8 MB)."""
    return repr(text) if len(text) <= most else repr(text[:most]) + "..."


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"the string {_show(value, 40)}" if len(value) <= 40 else "a string"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if value is None:
        return "null"
    return "something else"


_PATTERNS = {
    r"^[0-9*#]$": "a key is one of 0-9, * and #",
    r"^[A-Za-z0-9_.\-]{1,64}$": "a node id is 1 to 64 letters, digits, '_', '-' or '.'",
    r"^[A-Za-z_][A-Za-z0-9_]{0,63}$": "a name starts with a letter or '_' and has only letters, digits and '_'",
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$": "a language is a tag like zh-CN or en-US",
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$": "a service name is lower-case words joined by dots, like card.activate",
    r"^(\+?[0-9]{3,20}|[a-z][a-z0-9_]{0,63})$": "give a phone number or the name of a destination, like agent",
    f"^{VAR_NAME}$": "a variable is a name of letters, digits and '_', or dotted names like flow.count",
}

_TITLE = 'a title is a string, or one per language like {"zh-CN": "...", "en-US": "..."}'
_PROMPT_PART = (
    'a prompt part is "@name", a text per language like {"en-US": "..."}, {"say": ..., "voice": ...} or {"play": URL}'
)


def _message(e: ErrorDetails) -> str:
    kind = e["type"]
    given = e.get("input")
    ctx: dict[str, Any] = dict(e.get("ctx") or {})
    got = _json_type(given)
    if kind == "extra_forbidden":
        return "unknown field (check its spelling against docs/menu-language.md)"
    if kind == "missing":
        return "required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "")).strip("'")
        choices = ", ".join(NODE_KINDS) if field == "kind" else str(ctx.get("expected_tags", "")).replace("'", "")
        what = "node kind" if field == "kind" else field
        if kind == "union_tag_not_found":
            return f'a node needs a "kind": one of {choices}' if field == "kind" else f'needs a "{field}": {choices}'
        tag = given.get(field) if isinstance(given, dict) else ctx.get("tag")
        shown = _show(tag, 40) if isinstance(tag, str) else f"({_json_type(tag)})"
        return f"unknown {what} {shown}; use one of {choices}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if "@" in pattern:
            return f'a prompt written as a string must name a prompt, like "@welcome"; got {_show(str(given))}'
        return f"{_show(str(given))} is not valid here: {_PATTERNS.get(pattern, f'it must match {pattern}')}"
    if kind == "value_error":
        return str(ctx.get("error", e["msg"]))
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected an object, got {got}"
    if kind == "tuple_type":  # only prompts are tuples
        return f'a prompt is "@name", a text per language, or a list of those; got {got}'
    if kind == "list_type":
        return f"expected an array, got {got}"
    if kind == "string_type":
        return f"expected a string, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"expected a number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind == "too_short" and isinstance(given, dict | list):
        least = int(ctx.get("min_length", 1))
        return f"needs at least {least} entr{'y' if least == 1 else 'ies'}; it has {len(given)}"
    return e["msg"]


def _doc_path(doc: Any, loc: tuple[Any, ...], missing: bool = False) -> str:
    """The JSON path of a pydantic error location, as the author wrote the document.

    pydantic puts in the location names the author never wrote: the member of a
    union ("menu", "text", "constrained-str"), "[key]" for a dict's key, and the
    index a shorthand was wrapped in.  Walking the document keeps only the parts
    that are really there, so a node or prompt named like one of those is safe.
    A ``missing`` field is not there, of course: its name ends the path.
    """
    kept: list[Any] = []
    here = doc
    if len(loc) > 2 and loc[0] == "nodes" and isinstance(doc, dict):
        # The node's kind, which pydantic puts after the node's id, is a tag, not a key: a service
        # node has a "service" key of its own, which the walk below would otherwise step into.
        node = doc.get("nodes", {}).get(loc[1]) if isinstance(doc.get("nodes"), dict) else None
        if isinstance(node, dict) and loc[2] == node.get("kind"):
            loc = (*loc[:2], *loc[3:])
    for part in loc[:-1] if missing and loc else loc:
        in_object = isinstance(here, dict) and isinstance(part, str) and part in here
        in_array = isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here)
        if in_object or in_array:
            here = here[part]
            kept.append(part)
    if missing and loc:
        kept.append(loc[-1])
    return json_path(kept)


def _is_coercion(e: ErrorDetails) -> bool:
    """A strict-mode error for a value pydantic's lax mode converts but the schema refuses ("5" for 5)."""
    # A prompt's list fails strict mode too (JSON has no tuples) and is what the schema asks for.
    given = e.get("input")
    if e["type"] == "int_type" and isinstance(given, float) and given.is_integer():
        return False  # 6.0 is an integer to JSON Schema
    return e["type"] in ("int_type", "float_type", "bool_type")


def _schema_problems(errors: list[ErrorDetails], doc: Any, covered: set[str]) -> list[Problem]:
    """pydantic's errors as problems at the author's JSON paths, except those at ``covered`` paths."""
    problems = []
    seen: set[tuple[str, str]] = set()
    # pydantic counts only the parts that passed: a prompt whose one part is wrong is also
    # "too short", which says nothing the part's own error does not.
    inside = {tuple(e["loc"])[:n] for e in errors for n in range(len(e["loc"]))}
    for e in errors:
        loc = tuple(e["loc"])
        kind = e["type"]
        path = _doc_path(doc, loc, missing=kind == "missing")
        given = e.get("input")
        if path in covered or isinstance(given, _NotJson) or kind == "string_unicode":
            continue  # string_unicode: a half surrogate pair, which _document_problems reports where it is
        if kind == "too_short" and loc in inside:
            continue
        message = _message(e)
        if "per-language" in loc and kind == "dict_type":
            message = f"{_TITLE}; got {_json_type(given)}"
        if loc and loc[-1] in ("ref", "text") and kind in ("string_type", "dict_type"):
            # A prompt part's kind is told by its JSON type; neither a string nor an object is one.
            message = f"{_PROMPT_PART}; got {_json_type(given)}"
        if (path, message) not in seen:
            seen.add((path, message))
            problems.append(Problem(path, message))
    return problems


def _too_big(source: str, size: str) -> MenuError:
    limit = f"{MAX_MENU_BYTES} bytes ({MAX_MENU_BYTES // (1024 * 1024)} MiB)"
    return MenuError(source, [Problem("$", f"the menu is too big to read: {size}; a menu may be at most {limit}")])


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_MENU_BYTES:
        raise _too_big(source, f"{len(data)} bytes")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise MenuError(source, [Problem("$", "the file is UTF-16 text; save it as UTF-8", line=1, column=1)])
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = body.rfind(b"\n", 0, exc.start) + 1
        line = body.count(b"\n", 0, exc.start) + 1
        column = len(body[line_start : exc.start].decode("utf-8", errors="replace")) + 1  # in characters
        message = f"the file is not UTF-8 text (byte 0x{body[exc.start]:02x})"
        raise MenuError(source, [Problem("$", message, line=line, column=column)]) from None


def parse_menu(
    data: bytes | str,
    source: str = "<menu>",
    services: Mapping[str, ServiceSpec] | None = None,
) -> Menu:
    """Parse and check a menu document; raise :class:`MenuError` listing every problem.

    ``services`` are the service contracts the menu may call (default: the
    project's, :data:`ivr.contracts.SPECS`).  Warnings do not raise; use :func:`ivr.menu.checks.check_menu`
    to see them.
    """
    if isinstance(data, bytes):
        text = _decode(data, source)
    else:
        text = data
        if len(text) > MAX_MENU_BYTES:
            raise _too_big(source, f"{len(text)} characters")
    if not text.strip():
        blank = "empty" if not text else "only white space"
        raise MenuError(source, [Problem("$", f"the file is {blank}; a menu is a JSON object")])
    try:
        doc = json.loads(text, object_pairs_hook=_object_pairs, parse_constant=_constant, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise MenuError(source, [Problem("$", f"JSON syntax: {exc.msg}", line=exc.lineno, column=exc.colno)]) from None
    except RecursionError:
        raise MenuError(source, [Problem("$", _NESTED_TOO_DEEPLY)]) from None
    if not isinstance(doc, dict):
        raise MenuError(source, [Problem("$", f"a menu is a JSON object, not {_json_type(doc)}")])
    duplicates, not_json = _document_problems(doc)
    problems = duplicates + not_json
    covered = {p.path for p in not_json}
    try:
        menu = Menu.model_validate(doc)
    except ValidationError as exc:
        raise MenuError(source, problems + _schema_problems(exc.errors(include_url=False), doc, covered)) from None
    except RecursionError:
        raise MenuError(source, [Problem("$", _NESTED_TOO_DEEPLY)]) from None
    # Lax validation turns "5" into 5 and "yes" into true; the schema and the docs do not.
    try:
        Menu.model_validate(doc, strict=True)
    except ValidationError as exc:
        strict = [e for e in exc.errors(include_url=False) if _is_coercion(e)]
        problems += _schema_problems(strict, doc, covered)
    problems += check_menu(menu, SPECS_BY_NAME if services is None else services)
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
            raise _too_big(str(p), f"{size} bytes")
        # Read no more than the limit allows: /dev/zero or a pipe has no size to check first.
        with p.open("rb") as f:
            data = f.read(MAX_MENU_BYTES + 1)
    except OSError as exc:
        raise MenuError(str(p), [Problem("$", f"cannot read the file: {exc.strerror or exc}")]) from None
    if len(data) > MAX_MENU_BYTES:
        raise _too_big(str(p), f"more than {MAX_MENU_BYTES} bytes")
    return parse_menu(data, str(p), services)
