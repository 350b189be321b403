"""The call store shared by processes and hosts: two real servers, and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.phone.twiml import Dial, Gather, Hangup
from tests.twiml_tools import Twiml, WebCall, assert_valid_twiml
from tests.webapp import AppFactory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "IVR_DATABASE_URL": db_url,
        "IVR_LOG_LEVEL": "WARNING",
        "IVR_CLOCK": "2026-11-23T10:00:00+08:00",
    }
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _wait(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ivr serve exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"ivr serve on port {port} did not come up")


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[int, int]]:
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    ports = (_free_port(), _free_port())
    logs = [tmp_path / f"serve-{p}.log" for p in ports]
    procs = [_serve(db_url, p, log) for p, log in zip(ports, logs, strict=True)]
    try:
        for port, proc, log in zip(ports, procs, logs, strict=True):
            _wait(port, proc, log)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def _post(port: int, path: str, form: dict[str, str]) -> Twiml:
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data=data, timeout=10) as r:
        assert r.status == 200 and r.headers.get_content_type() == "text/xml"
        body = r.read()
    assert_valid_twiml(body)
    return Twiml.parse(body)


def test_two_server_processes_serve_alternate_steps_of_one_call(two_servers: tuple[int, int]) -> None:
    a, b = two_servers
    form = {"CallSid": "CA" + "7" * 32, "From": "+8613800000000"}
    answer = _post(a, "/voice", form)
    ports = [b, a, b, a]
    for port, key in zip(ports, ["4", "2", "#", "#"], strict=True):
        action = answer.action(Gather)
        assert action, answer.body
        answer = _post(port, action, {**form, "Digits": key})
        if key == "2":
            assert "支付宝" in answer.said  # the insured-place switch, served by the other process
    assert "激活社保卡，请按1" in answer.said  # back at the main menu after two "back" keys


def test_whole_call_on_postgresql(postgres_url: str, make_app: AppFactory) -> None:
    app = make_app(DATABASE_URL=postgres_url)
    call = WebCall(app.test_client(), sid="CA" + "8" * 32, xsd=True)
    for key in ["4", "1", "#", "#", "9", "2"]:
        call.press(key)
    assert "To activate a card, press 1" in call.said
    other = make_app(DATABASE_URL=postgres_url)
    call.client = other.test_client()
    call.press("0")
    assert call.find(Dial) is not None
    assert other.test_client().get("/healthz").status_code == 200


def test_postgresql_down_gives_an_apology(make_app: AppFactory) -> None:
    port = _free_port()  # nothing listens there
    app = make_app(DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{port}/none?connect_timeout=2")
    resp = app.test_client().post("/voice", data={"CallSid": "CA1", "From": "+86"})
    assert resp.status_code == 200 and Twiml.parse(resp.data).find(Hangup) is not None
    assert app.test_client().get("/healthz").status_code == 503
