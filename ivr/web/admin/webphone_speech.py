"""The browser phone's speech: prompts synthesised once, for the page to play and for the calls to time.

:class:`SpeechCache` keeps the synthesised prompts (the page fetches them from
the phone's ``tts`` endpoint); :class:`PhoneSpeaker` gives a call's interpreter
each prompt's real length from it, since the browser, not the server, plays
the sound.  The calls themselves are in :mod:`ivr.web.admin.webphone`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ivr.phone.speaker import Utterance, estimate_seconds

__all__ = [
    "PhoneSpeaker",
    "SpeechCache",
    "SpeechUnavailable",
    "tts_language",
    "valid_language",
    "wav_seconds",
]

log = logging.getLogger("ivr.admin.phone")

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")


class SpeechUnavailable(Exception):
    """Speech synthesis failed; the message says why."""


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
    endpoint, so each prompt is synthesised once.  When synthesis fails it is
    not tried again for :attr:`retry_after` seconds: a broken engine must not
    slow every prompt down.  Without a ``synthesize`` function the local
    engine speaks, with ``voices`` and ``rates`` (words a minute) by language,
    the platform's for languages they leave out.
    """

    def __init__(
        self,
        synthesize: Callable[[str, str], bytes] | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        retry_after: float = 60.0,
        *,
        voices: Mapping[str, str] | None = None,
        rates: Mapping[str, int] | None = None,
    ) -> None:
        self._synthesize = synthesize
        self.voices = dict(voices or {})
        self.rates = dict(rates or {})
        self.max_bytes = max_bytes
        self.retry_after = retry_after
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._broken_until = 0.0
        self._broken_why = ""

    @staticmethod
    def key(text: str, language: str) -> str:
        """The cache key (and ETag) of a prompt."""
        return hashlib.sha256(f"{tts_language(language)}\x00{text}".encode()).hexdigest()[:32]

    def wav(self, text: str, language: str) -> bytes:
        """The prompt as 8 kHz WAV bytes; :class:`SpeechUnavailable` if it cannot be made."""
        key = self.key(text, language)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            if time.monotonic() < self._broken_until:
                raise SpeechUnavailable(self._broken_why)
        try:
            data = self._make(text, tts_language(language))
        except Exception as exc:  # TTSError, ImportError, whatever a speech driver raises
            why = f"speech synthesis failed: {type(exc).__name__}: {str(exc)[:200]}"
            log.warning("%s", why)
            with self._lock:
                self._broken_until = time.monotonic() + self.retry_after
                self._broken_why = why
            raise SpeechUnavailable(why) from None
        with self._lock:
            if key not in self._items:
                self._items[key] = data
                self._size += len(data)
                while self._size > self.max_bytes and len(self._items) > 1:
                    _, old = self._items.popitem(last=False)
                    self._size -= len(old)
        return data

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
