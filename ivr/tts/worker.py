"""The worker process that runs pyttsx3, and the protocol the parent speaks to it.

The protocol: pickled tuples, each preceded by its length (4 bytes,
big-endian), requests on the worker's stdin and replies on its stdout.

Requests are ``("voices",)``, ``("synth", text, voice_id, path, timeout,
rate)`` and ``("stop",)``; replies are ``("ok", payload)``, ``("error",
message)`` (this job failed, the worker carries on) and ``("fatal",
message)`` (the worker cannot work at all and exits).  The parent's reader
thread adds ``("died", None)`` when the stream ends.

Everything from :func:`main` on runs only in the worker process.
"""

from __future__ import annotations

import gc
import os
import pickle
import queue
import struct
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import IO, Any

__all__ = ["main", "read_replies", "receive", "send"]


def send(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    """Write one message to ``stream`` and flush it."""
    data = pickle.dumps(message)
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """Read one message from ``stream``; EOFError when it ends, even mid-message."""
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError
    (size,) = struct.unpack(">I", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def read_replies(stream: IO[bytes], replies: queue.Queue[tuple[str, Any]]) -> None:
    """Move the worker's replies onto ``replies`` until its stdout ends, then put ``("died", None)``.

    A thread per worker, so that the caller can wait for a reply with a timeout.
    """
    while True:
        try:
            reply = receive(stream)
        except (EOFError, OSError, pickle.UnpicklingError):
            replies.put(("died", None))
            return
        replies.put(reply)


def main(driver: str | None) -> None:  # pragma: no cover - runs in the worker process
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
        send(replies, ("fatal", f"pyttsx3 is not installed or does not load: {exc}"))
        return
    while True:
        try:
            request = receive(requests)
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
                send(replies, ("ok", found))
            elif request[0] == "synth":
                _, text, voice_id, path, timeout, rate = request
                _synth(pyttsx3, driver, text, voice_id, path, timeout, rate)
                send(replies, ("ok", None))
            else:
                send(replies, ("error", f"unknown request {request[0]!r}"))
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if "espeak" in message.lower() and "install" in message.lower():
                send(replies, ("fatal", f"espeak-ng is not installed (run scripts/sysdeps.sh): {exc}"))
                return
            send(replies, ("error", message))


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


def _configure(engine: Any, voice_id: str, rate: int) -> None:  # pragma: no cover - runs in the worker process
    """Give a fresh engine its voice and rate, and make sure the engine has applied both.

    The rate is set on every job, not left to the engine: a fresh engine
    starts at pyttsx3's 200 words a minute, which suits no voice in particular.

    Both go straight to the driver rather than through ``engine.setProperty``,
    and then espeak-ng is waited for.  espeak-ng (asynchronous, as pyttsx3
    starts it) queues a rate on its own command queue, and pyttsx3's
    ``runAndWait`` ends by calling the driver's ``stop()``, which calls
    ``espeak_Cancel`` when that queue is not yet empty: the cancel throws the
    queued rate away, and the text is spoken at the previous job's rate.  Set
    through ``setProperty`` (applied inside ``runAndWait``, just before that
    ``stop()``), about one job in thirty lost its rate so.  A voice is set
    synchronously and was never lost, but it is set first all the same: the
    rate must not be applied to the voice being replaced.
    """
    driver = engine.proxy._driver
    driver.setProperty("voice", voice_id)
    driver.setProperty("rate", rate)
    if type(driver).__module__ != "pyttsx3.drivers.espeak":
        return  # SAPI and NSSS apply properties at once
    from pyttsx3.drivers import _espeak

    deadline = time.monotonic() + 5.0
    while _espeak.IsPlaying():
        if time.monotonic() > deadline:
            raise TimeoutError("espeak-ng did not apply the voice and rate within 5 s")
        time.sleep(0.001)


def _synth(
    pyttsx3: Any, driver: str | None, text: str, voice_id: str, path: str, timeout: float, rate: int
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
    _configure(engine, voice_id, rate)
    engine.save_to_file(text, path)
    engine.runAndWait()
    # runAndWait returns before an asynchronous driver has written the file;
    # the notification comes after the file is closed.
    if not finished.wait(timeout) and not _settled(Path(path)):
        raise TimeoutError(f"no audio after {timeout:.0f} s")
