"""The simulator over HTTP: the fixture server, dead and hanging servers, signing, and a real ``ivr serve``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.phone import events as ev
from ivr.phone.callers import parse_answers
from ivr.phone.interpreter import APPLICATION_ERROR
from ivr.phone.run import simulate
from tests.twiml_fixture_app import AUTH_TOKEN, serve

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Any]]:
    with serve() as (base, app):
        app.config["SLOW_SECONDS"] = 1.0
        yield base, app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_call_over_http_fetches_documents_and_audio(server: tuple[str, Any]) -> None:
    base, _ = server
    result = simulate(f"{base}/prompts", [])
    play = next(e for e in result.events if isinstance(e, ev.PlayEvent) and e.url)
    assert play.url == f"{base}/audio/tone.wav" and play.seconds == pytest.approx(1.0, abs=0.01)
    assert result.reason == "hangup" and result.exit_code == 0


def test_a_dead_url_is_an_application_error_not_a_traceback() -> None:
    result = simulate(f"http://127.0.0.1:{_free_port()}/voice", [])
    error = next(e for e in result.events if isinstance(e, ev.ErrorEvent))
    assert "cannot reach" in error.message and error.status is None
    assert result.exit_code == 1


def test_a_hanging_server_times_out(server: tuple[str, Any]) -> None:
    base, _ = server
    started = time.monotonic()
    result = simulate(f"{base}/slow", [], timeout=0.2)
    assert time.monotonic() - started < 1.0
    error = next(e for e in result.events if isinstance(e, ev.ErrorEvent))
    assert "within 0.2 s" in error.message
    assert [e.text for e in result.events if isinstance(e, ev.SayEvent)] == [APPLICATION_ERROR]
    assert result.exit_code == 1


def test_requests_are_signed_as_twilio_signs_them(server: tuple[str, Any]) -> None:
    base, app = server
    signed = simulate(f"{base}/signed", [], auth_token=AUTH_TOKEN)
    assert [e.text for e in signed.events if isinstance(e, ev.SayEvent)][:2] == [
        "signature ok",
        "GET a=signed status=in-progress",
    ]
    assert "X-Twilio-Signature" in app.config["LOG"][-1]["headers"]  # GET requests are signed too
    forged = simulate(f"{base}/signed", [], auth_token="wrong")
    assert next(e for e in forged.events if isinstance(e, ev.ErrorEvent)).status == 403


def test_the_cli_calls_a_url_and_exits_1_on_failure(server: tuple[str, Any]) -> None:
    from click.testing import CliRunner

    from ivr.cli import main

    base, _ = server
    ok = CliRunner().invoke(main, ["simulate", "--url", f"{base}/voice", "--keys", "1 -", "--mute", "--json"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(main, ["simulate", "--url", f"{base}/html", "--keys", "", "--mute"])
    assert bad.exit_code == 1 and "HTML page" in bad.output and "Traceback" not in bad.output


@pytest.fixture
def ivr_serve(tmp_path: Path) -> Iterator[str]:
    """A real ``ivr serve`` in a subprocess, on a free port, with a fixed clock (a Sunday: agents closed)."""
    exe = shutil.which("ivr", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the ivr command is not installed in this environment")
    port = _free_port()
    env = {**os.environ, "IVR_CLOCK": "2026-11-22T10:00:00+08:00", "IVR_LOG_LEVEL": "WARNING"}
    env.pop("TWILIO_AUTH_TOKEN", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [exe, "serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'serve.db'}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ivr serve exited: {log.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("ivr serve did not start listening within 20 s")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/voice"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_real_ivr_serve_answers_the_simulator_over_http(ivr_serve: str) -> None:
    result = simulate(ivr_serve, parse_answers("9 2 0"))
    *steps, callback = [e for e in result.events if isinstance(e, ev.Request)]
    assert [e.node for e in steps] == ["main", "language", "main", "agent_closed"]
    # The status callback the app announced (X-IVR-Status-Callback).
    assert callback.url == ivr_serve.replace("/voice", "/status") and callback.status == 204
    heard = [e.text for e in result.events if isinstance(e, ev.SayEvent)]
    assert heard[0].startswith("欢迎致电12333") and "Agents are not available now" in heard[-1]
    assert result.reason == "caller_hangup" and result.exit_code == 0
