"""Studio's Liquid templates as menu templates.

Studio writes ``{{widgets.ask.Digits}}``; the menu language writes
``{widgets.ask.Digits}`` and keeps ``{{`` for a literal brace.  So a Liquid
output becomes a menu variable, a brace of Studio's plain text is doubled,
and the two never mix up.  Only outputs of a variable (or a quoted string)
are understood: filters (``| upcase``) and tags (``{% if %}``) are named as
not evaluated, and the rest of the text is kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DIGITS_FILTERS", "Translation", "translate"]

DIGITS_FILTERS = ['split: ""', 'join: " "']
"""Liquid's way to say a value digit by digit, ``{{ x | split: "" | join: " " }}``: the menu's ``{x:digits}``."""

_OUTPUT = re.compile(r"\{\{-?(.*?)-?\}\}", re.S)
_TAG = re.compile(r"\{%-?.*?-?%\}", re.S)
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$")
_QUOTED = re.compile(r"""^(?:'([^']*)'|"([^"]*)")$""")

Resolver = Callable[[str], str | None]
"""A Liquid variable's path (``widgets.ask.Digits``) to the menu's variable, or None when nothing sets it."""


@dataclass
class Translation:
    """A text in the menu's template language, and what could not be carried over."""

    text: str
    notes: list[str] = field(default_factory=list)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def translate(text: str, resolve: Resolver) -> Translation:
    """``text`` with its Liquid outputs as menu variables (see the module's notes)."""
    notes: list[str] = []
    tags = _TAG.findall(text)
    if tags:
        notes.append(f"Liquid tags are not evaluated offline and were left out: {', '.join(t[:40] for t in tags[:3])}")
        text = _TAG.sub("", text)
    out: list[str] = []
    pos = 0
    for m in _OUTPUT.finditer(text):
        out.append(_escape(text[pos : m.start()]))
        pos = m.end()
        expression, *filters = (part.strip() for part in m.group(1).split("|"))
        how = ""
        if [re.sub(r"\s+", " ", f.replace("'", '"')) for f in filters] == DIGITS_FILTERS:
            how, filters = ":digits", []  # one character at a time: the menu's {name:digits}
        elif filters == ["url_encode"]:
            how, filters = ":url", []  # percent-encoded: the menu's {name:url}
        if filters:
            notes.append(
                f"{{{{{m.group(1).strip()}}}}}: Liquid filters are not evaluated offline ({', '.join(filters)})"
            )
        quoted = _QUOTED.match(expression)
        if quoted:
            out.append(_escape(quoted.group(1) if quoted.group(1) is not None else quoted.group(2)))
            continue
        if not _PATH.match(expression):
            notes.append(f"{{{{{expression}}}}} is not a variable this importer reads; it is left out")
            continue
        name = resolve(expression)
        if name is None:
            notes.append(f"{{{{{expression}}}}}: nothing in the flow sets it offline, so it is blank")
            continue
        out.append("{" + name + how + "}")
    out.append(_escape(text[pos:]))
    return Translation("".join(out), notes)
