"""Telephony audio: decoding, resampling to 8 kHz, trimming, and checking a WAV file against its text.

Everything here is pure (bytes in, bytes or numbers out) and knows nothing of
the speech engine, so the renderer and the tests use it directly.
"""

from __future__ import annotations

import io
import wave

import numpy as np
import numpy.typing as npt

__all__ = [
    "AUDIO_VERSION",
    "SAMPLE_RATE",
    "audio_problems",
    "pcm16_wav",
    "plausible_duration",
    "to_telephony",
    "wav_duration",
]

SAMPLE_RATE = 8000
"""Telephony audio: 8 kHz, mono, 16-bit PCM."""

AUDIO_VERSION = "1"
"""Bump when the processing after the engine (resampling, trimming) changes, so caches re-render."""

Samples = npt.NDArray[np.float64]


def _decode(data: bytes) -> tuple[int, Samples]:
    """The sample rate and mono samples in [-1, 1] of a PCM WAV file; ValueError when it is not one."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, channels, width, frames = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"does not decode as a PCM WAV file ({exc or type(exc).__name__})") from exc
    if rate <= 0 or channels <= 0:
        raise ValueError("does not decode as a PCM WAV file (no sample rate or channels)")
    raw = raw[: len(raw) - len(raw) % (width * channels)]
    if width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)
    else:
        raise ValueError(f"does not decode as a PCM WAV file ({width * 8}-bit samples)")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return rate, x


def _encode(x: Samples, rate: int) -> bytes:
    """Mono samples in [-1, 1] as a 16-bit PCM WAV file (clipped, not wrapped, when they overshoot)."""
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    return pcm16_wav(pcm.tobytes(), rate)


def pcm16_wav(frames: bytes, rate: int) -> bytes:
    """A mono 16-bit PCM WAV file holding ``frames`` (16-bit samples, as :mod:`wave` takes them) at ``rate``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def _good_fft_size(n: int) -> int:
    # A length with only small prime factors keeps the FFT fast.
    size = max(n, 1)
    while True:
        m = size
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1:
            return size
        size += 1


def _resample(x: Samples, rate_in: int, rate_out: int) -> Samples:
    """Band-limited resampling in the frequency domain.

    Speech clips begin and end in silence, so the FFT's wrap-around costs
    nothing, and numpy does it in milliseconds where a filter loop in pure
    Python would take seconds for a whole menu.
    """
    if rate_in == rate_out or len(x) == 0:
        return x
    n_out = round(len(x) * rate_out / rate_in)
    n_pad = _good_fft_size(len(x) + 64)
    m_pad = round(n_pad * rate_out / rate_in)
    spectrum = np.fft.rfft(x, n_pad)
    keep = m_pad // 2 + 1
    out = np.zeros(keep, dtype=np.complex128)
    n = min(keep, len(spectrum))
    out[:n] = spectrum[:n]
    if rate_out < rate_in:
        # Roll off the top 12 % of the new band rather than cutting it like a
        # brick wall, which would ring.
        freqs = np.arange(keep) * (rate_in / n_pad)
        nyquist = rate_out / 2
        start = 0.88 * nyquist
        ramp = np.clip((freqs - start) / (nyquist - start), 0.0, 1.0)
        out *= 0.5 * (1.0 + np.cos(np.pi * ramp))
    y = np.fft.irfft(out, m_pad) * (m_pad / n_pad)
    return np.asarray(y[:n_out], dtype=np.float64)


def _trim(x: Samples, rate: int, pad: float = 0.03, threshold: float = 0.01) -> Samples:
    """``x`` without its leading and trailing silence, but for ``pad`` seconds at each end."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    if len(loud) == 0:
        return x
    margin = int(pad * rate)
    return x[max(0, int(loud[0]) - margin) : int(loud[-1]) + margin + 1]


def to_telephony(data: bytes, *, trim: bool = False) -> bytes:
    """Any PCM WAV file as 8 kHz mono 16-bit PCM.

    ``trim`` cuts leading and trailing silence down to 30 ms, for clips that
    are strung together (the digits of a number).  ValueError when ``data`` is
    not a PCM WAV file.
    """
    rate, x = _decode(data)
    y = _resample(x, rate, SAMPLE_RATE)
    if trim:
        y = _trim(y, SAMPLE_RATE)
    return _encode(y, SAMPLE_RATE)


def wav_duration(data: bytes) -> float:
    """The duration in seconds of a WAV file's bytes; ValueError when they are not a WAV file."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            frames: int = w.getnframes()
            rate: int = w.getframerate()
            return frames / float(rate)
    except (wave.Error, EOFError, ZeroDivisionError) as exc:
        raise ValueError(f"does not decode as a WAV file ({exc or type(exc).__name__})") from exc


def _is_cjk(ch: str) -> bool:
    return ord(ch) > 0x2E7F


def _units(text: str) -> int:
    # Letters, digits and CJK characters: what takes time to say.
    return sum(1 for ch in text if ch.isalnum())


def plausible_duration(text: str, language: str) -> tuple[float, float]:
    """The shortest and longest believable duration, in seconds, of ``text`` spoken in ``language``.

    Per character: 0.04 s to 1 s for Chinese characters (a syllable each), a
    quarter of that for letters, up to 0.8 s for a digit (it may be read as
    part of a number: "thousand"), plus a second for pauses.  Generous on
    purpose: this catches lost and cut-off audio, not a slow voice.
    """
    lo = hi = 0.0
    for ch in text:
        if not ch.isalnum():
            continue
        if _is_cjk(ch):
            lo, hi = lo + 0.04, hi + 1.0
        elif ch.isdigit():
            lo, hi = lo + 0.01, hi + (1.0 if language.lower().startswith("zh") else 0.8)
        else:
            lo, hi = lo + 0.01, hi + 0.25
    return max(lo, 0.03), hi + 1.0


def audio_problems(data: bytes, text: str, language: str) -> list[str]:
    """What is wrong with ``data`` as the telephony audio of ``text``; empty when nothing is."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, channels, width, frames = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        return [f"does not decode as WAV ({exc or type(exc).__name__})"]
    problems = []
    if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
        problems.append(f"is {rate} Hz, {channels} channel(s), {width * 8}-bit, not 8000 Hz mono 16-bit")
    if len(raw) != frames * channels * width:
        problems.append("is cut short: fewer samples than its header says")
    duration = frames / float(rate) if rate else 0.0
    lo, hi = plausible_duration(text, language)
    if not lo <= duration <= hi:
        problems.append(f"lasts {duration:.2f} s, not between {lo:.2f} s and {hi:.2f} s as {_units(text)} letters need")
    if width == 2 and raw:
        peak = int(np.max(np.abs(np.frombuffer(raw, dtype="<i2").astype(np.int32))))
        if peak < 300:
            problems.append("is silent")
    return problems
