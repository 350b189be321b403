"""A hostile probe of the admin dashboard and its browser phone (issue 15, items 2, 8, 9 and 10).

- ``next`` after the login: CR, LF, NUL, tab, odd unicode, other hosts: always
  a polite redirect to the overview, never a 500 or a header of the prober's;
- guessing the password: per address, per browser and for everyone at once,
  counted in the store by every app instance alike (SQLite and PostgreSQL),
  also from rotating ``X-Forwarded-For`` addresses behind a trusted proxy;
- the session cookie is Secure whenever the request came over https;
- the phone's speech: fetched by an opaque per-call reference, one clip per
  prompt, nothing of a read-back in a URL; one text the engine cannot say does
  not silence the others.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect
from werkzeug.test import TestResponse

from ivr.phone import twiml
from ivr.storage.db import Database
from ivr.storage.throttle import LoginFailures, Tally
from ivr.tts import TTSError
from ivr.web.admin.blueprint import admin_state
from ivr.web.admin.throttle import Limits, LoginThrottle, client_key
from ivr.web.admin.webphone_clips import PlayRuns
from ivr.web.admin.webphone_speech import SpeechCache, SpeechUnavailable, UnspeakableText, wav_seconds
from ivr.web.logs import JsonFormatter
from tests.cards_support import db, db_url
from tests.test_admin import PASSWORD, admin_app, admin_config, form_token, logged_in, set_cookie
from tests.test_phone import Phone
from tests.test_tts import tone
from tests.twiml_tools import WebCall
from tests.webapp import AppFactory

__all__ = ["admin_app", "db", "db_url"]  # fixtures, imported for pytest

PROXY = "10.0.0.1"
"""The trusted proxy's own address: what REMOTE_ADDR is before ProxyFix."""


def attempt(client: FlaskClient, password: str, *, via: str | None = None, **extra: Any) -> TestResponse:
    """One login POST with the form's CSRF token, from ``via`` (an X-Forwarded-For address) if given."""
    token = form_token(client.get("/admin/login"))
    headers = {"X-Forwarded-For": via} if via else {}
    return client.post(
        "/admin/login",
        data={"csrf_token": token, "password": password, **extra},
        headers=headers,
        environ_base={"REMOTE_ADDR": PROXY} if via else {},
    )


# -- item 2: where a login goes -------------------------------------------------------------


HOSTILE_NEXT = [
    "/admin/\r\nSet-Cookie: planted=1",
    "/admin/calls\rX-Evil: 1",
    "/admin/calls\nX-Evil: 1",
    "/admin/%0d%0aSet-Cookie:%20planted=1",  # encoded once more: decoded, it would be CR LF again
    "/admin/\x00",
    "/admin/calls\t",
    "/admin/\u2028x",  # a line separator
    "/admin/\u202ecalls",  # a right-to-left override
    "/admin/ calls",
    "//evil.example/admin/",
    "/\\evil.example",
    "/admin\\..\\voice",
    "/admin//evil.example",
    "https://evil.example/admin/",
    "javascript:alert(1)",
    "/admin/../voice",
    "/admin/%2e%2e/voice",
    "/administrator",
    "/voice",
    "x" * 3000,
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_a_hostile_next_after_the_login_goes_to_the_overview(admin_app: AppFactory, target: str) -> None:
    client = admin_app().test_client()
    shown = client.get("/admin/login", query_string={"next": target})
    assert shown.status_code == 200
    assert 'name="next" value=""' in shown.get_data(as_text=True)  # the form does not carry it on
    resp = attempt(client, PASSWORD, next=target)
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"
    assert "planted" not in str(resp.headers)
    # Logged in already, the login form sends a hostile next to the overview too.
    again = client.get("/admin/login", query_string={"next": target})
    assert again.status_code == 302 and again.headers["Location"] == "/admin/"


def test_a_raw_crlf_in_the_login_url_is_a_redirect_not_a_500(admin_app: AppFactory) -> None:
    client = logged_in(admin_app())
    resp = client.get("/admin/login?next=/admin/%0d%0aSet-Cookie:%20planted=1")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/admin/nodes", "/admin/nodes"),
        ("/admin/calls?window=24h", "/admin/calls?window=24h"),
        ("/admin", "/admin"),
        ("/admin/calls/CA测试", "/admin/calls/CA%E6%B5%8B%E8%AF%95"),  # unicode, %-encoded for the header
    ],
)
def test_a_plain_admin_path_is_followed(admin_app: AppFactory, target: str, location: str) -> None:
    resp = attempt(admin_app().test_client(), PASSWORD, next=target)
    assert resp.status_code == 302 and resp.headers["Location"] == location


