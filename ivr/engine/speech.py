"""Turning a menu's prompts into :class:`~ivr.engine.actions.Say` actions.

Pure functions: a prompt, a language and the call's variables in, words out.
Variables are kept apart as :class:`SayAs` parts so that an audio adapter can
assemble a number from pre-rendered digit clips instead of speaking it live.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Literal, cast

from ivr.engine.actions import Part, Say, SayAs, Words
from ivr.menu.model import TEMPLATE_FIELD, Menu, Prompt, Text

__all__ = ["MONTHS", "render", "say_value"]

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
"""The English month names, January first: the words of a ``date`` variable and of its clips."""


def say_value(value: str, how: str, language: str) -> str:
    """The words for a variable's ``value`` said as ``how`` in ``language``."""
    if how == "digits":
        # One key at a time, so "2026" is "2 0 2 6", never "two thousand...".
        return " ".join(ch for ch in value if not ch.isspace())
    if how == "date":
        try:
            day = _dt.date.fromisoformat(value)
        except ValueError:
            return value
        if language.startswith("zh"):
            return f"{day.year}年{day.month}月{day.day}日"
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
    if how == "number":
        try:
            return str(int(value))
        except ValueError:
            return value
    return value


def _text_parts(words: str, language: str, variables: Mapping[str, str]) -> list[Part]:
    parts: list[Part] = []
    pos = 0
    fixed = ""
    for m in TEMPLATE_FIELD.finditer(words):
        fixed += words[pos : m.start()]
        pos = m.end()
        token = m.group(0)
        if m.group(1) is None:
            # "{{" and "}}" are literal braces; a lone brace (rejected by the
            # checks) is kept as written.
            fixed += token[0]
            continue
        if fixed:
            parts.append(Words(fixed))
            fixed = ""
        value = variables.get(m.group(1), "")
        how = m.group(2) or "text"
        if how not in ("text", "digits", "number", "date"):
            how = "text"
        if value:
            parts.append(
                SayAs(value, cast(Literal["text", "digits", "number", "date"], how), say_value(value, how, language))
            )
    fixed += words[pos:]
    if fixed:
        parts.append(Words(fixed))
    return parts


def render(menu: Menu, prompt: Prompt, language: str, variables: Mapping[str, str]) -> Say:
    """``prompt`` in ``language``, its named parts looked up and its variables filled in."""
    parts: list[Part] = []
    for part in prompt:
        text = menu.prompts.get(part[1:]) if isinstance(part, str) else part
        if not isinstance(text, Text):
            continue  # an unknown name; the checks reject such menus
        words = text.in_language(language) or text.in_language(menu.default_language) or ""
        parts.extend(_text_parts(words, language, variables))
    # Merge neighbouring fixed words so a prompt of several named parts is one
    # phrase for the speech engine.
    merged: list[Part] = []
    for p in parts:
        if merged and isinstance(p, Words) and isinstance(merged[-1], Words):
            merged[-1] = Words(merged[-1].text + _joiner(merged[-1].text) + p.text)
        else:
            merged.append(p)
    return Say(language, tuple(merged))


def _joiner(before: str) -> str:
    # Chinese runs sentences together; other scripts want a space between them.
    if not before or before[-1].isspace() or ord(before[-1]) > 0x2E7F:
        return ""
    return " "
