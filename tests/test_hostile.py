"""Hostile input the random-form fuzz test (test_web_fuzz.py) does not reach, on SQLite and PostgreSQL.

- a flood of wrong passwords on one demo card from many calls at once, served
  by several app instances (workers): the lockout after 6 holds exactly, the
  counter is exact, nobody gets a 500;
- huge values and any Unicode in every form field, at the deep steps a random
  caller never reaches (ID entry, its read-back, password entries, the agent
  transfer, the voicemail recording): always a 200 with XSD-valid TwiML, the
  call still works afterwards, and no card changes;
- raw bodies (bad UTF-8, JSON, multipart, thousands of fields), odd step
  numbers in the URL, and the status callback with absurd values.

Forged signatures are covered by test_web_security.py.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bench.load import Store
from ivr.phone.twiml import Dial, Gather, Record
from ivr.services.seed import demo_card, seed_demo
from ivr.storage.cards import AuditEntry, Voicemail
from ivr.storage.db import Database
from ivr.web import app_state, create_app
from tests.cards_support import BEIJING, NOW, NOW_TEXT, POSTGRES_ENV, card_row, db, db_url
from tests.twiml_tools import Twiml, WebCall, assert_valid_twiml

__all__ = ["db", "db_url"]  # fixtures, imported for pytest

LI = demo_card("Li Na")  # active, password changed
ZHANG = demo_card("Zhang Wei")  # not activated, initial password
AGENT = "+8610123456789"
FIELDS = (
    "From",
    "To",
    "Digits",
    "CallStatus",
    "DialCallStatus",
    "DialCallDuration",
    "RecordingUrl",
    "RecordingDuration",
)


def _url(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


def _app(url: str, tmp_path: Path, *, testing: bool = True) -> Flask:
    """The app on ``url`` with agents on duty and a number to dial; ``testing=False``: a 500 is a 500."""
    return create_app(
        {
            "DATABASE_URL": url,
            "CLOCK": NOW_TEXT,
            "AGENT_NUMBER": AGENT,
            "LOG_LEVEL": "CRITICAL",  # polite apologies are logged as errors; some are expected here
            "AUDIO_DIR": str(tmp_path / "no-audio"),
            "TESTING": testing,
        }
    )


@pytest.fixture
def seeded(db: Database) -> Database:
    """A database of its own for this test, with the demo cardholders (for tests that change cards)."""
    seed_demo(db, NOW, BEIJING)
    return db


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, Database]]:
    """One app and database per back end for the whole module, with the demo cardholders.

    The tests that use it change no card (that is what several of them check),
    so they can share it; seeding costs about 0.4 s (eight scrypt hashes).
    """
    tmp = tmp_path_factory.mktemp("hostile")
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp / 'ivr.db'}", None
    else:
        base = os.environ.get(POSTGRES_ENV)
        if not base:
            pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
        store = Store.postgres(base)
        url, drop = store.url, store.close
    database = Database(url)
    database.upgrade()
    seed_demo(database, NOW, BEIJING)
    app = _app(url, tmp)
    yield app, database
    app_state(app).close()
    database.dispose()
    if drop is not None:
        drop()


@pytest.fixture
def app(shared: tuple[Flask, Database]) -> Flask:
    return shared[0]


@pytest.fixture
def shared_db(shared: tuple[Flask, Database]) -> Database:
    return shared[1]


def caller(client: Any) -> WebCall:
    """A call that checks every answer against Twilio's XSD."""
    return WebCall(client, xsd=True)


# -- a flood of wrong passwords ------------------------------------------------------------------

CALLERS = 16
WORKERS = 4
TRIES = 6
"""Tries a caller keeps on at most: six wrong passwords lock the card, so whichever caller wins the race
to the card's lock most often still hears "locked" within six."""
LEFT = re.compile(r"还可以尝试(\d+)次")


def _flood(call: WebCall, barrier: threading.Barrier, wrong: str) -> list[str]:
    """Key wrong passwords until the card is locked (at most TRIES); what each try heard."""
    heard = []
    barrier.wait(timeout=30)
    for _ in range(TRIES):
        call.press(wrong)
        m = LEFT.search(call.said)
        if m is not None:
            assert call.node == "status_pin"
            heard.append(m.group(1))
        else:
            assert "锁定" in call.said, call.said
            heard.append("locked")
            break
    return heard