@pytest.mark.parametrize(
    "path",
    ["/admin/calls/CA%0d%0aX-Evil:%201", "/admin/calls?window=24h%0d%0aX-Evil:%201", "/admin/calls/CA%00"],
)
def test_the_login_redirect_of_a_weird_path_carries_no_header_break(admin_app: AppFactory, path: str) -> None:
    client = admin_app().test_client()
    resp = client.get(path)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/admin/login") and "\r" not in location and "\n" not in location
    assert "X-Evil" not in resp.headers
    # Logging in from there lands on the overview: the broken path is not followed.
    token = form_token(client.get(location))
    final = client.post(location, data={"csrf_token": token, "password": PASSWORD})
    assert final.status_code == 302 and final.headers["Location"] == "/admin/"


def test_the_login_redirect_keeps_a_plain_path_and_its_query(admin_app: AppFactory) -> None:
    client = admin_app().test_client()
    location = client.get("/admin/calls?window=24h").headers["Location"]
    assert location == "/admin/login?next=/admin/calls?window%3D24h"
    resp = attempt(client, PASSWORD, next="/admin/calls?window=24h")
    assert resp.headers["Location"] == "/admin/calls?window=24h"


# -- item 10: guessing the password -------------------------------------------------------


def test_rotating_forwarded_addresses_meet_the_global_brake(admin_app: AppFactory) -> None:
    client = admin_app(TRUSTED_PROXIES=1).test_client()
    statuses = [attempt(client, "guess", via=f"203.0.113.{i}").status_code for i in range(25)]
    assert statuses[:20] == [401] * 20  # every address is new: only the global count can stop them
    assert 429 in statuses[20:], statuses
    refused = attempt(client, "guess", via="198.51.100.7")
    assert refused.status_code == 429 and "Too many failed logins" in refused.get_data(as_text=True)
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    # The right password from a new address waits too: the brake cannot tell who is guessing.
    assert attempt(client, PASSWORD, via="198.51.100.8").status_code == 429


def test_one_address_gets_five_tries_a_minute(admin_app: AppFactory) -> None:
    client = admin_app(TRUSTED_PROXIES=1).test_client()
    for _ in range(5):
        assert attempt(client, "guess", via="203.0.113.9").status_code == 401
    refused = attempt(client, PASSWORD, via="203.0.113.9")
    assert refused.status_code == 429 and 50 <= int(refused.headers["Retry-After"]) <= 60
    assert attempt(client, PASSWORD, via="203.0.113.10").status_code == 302  # another address is not held back


def test_an_ipv6_subscriber_cannot_rotate_within_its_64(admin_app: AppFactory) -> None:
    client = admin_app(TRUSTED_PROXIES=1).test_client()
    statuses = [attempt(client, "guess", via=f"2001:db8:1:2::{i:x}").status_code for i in range(1, 8)]
    assert statuses == [401] * 5 + [429] * 2
    assert client_key("2001:db8:1:2::ff") == client_key("2001:db8:1:2:abcd::1") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1" and client_key("not an address") == "not an address"


