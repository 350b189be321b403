"""Engine actions to TwiML, with the twilio library's ``VoiceResponse``.

Twilio's rules this follows:

- prompts are nested in ``<Gather>`` so the caller can key over them (barge-in);
- on a timeout Twilio does not call the Gather's ``action``: it runs the next
  verb, so a ``<Redirect>`` after the Gather reports the silence;
- menus take one key with no finish key, so ``#`` and ``*`` arrive as keys;
- ``<Record>`` with no audio also falls through to the next verb.

Every answer leaves through :func:`_document`, which drops the characters XML
1.0 cannot carry (:data:`ivr.menu.model.NOT_XML`): a menu may not hold them,
but a service's value or a stored one read into a prompt might, and one of them
would make the whole answer not XML, so Twilio would fail the call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple
from urllib.parse import urlencode
from xml.etree import ElementTree

from twilio.twiml.voice_response import Gather as TwimlGather
from twilio.twiml.voice_response import VoiceResponse

from ivr.config import DEFAULT_VOICES, VoiceSetting
from ivr.engine import Action, Gather, Hangup, Play, Prompted, Record, Say, SayAs, Transfer
from ivr.menu.model import NOT_XML
from ivr.web.liveness import expected_wait

__all__ = ["Answer", "TwimlWriter", "apology", "step_url"]

FilesFor = Callable[[Say], list[str] | None]

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
"""What the twilio library starts each document with."""

STEP_MARK = 9_007_199_254_740_993
"""The step number a cached answer is written with, then replaced by the real one (no prompt holds it)."""
CACHED_ANSWERS = 4096
"""Answers kept ready, by their actions: a menu's every node in every language, many times over."""


def _document(resp: VoiceResponse) -> str:
    """The TwiML text of ``resp``, without a character XML cannot carry, wherever it was."""
    # Cleaned in the tree, before writing: ElementTree writes control characters as they
    # are and halves of surrogate pairs as "&#55296;", and XML can read neither.
    root = resp.xml()
    for element in root.iter():
        element.text = _carriable(element.text)
        element.tail = _carriable(element.tail)
        for name, value in list(element.attrib.items()):
            element.set(name, NOT_XML.sub("", value))
    return XML_DECLARATION + ElementTree.tostring(root, encoding="unicode")


def _carriable(text: str | None) -> str | None:
    return NOT_XML.sub("", text) if text else text


def step_url(base: str, step: int, **flags: str) -> str:
    """The URL of the next step of a call: ``/voice/step?s=3``, plus flags like ``timeout=1``."""
    return f"{base}?{urlencode({'s': step, **flags})}"


class Answer(NamedTuple):
    """A step's TwiML, and the seconds it makes the call wait at most (:mod:`ivr.web.liveness`)."""

    twiml: str
    wait: float


