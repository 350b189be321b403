"""The voice lane (ivr.web.lane): a call's steps answered below Flask exactly as Flask's views answer them.

Twilio posts form-encoded bodies, which the lane answers; the same webhook
posted in any other shape (multipart) goes through Flask's views.  Whatever
the path, a caller and a tester must see the same thing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from ivr.storage.calls import CallStore
from ivr.storage.db import Database
from ivr.web import app_state
from ivr.web.forms import parse_form
from ivr.web.logs import JsonFormatter

from .webapp import AppFactory

TOKEN = "lane-test-token"
HEADERS = ("Content-Type", "X-IVR-Node", "X-IVR-Path", "X-IVR-Prompts", "X-IVR-Status-Callback")


def _post(app: Flask, path: str, form: dict[str, str], *, multipart: bool = False, query: str = "") -> tuple:
    client = app.test_client()
    kwargs = {"data": form, "content_type": "multipart/form-data"} if multipart else {"data": form}
    resp = client.post(path + (f"?{query}" if query else ""), **kwargs)
    return resp.status_code, resp.get_data(as_text=True), {h: resp.headers.get(h) for h in HEADERS}


def _passed_on(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the lane hands on to Flask from now on, in order (the lane answers the rest itself)."""
    lane = app.wsgi_app
    seen: list[str] = []
    flask_app = lane.inner

    def spy(environ: dict, start_response: object) -> object:
        seen.append(environ["PATH_INFO"])
        return flask_app(environ, start_response)

    monkeypatch.setattr(lane, "inner", spy)
    return seen