def test_a_browser_that_logged_in_before_is_not_held_back_by_the_global_brake(admin_app: AppFactory) -> None:
    app = admin_app(TRUSTED_PROXIES=1)
    operator = app.test_client()
    assert attempt(operator, PASSWORD, via="192.0.2.50").status_code == 302
    attacker = app.test_client()
    for i in range(22):
        attempt(attacker, "guess", via=f"203.0.113.{i}")
    assert attempt(attacker, "guess", via="203.0.113.200").status_code == 429
    # The operator's browser carries its device cookie: it logs in, from wherever it is.
    operator.delete_cookie("ivr_admin", path="/admin")
    assert attempt(operator, PASSWORD, via="198.51.100.1").status_code == 302
    # Its login cleared its own failures only: the attackers' still brake everyone else.
    assert attempt(app.test_client(), PASSWORD, via="198.51.100.2").status_code == 429
    # A forged device cookie is worth nothing.
    forger = app.test_client()
    forger.set_cookie("ivr_admin_device", "IjEyMzQ1Njc4OTBhYmNkZWYi.forged.forged", path="/admin/login")
    assert attempt(forger, PASSWORD, via="198.51.100.3").status_code == 429


def test_a_new_password_keeps_the_operators_browsers_exempt(admin_app: AppFactory) -> None:
    operator = admin_app(TRUSTED_PROXIES=1).test_client()
    assert attempt(operator, PASSWORD, via="192.0.2.50").status_code == 302
    device = operator.get_cookie("ivr_admin_device", path="/admin/login")
    assert device is not None
    attacker = admin_app(TRUSTED_PROXIES=1).test_client()
    for i in range(22):
        attempt(attacker, "guess", via=f"203.0.113.{i}")
    # The password leaked, so the operator changes it during the attack: its known browser still gets in.
    changed = admin_app(TRUSTED_PROXIES=1, ADMIN_PASSWORD="a brand-new password")
    client = changed.test_client()
    client.set_cookie("ivr_admin_device", device.value, path="/admin/login")
    assert attempt(client, "a brand-new password", via="198.51.100.2").status_code == 302
    # The old password is worth nothing, cookie or not.
    client.delete_cookie("ivr_admin", path="/admin")
    assert attempt(client, PASSWORD, via="198.51.100.2").status_code == 401
    # A browser without the cookie waits out the brake.
    assert attempt(changed.test_client(), "a brand-new password", via="198.51.100.3").status_code == 429


