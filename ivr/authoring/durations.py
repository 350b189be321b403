"""How long a prompt takes to speak: measured from rendered audio, or estimated.

``ivr render`` writes every prompt to WAV files (:mod:`ivr.audio`).  Where a
prompt's files exist, its duration is the sum of their lengths ("measured").
Otherwise it is estimated from the words ("estimated") at these rates: those
of a clear, unhurried announcer, so a prompt that fits its limit here fits it
when spoken.

- Chinese characters: 4.5 a second (one syllable each; a digit in Chinese
  text is one syllable too).
- Latin-script words: 2.7 a second (162 a minute).  A number in English text
  is one word up to two digits ("fifteen"), two words for three or four
  ("twenty twenty-six"), else one word a digit.
- Digits read one by one (``{reference:digits}``): 2.5 a second.
- ``*`` and ``#``: one syllable or word ("星", "star").
- Pauses between words: 0.25 s at a comma (，、,), 0.45 s at a sentence or
  clause end (。；;.!?：); none before the first word or after the last.

``ivr render`` speaks at rates calibrated against these estimates (see
``ivr.tts.voice``: 265 words a minute for espeak-ng's Mandarin, 150 for its
English), so durations measured from its audio land within a few per cent
of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ivr.engine.actions import Say, SayAs

__all__ = [
    "CJK_PER_SECOND",
    "DIGITS_PER_SECOND",
    "WORDS_PER_SECOND",
    "Duration",
    "PromptTimer",
    "estimate_seconds",
    "estimate_text_seconds",
]

CJK_PER_SECOND = 4.5
"""Mandarin: characters (syllables) per second."""
WORDS_PER_SECOND = 2.7
"""English: words per second."""
DIGITS_PER_SECOND = 2.5
"""Digits said one by one (reference and ID numbers): digits per second."""
SHORT_PAUSE = 0.25
"""Seconds of pause at a comma."""
LONG_PAUSE = 0.45
"""Seconds of pause at the end of a sentence or clause."""

_TOKEN = re.compile(
    r"(?P<cjk>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])"
    r"|(?P<number>\d+(?:[:.]\d+)*)"
    r"|(?P<word>[A-Za-z]+(?:['’\-][A-Za-z]+)*)"
    r"|(?P<key>[*#])"
    r"|(?P<short>[，、,])"
    r"|(?P<long>[。；;.!?！？：:…])"
)


@dataclass(frozen=True)
class Duration:
    """A prompt's length in seconds, and whether it was measured from audio or estimated."""

    seconds: float
    source: Literal["measured", "estimated"]


def _number_words(number: str, chinese: bool) -> float:
    digits = sum(ch.isdigit() for ch in number)
    if chinese:
        return digits  # syllables
    groups = [g for g in re.split(r"[:.]", number) if g]
    words = 0
    for g in groups:
        words += 1 if len(g) <= 2 else 2 if len(g) <= 4 else len(g)
    return words


def estimate_text_seconds(text: str, language: str) -> float:
    """Seconds to say ``text`` in ``language`` at the rates in this module's docstring."""
    chinese = language.lower().startswith(("zh", "cmn", "yue"))  # Twilio names Mandarin cmn-CN
    seconds = 0.0
    pause = 0.0  # counted only when more words follow: none before the first word or after the last
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("short", "long"):
            pause = max(pause, SHORT_PAUSE if kind == "short" else LONG_PAUSE)
            continue
        seconds += pause
        pause = 0.0
        if kind == "cjk":
            seconds += 1 / CJK_PER_SECOND
        elif kind == "word":
            seconds += 1 / WORDS_PER_SECOND
        elif kind == "number":
            rate = CJK_PER_SECOND if chinese else WORDS_PER_SECOND
            seconds += _number_words(m.group(), chinese) / rate
        else:  # "*" or "#"
            seconds += 1 / (CJK_PER_SECOND if chinese else WORDS_PER_SECOND)
    return seconds


def estimate_seconds(say: Say) -> float:
    """Seconds to speak ``say``: its words at the module's rates, ``digits`` variables at 2.5 a second."""
    seconds = 0.0
    for part in say.parts:
        if isinstance(part, SayAs) and part.how == "digits":
            seconds += sum(1 for ch in part.value if ch.isalnum() or ch in "*#") / DIGITS_PER_SECOND
        else:
            seconds += estimate_text_seconds(part.text, say.language)
    return round(seconds, 2)


class PromptTimer:
    """Durations of rendered prompts: from the audio directory where it has them, else estimated.

    The audio library (:class:`ivr.audio.AudioLibrary`) is imported lazily; when
    it is not installed, or a prompt has no complete set of files, the
    duration is estimated.
    """

    def __init__(self, audio_dir: Path | None = Path("audio")) -> None:
        self.audio_dir = audio_dir
        self._library: Any = None
        self._wav_duration: Any = None
        self._loaded = False
        self._lengths: dict[str, float | None] = {}

    def _load(self) -> None:
        self._loaded = True
        if self.audio_dir is None or not self.audio_dir.is_dir():
            return
        try:
            from ivr.audio import AudioLibrary
            from ivr.tts import wav_duration
        except ImportError:
            return
        try:
            self._library = AudioLibrary(self.audio_dir)
        except Exception:  # a broken library must not stop the lint: estimate instead
            self._library = None
            return
        self._wav_duration = wav_duration

    def _file_seconds(self, name: str) -> float | None:
        if name not in self._lengths:
            try:
                self._lengths[name] = float(self._wav_duration(self._library.path(name).read_bytes()))
            except (OSError, ValueError):
                self._lengths[name] = None
        return self._lengths[name]

    def duration(self, say: Say) -> Duration:
        """How long ``say`` takes: measured from its audio files when all exist, else estimated."""
        if not self._loaded:
            self._load()
        if self._library is not None:
            try:
                files = self._library.files_for(say)
            except Exception:  # the library is another module's; any failure means "estimate"
                files = None
            if files is not None and files:
                lengths = [self._file_seconds(str(name)) for name in files]
                if all(x is not None for x in lengths):
                    return Duration(round(sum(x for x in lengths if x is not None), 2), "measured")
        return Duration(estimate_seconds(say), "estimated")
