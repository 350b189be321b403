"""Text to speech with pyttsx3, wrapped so that callers never see it fail.

Every result is *verified* telephony audio: a WAV file, 8 kHz, mono, 16-bit
PCM, whose duration is plausible for its text.

Why a wrapper at all
--------------------
pyttsx3 2.99's Linux driver (espeak-ng) loses output.  Its driver starts
espeak-ng in ``AUDIO_OUTPUT_RETRIEVAL`` mode, which is *asynchronous*:
``runAndWait`` returns as soon as synthesis has been started, and the file is
written later, from espeak-ng's own thread, when the message ends.  A short
text finishes inside the driver's 10 ms poll, so it seems to work; a long one
(more than about ten seconds of speech: thirty Chinese characters) does not,
and a script that exits, or reads the file, right after ``runAndWait`` finds no
file.  The driver also never forgets the file name of a ``save_to_file``, so a
later ``say`` on the same engine writes into the earlier file.

So each job here:

- runs in a worker *process* (a hung or confused espeak-ng is killed, not
  lived with), with a fresh pyttsx3 engine for each job (no stale file name);
- waits for pyttsx3's ``finished-utterance`` notification, which the driver
  sends only after the file is closed, instead of trusting ``runAndWait``;
- is verified (decodes, has sound, duration plausible for the text) and done
  again in a fresh worker when it is not, a few times, before giving up with a
  :class:`TTSError` that says what went wrong.

The engine's output (22,050 Hz from espeak-ng) is resampled to 8 kHz here.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import gc
import hashlib
import importlib.metadata
import io
import os
import pickle
import queue
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "AUDIO_VERSION",
    "SAMPLE_RATE",
    "Backend",
    "Pyttsx3Backend",
    "Synthesizer",
    "TTSError",
    "Voice",
    "VoiceNotFound",
    "audio_problems",
    "content_key",
    "default_voice",
    "engine_version",
    "plausible_duration",
    "synthesize",
    "to_telephony",
    "voices",
    "wav_duration",
]

SAMPLE_RATE = 8000
"""Telephony audio: 8 kHz, mono, 16-bit PCM."""

AUDIO_VERSION = "1"
"""Bump when the processing after the engine (resampling, trimming) changes, so caches re-render."""

_DEFAULT_VOICES: dict[str, dict[str, str]] = {
    # espeak-ng's voices, as pyttsx3 drives it on Linux and other Unixes.
    "espeak": {"zh-CN": "cmn", "en-US": "en-us"},
    "sapi5": {"zh-CN": "Huihui", "en-US": "Zira"},
    "nsss": {"zh-CN": "Ting-Ting", "en-US": "Samantha"},
}


class TTSError(Exception):
    """The speech engine failed: it is missing, broken, or kept producing bad audio."""


class VoiceNotFound(TTSError):
    """A voice configured for a language is not on this machine.

    The message names the voices that are.
    """

    def __init__(self, voice: str, language: str, available: Sequence[Voice]) -> None:
        self.voice = voice
        self.language = language
        self.available = list(available)
        primary = language.split("-")[0].lower()
        alike = [v.short_id for v in self.available if v.speaks(primary)]
        names = ", ".join(v.short_id for v in self.available) or "none"
        hint = f"; for {language}: {', '.join(alike)}" if alike else ""
        env = _env_name(language)
        super().__init__(
            f"no voice {voice!r} for {language} on this machine (set {env} to one that is there){hint}. "
            f"Voices present: {names}"
        )


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice the engine offers."""

    id: str
    """What the engine calls it (espeak-ng: ``sit/cmn``; SAPI: a registry key)."""
    name: str
    languages: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        """The last part of the id: ``cmn`` for espeak-ng's ``sit/cmn``."""
        return self.id.replace("\\", "/").rsplit("/", 1)[-1]

    def speaks(self, primary: str) -> bool:
        """Whether this voice is for the primary language subtag ``primary`` (``zh``, ``en``)."""
        tags = [t.lower() for t in self.languages] + [self.short_id.lower()]
        aliases = {"zh": ("zh", "cmn", "yue")}.get(primary, (primary,))
        return any(t.split("-")[0] in aliases for t in tags)

    def matches(self, wanted: str) -> bool:
        """Whether a configured voice name ``wanted`` means this voice."""
        w = wanted.casefold()
        if w in (self.id.casefold(), self.short_id.casefold(), self.name.casefold()):
            return True
        # SAPI and macOS name voices "Microsoft Huihui Desktop - Chinese"; "Huihui" is enough.
        words = self.name.casefold().replace("(", " ").replace(")", " ").replace(",", " ").split()
        return w in words