def test_a_known_browser_is_still_limited_to_five_tries_a_minute(admin_app: AppFactory) -> None:
    client = admin_app(TRUSTED_PROXIES=1).test_client()
    assert attempt(client, PASSWORD, via="192.0.2.50").status_code == 302
    client.delete_cookie("ivr_admin", path="/admin")
    statuses = [attempt(client, "guess", via=f"203.0.113.{i}").status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2  # its device id is counted, whatever address it uses


def test_the_global_wait_grows_and_is_bounded() -> None:
    limits = Limits()
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def wait(total: int, ago: float = 0.0) -> float:
        tally = Tally(client=(), device=(), total=total, latest=now - dt.timedelta(seconds=ago))
        return limits.wait(tally, now, known_device=False)

    assert wait(19) == 0
    assert [wait(n) for n in (20, 21, 22, 25, 26, 40, 10_000)] == [5, 10, 20, 160, 300, 300, 300]
    assert wait(21, ago=4) == 6 and wait(21, ago=11) <= 0  # counted from the latest failure
    known = Tally(client=(), device=(), total=10_000, latest=now)
    assert limits.wait(known, now, known_device=True) == 0


def test_a_right_password_clears_its_own_failures(admin_app: AppFactory) -> None:
    client = admin_app().test_client()
    for _ in range(4):
        assert attempt(client, "typo").status_code == 401
    assert attempt(client, PASSWORD).status_code == 302
    client.delete_cookie("ivr_admin", path="/admin")
    for _ in range(5):
        assert attempt(client, "typo").status_code == 401  # five again, not one


def test_the_session_cookie_is_secure_over_https_through_a_trusted_proxy(admin_app: AppFactory) -> None:
    client = admin_app(TRUSTED_PROXIES=1).test_client()
    token = form_token(client.get("/admin/login", headers={"X-Forwarded-Proto": "https"}))
    resp = client.post(
        "/admin/login",
        data={"csrf_token": token, "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.1"},
    )
    assert resp.status_code == 302
    assert "Secure" in set_cookie(resp) and "Secure" in set_cookie(resp, "ivr_admin_device")
    plain = admin_app(TRUSTED_PROXIES=1).test_client()
    resp = attempt(plain, PASSWORD, via="192.0.2.1")
    assert "Secure" not in set_cookie(resp)  # plain-http development keeps a cookie that comes back
    # Without a trusted proxy, a client's own X-Forwarded-Proto is not believed.
    direct = admin_app().test_client()
    token = form_token(direct.get("/admin/login"))
    resp = direct.post(
        "/admin/login", data={"csrf_token": token, "password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "Secure" not in set_cookie(resp)


def test_with_the_store_down_the_throttle_counts_in_memory(tmp_path: Path, admin_app: AppFactory) -> None:
    (tmp_path / "ivr.db").mkdir()  # SQLite cannot open a directory
    client = admin_app(tmp_path).test_client()
    for _ in range(5):
        assert attempt(client, "guess").status_code == 401
    assert attempt(client, PASSWORD).status_code == 429


# -- item 10: the count in the store, shared ---------------------------------------------


def _two_apps(make_app: AppFactory, tmp_path: Path, db_url: str) -> list[Flask]:
    apps = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        apps.append(make_app(tmp_path / name, DATABASE_URL=db_url, **admin_config()))
    return apps


def test_two_app_instances_share_the_count(make_app: AppFactory, tmp_path: Path, db_url: str) -> None:
    one, two = (app.test_client() for app in _two_apps(make_app, tmp_path, db_url))
    for client in (one, two, one, two, one):
        assert attempt(client, "guess").status_code == 401
    assert attempt(two, PASSWORD).status_code == 429
    assert attempt(one, PASSWORD).status_code == 429


def test_concurrent_guesses_on_two_instances_get_exactly_five_through(
    make_app: AppFactory, tmp_path: Path, db_url: str
) -> None:
    apps = _two_apps(make_app, tmp_path, db_url)
    clients = [apps[i % 2].test_client() for i in range(12)]
    tokens = [form_token(c.get("/admin/login")) for c in clients]
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(clients))

    def guess(client: FlaskClient, token: str) -> None:
        start.wait()
        status = client.post("/admin/login", data={"csrf_token": token, "password": "guess"}).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [401] * 5 + [429] * 7, statuses


def test_the_migration_makes_the_table_and_old_rows_are_deleted(db: Database) -> None:
    with db.session() as s:
        assert "login_failures" in inspect(s.connection()).get_table_names()
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    now = [start]
    throttle = LoginThrottle(LoginFailures(db), clock=lambda: now[0])
    waits = []
    for i in range(30):
        now[0] = start + dt.timedelta(seconds=i)
        waits.append(throttle.admit(f"192.0.2.{i}"))
    # The brake from the 21st: 5 s after the latest failure; the one let through then re-arms it for 10 s.
    assert waits == [0] * 20 + [4, 3, 2, 1, 0, 9, 8, 7, 6, 5], waits
    assert throttle.store is not None and throttle.store.count() == 21
    assert throttle.admit("192.0.2.99") > 0  # the global brake, from the store's count
    now[0] = start + dt.timedelta(hours=2)
    assert throttle.admit("192.0.2.99") == 0
    assert throttle.store.count() == 1  # the old rows went; the new attempt is counted


def test_failures_are_counted_per_client_in_utc_across_zones(db: Database) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    now = [dt.datetime(2026, 12, 1, 17, 0, tzinfo=beijing)]
    throttle = LoginThrottle(LoginFailures(db), clock=lambda: now[0])
    for _ in range(5):
        assert throttle.admit("192.0.2.1") == 0
    assert LoginFailures(db).count() == 5  # in the store, not in the fallback's memory
    assert 59 <= throttle.admit("192.0.2.1") <= 60
    now[0] = now[0].astimezone(dt.UTC) + dt.timedelta(seconds=61)
    assert throttle.admit("192.0.2.1") == 0


# -- item 8: the phone's speech by reference -----------------------------------------------

ID = "11010519491231002X"
KEYED_ID = ID[:-1] + "*"
SPACED_ID = " ".join(ID)


def next_event(phone: Phone, after: int, test: Callable[[dict[str, Any]], bool]) -> tuple[int, dict[str, Any]]:
    """The first event past number ``after`` that passes ``test``, and its number."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for i in range(after + 1, len(phone.events)):
            if test(phone.events[i]):
                return i, phone.events[i]
        if phone.ended:
            break
        phone.poll()
    raise AssertionError(f"no such event after {after}: {[e['event'] for e in phone.events[after + 1 :]]}")


def read_back(phone: Phone) -> tuple[int, dict[str, Any]]:
    """Through the activation menu to the ID number's read-back: its first prompt event, and its number."""
    at, _ = next_event(phone, -1, lambda e: e["event"] == "gather")
    assert phone.press("1") == 202
    at, _ = next_event(phone, at, lambda e: e["event"] == "request" and e.get("node") == "activate_id")
    at, _ = next_event(phone, at, lambda e: e["event"] == "gather")
    assert phone.press(KEYED_ID) == 202
    at, _ = next_event(phone, at, lambda e: e["event"] == "input")
    return next_event(phone, at, lambda e: e["event"] in ("say", "play") and e.get("clip") is not None)


@pytest.fixture
def speaking_app(tmp_path: Path, admin_app: AppFactory) -> Iterator[Flask]:
    """The dashboard with a stand-in speech engine (half a second of silence for every prompt)."""
    app = admin_app(tmp_path)
    admin_state(app).phone.speech = SpeechCache(lambda text, language: tone(0.5))
    yield app
    admin_state(app).phone.shutdown()


class Records(logging.Handler):
    """Every log record of ivr, formatted with its fields (what a log file would hold)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_a_read_back_is_fetched_by_an_opaque_reference_and_never_logged(speaking_app: Flask) -> None:
    records = Records()
    logger = logging.getLogger("ivr")
    level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    try:
        phone = Phone(logged_in(speaking_app)).start()
        _, say = read_back(phone)
        assert say["event"] == "say" and SPACED_ID in say["text"]  # the transcript shows it, as a caller hears it
        assert re.fullmatch(rf"/admin/phone/calls/{re.escape(phone.urls['id'])}/speech/[\w-]{{22}}", say["clip"])
        audio = phone.client.get(say["clip"])
        assert audio.status_code == 200 and audio.mimetype == "audio/wav"
        assert audio.headers["Cache-Control"] == "no-store"  # a read-back is not kept in the browser's cache
        phone.hang_up()
        # The same words in another call: another reference (not a hash of the words, which could be guessed).
        other = Phone(logged_in(speaking_app)).start()
        _, again = read_back(other)
        assert again["text"] == say["text"] and again["clip"].rsplit("/", 1)[1] != say["clip"].rsplit("/", 1)[1]
        other.hang_up()
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    logged = "\n".join(records.lines)
    assert "/speech/" in logged  # the access log saw the fetches...
    for form in (ID, KEYED_ID, SPACED_ID, ID[6:14]):
        assert form not in logged, form  # ...and nothing of the ID number


def test_a_calls_clips_are_its_sessions_only(speaking_app: Flask) -> None:
    phone = Phone(logged_in(speaking_app)).start()
    _, say = next_event(phone, -1, lambda e: e["event"] == "say")
    assert phone.client.get(say["clip"]).status_code == 200
    assert logged_in(speaking_app).get(say["clip"]).status_code == 404  # another session
    assert speaking_app.test_client().get(say["clip"]).status_code == 401  # nobody's
    guessed = say["clip"].rsplit("/", 1)[0] + "/" + "A" * 22
    assert phone.client.get(guessed).status_code == 404
    phone.hang_up()


def test_a_run_of_files_is_one_clip(rendered: tuple[Path, Any], tmp_path: Path, admin_app: AppFactory) -> None:
    app = admin_app(tmp_path, AUDIO_DIR=str(rendered[0]), ADMIN_PHONE_SPEECH=False)
    # What the read-back plays, as the webhook answers it to a call of its own.
    web = WebCall(app.test_client())
    web.press("1").press(KEYED_ID)
    files = [p.text or "" for p in ET.fromstring(web.twiml).iterfind("Gather/Play")]
    assert len(files) >= 19
    expected = 0.0
    for name in files:
        with app.test_client().get(name) as served:  # closed: send_file holds the file open
            expected += wav_seconds(served.data)
    try:
        phone = Phone(logged_in(app)).start()
        at, first = read_back(phone)
        assert first["event"] == "play" and "url" not in first
        clip = phone.client.get(first["clip"])
        assert clip.status_code == 200
        assert wav_seconds(clip.data) == pytest.approx(expected, abs=0.05)  # every file of the run, in one clip
        _, second = next_event(phone, at, lambda e: e["event"] == "play")
        assert second.get("part") is True and "clip" not in second and "url" not in second
        phone.hang_up()
    finally:
        admin_state(app).phone.shutdown()
    assert not [e for e in phone.events if "/audio/" in json.dumps(e)]  # no file name reaches the page


def test_runs_of_files_follow_the_document() -> None:
    doc = twiml.parse_twiml(
        "<Response><Say>hi</Say><Play>/a/1.wav</Play><Play>/a/2.wav</Play><Pause/><Play>/a/3.wav</Play>"
        '<Gather><Play loop="2">/a/4.wav</Play><Play>/a/5.wav</Play></Gather>'
        "<Play>https://cdn.example.com/6.wav</Play><Play>/a/7.wav</Play></Response>"
    )
    runs = PlayRuns.of(doc, "http://localhost/voice", lambda url: url.startswith("http://localhost/"))
    base = "http://localhost/a/"
    assert runs.at(base + "1.wav") == ((base + "1.wav", 1), (base + "2.wav", 1))
    assert runs.at(base + "2.wav") is None  # in the clip of the run above
    assert runs.at(base + "3.wav") == ((base + "3.wav", 1),)
    assert runs.at(base + "4.wav") == ((base + "4.wav", 2), (base + "5.wav", 1))
    assert runs.at(base + "5.wav") is None
    assert runs.at(base + "7.wav") == ((base + "7.wav", 1),)  # after a file elsewhere: a run of its own
    assert runs.at("http://localhost/answer") == (("http://localhost/answer", 1),)  # not in the document


# -- item 9: one bad text does not silence the phone -----------------------------------------


class Engine:
    """A stand-in speech engine that fails on the texts ``fails`` says, like espeak on control characters."""

    def __init__(self, fails: Callable[[str], bool] = lambda text: False, error: type[Exception] = TTSError) -> None:
        self.fails = fails
        self.error = error
        self.asked: list[str] = []

    def __call__(self, text: str, language: str) -> bytes:
        self.asked.append(text)
        if self.fails(text):
            raise self.error(f"the speech engine failed 3 times to say {text!r}: the audio is silent")
        return tone(0.2)


def test_control_characters_never_reach_the_engine() -> None:
    engine = Engine(fails=lambda text: any(ord(ch) < 32 for ch in text))
    cache = SpeechCache(engine)
    with pytest.raises(UnspeakableText, match="nothing to say"):
        cache.wav("\x00\x01", "en-US")
    assert engine.asked == []
    assert cache.wav("hello\x00\r\nworld\u202e", "en-US")[:4] == b"RIFF"
    assert engine.asked == ["hello world"]
    assert cache.wav("hello world", "en-US") and len(engine.asked) == 1  # the same prompt, cached


def test_a_text_the_engine_cannot_say_does_not_silence_the_others() -> None:
    engine = Engine(fails=lambda text: text == "bad")
    cache = SpeechCache(engine)
    for _ in range(5):
        with pytest.raises(UnspeakableText):
            cache.wav("bad", "en-US")
    assert engine.asked == ["bad"]  # remembered: not tried again
    for word in ("one", "two", "three", "four"):
        assert cache.wav(word, "en-US")[:4] == b"RIFF"


def test_failures_are_remembered_within_a_bound() -> None:
    engine = Engine(fails=lambda text: text.startswith("bad"))
    cache = SpeechCache(engine, max_failures=3, broken_after=100)
    for i in range(5):
        with pytest.raises(UnspeakableText):
            cache.wav(f"bad {i}", "en-US")
        cache.wav(f"good {i}", "en-US")
    with pytest.raises(UnspeakableText):
        cache.wav("bad 0", "en-US")  # forgotten (only 3 are kept), so asked again
    assert engine.asked.count("bad 0") == 2 and engine.asked.count("bad 4") == 1


def test_a_broken_engine_stops_all_speech_for_a_while() -> None:
    engine = Engine(fails=lambda text: True)
    cache = SpeechCache(engine, retry_after=0.2)
    for word in ("one", "two"):
        with pytest.raises(UnspeakableText):
            cache.wav(word, "en-US")
    with pytest.raises(SpeechUnavailable) as third:
        cache.wav("three", "en-US")
    assert not isinstance(third.value, UnspeakableText) and "3 different prompts" in str(third.value)
    asked = len(engine.asked)
    with pytest.raises(SpeechUnavailable):
        cache.wav("four", "en-US")
    assert len(engine.asked) == asked  # not asked while it is off
    time.sleep(0.3)
    engine.fails = lambda text: False
    assert cache.wav("four", "en-US")[:4] == b"RIFF"


def test_an_engine_that_cannot_start_stops_all_speech_at_once() -> None:
    cache = SpeechCache(Engine(fails=lambda text: True, error=ImportError))
    with pytest.raises(SpeechUnavailable, match="cannot start") as first:
        cache.wav("one", "en-US")
    assert not isinstance(first.value, UnspeakableText)


def test_an_engines_error_never_quotes_a_read_backs_digits(caplog: pytest.LogCaptureFixture) -> None:
    cache = SpeechCache(Engine(fails=lambda text: True))
    logger = logging.getLogger("ivr")
    logger.propagate = True
    try:
        with caplog.at_level(logging.WARNING, logger="ivr"), pytest.raises(UnspeakableText) as refused:
            cache.wav(f"您输入的身份证号码是{SPACED_ID}，确认请按1", "cmn-CN")
    finally:
        logger.propagate = False
    assert "***" in str(refused.value)
    for shown in (str(refused.value), caplog.text):
        assert "1 1 0 1" not in shown and "1 2 3 1" not in shown


def test_one_prompt_that_fails_leaves_the_calls_other_prompts_spoken(tmp_path: Path, admin_app: AppFactory) -> None:
    app = admin_app(tmp_path)
    admin_state(app).phone.speech = SpeechCache(Engine(fails=lambda text: "欢迎" in text))
    try:
        phone = Phone(logged_in(app)).start()
        at, welcome = next_event(phone, -1, lambda e: e["event"] == "say")
        refused = phone.client.get(welcome["clip"])
        assert refused.status_code == 422 and "this prompt" in refused.json["error"]  # type: ignore[index]
        assert phone.press("4") == 202  # the menu listens while its prompt plays
        _, ecard = next_event(phone, at, lambda e: e["event"] == "say" and "电子社保卡" in e["text"])
        assert phone.client.get(ecard["clip"]).status_code == 200
        phone.hang_up()
    finally:
        admin_state(app).phone.shutdown()
