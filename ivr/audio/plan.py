"""What a menu needs rendered: its prompts' fixed words and the clips for its variables."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from ivr.audio.clips import FAMILIES, family_clips
from ivr.audio.manifest import file_name
from ivr.engine import SayAs, Words
from ivr.engine.speech import render as render_say
from ivr.menu.model import TEMPLATE_FIELD, Menu, Text

__all__ = ["Job", "is_speakable", "plan"]


@dataclass(frozen=True)
class Job:
    """One file to render."""

    file: str
    kind: Literal["prompt", "clip"]
    language: str
    text: str
    voice: str
    engine: str
    rate: int
    """The speaking rate in words a minute."""
    clips: tuple[str, ...] = ()


def is_speakable(text: str) -> bool:
    """Whether ``text`` has anything to say: a letter, digit or character, not only spaces and punctuation."""
    return any(ch.isalnum() for ch in text)


def _texts(value: Any) -> Iterator[Text]:
    # Every Text inside a node or the defaults: prompts, short prompts, confirmations...
    if isinstance(value, Text):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _texts(getattr(value, name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)


def menu_texts(menu: Menu) -> list[Text]:
    """Every spoken Text of ``menu``: its named prompts and the texts written into nodes (not its title)."""
    found: dict[str, Text] = {}
    for text in [*menu.prompts.values(), *_texts(menu.defaults), *_texts(list(menu.nodes.values()))]:
        found.setdefault(repr(sorted(text.root.items())), text)
    return list(found.values())


def pieces(menu: Menu, text: Text, language: str) -> tuple[list[str], set[str]]:
    """The fixed words of ``text`` in ``language``, split at its variables, and the variables' kinds.

    Split by :func:`ivr.engine.speech.render` itself, with every variable
    given a value, so the pieces are exactly the :class:`Words` a call's
    prompts contain (a prompt of several parts joins its pieces; the audio
    library splits them again).
    """
    words = text.in_language(language) or text.in_language(menu.default_language) or ""
    sample = {m.group(1): "1" for m in TEMPLATE_FIELD.finditer(words) if m.group(1)}
    say = render_say(menu, (text,), language, sample)
    fixed = [p.text for p in say.parts if isinstance(p, Words)]
    kinds: set[str] = {p.how for p in say.parts if isinstance(p, SayAs)}
    return fixed, kinds


def plan(
    menus: Sequence[Menu],
    voice_for: Callable[[str], str],
    engine: str,
    families: Mapping[str, Sequence[str]] | None = None,
    *,
    rate_for: Callable[[str], int] | None = None,
) -> dict[str, Job]:
    """Every file the menus need, by file name.

    ``voice_for(language)`` names the voice configured for a language and
    ``rate_for(language)`` its speaking rate (the renderer passes its
    synthesizer's :meth:`~ivr.tts.Synthesizer.rate_for`, which knows the
    configured rates; None: the platform's, as :func:`ivr.tts.default_rate`
    gives them); ``engine`` is the engine's version.  All three are part of
    each file's name.  Clip families are those the menus' variables use,
    unless ``families`` (language -> families) says otherwise.
    """
    if rate_for is None:
        # Imported only now: the web app imports ivr.audio, and never the speech engine.
        from ivr.tts import default_rate

        rate_for = default_rate
    jobs: dict[str, Job] = {}

    def add(kind: Literal["prompt", "clip"], language: str, text: str, clip: str | None = None) -> None:
        voice = voice_for(language)
        rate = rate_for(language)
        name = file_name(kind, text, language, voice, engine, rate)
        old = jobs.get(name)
        clips = tuple(dict.fromkeys((*(old.clips if old else ()), *((clip,) if clip else ()))))
        jobs[name] = Job(name, kind, language, text, voice, engine, rate, clips)

    used: dict[str, set[str]] = {}
    for menu in menus:
        for language in menu.languages:
            for text in menu_texts(menu):
                fixed, kinds = pieces(menu, text, language)
                for piece in fixed:
                    if is_speakable(piece):
                        add("prompt", language, piece)
                used.setdefault(language, set()).update(k for k in kinds if k in FAMILIES)
    if families is not None:
        used = {language: set(f) for language, f in families.items()}
    for language in sorted(used):
        for family in FAMILIES:
            if family in used[language]:
                for clip, words in family_clips(family, language).items():
                    add("clip", language, words, clip)
    return jobs