def _env_name(language: str) -> str:
    return "IVR_TTS_VOICE_" + language.upper().replace("-", "_")


def _driver_name() -> str:
    if sys.platform == "win32":
        return "sapi5"
    if sys.platform == "darwin":
        return "nsss"
    return "espeak"


def default_voice(language: str, config: Mapping[str, str] | None = None) -> str:
    """The voice configured for ``language``.

    In order: ``config[language]``, the environment (``IVR_TTS_VOICE_ZH_CN``
    for zh-CN, ``IVR_TTS_VOICE_EN_US`` for en-US...), then the platform's
    default: espeak-ng's ``cmn`` and ``en-us`` on Linux, SAPI's Huihui and Zira
    on Windows, Ting-Ting and Samantha on macOS.
    """
    if config and config.get(language):
        return config[language]
    env = os.environ.get(_env_name(language), "").strip()
    if env:
        return env
    defaults = _DEFAULT_VOICES.get(_driver_name(), {})
    if language in defaults:
        return defaults[language]
    primary = language.split("-")[0].lower()
    for lang, voice in defaults.items():
        if lang.split("-")[0].lower() == primary:
            return voice
    # espeak-ng names most voices by their language tag.
    return language.lower()


@cache
def engine_version() -> str:
    """The engine and its version, part of every cache key: a new engine renders again."""
    try:
        pyttsx3_version = importlib.metadata.version("pyttsx3")
    except importlib.metadata.PackageNotFoundError:
        pyttsx3_version = "missing"
    driver = _driver_name()
    detail = driver
    if driver == "espeak":
        detail = "espeak-ng " + (_espeak_version() or "unknown")
    return f"pyttsx3 {pyttsx3_version}; {detail}; ivr-audio {AUDIO_VERSION}"