def test_a_call_answered_by_the_lane_and_by_flask_hears_the_same(
    make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lane_app, flask_app = make_app(tmp_path / "a"), make_app(tmp_path / "b")
    passed_on = _passed_on(lane_app, monkeypatch)
    keys = ["1", "9", "*", "0", "#"]
    form = {"CallSid": "CAsame", "From": "+8613800000000"}

    def call(app: Flask, multipart: bool) -> list[tuple]:
        got = [_post(app, "/voice", form, multipart=multipart)]
        for step, key in enumerate(keys, start=1):
            got.append(_post(app, "/voice/step", {**form, "Digits": key}, multipart=multipart, query=f"s={step}"))
        return got

    expected = call(lane_app, multipart=False)
    assert call(flask_app, multipart=True) == expected
    assert passed_on == []  # the form-encoded call was the lane's alone
    assert expected[0][2]["X-IVR-Status-Callback"] == "/status"
    assert all(status == 200 and "<Response>" in body for status, body, _ in expected)


def test_requests_the_lane_does_not_take_are_answered_by_flask_as_before(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(MAX_BODY_BYTES=4096)
    passed_on = _passed_on(app, monkeypatch)
    client = app.test_client()
    assert client.get("/voice").status_code == 405
    assert (
        client.post(
            "/voice", data="CallSid=" + "A" * 5000, content_type="application/x-www-form-urlencoded"
        ).status_code
        == 413
    )
    assert client.post("/voice", data={"CallSid": "CAmulti"}, content_type="multipart/form-data").status_code == 200
    assert passed_on == ["/voice"] * 3


def test_a_body_shorter_than_its_length_is_refused_not_answered(make_app: AppFactory) -> None:
    app = make_app()
    body = b"CallSid=CAshort&From=%2B86138"
    environ = {"CONTENT_LENGTH": str(len(body) + 40), "CONTENT_TYPE": "application/x-www-form-urlencoded"}
    resp = app.test_client().post("/voice", data=body, environ_overrides=environ)
    assert resp.status_code == 400
    assert CallStore(app_state(app).db).load("CAshort") is None


def test_the_lane_checks_twilio_signatures_and_refuses_forgeries(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL="https://ivr.example.com")
    passed_on = _passed_on(app, monkeypatch)
    client = app.test_client()
    form = {"CallSid": "CAsigned", "From": "+8613800000000"}
    good = RequestValidator(TOKEN).compute_signature("https://ivr.example.com/voice", form)
    assert client.post("/voice", data=form, headers={"X-Twilio-Signature": good}).status_code == 200
    with caplog.at_level(logging.WARNING, logger="ivr.security"):
        forged = client.post("/voice", data={**form, "From": "+8613900000000"}, headers={"X-Twilio-Signature": good})
    assert forged.status_code == 403
    assert "forged or unsigned request refused" in caplog.text
    assert client.post("/voice/step?s=1", data={**form, "Digits": "1"}).status_code == 403  # unsigned
    assert passed_on == ["/voice", "/voice/step"]  # the refusals are Flask's


def test_the_lane_counts_and_logs_each_step(make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(LOG_LEVEL="INFO")
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="ivr.access"):
        client.post("/voice", data={"CallSid": "CAlogged", "From": "+8613800000000"})
        client.post("/voice/step?s=1", data={"CallSid": "CAlogged", "Digits": "1"})
    access = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "ivr.access"]
    assert [(a["path"], a["status"], a["call_sid"]) for a in access] == [
        ("/voice", 200, "CAlogged"),
        ("/voice/step", 200, "CAlogged"),
    ]
    assert access[1]["node"] and access[1]["ms"] > 0
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'ivr_webhook_seconds_count{endpoint="step"} 1.0' in metrics
    assert 'ivr_calls_started_total{menu="12333"} 1.0' in metrics


def test_a_step_stores_its_moments_as_every_other_write_does(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app()
    client = app.test_client()
    client.post("/voice", data={"CallSid": "CAmoment", "From": "+8613800000000"})
    client.post("/voice/step?s=1", data={"CallSid": "CAmoment", "Digits": "*"})
    client.post("/status", data={"CallSid": "CAmoment", "CallStatus": "completed", "CallDuration": "9"})
    app_state(app).close()
    with sqlite3.connect(tmp_path / "ivr.db") as conn:
        moments = conn.execute("SELECT started_at, updated_at, live_until, ended_at FROM calls").fetchone()
        events = [at for (at,) in conn.execute("SELECT at FROM call_events ORDER BY id")]
    # SQLAlchemy's text for a moment, so moments written by the hot path and by the ORM compare as moments.
    assert all(len(m) == 26 and m[10] == " " and m[19] == "." for m in [*moments, *events]), (moments, events)


def test_a_kept_postgresql_connection_the_server_closed_costs_no_caller_a_step(
    make_app: AppFactory, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine, text

    import ivr.storage.db

    monkeypatch.setattr(ivr.storage.db, "KEPT_PING_AFTER", 0.0)  # idle long enough: pinged before use
    app = make_app(DATABASE_URL=postgres_url)
    client = app.test_client()
    form = {"CallSid": "CAkept", "From": "+8613800000000"}
    assert "s=1" in client.post("/voice", data=form).get_data(as_text=True)
    db = app_state(app).db
    cur = db._kept().cursor()
    cur.execute("SELECT pg_backend_pid()")
    (pid,) = cur.fetchone()
    db._kept().rollback()
    other = create_engine(postgres_url)
    with other.begin() as conn:  # the server drops the webhook's connection (a restart, an idle timeout)
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    other.dispose()
    answer = client.post("/voice/step?s=1", data={**form, "Digits": "*"}).get_data(as_text=True)
    assert "s=2" in answer


@given(st.text(alphabet=st.sampled_from("aB=&%+2AFz0 é\x00;"), max_size=40))
def test_the_lane_reads_a_form_as_the_standard_library_does(text: str) -> None:
    expected: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        expected.setdefault(key, value)
    assert parse_form(text) == expected


def test_a_thread_that_ends_closes_the_connection_it_kept(tmp_path: Path) -> None:
    # ``ivr serve`` answers each request on a thread of its own: none may leave a connection open behind it.
    db = Database(f"sqlite:///{tmp_path / 'ivr.db'}")
    db.upgrade()
    store = CallStore(db)
    lent: list[sqlite3.Connection] = []

    def webhook() -> None:
        with db.held():
            assert store.lookup("CAnobody").call is None
            lent.append(db._held.conn)

    for _ in range(20):
        thread = threading.Thread(target=webhook)
        thread.start()
        thread.join()
    assert len({id(conn) for conn in lent}) == 20
    for conn in lent:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")
    with db.held():  # this thread's own is kept for its next webhook, and closed with the database
        store.lookup("CAnobody")
        mine = db._held.conn
    mine.execute("SELECT 1")
    db.dispose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        mine.execute("SELECT 1")
