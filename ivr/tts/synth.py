"""Verified speech with retries (:class:`Synthesizer`), and the process-wide :func:`synthesize`."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ivr.tts.backend import Backend, Pyttsx3Backend
from ivr.tts.errors import TTSError
from ivr.tts.voice import Voice, VoiceNotFound, default_rate, default_voice
from ivr.tts.wav import audio_problems, to_telephony

__all__ = ["Synthesizer", "synthesize", "voices"]


def _job_timeout(text: str) -> float:
    # Generous: espeak-ng speaks many times faster than real time, so this
    # only has to catch a hung engine, even at the slowest rate.
    return 20.0 + 0.5 * len(text)


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Synthesizer:
    """Verified telephony speech from a backend, retried in a fresh engine when it fails.

    One synthesizer is for one thread at a time; use one per worker thread.
    ``voice_config`` maps languages to voice names and ``rate_config``
    languages to speaking rates in words a minute; languages they leave out
    get the platform's defaults (see :func:`~ivr.tts.default_voice` and
    :func:`~ivr.tts.default_rate`).
    """

    backend: Backend = field(default_factory=Pyttsx3Backend)
    voice_config: Mapping[str, str] | None = None
    attempts: int = 3
    on_retry: Callable[[str, str], None] | None = None
    """Called with the text and the problem each time a job is done again."""
    retries: int = 0
    """How many jobs were done again, over this synthesizer's life."""
    rate_config: Mapping[str, int] | None = field(default=None, kw_only=True)
    """Speaking rates by language (keyword only: the positional order above predates it)."""

    def __enter__(self) -> Synthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the engine."""
        self.backend.close()

    def voices(self) -> list[Voice]:
        """The voices on this machine."""
        return self.backend.voices()

    def voice_name(self, language: str, voice: str | None = None) -> str:
        """The configured name of the voice for ``language`` (not checked against the machine)."""
        return voice or default_voice(language, self.voice_config)

    def rate_for(self, language: str) -> int:
        """The speaking rate for ``language`` in words a minute; TTSError when it is misconfigured."""
        return default_rate(language, self.rate_config)

    def resolve(self, language: str, voice: str | None = None) -> Voice:
        """The voice that speaks ``language``; :class:`VoiceNotFound` when it is not on this machine."""
        wanted = self.voice_name(language, voice)
        available = self.voices()
        for v in available:
            if v.matches(wanted):
                return v
        raise VoiceNotFound(wanted, language, available)

    def synthesize(
        self, text: str, language: str, voice: str | None = None, *, trim: bool = False, rate: int | None = None
    ) -> bytes:
        """``text`` in ``language`` as verified 8 kHz mono 16-bit WAV bytes.

        ``trim`` cuts silence at the ends (for clips strung together);
        ``rate`` overrides the configured speaking rate (see :meth:`rate_for`).
        Raises :class:`VoiceNotFound` or, when the engine fails every attempt,
        :class:`TTSError`.
        """
        if not text.strip():
            raise ValueError("nothing to say: the text is empty")
        chosen = self.resolve(language, voice)
        speed = rate if rate is not None else self.rate_for(language)
        problems: list[str] = []
        for attempt in range(self.attempts):
            if attempt:
                self.retries += 1
                if self.on_retry is not None:
                    self.on_retry(text, problems[-1])
                self.backend.reset()
            try:
                raw = self.backend.synthesize(text, chosen, _job_timeout(text), speed)
            except VoiceNotFound:
                raise
            except TTSError as exc:
                problems.append(str(exc))
                continue
            try:
                data = to_telephony(raw, trim=trim)
            except ValueError as exc:
                problems.append(f"the engine's output {exc}")
                continue
            found = audio_problems(data, text, language)
            if not found:
                return data
            problems.append("the audio " + "; ".join(found))
        tried = "; ".join(dict.fromkeys(problems))
        raise TTSError(
            f"the speech engine failed {self.attempts} times to say {_preview(text)!r} in {language} "
            f"with voice {chosen.short_id}: {tried}"
        )


# The process-wide synthesizer behind :func:`synthesize`: made on first use,
# shared by every thread (one job at a time), stopped when the process exits.
_default: Synthesizer | None = None
_default_lock = threading.Lock()
_use_lock = threading.Lock()


def _shared() -> Synthesizer:
    global _default
    with _default_lock:
        if _default is None:
            _default = Synthesizer()
            atexit.register(_default.close)
        return _default


def synthesize(text: str, language: str, voice: str | None = None, *, rate: int | None = None) -> bytes:
    """``text`` in ``language`` as verified WAV bytes: 8 kHz, mono, 16-bit PCM.

    ``voice`` and ``rate`` (words a minute) default to the platform's for the
    language (see :func:`~ivr.tts.default_voice` and
    :func:`~ivr.tts.default_rate`); callers with a configuration pass theirs.
    Raises :class:`VoiceNotFound` when that voice is not on this machine and
    :class:`TTSError` when the engine fails even after retries.  Thread-safe.
    """
    synth = _shared()
    with _use_lock:
        return synth.synthesize(text, language, voice, rate=rate)


def voices() -> list[Voice]:
    """The voices the speech engine offers on this machine."""
    return _shared().voices()
