"""The browser phone's speech: prompts synthesised once, for the page to play and for the calls to time.

:class:`SpeechCache` keeps the synthesised prompts (the page fetches them by a
call's clip references, :mod:`ivr.web.admin.webphone_clips`); :class:`PhoneSpeaker`
gives a call's interpreter each prompt's real length from it, since the
browser, not the server, plays the sound.  The calls themselves are in
:mod:`ivr.web.admin.webphone`.

One text the engine cannot say must not silence the others: control
characters never reach the engine, a text that failed is remembered (a
bounded number of them) and not tried again for a while, and only an engine
that is really broken (it cannot be loaded, or several different texts failed
in a row) stops all synthesis for :attr:`SpeechCache.retry_after` seconds.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ivr.phone.speaker import Utterance, estimate_seconds

__all__ = [
    "PhoneSpeaker",
    "SpeechCache",
    "SpeechUnavailable",
    "UnspeakableText",
    "redact_digits",
    "speakable",
    "tts_language",
    "valid_language",
    "wav_seconds",
]

log = logging.getLogger("ivr.admin.phone")

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")
_DIGIT_RUN = re.compile(r"\d(?:[\s\u3000-]*\d){2,}")
MAX_TEXT = 1000
"""The most of a prompt given to the engine; a menu's prompts are far shorter."""


class SpeechUnavailable(Exception):
    """Speech synthesis is off or broken for now (the engine's fault); the message says why."""


class UnspeakableText(SpeechUnavailable):
    """This one text cannot be spoken (the input's fault): other texts still can."""


def speakable(text: str) -> str:
    """``text`` as the engine gets it: control and format characters as spaces, runs of space as one."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text[:MAX_TEXT])
    return " ".join(cleaned.split())


def redact_digits(message: str) -> str:
    """``message`` with every run of three or more digits masked: an engine's error quotes the text it failed on,
    and a read-back's digits (an ID number) must not reach a log or a page."""
    return _DIGIT_RUN.sub("***", message)


def tts_language(language: str) -> str:
    """The local speech engine's language for a TwiML one: Polly's Mandarin ``cmn-CN`` is ``zh-CN``."""
    primary = language.split("-")[0].lower()
    if primary in ("cmn", "zh"):
        return "zh-CN"
    if primary == "en":
        return "en-US"
    return language


def valid_language(language: str) -> bool:
    """Whether ``language`` looks like a BCP 47 tag (``cmn-CN``, ``en-US``)."""
    return bool(_LANGUAGE_TAG.match(language))


