"""Speakers: how prompts become sound (or not), and how long they last.

The interpreter asks a speaker to :meth:`~Speaker.render` a ``<Say>`` into an
:class:`Utterance`: its length in seconds and, when there is audio, the 8 kHz
samples.  A prompt lasts as long as its audio; without audio, as long as a
speaker would take to read it (:func:`estimate_seconds`).  That length drives
the clock, so a Gather's timeout starts when its prompts really end.

* :class:`MuteSpeaker`: no speech at all; lengths are estimated.  For CI.
* :class:`TtsSpeaker`: speech synthesised with ``ivr.tts`` (pyttsx3, checked and
  retried there), for the call recording and for real prompt lengths, with the
  voices and speaking rates it is given (the simulator passes the settings').
  When TTS is not available it falls back to silence of the estimated length,
  and says so once.
* :class:`LiveSpeaker`: a TtsSpeaker that also plays the audio aloud, and stops
  when a key interrupts the prompt.  Without an audio output it shows text only,
  and says so once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.phone.recorder import AudioError, read_wav, samples_to_wav

__all__ = ["LiveSpeaker", "MuteSpeaker", "Speaker", "TtsSpeaker", "Utterance", "estimate_seconds"]

CJK_PER_SECOND = 4.5
"""Mandarin prompts are read at about 4.5 characters a second."""
OTHER_PER_SECOND = 14.0
"""Latin-script prompts at about 14 characters (spaces included) a second."""


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return 0x3400 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FFFF


def _tts_language(language: str) -> str:
    """Twilio's tag for a language as the local engine knows it: Polly's Mandarin is ``cmn-CN``, espeak's zh-CN."""
    primary = language.split("-")[0].lower()
    return "zh-CN" if primary in ("cmn", "zh") else language


def estimate_seconds(text: str) -> float:
    """How long a speech engine takes to read ``text``, from its length per script."""
    cjk = sum(1 for ch in text if _is_cjk(ch))
    other = len(" ".join(text.split())) - cjk
    return round(max(0.3, cjk / CJK_PER_SECOND + max(0, other) / OTHER_PER_SECOND), 3)


@dataclass(frozen=True, slots=True)
class Utterance:
    """A rendered prompt: how long it lasts and, if synthesised, its 8 kHz samples."""

    seconds: float
    audio: array[int] | None = None


class Speaker(Protocol):
    """Renders prompts and, for live speakers, plays sound aloud."""

    def render(self, text: str, language: str, voice: str | None) -> Utterance:
        """The prompt's length and audio."""
        ...

    def start(self, audio: array[int] | None) -> None:
        """Begin playing ``audio`` aloud (a no-op for speakers that are not live)."""
        ...

    def stop(self) -> None:
        """Stop what is playing: the caller pressed a key."""
        ...

    def notices(self) -> list[str]:
        """Things the tester should know since the last call (each said once per call)."""
        ...


class MuteSpeaker:
    """No speech; prompt lengths are estimated from the text."""

    def render(self, text: str, language: str, voice: str | None) -> Utterance:
        """An estimated length and no audio."""
        return Utterance(estimate_seconds(text))

    def start(self, audio: array[int] | None) -> None:
        """Nothing to play."""

    def stop(self) -> None:
        """Nothing to stop."""

    def notices(self) -> list[str]:
        """Never anything to say."""
        return []


class TtsSpeaker:
    """Synthesises prompts with ``ivr.tts``; silence of the estimated length if that fails."""

    def __init__(self, voices: Mapping[str, str] | None = None, rates: Mapping[str, int] | None = None) -> None:
        """``voices`` and ``rates`` (words a minute) by language; languages left out get the platform's."""
        self.voices = dict(voices or {})
        self.rates = dict(rates or {})
        self._cache: dict[tuple[str, str], Utterance] = {}
        self._pending: list[str] = []
        self._warned = False

    def render(self, text: str, language: str, voice: str | None) -> Utterance:
        """The synthesised prompt (cached: menus repeat themselves)."""
        # Twilio voice names (Polly.Zhiyu, alice...) mean nothing to a local engine: the language picks the voice.
        key = (text, language)
        if key not in self._cache:
            self._cache[key] = self._synthesize(text, language)
        return self._cache[key]

    def _synthesize(self, text: str, language: str) -> Utterance:
        try:
            # Imported late: ivr.tts and its speech engine are optional for everything else.
            from ivr import tts

            lang = _tts_language(language)
            data = tts.synthesize(text, lang, self.voices.get(lang), rate=self.rates.get(lang))
            audio = read_wav(data)
        except ImportError:
            return self._fallback(text, "speech synthesis (ivr.tts) is not available")
        except AudioError as exc:
            return self._fallback(text, f"speech synthesis gave unreadable audio ({exc})")
        except Exception as exc:  # ivr.tts.TTSError and whatever a speech driver raises
            return self._fallback(text, f"speech synthesis failed ({type(exc).__name__}: {exc})")
        if not audio:
            return self._fallback(text, "speech synthesis produced no audio")
        return Utterance(len(audio) / 8000, audio)

    def _fallback(self, text: str, why: str) -> Utterance:
        if not self._warned:
            self._warned = True
            self._pending.append(f"{why}: prompts are silent, timed from their text")
        return Utterance(estimate_seconds(text))

    def start(self, audio: array[int] | None) -> None:
        """Not live: nothing plays."""

    def stop(self) -> None:
        """Not live: nothing to stop."""

    def notices(self) -> list[str]:
        """The TTS fallback notice, once."""
        out, self._pending = self._pending, []
        return out


def _audio_player() -> tuple[list[str] | None, str]:
    """A command that plays a WAV file aloud, or None and why there is none."""
    if sys.platform == "darwin" and shutil.which("afplay"):
        return ["afplay"], ""
    if shutil.which("paplay") and subprocess.run(["pactl", "info"], capture_output=True, check=False).returncode == 0:
        return ["paplay"], ""
    if shutil.which("aplay"):
        cards = Path("/proc/asound/cards")
        text = cards.read_text(encoding="utf-8", errors="replace") if cards.exists() else ""
        if text.strip() and "no soundcards" not in text:
            return ["aplay", "-q"], ""
        return None, "no sound card found"
    return None, "no audio player (paplay, aplay) found"


class LiveSpeaker(TtsSpeaker):
    """Speaks prompts aloud through the system's audio player; a key press stops them."""

    def __init__(self, voices: Mapping[str, str] | None = None, rates: Mapping[str, int] | None = None) -> None:
        """``voices`` and ``rates`` as for :class:`TtsSpeaker`."""
        super().__init__(voices, rates)
        try:
            self._player, why = _audio_player()
        except OSError as exc:
            self._player, why = None, str(exc)
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="ivr-sim-")
        if self._player is None:
            self._pending.append(f"no audio output ({why}): prompts are shown as text only")

    def start(self, audio: array[int] | None) -> None:
        """Play ``audio`` in the background."""
        self.stop()
        if self._player is None or not audio:
            return
        path = os.path.join(self._dir.name, "prompt.wav")
        Path(path).write_bytes(samples_to_wav(audio))
        try:
            self._proc = subprocess.Popen(
                [*self._player, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            self._player = None
            self._pending.append(f"cannot play audio ({exc}): prompts are shown as text only")

    def stop(self) -> None:
        """Stop the prompt that is playing, if any."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None

    def close(self) -> None:
        """Stop playing and remove the temporary files."""
        self.stop()
        self._dir.cleanup()
