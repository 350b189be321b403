"""The call recording: one 8 kHz mono 16-bit WAV of what the caller heard.

The interpreter places sounds on the call's timeline as they happen (a
prompt's audio at the time it started, a DTMF tone at the time of the key
press); whatever is not covered is silence.  The WAV is mixed at the end, so
timing comes from the call's clock alone, virtual or real.

Also here: reading WAV bytes (TTS output, ``<Play>`` audio) into 8 kHz mono
samples, resampling when needed.
"""

from __future__ import annotations

import io
import math
import wave
from array import array
from pathlib import Path

from ivr.phone.dtmf import SAMPLE_RATE, tone

__all__ = ["AudioError", "CallRecorder", "beep", "read_wav", "samples_to_wav", "write_wav"]

MAX_SECONDS = 4 * 3600
"""A recording is cut at Twilio's longest call, four hours."""


class AudioError(ValueError):
    """Audio that cannot be read (not a WAV, or a WAV encoding we do not decode)."""


def read_wav(data: bytes) -> array[int]:
    """Decode WAV bytes (8/16/32-bit PCM, any rate, any channels) into 8 kHz mono 16-bit samples."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a PCM WAV file: {exc}") from None
    if width == 1:  # unsigned 8-bit
        mono_in = array("h", ((b - 128) << 8 for b in frames))
    elif width == 2:
        mono_in = array("h", frames[: len(frames) - len(frames) % 2])
    elif width == 4:
        wide = array("i", frames[: len(frames) - len(frames) % 4])
        mono_in = array("h", (v >> 16 for v in wide))
    else:
        raise AudioError(f"unsupported sample width: {width * 8} bits")
    if channels > 1:
        mono_in = array("h", (sum(mono_in[i : i + channels]) // channels for i in range(0, len(mono_in), channels)))
    return resample(mono_in, rate, SAMPLE_RATE)


def resample(samples: array[int], rate: int, target: int = SAMPLE_RATE) -> array[int]:
    """Linear-interpolation resampling; enough for listening back to a call."""
    if rate == target or not samples:
        return samples
    n = max(1, round(len(samples) * target / rate))
    step = rate / target
    out = array("h", bytes(2 * n))
    last = len(samples) - 1
    for i in range(n):
        pos = i * step
        j = int(pos)
        frac = pos - j
        a = samples[min(j, last)]
        b = samples[min(j + 1, last)]
        out[i] = round(a + (b - a) * frac)
    return out


def samples_to_wav(samples: array[int], rate: int = SAMPLE_RATE) -> bytes:
    """Mono 16-bit WAV bytes for ``samples``."""
    # Imported late: ivr.tts brings numpy, which the rest of the simulator does without.
    from ivr.tts.wav import pcm16_wav

    return pcm16_wav(samples.tobytes(), rate)


def write_wav(path: Path, samples: array[int], rate: int = SAMPLE_RATE) -> None:
    """Write ``samples`` as a mono 16-bit WAV file."""
    path.write_bytes(samples_to_wav(samples, rate))


def beep(seconds: float = 0.5, freq: float = 1000.0) -> array[int]:
    """The tone played before a ``<Record>``: one frequency, so it never reads as a DTMF key."""
    w = 2 * math.pi * freq / SAMPLE_RATE
    return array("h", (round(0.3 * 32767 * math.sin(w * i)) for i in range(round(seconds * SAMPLE_RATE))))


class CallRecorder:
    """Sounds placed on the call's timeline, mixed into one WAV at the end."""

    def __init__(self) -> None:
        self._clips: list[tuple[int, array[int]]] = []

    def add(self, at: float, samples: array[int] | None, seconds: float | None = None) -> None:
        """Place ``samples`` at ``at`` seconds, cut to ``seconds`` if given (a prompt a key interrupted)."""
        if not samples:
            return
        if seconds is not None:
            samples = samples[: max(0, round(seconds * SAMPLE_RATE))]
        self._clips.append((round(at * SAMPLE_RATE), samples))

    def key(self, at: float, key: str) -> None:
        """A DTMF key pressed at ``at``."""
        self.add(at, tone(key))

    def render(self, duration: float) -> array[int]:
        """The whole call, ``duration`` seconds long (longer if a sound runs past it)."""
        end = max([round(duration * SAMPLE_RATE), *(start + len(s) for start, s in self._clips)])
        end = min(end, MAX_SECONDS * SAMPLE_RATE)
        mix = array("i", bytes(4 * end))
        for start, clip in self._clips:
            for i, v in enumerate(clip[: max(0, end - start)]):
                mix[start + i] += v
        return array("h", (max(-32768, min(32767, v)) for v in mix))

    def save(self, path: Path, duration: float) -> None:
        """Write the call as an 8 kHz mono 16-bit WAV."""
        write_wav(path, self.render(duration))
