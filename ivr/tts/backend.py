"""Speech engines: the :class:`Backend` protocol and pyttsx3 in a worker process."""

from __future__ import annotations

import contextlib
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ivr.tts.errors import TTSError
from ivr.tts.voice import Voice, engine_version
from ivr.tts.worker import read_replies, send

__all__ = ["Backend", "Pyttsx3Backend"]


class Backend(Protocol):
    """A speech engine: words in, a WAV file's bytes out (any rate, verified by the caller)."""

    @property
    def version(self) -> str:
        """The engine and its version, for cache keys."""
        ...

    def voices(self) -> list[Voice]:
        """The voices this engine has."""
        ...

    def synthesize(self, text: str, voice: Voice, timeout: float, rate: int) -> bytes:
        """``text`` spoken by ``voice`` at ``rate`` words a minute as WAV bytes; TTSError when the engine fails."""
        ...

    def reset(self) -> None:
        """Forget all state: the next job starts afresh (called after a failure)."""
        ...

    def close(self) -> None:
        """Release the engine's resources."""
        ...


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
        code = f"from ivr.tts.worker import main; main({self.driver!r})"
        command = self.command or [sys.executable, "-c", code]
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        except OSError as exc:
            raise TTSError(f"cannot start the speech engine's process: {exc}") from exc
        finally:
            stderr.close()
        replies: queue.Queue[tuple[str, Any]] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=read_replies, args=(process.stdout, replies), daemon=True).start()
        self._process, self._replies = process, replies
        return process

    def _call(self, request: tuple[Any, ...], timeout: float) -> Any:
        process = self._start()
        assert process.stdin is not None
        try:
            send(process.stdin, request)
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

    def synthesize(self, text: str, voice: Voice, timeout: float, rate: int) -> bytes:
        """Speak ``text`` with ``voice`` at ``rate`` into a fresh file in the worker, and return its bytes."""
        with self._lock:
            self._jobs += 1
            path = self._tmp / f"job-{self._jobs}.wav"
            try:
                # The worker gives up on the engine after ``timeout``; allow for the
                # round trip before giving up on the worker.
                self._call(("synth", text, voice.id, str(path), timeout, rate), timeout + min(10.0, timeout))
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
                send(process.stdin, ("stop",))
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(2)
        self.reset()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
