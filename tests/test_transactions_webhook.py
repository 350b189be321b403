"""The self-service transactions through the Flask webhook, on SQLite and PostgreSQL.

Each call follows the ``s=`` step URLs of the TwiML it gets back, as Twilio
does.  The app runs at a fixed clock (Monday 2026-11-23 10:00 Beijing time)
and speaks every prompt with <Say>, so the tests can read what the caller hears.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import String, Text, inspect, select, text
from sqlalchemy.orm import Session

from ivr.phone.twiml import Record
from ivr.storage.cards import AuditEntry, LossReport, Voicemail, verify_pin
from ivr.storage.db import Database
from ivr.web import app_state
from tests.cards_support import CALLER, card_row, create_test_app, db, db_url, keys, make_card
from tests.twiml_tools import WebCall

__all__ = ["db", "db_url"]  # fixtures, imported for pytest

NEW_PIN = "246813"


def url_of(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


@pytest.fixture
def app(db: Database, tmp_path: Path) -> Iterator[Flask]:
    """The webhook on the test database."""
    application = create_test_app(url_of(db), tmp_path)
    yield application
    app_state(application).close()


def test_the_app_binds_every_service(app: Flask) -> None:
    registry = app_state(app).registry
    assert {name for name in registry if registry.handler(name) is not None} == set(registry)


def test_activation_by_phone(app: Flask, db: Database) -> None:
    id_number = make_card(db, pin="135790", x=True)
    p = WebCall(app.test_client())
    p.press("1").press(keys(id_number))
    assert " ".join(id_number) in p.said  # read back for confirmation, X included
    p.press("1").press("135790").press(NEW_PIN).press(NEW_PIN)
    assert p.node == "activate_ok"
    assert "激活成功" in p.said
    card = card_row(db, id_number)
    assert card.status == "active" and card.pin_changed and verify_pin(NEW_PIN, card.pin_hash)


def test_wrong_password_by_phone_says_how_many_tries_are_left(app: Flask, db: Database) -> None:
    id_number = make_card(db, pin="135790")
    p = WebCall(app.test_client())
    p.press("1").press(id_number).press("1").press("999999").press(NEW_PIN).press(NEW_PIN)
    assert "还可以尝试5次" in p.said
    assert p.node == "activate_pin"
    assert card_row(db, id_number).failed_attempts == 1


def test_unknown_card_by_phone(app: Flask, db: Database) -> None:
    p = WebCall(app.test_client())
    p.press("3").press("110101199001011237").press("1").press("135790")
    assert p.node == "card_not_found"


def test_loss_report_by_phone_speaks_the_stored_reference(app: Flask, db: Database) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    p = WebCall(app.test_client())
    p.press("2").press("1").press(id_number).press("1").press("802461")
    assert p.node == "loss_reported_next"
    with db.session() as s:
        [report] = s.scalars(select(LossReport)).all()
    assert " ".join(report.reference) in p.said
    assert "2026年12月14日" in p.said
    assert report.call_sid == p.sid
    with db.session() as s:
        [row] = s.scalars(select(AuditEntry).where(AuditEntry.call_sid == p.sid)).all()
    assert (row.service, row.outcome) == ("card.report_loss", "reported")


@pytest.mark.parametrize(
    ("status", "pin_changed", "node"),
    [("active", False, "loss_initial_password"), ("not_activated", False, "loss_not_active")],
)
def test_loss_report_refusals_by_phone(app: Flask, db: Database, status: str, pin_changed: bool, node: str) -> None:
    id_number = make_card(db, pin="135790", status=status, pin_changed=pin_changed)
    p = WebCall(app.test_client())
    p.press("2").press("1").press(id_number).press("1").press("135790")
    assert p.node == node
    with db.session() as s:
        assert s.scalars(select(LossReport)).all() == []


def test_status_by_phone_reads_the_expiry_of_a_loss_report(app: Flask, db: Database) -> None:
    import datetime as dt

    id_number = make_card(db, pin="802461", status="reported_lost", pin_changed=True, since=dt.date(2026, 11, 20))
    p = WebCall(app.test_client())
    p.press("3").press(id_number).press("1").press("802461")
    assert p.node == "status_reported_lost"
    assert "2026年12月11日" in p.said


def test_lockout_holds_across_calls_and_workers(db: Database, tmp_path: Path) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    workers = [create_test_app(url_of(db), tmp_path) for _ in range(2)]
    try:
        for attempt in range(6):
            # Each wrong try is its own call, served by alternating workers.
            p = WebCall(workers[attempt % 2].test_client())
            p.press("3").press(id_number).press("1").press(f"11111{attempt}")
            if attempt < 5:
                assert f"还可以尝试{5 - attempt}次" in p.said
        assert "锁定" in p.said
        assert p.node in ("agent_transfer", "agent_busy")
        p = WebCall(workers[0].test_client())
        p.press("2").press("1").press(id_number).press("1").press("802461")
        assert "锁定" in p.said
    finally:
        for w in workers:
            app_state(w).close()
    card = card_row(db, id_number)
    assert card.locked and card.status == "active"


def test_voicemail_by_phone_out_of_hours(db: Database, tmp_path: Path) -> None:
    app = create_test_app(url_of(db), tmp_path, clock="2026-11-22T21:00:00+08:00")  # a Sunday evening
    try:
        p = WebCall(app.test_client())
        p.press("0")
        assert p.node == "agent_closed"
        p.press("1")
        assert p.find(Record) is not None
        p.record("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", 23)
        assert p.node == "voicemail_saved"
    finally:
        app_state(app).close()
    with db.session() as s:
        [vm] = s.scalars(select(Voicemail)).all()
    assert (vm.call_sid, vm.caller, vm.seconds) == (p.sid, CALLER, 23)
    assert vm.recording_url.endswith("/Recordings/RE1")


def test_a_failed_commit_speaks_no_reference(app: Flask, db: Database) -> None:
    """The reference is spoken only once the report is committed: a failed commit gets the apology."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    id_number = make_card(db, pin="802461", status="active", pin_changed=True)

    def fail_reports(session: Session) -> None:
        # Inside the transaction, so an uncommitted report is seen.
        if session.scalars(select(LossReport.id)).first() is not None:
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(Session, "before_commit", fail_reports)
    try:
        p = WebCall(app.test_client())
        p.press("2").press("1").press(id_number).press("1").press("802461")
    finally:
        event.remove(Session, "before_commit", fail_reports)
    assert p.node == "service_down"
    assert "受理编号" not in p.said
    assert "暂时无法提供服务" in p.said
    with db.session() as s:
        assert s.scalars(select(LossReport)).all() == []
    assert card_row(db, id_number).status == "active"