def test_a_flood_of_wrong_passwords_locks_the_card_after_exactly_six(seeded: Database, tmp_path: Path) -> None:
    """16 calls on Li Na's card at once, through 4 workers, each keying wrong passwords until it is locked."""
    apps = [_app(_url(seeded), tmp_path) for _ in range(WORKERS)]
    try:
        callers = [caller(apps[i % WORKERS].test_client()) for i in range(CALLERS)]
        for c in callers:
            c.press("3").press(LI.keys).press("1")
            assert c.node == "status_pin"
        barrier = threading.Barrier(CALLERS)
        results: list[list[str] | BaseException] = [[] for _ in range(CALLERS)]

        def run(i: int) -> None:
            try:
                results[i] = _flood(callers[i], barrier, f"{100000 + i:06d}")
            except BaseException as exc:  # re-raised below, in the test's thread
                results[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        heard = [h for r in results if isinstance(r, list) for h in r]
        # Five callers heard "5, 4, 3, 2, 1 tries left", one each; every other try heard "locked".
        assert sorted(h for h in heard if h != "locked") == ["1", "2", "3", "4", "5"]
        assert all(isinstance(r, list) and r[-1] == "locked" for r in results), results
        # A right password now is refused too, and counts nothing.
        late = caller(apps[0].test_client())
        late.press("3").press(LI.keys).press("1").press(LI.pin)
        assert "锁定" in late.said
    finally:
        for a in apps:
            app_state(a).close()
    card = card_row(seeded, LI.id_number)
    assert card.failed_attempts == 6 and card.locked and card.locked_at is not None
    with seeded.session() as s:
        outcomes = dict(
            s.execute(
                select(AuditEntry.outcome, func.count())
                .where(AuditEntry.card_id == card.id, AuditEntry.service == "card.status")
                .group_by(AuditEntry.outcome)
            ).all()
        )
    assert outcomes == {"wrong_password": 5, "locked": len(heard) - 5 + 1}


# -- huge values and Unicode at the deep steps -----------------------------------------------------


def _at(client: Any, state: str) -> WebCall:
    """A new call driven to ``state``: main, id_entry, confirm, pin, new_pin, dial or record."""
    c = caller(client)
    if state == "main":
        return c
    if state in ("id_entry", "confirm", "pin"):
        c.press("3")
        if state != "id_entry":
            c.press(LI.keys)
        if state == "pin":
            c.press("1")
        return c
    if state == "new_pin":
        c.press("1").press(ZHANG.keys).press("1").press(ZHANG.pin)
        assert c.node == "activate_new_pin"
        return c
    c.press("0")
    assert c.node == "agent_transfer"
    if state == "record":
        c.post(Dial, {"DialCallStatus": "busy"})
        c.press("1")
        assert c.node == "voicemail"
    return c


STATES = ("main", "id_entry", "confirm", "pin", "new_pin", "dial", "record")
VERB: dict[str, type[Dial | Record]] = {"dial": Dial, "record": Record}


def _cards_untouched(db: Database) -> None:
    for demo in (LI, ZHANG):
        card = card_row(db, demo.id_number)
        assert card.failed_attempts == 0 and card.status == demo.status, (demo.holder_en, card.failed_attempts)


def _still_works(c: WebCall, state: str, cheap: bool = False) -> None:
    """After the hostile request, the call goes on as usual (``cheap``: without checking a password)."""
    if state in VERB:
        return  # a transfer or recording answered with garbage has moved on; its TwiML was checked
    if state == "pin" and not cheap:
        assert c.node == "status_pin"  # the hostile entry was refused, not counted: ask again
        c.press(LI.pin)
        assert c.node == "status_active"
    else:
        c.press("*")  # repeat, or (in an entry) a wrong key: either way an answer


def _huge(ch: str) -> str:
    """As many ``ch`` as fit in about 7,500 bytes of form encoding: eight such fields fill a 64 KiB body."""
    return ch * (7500 // len(urllib.parse.quote_plus(ch)))


@pytest.mark.parametrize("state", STATES)
def test_huge_values_in_every_field(app: Flask, shared_db: Database, state: str) -> None:
    """Eight fields of about 7,500 encoded bytes each (ASCII, CJK, emoji, bidi and combining marks)."""
    c = _at(app.test_client(), state)
    form = {name: _huge(ch) for name, ch in zip(FIELDS, "9#完😀\u202e1x\u0301", strict=True)}
    form["Digits"] = "1" * 7500
    c.post(VERB.get(state, Gather), form)
    _still_works(c, state)
    _cards_untouched(shared_db)


def test_a_body_over_the_limit_is_refused_not_served(app: Flask) -> None:
    resp = app.test_client().post("/voice", data={"CallSid": "CAbig", "From": "9" * 70_000})
    assert resp.status_code == 413  # documented (IVR_MAX_BODY_BYTES); Twilio never sends such a body


# Any text without lone surrogates (a form cannot carry those), short or long.
_text = st.one_of(st.text(max_size=60), st.text(min_size=500, max_size=3000), st.sampled_from(["", "\x00", "０"]))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.fixed_dictionaries({}, optional={name: _text for name in FIELDS}))
@pytest.mark.parametrize("state", STATES)
def test_any_unicode_in_any_field_at_every_step(
    app: Flask, shared_db: Database, state: str, form: dict[str, str]
) -> None:
    c = _at(app.test_client(), state)
    c.post(VERB.get(state, Gather), form)
    _still_works(c, state, cheap=True)
    _cards_untouched(shared_db)


def test_nul_characters_are_dropped_on_every_store(app: Flask, shared_db: Database) -> None:
    """NUL is never part of a real parameter (and PostgreSQL text cannot hold it): it is dropped, the call goes on."""
    client = app.test_client()
    for form in ({"CallSid": "CAnul", "From": "+86\x00138"}, {"CallSid": "CA\x00nul2"}):
        resp = client.post("/voice", data=form)
        assert resp.status_code == 200
        assert_valid_twiml(resp.data)
        answer = Twiml.parse(resp.data)
        assert answer.find(Gather) is not None and "temporarily unavailable" not in answer.said


# -- raw bodies, odd URLs ----------------------------------------------------------------------------

_BODIES: list[tuple[str, dict[str, Any]]] = [
    (
        "bad UTF-8",
        {"data": b"CallSid=CA%FF%FE&From=%C0%80&Digits=%ED%A0%80", "content_type": "application/x-www-form-urlencoded"},
    ),
    ("JSON", {"json": {"CallSid": "CAjson", "Digits": "1"}}),
    ("plain text", {"data": "CallSid=CAtext", "content_type": "text/plain"}),
    (
        "multipart with a file",
        {"data": {"CallSid": "CAmp", "f": (None, "x" * 1000)}, "content_type": "multipart/form-data"},
    ),
    ("6,000 fields", {"data": {**{f"f{i}": "x" for i in range(6000)}, "CallSid": "CAmany"}}),
    (
        "a repeated CallSid",
        {
            "data": "CallSid=CArep1&CallSid=CArep2&Digits=1&Digits=2",
            "content_type": "application/x-www-form-urlencoded",
        },
    ),
]


@pytest.mark.parametrize(("label", "kwargs"), _BODIES, ids=[b[0] for b in _BODIES])
@pytest.mark.parametrize("path", ["/voice", "/voice/step?s=1"])
def test_odd_bodies_get_valid_twiml(app: Flask, path: str, label: str, kwargs: dict[str, Any]) -> None:
    resp = app.test_client().post(path, **kwargs)
    assert resp.status_code == 200, (label, resp.status_code)
    assert_valid_twiml(resp.data)


@pytest.mark.parametrize(
    "query",
    ["s=" + "1" * 5000, "s=-0", "s=+1", "s=1e3", "s=%EF%BC%91", "s=%D9%A3", "s=1&s=2", "s=1&timeout=完", "s=1%00"],
)
def test_odd_step_numbers_get_valid_twiml(app: Flask, query: str) -> None:
    client = app.test_client()
    client.post("/voice", data={"CallSid": "CAodd"})
    resp = client.post(f"/voice/step?{query}", data={"CallSid": "CAodd", "Digits": "1"})
    assert resp.status_code == 200
    assert_valid_twiml(resp.data)


# -- absurd numbers where the app expects small ones ---------------------------------------------------


def test_a_voicemail_with_an_absurd_duration_is_clamped_and_kept(app: Flask, shared_db: Database) -> None:
    """A duration past anything Twilio sends (calls end after 4 hours) is clamped; the message is still kept."""
    c = _at(app.test_client(), "record")
    c.post(Record, {"RecordingUrl": "https://example.invalid/r", "RecordingDuration": "9" * 25})
    assert c.node == "voicemail_saved"
    with shared_db.session() as s:
        seconds = s.scalars(select(Voicemail.seconds).where(Voicemail.call_sid == c.sid)).all()
    assert seconds == [4 * 3600]


def test_a_status_callback_with_an_absurd_duration_closes_the_call(shared_db: Database, tmp_path: Path) -> None:
    app = _app(_url(shared_db), tmp_path, testing=False)  # a 500 as Twilio would get it, not a raised exception
    try:
        c = caller(app.test_client())
        c.press("3").press(LI.keys).press("1")
        resp = app.test_client().post(
            "/status", data={"CallSid": c.sid, "CallStatus": "completed", "CallDuration": "9" * 25}
        )
    finally:
        app_state(app).close()
    assert resp.status_code == 204, resp.status_code