class TwimlWriter:
    """Writes one webhook answer from a step's actions."""

    def __init__(
        self,
        voices: Mapping[str, VoiceSetting] | None = None,
        files_for: FilesFor | None = None,
        audio_url: str = "/audio",
        connection_override: str = "",
    ) -> None:
        self.voices = dict(voices or DEFAULT_VOICES)
        # Appended to every step URL as a fragment, which Twilio reads and never sends:
        # "rc=2&rp=all" makes it retry a step whose worker died, and the step number makes that safe.
        self.fragment = f"#{connection_override}" if connection_override else ""
        self.files_for = files_for
        self.audio_url = audio_url.rstrip("/")
        self._cached = functools.lru_cache(maxsize=CACHED_ANSWERS)(self._template)

    def _speak(self, target: VoiceResponse | TwimlGather, say: Prompted, played: list[tuple[str, str]] | None) -> None:
        if isinstance(say, Play):
            loop = say.loop if say.loop != 1 else None
            if say.digits:
                target.play(digits=say.digits, loop=loop)
            else:
                target.play(say.url, loop=loop)
            return
        if say.voice is not None or say.loop != 1:
            # A prompt with a voice of its own is spoken live: the clips are in the hotline's voice.
            setting = self.voices.get(say.language) or VoiceSetting(language=say.language)
            target.say(
                say.text,
                language=setting.language,
                voice=say.voice or setting.voice,
                loop=say.loop if say.loop != 1 else None,
            )
            return
        files = self.files_for(say) if self.files_for else None
        if files:
            urls = [f"{self.audio_url}/{name}" for name in files]
            for url in urls:
                target.play(url)
            if played is not None:
                # The prompt's words go with its first file, as cleaned as the document
                # (the X-IVR-Prompts header encodes them as UTF-8, which a half surrogate is not).
                played.append((urls[0], NOT_XML.sub("", say.text)))
            return
        setting = self.voices.get(say.language) or VoiceSetting(language=say.language)
        target.say(say.text, language=setting.language, voice=setting.voice)

    def write(
        self,
        actions: Sequence[Action],
        step_base: str,
        step: int,
        numbers: Mapping[str, str],
        played: list[tuple[str, str]] | None = None,
    ) -> str:
        """The TwiML document for ``actions``; later requests come back to ``step_base`` as step ``step``.

        ``numbers`` gives the number to dial for each transfer's destination
        (the call session resolves them; a destination without one never gets here).
        ``played``, when given, gets (``<Play>`` URL, the prompt's words) for each
        prompt played from files: what the optional ``X-IVR-Prompts`` hint carries.

        An answer whose prompts hold no caller's values (no read-back) is the
        same on every call but for its step number: it is written once and kept
        (by its actions, so by node, language and menu version alike).
        """
        return self.answer(actions, step_base, step, numbers, played).twiml

    def answer(
        self,
        actions: Sequence[Action],
        step_base: str,
        step: int,
        numbers: Mapping[str, str],
        played: list[tuple[str, str]] | None = None,
    ) -> Answer:
        """:meth:`write`'s document, with how long it makes the call wait (kept with it when it is cached)."""
        if _cacheable(actions):
            template, files, wait = self._cached(tuple(actions), step_base, tuple(sorted(numbers.items())))
            if played is not None:
                played.extend(files)
            return Answer(template.replace(_MARK_TEXT, str(step)), wait)
        return Answer(self._render(actions, step_base, step, numbers, played), expected_wait(actions))

    def _template(
        self, actions: tuple[Action, ...], step_base: str, numbers: tuple[tuple[str, str], ...]
    ) -> tuple[str, tuple[tuple[str, str], ...], float]:
        played: list[tuple[str, str]] = []
        template = self._render(actions, step_base, STEP_MARK, dict(numbers), played)
        return template, tuple(played), expected_wait(actions)

    def _render(
        self,
        actions: Sequence[Action],
        step_base: str,
        step: int,
        numbers: Mapping[str, str],
        played: list[tuple[str, str]] | None,
    ) -> str:
        resp = VoiceResponse()
        for action in actions:
            if isinstance(action, (Say, Play)):
                self._speak(resp, action, played)
            elif isinstance(action, Gather):
                gather = resp.gather(
                    input="dtmf",
                    action=step_url(step_base, step) + self.fragment,
                    method="POST",
                    timeout=max(1, math.ceil(action.timeout)),
                    num_digits=action.max_digits,
                    finish_on_key=action.finish_key,
                    action_on_empty_result=False,
                )
                for say in action.prompts:
                    self._speak(gather, say, played)
                resp.redirect(step_url(step_base, step, timeout="1") + self.fragment, method="POST")
            elif isinstance(action, Transfer):
                number = numbers[action.to]
                resp.dial(
                    number, action=step_url(step_base, step) + self.fragment, method="POST", timeout=action.timeout
                )
            elif isinstance(action, Record):
                resp.record(
                    action=step_url(step_base, step) + self.fragment,
                    method="POST",
                    max_length=action.max_seconds,
                    # "" must be written: Twilio's default for <Record> is every key.
                    finish_on_key=action.finish_key,
                    play_beep=action.beep,
                    timeout=action.silence,
                )
                resp.redirect(step_url(step_base, step, empty="1") + self.fragment, method="POST")
            elif isinstance(action, Hangup):
                resp.hangup()
        return _document(resp)


_MARK_TEXT = str(STEP_MARK)


def _cacheable(actions: Sequence[Action]) -> bool:
    """Whether the answer to ``actions`` is the same on every call: no value of the caller's is spoken."""
    for action in actions:
        prompts = action.prompts if isinstance(action, Gather) else (action,)
        for prompt in prompts:
            if isinstance(prompt, Say) and (
                _MARK_TEXT in prompt.text or any(isinstance(part, SayAs) for part in prompt.parts)
            ):
                return False
    return True


APOLOGIES = {
    "zh-CN": "对不起，系统暂时无法提供服务，请稍后再拨。",
    "en-US": "Sorry, this service is temporarily unavailable. Please call again later.",
}


def apology(voices: Mapping[str, VoiceSetting] | None = None) -> str:
    """A polite 'temporarily unavailable' and a hangup, in Mandarin then English.

    Used when the store or the menu cannot be reached, so Twilio never plays
    its generic application-error message to a caller.
    """
    voices = dict(voices or DEFAULT_VOICES)
    resp = VoiceResponse()
    for lang, text in APOLOGIES.items():
        setting = voices.get(lang) or VoiceSetting(language=lang)
        resp.say(text, language=setting.language, voice=setting.voice)
    resp.hangup()
    return _document(resp)
