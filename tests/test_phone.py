"""The browser phone's API through Flask's test client, and its caller on its own.

The calls are real simulator calls (the TwiML interpreter against the app
in-process, on the real clock); keys barge in, so no test waits for a prompt
to end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.phone import events as ev
from ivr.phone.callers import CallerHungUp
from ivr.phone.clock import RealClock
from ivr.web.admin.blueprint import admin_state
from ivr.web.admin.webphone import BrowserCaller, PhoneCall, SpeechCache, tts_language
from tests.test_admin import admin_app, logged_in, page_token
from tests.test_tts import tone
from tests.webapp import AppFactory

__all__ = ["admin_app"]  # a fixture, imported for pytest

WELCOME = "欢迎致电12333"
ECARD = "下载电子社保卡，请按1"
TIMEOUT = 10.0


class Phone:
    """The page's side of the API: start, poll, press, hang up."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.headers = {"X-CSRF-Token": page_token(client)}
        self.urls: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []
        self.ended = False
        self.reason = ""
        self.call_sid = ""

    def start(self) -> Phone:
        resp = self.client.post("/admin/phone/calls", headers=self.headers)
        assert resp.status_code == 201, resp.json
        self.urls = resp.json  # type: ignore[assignment]
        return self

    def poll(self) -> list[dict[str, Any]]:
        resp = self.client.get(f"{self.urls['events']}?after={len(self.events)}&wait=0.2")
        assert resp.status_code == 200, resp.json
        data: dict[str, Any] = resp.json  # type: ignore[assignment]
        assert data["next"] == len(self.events) + len(data["events"])
        self.events += data["events"]
        self.ended, self.reason, self.call_sid = data["ended"], data["reason"], data["call_sid"]
        return list(data["events"])

    def wait_for(self, event: str, **fields: Any) -> dict[str, Any]:
        """Poll until an event named ``event`` whose fields contain ``fields`` (strings: as substrings)."""
        deadline = time.monotonic() + TIMEOUT
        seen = 0
        while time.monotonic() < deadline:
            self.poll()
            for e in self.events[seen:]:
                if e["event"] == event and all(
                    (v in e.get(k, "")) if isinstance(v, str) else e.get(k) == v for k, v in fields.items()
                ):
                    return e
            seen = len(self.events)
            if self.ended:
                break
        names = [(e["event"], e.get("text", e.get("message", ""))[:20]) for e in self.events]
        raise AssertionError(f"no {event} {fields} within {TIMEOUT}s; got {names}")

    def press(self, keys: str) -> int:
        return self.client.post(self.urls["keys"], json={"keys": keys}, headers=self.headers).status_code

    def hang_up(self) -> int:
        return self.client.post(self.urls["hangup"], headers=self.headers).status_code


@pytest.fixture
def phone_app(tmp_path: Path, admin_app: AppFactory) -> Iterator[Flask]:
    app = admin_app(tmp_path, ADMIN_PHONE_SPEECH=False)
    yield app
    admin_state(app).phone.shutdown()  # no call thread outlives its test (and its database)


def test_a_call_through_the_phone_api(phone_app: Flask) -> None:
    phone = Phone(logged_in(phone_app)).start()
    first = phone.wait_for("request", path="/voice")
    assert first["status"] == 200 and first["node"] == "main" and "params" not in first
    phone.wait_for("gather", numDigits=1)
    phone.wait_for("say", text=WELCOME, language="cmn-CN")
    assert phone.press("4") == 202
    phone.wait_for("input", digits="4")
    step = phone.wait_for("request", path="/voice/step?s=1")
    assert step["node"] == "ecard"
    phone.wait_for("say", text=ECARD)
    assert phone.hang_up() == 202
    end = phone.wait_for("end")
    assert end["reason"] == "caller_hangup"
    deadline = time.monotonic() + TIMEOUT
    while not phone.ended and time.monotonic() < deadline:
        phone.poll()
    assert phone.ended and phone.reason == "caller_hangup"
    assert phone.press("1") == 409
    # The call went through the webhooks like any other: the dashboard has it, closed by the status callback.
    assert any(e["event"] == "request" and e["path"] == "/status" and e["status"] == 204 for e in phone.events)
    html = phone.client.get(f"/admin/calls/{phone.call_sid}").get_data(as_text=True)
    assert "completed" in html and '<span class="node" data-node="ecard" title="ecard">Electronic card</span>' in html