class SpeechCache:
    """Synthesised prompts (WAV bytes) by a hash of their language and text, least recently used dropped.

    Shared by the calls (for the prompts' real lengths) and the page's audio
    endpoint, so each prompt is synthesised once.  A text that fails is
    remembered (at most ``max_failures`` of them) and refused with
    :class:`UnspeakableText` for ``text_retry_after`` seconds; when the engine
    cannot be loaded, or ``broken_after`` different texts fail in a row, all
    synthesis is refused with :class:`SpeechUnavailable` for
    :attr:`retry_after` seconds: a broken engine must not slow every prompt
    down.  Without a ``synthesize`` function the local engine speaks, with
    ``voices`` and ``rates`` (words a minute) by language, the platform's for
    languages they leave out.
    """

    def __init__(
        self,
        synthesize: Callable[[str, str], bytes] | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        retry_after: float = 60.0,
        *,
        voices: Mapping[str, str] | None = None,
        rates: Mapping[str, int] | None = None,
        text_retry_after: float = 600.0,
        max_failures: int = 512,
        broken_after: int = 3,
    ) -> None:
        self._synthesize = synthesize
        self.voices = dict(voices or {})
        self.rates = dict(rates or {})
        self.max_bytes = max_bytes
        self.retry_after = retry_after
        self.text_retry_after = text_retry_after
        self.max_failures = max_failures
        self.broken_after = broken_after
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._failed: OrderedDict[str, tuple[float, str]] = OrderedDict()
        """Texts that failed, by key: until when they are refused, and why."""
        self._streak: set[str] = set()
        """The different texts that failed since the last success."""
        self._broken_until = 0.0
        self._broken_why = ""

    @staticmethod
    def key(text: str, language: str) -> str:
        """The cache key of a prompt (of its text as the engine gets it)."""
        return hashlib.sha256(f"{tts_language(language)}\x00{speakable(text)}".encode()).hexdigest()[:32]

    def wav(self, text: str, language: str) -> bytes:
        """The prompt as 8 kHz WAV bytes.

        Raises :class:`UnspeakableText` if this text cannot be spoken, and
        :class:`SpeechUnavailable` if no text can be for now.
        """
        spoken = speakable(text)
        key = self.key(spoken, language)
        now = time.monotonic()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            failed = self._failed.get(key)
            if failed is not None and now < failed[0]:
                raise UnspeakableText(failed[1])
            if now < self._broken_until:
                raise SpeechUnavailable(self._broken_why)
        if not any(ch.isalnum() for ch in spoken):
            raise self._text_failed(key, "there is nothing to say in this prompt", engine=False)
        try:
            data = self._make(spoken, tts_language(language))
        except (ImportError, OSError) as exc:  # the engine cannot even be loaded or started
            raise self._broken(f"the speech engine cannot start: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # TTSError, or whatever a speech driver raises
            raise self._text_failed(key, f"{type(exc).__name__}: {exc}", engine=True) from None
        with self._lock:
            self._streak.clear()
            self._failed.pop(key, None)
            if key not in self._items:
                self._items[key] = data
                self._size += len(data)
                while self._size > self.max_bytes and len(self._items) > 1:
                    _, old = self._items.popitem(last=False)
                    self._size -= len(old)
        return data

    def _text_failed(self, key: str, reason: str, *, engine: bool) -> SpeechUnavailable:
        why = redact_digits(f"speech synthesis failed for this prompt: {reason}"[:300])
        log.warning("%s", why)
        with self._lock:
            self._failed[key] = (time.monotonic() + self.text_retry_after, why)
            self._failed.move_to_end(key)
            while len(self._failed) > self.max_failures:
                self._failed.popitem(last=False)
            if engine:
                self._streak.add(key)
                streak = len(self._streak)
            else:
                streak = 0
        if streak >= self.broken_after:
            return self._broken(f"speech synthesis failed for {streak} different prompts in a row; last: {reason}")
        return UnspeakableText(why)

    def _broken(self, reason: str) -> SpeechUnavailable:
        why = redact_digits(reason[:300])
        log.warning("speech off for %.0f s: %s", self.retry_after, why)
        with self._lock:
            self._broken_until = time.monotonic() + self.retry_after
            self._broken_why = why
            self._streak.clear()
        return SpeechUnavailable(why)

    def _make(self, text: str, language: str) -> bytes:
        if self._synthesize is not None:
            return self._synthesize(text, language)
        # Imported late: speech is optional for the rest of the app.
        from ivr import tts

        return tts.synthesize(text, language, self.voices.get(language), rate=self.rates.get(language))


def wav_seconds(data: bytes) -> float:
    """The length of a PCM WAV file, from its header; 0 when it cannot be read."""
    import io
    import wave

    try:
        with wave.open(io.BytesIO(data)) as w:
            return float(w.getnframes()) / float(w.getframerate() or 1)
    except (wave.Error, EOFError):
        return 0.0


class PhoneSpeaker:
    """Gives the interpreter each prompt's real length (from the audio the page will play); plays nothing itself.

    The browser plays the sound: the server only has to wait as long as it
    lasts, so that a Gather's timeout starts when the caller has heard the
    prompts.  Without speech it waits as long as a person would take to read
    the text, and says so once.
    """

    def __init__(self, cache: SpeechCache | None) -> None:
        self.cache = cache
        self._pending: list[str] = []
        self._warned = False

    def render(self, text: str, language: str, voice: str | None) -> Utterance:
        """The prompt's length (no samples: nothing plays on the server)."""
        if self.cache is not None:
            try:
                seconds = wav_seconds(self.cache.wav(text, language))
            except UnspeakableText:
                pass  # this prompt only: shown as text, timed by its length
            except SpeechUnavailable as exc:
                self._fallback(str(exc))
            else:
                if seconds > 0:
                    return Utterance(seconds)
        return Utterance(estimate_seconds(text))

    def _fallback(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            self._pending.append(f"{why}: prompts are shown as text only")

    def start(self, audio: Any) -> None:
        """Nothing plays on the server."""

    def stop(self) -> None:
        """Nothing to stop."""

    def notices(self) -> list[str]:
        """The no-speech notice, once."""
        out, self._pending = self._pending, []
        return out