def _text_values(session: Session, table: str, columns: list[str]) -> Iterator[str]:
    for row in session.execute(text(f"SELECT {', '.join(columns)} FROM {table}")):
        for value in row:
            if value is not None:
                yield str(value)


def test_no_password_is_stored_in_plain_text_anywhere(app: Flask, db: Database) -> None:
    initial, new, wrong = "135790", "246813", "975319"
    id_number = make_card(db, pin=initial)
    client = app.test_client()
    WebCall(client).press("1").press(id_number).press("1").press(wrong).press(new).press(new)
    WebCall(client).press("1").press(id_number).press("1").press(initial).press(new).press(new)
    WebCall(client).press("2").press("1").press(id_number).press("1").press(new)
    WebCall(client).press("3").press(id_number).press("1").press(wrong)
    assert card_row(db, id_number).status == "reported_lost"
    secrets = (initial, new, wrong)
    assert not any(pin in id_number for pin in secrets)
    scanned = 0
    with db.session() as s:
        inspector: Any = inspect(s.connection())
        for table in inspector.get_table_names():
            columns = [c["name"] for c in inspector.get_columns(table) if isinstance(c["type"], String | Text)]
            if not columns:
                continue
            for value in _text_values(s, table, columns):
                scanned += 1
                for pin in secrets:
                    assert pin not in value, f"a password in plain text in {table}: {value[:80]!r}"
    assert scanned > 20  # calls, events, cards, reports and the audit trail were all read
