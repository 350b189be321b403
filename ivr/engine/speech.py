"""Turning a menu's prompts into :class:`~ivr.engine.actions.Say` actions.

Pure functions: a prompt, a language and the call's variables in, words out.
Variables are kept apart as :class:`SayAs` parts so that an audio adapter can
assemble a number from pre-rendered digit clips instead of speaking it live.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Literal, cast
from urllib.parse import quote

from ivr.engine.actions import Part, Play, Prompted, Say, SayAs, Words
from ivr.menu.model import TEMPLATE_FIELD, Audio, Menu, Prompt, Speech, Text, part_text, template_pieces

__all__ = ["MONTHS", "fill", "has_fields", "render", "render_parts", "say_value"]

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
    """The words of ``prompt`` in ``language`` as one :class:`Say`, named parts looked up and variables filled in.

    Audio parts have no words and are left out; :func:`render_parts` keeps them,
    and the voice of each part, as a call plays them.
    """
    parts: list[Part] = []
    for part in prompt:
        text = part_text(part, menu.prompts)
        if text is not None:
            parts.extend(_words(menu, text, language, variables))
    return Say(language, _merged(parts))


def render_parts(menu: Menu, prompt: Prompt, language: str, variables: Mapping[str, str]) -> list[Prompted]:
    """``prompt`` as a call plays it: words in the hotline's voice merged into one :class:`Say`,
    and each part with a voice, language or loop of its own, or audio, apart."""
    out: list[Prompted] = []
    plain: list[Part] = []

    def flush() -> None:
        if plain:
            out.append(Say(language, _merged(plain)))
            plain.clear()

    for part in prompt:
        if isinstance(part, Audio):
            flush()
            out.append(Play(part.play or "", part.digits or "", part.loop))
            continue
        text = part_text(part, menu.prompts)
        if text is None:
            continue  # an unknown name; the checks reject such menus
        words = _words(menu, text, language, variables)
        if isinstance(part, Speech) and (part.voice or part.language or part.loop != 1):
            flush()
            out.append(Say(part.language or language, _merged(words), part.voice, part.loop))
        else:
            plain.extend(words)
    flush()
    return out


def has_fields(menu: Menu, prompt: Prompt, language: str) -> bool:
    """Whether ``prompt`` in ``language`` holds a variable (``{name}``): if not, it is said alike on every call."""
    for part in prompt:
        text = None if isinstance(part, Audio) else part_text(part, menu.prompts)
        if text is None:
            continue
        words = text.in_language(language) or text.in_language(menu.default_language) or ""
        if any(m.group(1) is not None for m in TEMPLATE_FIELD.finditer(words)):
            return True
    return False


def fill(template: str, variables: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by the variable's value as it is ("" when unset).

    ``{name:url}`` is the value percent-encoded, every character but letters, digits and ``-._~``.
    """
    out: list[str] = []
    for words, name, how in template_pieces(template):
        if name is None:
            out.append(words)
            continue
        value = variables.get(name, "")
        out.append(quote(value, safe="") if how == "url" else value)
    return "".join(out)


def _words(menu: Menu, text: Text, language: str, variables: Mapping[str, str]) -> list[Part]:
    words = text.in_language(language) or text.in_language(menu.default_language) or ""
    return _text_parts(words, language, variables)


def _merged(parts: list[Part]) -> tuple[Part, ...]:
    # Merge neighbouring fixed words so a prompt of several named parts is one
    # phrase for the speech engine.
    merged: list[Part] = []
    for p in parts:
        if merged and isinstance(p, Words) and isinstance(merged[-1], Words):
            merged[-1] = Words(merged[-1].text + _joiner(merged[-1].text) + p.text)
        else:
            merged.append(p)
    return tuple(merged)


def _joiner(before: str) -> str:
    # Chinese runs sentences together; other scripts want a space between them.
    if not before or before[-1].isspace() or ord(before[-1]) > 0x2E7F:
        return ""
    return " "