def test_the_phone_signs_its_webhooks_when_the_app_checks_signatures(tmp_path: Path, admin_app: AppFactory) -> None:
    app = admin_app(
        tmp_path, ADMIN_PHONE_SPEECH=False, TWILIO_AUTH_TOKEN="t" * 32, PUBLIC_URL="https://ivr.example.com"
    )
    try:
        phone = Phone(logged_in(app)).start()
        first = phone.wait_for("request", path="/voice")
        assert first["status"] == 200 and first["node"] == "main"
        assert phone.press("4") == 202
        assert phone.wait_for("request", path="/voice/step?s=1")["node"] == "ecard"
        phone.hang_up()
        assert phone.wait_for("request", path="/status")["status"] == 204
    finally:
        admin_state(app).phone.shutdown()


def test_played_files_are_given_to_the_page_by_a_url_it_can_fetch() -> None:
    call = PhoneCall("owner", "http://localhost", 60.0, lambda url: f"label of {url.rsplit('/', 1)[-1]}")
    call.on_event(ev.PlayEvent(url="http://localhost/audio/ab12.wav", seconds=1.0))
    call.on_event(ev.PlayEvent(url="https://cdn.example.com/p/cd34.wav", seconds=1.0))
    call.on_event(ev.Request(method="POST", url="http://localhost/voice/step?s=2", status=200, params={"Digits": "1"}))
    events, ended, _ = call.since(0)
    # This app's file by an opaque clip of the call (no file name); a file elsewhere by its URL.
    assert "url" not in events[0] and events[0]["clip"].startswith(f"/admin/phone/calls/{call.id}/speech/")
    assert events[1]["url"] == "https://cdn.example.com/p/cd34.wav" and "clip" not in events[1]
    assert events[0]["label"] == "label of ab12.wav"
    assert events[2]["path"] == "/voice/step?s=2" and "params" not in events[2]  # no keys echoed back
    assert [e["i"] for e in events] == [0, 1, 2] and not ended


def test_keys_are_checked(phone_app: Flask) -> None:
    phone = Phone(logged_in(phone_app)).start()
    assert phone.press("") == 400
    assert phone.press("1a") == 400
    assert phone.press("1" * 33) == 400
    assert phone.press("*#") == 202
    phone.hang_up()


def test_a_call_belongs_to_the_session_that_placed_it(phone_app: Flask) -> None:
    phone = Phone(logged_in(phone_app)).start()
    other = logged_in(phone_app)
    assert other.get(phone.urls["events"]).status_code == 404
    headers = {"X-CSRF-Token": page_token(other)}
    assert other.post(phone.urls["keys"], json={"keys": "1"}, headers=headers).status_code == 404
    assert other.post(phone.urls["hangup"], headers=headers).status_code == 404
    assert phone.client.get("/admin/phone/calls/nosuchcall/events").status_code == 404
    phone.hang_up()


def test_too_many_calls_at_once_are_refused(tmp_path: Path, admin_app: AppFactory) -> None:
    app = admin_app(tmp_path, ADMIN_PHONE_SPEECH=False, ADMIN_PHONE_MAX_CALLS=1)
    try:
        client = logged_in(app)
        first = Phone(client).start()
        resp = client.post("/admin/phone/calls", headers=first.headers)
        assert resp.status_code == 429 and "in progress" in resp.json["error"]  # type: ignore[index]
        first.hang_up()
        first.wait_for("end")
        admin_state(app).phone.shutdown(timeout=5)
        Phone(client).start().hang_up()
    finally:
        admin_state(app).phone.shutdown()


def test_an_abandoned_call_hangs_up_by_itself(tmp_path: Path, admin_app: AppFactory) -> None:
    app = admin_app(tmp_path, ADMIN_PHONE_SPEECH=False, ADMIN_PHONE_IDLE_TIMEOUT=0.5)
    try:
        phone = Phone(logged_in(app)).start()
        [call] = admin_state(app).phone.calls()
        assert call.join(timeout=5), "the call did not end without a page polling it"
        phone.poll()
        assert phone.ended and phone.events[-1]["event"] == "end" and phone.events[-1]["reason"] == "abandoned"
    finally:
        admin_state(app).phone.shutdown()


def test_logout_hangs_up_the_sessions_calls(phone_app: Flask) -> None:
    client = logged_in(phone_app)
    phone = Phone(client).start()
    phone.wait_for("gather")
    client.post("/admin/logout", data={"csrf_token": phone.headers["X-CSRF-Token"]})
    calls = admin_state(phone_app).phone.calls()
    assert calls and all(c.join(timeout=5) for c in calls)


# -- speech ------------------------------------------------------------------------------------