def _espeak_version() -> str | None:
    # Asking the library itself is cheap (no synthesis is set up) and tells the
    # version that will actually speak, not the command line tool's.
    for name in ("libespeak-ng.so.1", ctypes.util.find_library("espeak-ng")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            info = lib.espeak_Info
        except (OSError, AttributeError):
            continue
        info.restype = ctypes.c_char_p
        info.argtypes = [ctypes.c_void_p]
        raw = info(None)
        return raw.decode("ascii", "replace") if raw else None
    return None


# -- audio ------------------------------------------------------------------

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
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
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


# -- engines ----------------------------------------------------------------


class Backend(Protocol):
    """A speech engine: words in, a WAV file's bytes out (any rate, verified by the caller)."""

    @property
    def version(self) -> str:
        """The engine and its version, for cache keys."""
        ...

    def voices(self) -> list[Voice]:
        """The voices this engine has."""
        ...

    def synthesize(self, text: str, voice: Voice, timeout: float) -> bytes:
        """``text`` spoken by ``voice`` as WAV bytes; TTSError when the engine fails."""
        ...

    def reset(self) -> None:
        """Forget all state: the next job starts afresh (called after a failure)."""
        ...

    def close(self) -> None:
        """Release the engine's resources."""
        ...


def _job_timeout(text: str) -> float:
    return 20.0 + 0.5 * len(text)


class Pyttsx3Backend:
    """pyttsx3 in a worker process, a fresh pyttsx3 engine for each job.

    The process is started on first use and replaced after any failure, so a
    confused or hung engine never outlives the job it spoiled.  It is a plain
    ``python -c`` child talking over its stdin and stdout, not
    :mod:`multiprocessing`, which would re-import the caller's main script.
    """

    def __init__(self, driver: str | None = None, *, command: Sequence[str] | None = None) -> None:
        """``driver`` is pyttsx3's (None: the platform's); ``command`` replaces the worker's command line (tests)."""
        self.driver = driver
        self.command = list(command) if command is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._scratch: Path | None = None
        self._jobs = 0
        self._voices: list[Voice] | None = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """pyttsx3's version and the platform engine's."""
        return engine_version()

    @property
    def _tmp(self) -> Path:
        # Made on first use: a backend that is only asked its version leaves nothing behind.
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="ivr-tts-"))
        return self._scratch

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is not None:
            return self._process
        stderr = (self._tmp / "worker.log").open("wb")
        code = f"from ivr.tts import _worker_main; _worker_main({self.driver!r})"
        command = self.command or [sys.executable, "-c", code]
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        except OSError as exc:
            raise TTSError(f"cannot start the speech engine's process: {exc}") from exc
        finally:
            stderr.close()
        replies: queue.Queue[tuple[str, Any]] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=_read_replies, args=(process.stdout, replies), daemon=True).start()
        self._process, self._replies = process, replies
        return process

    def _call(self, request: tuple[Any, ...], timeout: float) -> Any:
        process = self._start()
        assert process.stdin is not None
        try:
            _send(process.stdin, request)
            status, payload = self._replies.get(timeout=timeout)
        except queue.Empty:
            self.reset()
            raise TTSError(f"the speech engine did not answer within {timeout:.0f} s") from None
        except OSError:
            status, payload = "died", None
        if status == "died":
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1)
            code = process.poll()
            detail = self._last_log_line()
            self.reset()
            raise TTSError(f"the speech engine's process died (exit code {code}){detail}")
        if status == "ok":
            return payload
        if status == "fatal":
            self.reset()
        raise TTSError(str(payload))

    def _last_log_line(self) -> str:
        try:
            lines = (self._tmp / "worker.log").read_text("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return f": {lines[-1]}" if lines else ""

    def voices(self) -> list[Voice]:
        """The engine's voices (asked once, then remembered)."""
        with self._lock:
            if self._voices is None:
                raw = self._call(("voices",), 60.0)
                self._voices = [Voice(str(i), str(n), tuple(str(x) for x in langs)) for i, n, langs in raw]
            return list(self._voices)

    def synthesize(self, text: str, voice: Voice, timeout: float) -> bytes:
        """Speak ``text`` with ``voice`` into a fresh file in the worker, and return its bytes."""
        with self._lock:
            self._jobs += 1
            path = self._tmp / f"job-{self._jobs}.wav"
            try:
                # The worker gives up on the engine after ``timeout``; allow for the
                # round trip before giving up on the worker.
                self._call(("synth", text, voice.id, str(path), timeout), timeout + min(10.0, timeout))
                try:
                    return path.read_bytes()
                except OSError as exc:
                    raise TTSError(f"the speech engine wrote no file ({exc.strerror})") from exc
            finally:
                path.unlink(missing_ok=True)

    def reset(self) -> None:
        """Kill the worker process; the next job starts a new one."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        """Stop the worker and remove its scratch files."""
        process = self._process
        if process is not None and process.poll() is None and process.stdin is not None:
            with contextlib.suppress(OSError):
                _send(process.stdin, ("stop",))
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(2)
        self.reset()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


# The worker protocol: pickled tuples, each preceded by its length (4 bytes, big-endian).


def _send(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message)
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError
    (size,) = struct.unpack(">I", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _read_replies(stream: IO[bytes], replies: queue.Queue[tuple[str, Any]]) -> None:
    # A thread per worker, so that the caller can wait for a reply with a timeout.
    while True:
        try:
            reply = _receive(stream)
        except (EOFError, OSError, pickle.UnpicklingError):
            replies.put(("died", None))
            return
        replies.put(reply)


def _worker_main(driver: str | None) -> None:  # pragma: no cover - runs in the worker process
    """The worker process: answer requests on stdin until told to stop or stdin closes."""
    requests = sys.stdin.buffer
    # The protocol keeps the real stdout to itself; pyttsx3's drivers print
    # ("Audio saved to ...") and C libraries may too, into /dev/null.
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    try:
        import pyttsx3
    except Exception as exc:
        _send(replies, ("fatal", f"pyttsx3 is not installed or does not load: {exc}"))
        return
    while True:
        try:
            request = _receive(requests)
        except (EOFError, OSError):
            return
        try:
            if request[0] == "stop":
                return
            if request[0] == "voices":
                engine = pyttsx3.Engine(driver)
                found = [(v.id, v.name, list(v.languages or ())) for v in engine.getProperty("voices")]
                del engine
                gc.collect()
                _send(replies, ("ok", found))
            elif request[0] == "synth":
                _, text, voice_id, path, timeout = request
                _worker_synth(pyttsx3, driver, text, voice_id, path, timeout)
                _send(replies, ("ok", None))
            else:
                _send(replies, ("error", f"unknown request {request[0]!r}"))
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if "espeak" in message.lower() and "install" in message.lower():
                _send(replies, ("fatal", f"espeak-ng is not installed (run scripts/sysdeps.sh): {exc}"))
                return
            _send(replies, ("error", message))


def _settled(path: Path) -> bool:  # pragma: no cover - runs in the worker process
    # For drivers that never notify: accept a file that has stopped growing.
    size = -1
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else -1
        if now > 44 and now == size:
            return True
        size = now
        time.sleep(0.2)
    return False


_last_engine: list[Any] = []


def _worker_synth(
    pyttsx3: Any, driver: str | None, text: str, voice_id: str, path: str, timeout: float
) -> None:  # pragma: no cover - runs in the worker process
    # A fresh engine for each job: the espeak driver remembers the last
    # save_to_file target forever, and a reused engine writes into it again.
    # The previous engine is dropped only now, when espeak-ng's thread has long
    # left its callback, and before the new one exists: the old driver's
    # destructor unhooks espeak-ng's callback, which would silence a newer engine.
    if _last_engine:
        ref = weakref.ref(_last_engine.pop())
        if ref() is not None:
            gc.collect()
    finished = threading.Event()
    engine = pyttsx3.Engine(driver)
    _last_engine.append(engine)
    engine.connect("finished-utterance", lambda **_: finished.set())
    engine.setProperty("voice", voice_id)
    engine.save_to_file(text, path)
    engine.runAndWait()
    # runAndWait returns before an asynchronous driver has written the file;
    # the notification comes after the file is closed.
    if not finished.wait(timeout) and not _settled(Path(path)):
        raise TimeoutError(f"no audio after {timeout:.0f} s")


# -- the public entry points --------------------------------------------------


@dataclass
class Synthesizer:
    """Verified telephony speech from a backend, retried in a fresh engine when it fails.

    One synthesizer is for one thread at a time; use one per worker thread.
    ``voice_config`` maps languages to voice names and overrides the
    environment (see :func:`default_voice`).
    """

    backend: Backend = field(default_factory=Pyttsx3Backend)
    voice_config: Mapping[str, str] | None = None
    attempts: int = 3
    on_retry: Callable[[str, str], None] | None = None
    """Called with the text and the problem each time a job is done again."""
    retries: int = 0
    """How many jobs were done again, over this synthesizer's life."""

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

    def resolve(self, language: str, voice: str | None = None) -> Voice:
        """The voice that speaks ``language``; :class:`VoiceNotFound` when it is not on this machine."""
        wanted = self.voice_name(language, voice)
        available = self.voices()
        for v in available:
            if v.matches(wanted):
                return v
        raise VoiceNotFound(wanted, language, available)

    def synthesize(self, text: str, language: str, voice: str | None = None, *, trim: bool = False) -> bytes:
        """``text`` in ``language`` as verified 8 kHz mono 16-bit WAV bytes.

        ``trim`` cuts silence at the ends (for clips strung together).  Raises
        :class:`VoiceNotFound` or, when the engine fails every attempt,
        :class:`TTSError`.
        """
        if not text.strip():
            raise ValueError("nothing to say: the text is empty")
        chosen = self.resolve(language, voice)
        problems: list[str] = []
        for attempt in range(self.attempts):
            if attempt:
                self.retries += 1
                if self.on_retry is not None:
                    self.on_retry(text, problems[-1])
                self.backend.reset()
            try:
                raw = self.backend.synthesize(text, chosen, _job_timeout(text))
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


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def synthesize(text: str, language: str, voice: str | None = None) -> bytes:
    """``text`` in ``language`` as verified WAV bytes: 8 kHz, mono, 16-bit PCM.

    ``voice`` overrides the configured voice (see :func:`default_voice`).
    Raises :class:`VoiceNotFound` when that voice is not on this machine and
    :class:`TTSError` when the engine fails even after retries.  Thread-safe.
    """
    synth = _shared()
    with _use_lock:
        return synth.synthesize(text, language, voice)


def voices() -> list[Voice]:
    """The voices the speech engine offers on this machine."""
    return _shared().voices()


def content_key(*parts: str) -> str:
    """A short stable hash of ``parts``, for content-addressed file names."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]
