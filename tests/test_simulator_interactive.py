"""Interactive mode in a pseudo-terminal: keys act without Enter, q hangs up, no sound card degrades to text."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.phone.speaker import LiveSpeaker
from tests.twiml_fixture_app import serve


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve() as (url, _):
        yield url


def _run_in_pty(url: str, keys: str, wait_for: bytes) -> tuple[int, str]:
    """Run ``ivr simulate --url`` with a pty as its terminal; type ``keys`` (no Enter) once ``wait_for`` shows."""
    exe = shutil.which("ivr", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the ivr command is not installed in this environment")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [exe, "simulate", "--url", url, "--mute"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )
    os.close(slave)
    out = b""
    typed = False
    deadline = time.monotonic() + 20
    try:
        assert proc.stdout is not None
        while proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.05)
            if ready:
                out += os.read(proc.stdout.fileno(), 4096)
            if not typed and wait_for in out:
                os.write(master, keys.encode())
                typed = True
        out += proc.stdout.read() if proc.stdout else b""
        code = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        if proc.stdout:
            proc.stdout.close()
    return code, out.decode(errors="replace")


def test_a_key_acts_at_once_without_enter(base: str) -> None:
    code, out = _run_in_pty(f"{base}/quick", "5", b"say      hi")
    assert "presses 5" in out and "ok 5" in out
    assert code == 0 and "Traceback" not in out


def test_q_hangs_up(base: str) -> None:
    code, out = _run_in_pty(f"{base}/quick", "q", b"say      hi")
    assert "caller_hangup" in out and code == 0


def test_silence_times_out_in_real_time(base: str) -> None:
    started = time.monotonic()
    code, out = _run_in_pty(f"{base}/quick", "", b"\x00never")
    assert "(no input)" in out and "bye" in out and code == 0
    assert time.monotonic() - started >= 1  # the 1 s timeout really passed


def test_without_an_audio_output_the_live_speaker_says_it_once_and_shows_text() -> None:
    speaker = LiveSpeaker()
    try:
        if speaker._player is not None:
            pytest.skip("this machine has an audio output")
        assert any("no audio output" in n for n in speaker.notices())
        assert speaker.notices() == []
        speaker.start(None)  # nothing to play, nothing raised
    finally:
        speaker.close()