def test_a_prompts_clip_serves_its_cached_wav(tmp_path: Path, admin_app: AppFactory) -> None:
    made: list[tuple[str, str]] = []

    def synthesize(text: str, language: str) -> bytes:
        made.append((text, language))
        return tone(0.5)

    app = admin_app(tmp_path)
    admin_state(app).phone.speech = SpeechCache(synthesize)
    try:
        phone = Phone(logged_in(app)).start()
        say = phone.wait_for("say", text=WELCOME)
        resp = phone.client.get(say["clip"])
        assert resp.status_code == 200 and resp.mimetype == "audio/wav" and resp.data[:4] == b"RIFF"
        # Once, for the call's timing; in Polly's Mandarin tag as the engine knows it.
        assert made == [(say["text"], "zh-CN")]
        again = phone.client.get(say["clip"])
        assert again.data == resp.data and len(made) == 1
        assert phone.client.get("/admin/phone/tts?text=hi&lang=en-US").status_code == 404  # no words in URLs
        phone.hang_up()
    finally:
        admin_state(app).phone.shutdown()


def test_a_prompt_that_cannot_be_spoken_is_a_422_with_a_json_reason(tmp_path: Path, admin_app: AppFactory) -> None:
    def broken(text: str, language: str) -> bytes:
        raise RuntimeError("no espeak")

    app = admin_app(tmp_path)
    admin_state(app).phone.speech = SpeechCache(broken)
    try:
        phone = Phone(logged_in(app)).start()
        say = phone.wait_for("say", text=WELCOME)
        resp = phone.client.get(say["clip"])
        assert resp.status_code == 422 and "no espeak" in resp.json["error"]  # type: ignore[index]
        phone.hang_up()
    finally:
        admin_state(app).phone.shutdown()


def test_with_speech_a_prompt_lasts_as_long_as_its_audio(tmp_path: Path, admin_app: AppFactory) -> None:
    app = admin_app(tmp_path)
    admin_state(app).phone.speech = SpeechCache(lambda text, language: tone(0.4))
    try:
        phone = Phone(logged_in(app)).start()
        say = phone.wait_for("say", text=WELCOME)
        assert say["seconds"] == pytest.approx(0.4)
        # The server waits out the audio the page plays (0.4 s here), not an estimate from the text.
        assert phone.press("4") == 202
        phone.wait_for("say", text=ECARD)
        phone.hang_up()
    finally:
        admin_state(app).phone.shutdown()


def test_tts_language() -> None:
    assert tts_language("cmn-CN") == "zh-CN" and tts_language("zh-CN") == "zh-CN"
    assert tts_language("en-US") == "en-US" and tts_language("en-GB") == "en-US"
    assert tts_language("fr-FR") == "fr-FR"


# -- the caller on its own ----------------------------------------------------------------------


def test_browser_caller_answers_with_keys_pressed_and_times_out_without() -> None:
    caller = BrowserCaller(RealClock())
    caller.press("4x#")  # anything but DTMF is ignored
    assert caller.wait_key(caller.clock.now() + 1) == "4"
    assert caller.wait_key(caller.clock.now() + 1) == "#"
    started = time.monotonic()
    assert caller.wait_key(caller.clock.now() + 0.3) is None
    assert 0.25 <= time.monotonic() - started < 1.0


def test_browser_caller_takes_a_key_the_moment_it_is_pressed() -> None:
    caller = BrowserCaller(RealClock())
    threading.Timer(0.2, caller.press, args=("7",)).start()
    started = time.monotonic()
    assert caller.wait_key(caller.clock.now() + 5) == "7"
    assert time.monotonic() - started < 1.0


def test_browser_caller_drops_keys_while_nothing_listens_and_says_so() -> None:
    notes: list[tuple[str, str]] = []
    caller = BrowserCaller(RealClock(), note=lambda message, kind: notes.append((message, kind)))
    caller.press("5")
    caller.idle(caller.clock.now() + 0.2)
    assert notes == [("key 5 dropped: nothing was listening for keys", "note")]
    assert caller.wait_key(caller.clock.now() + 0.1) is None


def test_browser_caller_hangs_up_on_request_or_when_abandoned() -> None:
    caller = BrowserCaller(RealClock())
    threading.Timer(0.2, caller.hang_up).start()
    with pytest.raises(CallerHungUp):
        caller.wait_key(caller.clock.now() + 5)
    alive = [True]
    gone = BrowserCaller(RealClock(), alive=lambda: alive[0])
    alive[0] = False
    with pytest.raises(CallerHungUp):
        gone.idle(gone.clock.now() + 5)
    assert gone.hangup_reason == "idle"


def test_browser_caller_records_until_the_finish_key() -> None:
    notes: list[tuple[str, str]] = []
    caller = BrowserCaller(RealClock(), note=lambda message, kind: notes.append((message, kind)))
    caller.begin("record")
    assert notes and notes[0][1] == "recording"
    threading.Timer(0.3, caller.press, args=("1#",)).start()
    seconds, key = caller.record(120, "#", 5)
    assert key == "#" and 0.2 <= seconds < 2
