"""What stays of a call after it ends (issue 15, items 4 and 5), on SQLite and PostgreSQL.

- A call whose status callback never came is ended by the sweep (``ivr db
  sweep``, and every worker now and then): it becomes ``abandoned`` and keeps
  no password and no full ID number, like a call Twilio's callback ended.
- ``ivr db purge --older-than`` deletes ended calls and their events.
- A call that has ended answers every request with a bare ``<Hangup/>``; only a
  recording its hang-up finished is still saved.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import String, Text, inspect, select, text

from ivr.db_cli import db as db_command
from ivr.engine import CallState
from ivr.phone.twiml import Hangup, Record
from ivr.services.seed import demo_card
from ivr.session import forget_secrets, forget_stored_secrets
from ivr.storage.calls import CallStore
from ivr.storage.cards import AuditEntry, Voicemail
from ivr.storage.db import Database
from ivr.storage.models import CallRecord
from ivr.web import app_state
from ivr.web.calls import sweep_idle_calls
from tests.cards_support import MENU_PATH, db, db_url
from tests.twiml_tools import WebCall

__all__ = ["db", "db_url"]  # fixtures, imported for pytest

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
"""The webhook's clock: Monday 10:00 Beijing time."""
SUNDAY_EVENING = "2026-11-22T21:00:00+08:00"
"""Agents are off duty: the caller is offered voicemail."""

ZHANG_WEI = demo_card("Zhang Wei")
"""A demo card not activated yet: an activation call keys its ID number and initial password."""
NEW_PIN = "862413"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


def url_of(database: Database) -> str:
    return database.url.render_as_string(hide_password=False)


def webhook(database: Database, folder: Path, clock: str, **overrides: str) -> Flask:
    """The webhook app on ``database`` at ``clock`` (see tests.cards_support.create_test_app), with ``overrides``."""
    from ivr.web import create_app

    config = {
        "DATABASE_URL": url_of(database),
        "CLOCK": clock,
        "LOG_LEVEL": "WARNING",
        "MENU": str(MENU_PATH),
        "AUDIO_DIR": str(folder / "no-audio"),
        "TESTING": True,
    }
    return create_app({**config, **overrides})


def at(moment: dt.datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def app(db: Database, tmp_path: Path) -> Iterator[Flask]:
    """The webhook on the test database at T0, with the demo cardholders."""
    application = webhook(db, tmp_path, at(T0))
    app_state(application).seed_demo()
    yield application
    app_state(application).close()


def stored(database: Database, sid: str) -> CallRecord:
    with database.session() as s:
        row = s.get(CallRecord, sid)
        assert row is not None
        return row


def abandoned_events(database: Database, sid: str) -> int:
    return sum(
        1
        for kind, _, detail in CallStore(database).events(sid)
        if kind == "status" and detail.get("status") == "abandoned"
    )


def activation_abandoned_at_new_pin(client: Any) -> WebCall:
    """An activation call whose caller keyed the ID number, the password and a new one, then was lost."""
    return WebCall(client).press("1").press(ZHANG_WEI.keys).press("1").press(ZHANG_WEI.pin).press(NEW_PIN)


def activation_abandoned_at_read_back(client: Any) -> WebCall:
    """An activation call lost while its ID number was being read back."""
    call = WebCall(client).press("1").press(ZHANG_WEI.keys)
    assert " ".join(ZHANG_WEI.id_number) in call.said
    return call


# -- what a call keeps once it is over -----------------------------------------------------


def test_an_ended_call_keeps_no_secret_and_no_whole_id_number() -> None:
    state = CallState(
        "12333",
        "1",
        "activate_new_pin_again",
        "digits",
        "zh-CN",
        vars={"caller": "+8613912345678", "id_number": ZHANG_WEI.id_number, "pin": "147258", "new_pin": NEW_PIN},
        secret=("pin", "new_pin"),
    )
    left = forget_secrets(state)
    assert left.awaiting == "ended" and left.secret == ()
    assert left.vars == {"caller": "+8613912345678", "id_number": "110***********2354"}
    # A call awaiting a recording goes on awaiting it: Twilio may still deliver the recording.
    assert forget_secrets(state.evolve(node="voicemail", awaiting="recording")).awaiting == "recording"


@pytest.mark.parametrize("text_", ["", "not json", '{"menu_id": 1}', "[]"])
def test_a_stored_state_that_cannot_be_read_is_dropped_whole(text_: str) -> None:
    assert forget_stored_secrets(text_) == ""


def test_the_status_callback_drops_the_whole_id_number_and_the_read_back(app: Flask, db: Database) -> None:
    client = app.test_client()
    call = activation_abandoned_at_read_back(client)
    call.hang_up()
    row = stored(db, call.sid)
    assert row.status == "completed"
    assert ZHANG_WEI.id_number not in row.state and "110***********2354" in row.state
    assert row.last_twiml == ""
    paused = activation_abandoned_at_new_pin(client)
    paused.hang_up()
    vars_ = CallState.from_json(stored(db, paused.sid).state).vars
    assert "pin" not in vars_ and "new_pin" not in vars_ and vars_["id_number"] == "110***********2354"


# -- the sweep -------------------------------------------------------------------------------


def _digits_run_together(value: str) -> str:
    # A read-back says "1 1 0 1 ...": digits apart count as one number.
    return re.sub(r"(?<=\d)[\s,，、.]+(?=\d)", "", value)


def secrets_in_database(database: Database, secrets: tuple[str, ...]) -> list[str]:
    """Where any of ``secrets`` is stored, in any text column of any table but the card's own.

    The card row holds its holder's ID number (it is the card's key) and a
    password hash: the account itself, not what a call left behind.
    """
    found = []
    own = {("cards", "id_number"), ("cards", "pin_hash")}
    with database.session() as s:
        inspector: Any = inspect(s.connection())
        for table in inspector.get_table_names():
            columns = [
                c["name"]
                for c in inspector.get_columns(table)
                if isinstance(c["type"], String | Text) and (table, c["name"]) not in own
            ]
            if not columns:
                continue
            for row in s.execute(text(f"SELECT {', '.join(columns)} FROM {table}")):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    for secret in secrets:
                        if secret in str(value) or secret in _digits_run_together(str(value)):
                            found.append(f"{table}.{column} holds {secret}")
    return found


def sweep_cli(database: Database, *, clock: dt.datetime, timeout: str = "1s") -> Any:
    env = {"IVR_CALL_IDLE_TIMEOUT": timeout, "IVR_CLOCK": at(clock), "IVR_LOG_LEVEL": "WARNING"}
    return CliRunner().invoke(db_command, ["sweep", "--database-url", url_of(database)], env=env)


def test_ivr_db_sweep_leaves_no_password_and_no_whole_id_number_in_the_database(app: Flask, db: Database) -> None:
    client = app.test_client()
    lost = [activation_abandoned_at_read_back(client), activation_abandoned_at_new_pin(client)]
    secrets = (ZHANG_WEI.id_number, ZHANG_WEI.pin, NEW_PIN)
    assert secrets_in_database(db, secrets)  # the scan sees what an abandoned call holds
    result = sweep_cli(db, clock=T0 + dt.timedelta(seconds=5))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2 idle call(s) ended as abandoned")
    assert secrets_in_database(db, secrets) == []
    for call in lost:
        row = stored(db, call.sid)
        assert (row.status, row.last_twiml) == ("abandoned", "")
        assert row.ended_at is not None and "110***********2354" in row.state
        assert abandoned_events(db, call.sid) == 1
    again = sweep_cli(db, clock=T0 + dt.timedelta(seconds=10))
    assert again.exit_code == 0 and again.output.startswith("0 idle call(s)")


def test_the_sweep_leaves_calls_that_are_not_idle_long_enough(app: Flask, db: Database) -> None:
    call = activation_abandoned_at_new_pin(app.test_client())
    result = sweep_cli(db, clock=T0 + dt.timedelta(minutes=30), timeout="4h")
    assert result.exit_code == 0 and result.output.startswith("0 idle call(s)")
    assert stored(db, call.sid).status == "in-progress"
    call.press(NEW_PIN)  # the caller is still there: the activation goes through
    assert call.node == "activate_ok"


def test_a_call_that_moved_on_or_ended_since_it_was_found_idle_is_left_alone(app: Flask, db: Database) -> None:
    store = CallStore(db)
    moving = activation_abandoned_at_new_pin(app.test_client())
    ended = activation_abandoned_at_new_pin(app.test_client())
    later = T0 + dt.timedelta(hours=1)
    idle = {c.call_sid: c for c in store.idle_calls(later)}
    assert set(idle) == {moving.sid, ended.sid}
    moving.press(NEW_PIN)
    ended.hang_up()
    for sid in (moving.sid, ended.sid):
        assert not store.abandon(sid, idle[sid].step, "", later)
        assert abandoned_events(db, sid) == 0
    assert stored(db, moving.sid).status == "in-progress" and stored(db, ended.sid).status == "completed"


def test_a_step_still_running_when_the_call_ends_cannot_write_its_secrets_back(app: Flask, db: Database) -> None:
    store = CallStore(db)
    call = activation_abandoned_at_new_pin(app.test_client())
    row = stored(db, call.sid)
    call.hang_up()  # while another worker is still serving the step
    assert not store.advance(call.sid, row.step, node=row.node, state=row.state, twiml=row.last_twiml, now=T0)
    assert NEW_PIN not in stored(db, call.sid).state


def test_sweeps_on_every_worker_at_once_abandon_each_call_once(db: Database, tmp_path: Path) -> None:
    first = webhook(db, tmp_path, at(T0))
    later = at(T0 + dt.timedelta(hours=1))
    workers = [webhook(db, tmp_path, later, CALL_IDLE_TIMEOUT="1s") for _ in range(2)]  # two workers, or hosts
    try:
        client = first.test_client()
        sids = [WebCall(client).press("1").sid for _ in range(12)]
        barrier = threading.Barrier(len(workers))
        counts: list[int] = []

        def sweep(worker: Flask) -> None:
            barrier.wait(timeout=30)
            counts.append(app_state(worker).sweep_calls())

        threads = [threading.Thread(target=sweep, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert sum(counts) == len(sids)
        for sid in sids:
            assert stored(db, sid).status == "abandoned"
            assert abandoned_events(db, sid) == 1
    finally:
        for application in (first, *workers):
            app_state(application).close()


# -- the service sweeps by itself ------------------------------------------------------------


def _later_worker(db: Database, tmp_path: Path, interval: str) -> Flask:
    later = at(T0 + dt.timedelta(hours=1))
    return webhook(db, tmp_path, later, CALL_IDLE_TIMEOUT="1s", CALL_SWEEP_INTERVAL=interval)


@pytest.mark.parametrize(("interval", "sweeps"), [("0.01", True), ("1h", False), ("0", False)])
def test_the_service_sweeps_by_itself_once_an_answer_is_sent(
    app: Flask, db: Database, tmp_path: Path, interval: str, sweeps: bool
) -> None:
    call = activation_abandoned_at_new_pin(app.test_client())
    worker = _later_worker(db, tmp_path, interval)
    try:
        time.sleep(0.05)  # past the short interval; nowhere near the hour
        resp = worker.test_client().get("/healthz")
        assert resp.status_code == 200
        resp.close()  # the server has sent the answer: the sweep runs now
        assert stored(db, call.sid).status == ("abandoned" if sweeps else "in-progress")
        assert (NEW_PIN in stored(db, call.sid).state) is not sweeps
    finally:
        app_state(worker).close()


def test_a_failing_sweep_never_breaks_a_webhook(
    app: Flask, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = _later_worker(db, tmp_path, "0.01")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    def broken(idle_timeout: float) -> list[str]:
        raise RuntimeError("the sweep broke")

    handler = Keep()
    logging.getLogger("ivr.web").addHandler(handler)
    monkeypatch.setattr(app_state(worker).runner, "sweep", broken)
    try:
        time.sleep(0.05)
        resp = worker.test_client().post("/voice", data={"CallSid": "CAswept", "From": "+8613912345678"})
        resp.close()
        assert resp.status_code == 200 and resp.headers["X-IVR-Node"] == "main"
        assert [r.getMessage() for r in records] == ["the sweep of abandoned calls failed"]
    finally:
        logging.getLogger("ivr.web").removeHandler(handler)
        app_state(worker).close()


# -- purge -----------------------------------------------------------------------------------


def purge_cli(database: Database, *args: str, clock: dt.datetime) -> Any:
    env = {"IVR_CLOCK": at(clock), "IVR_LOG_LEVEL": "WARNING"}
    return CliRunner().invoke(db_command, ["purge", *args, "--database-url", url_of(database)], env=env)


def test_ivr_db_purge_deletes_calls_that_ended_long_enough_ago_and_their_events(app: Flask, db: Database) -> None:
    client = app.test_client()
    old, recent, going = (WebCall(client).press("1") for _ in range(3))
    store = CallStore(db)
    store.finish(old.sid, "completed", 30, T0 - dt.timedelta(days=40), state="")
    store.finish(recent.sid, "completed", 30, T0 - dt.timedelta(days=2), state="")
    with db.session() as s:  # what the old call left in the card tables: records of their own
        s.add(Voicemail(call_sid=old.sid, caller=old.caller, recording_url=RECORDING, seconds=5, created_at=T0))
        s.add(AuditEntry(at=T0, call_sid=old.sid, service="card.status", id_masked="110***", outcome="active"))
    result = purge_cli(db, "--older-than", "30d", clock=T0)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 ended call(s) deleted, with ")
    with db.session() as s:
        assert s.get(CallRecord, old.sid) is None
        assert s.get(CallRecord, recent.sid) is not None and s.get(CallRecord, going.sid) is not None
        assert s.scalars(select(Voicemail.call_sid)).all() == [old.sid]
        assert s.scalars(select(AuditEntry.call_sid).where(AuditEntry.call_sid != "")).all() == [old.sid]
    assert store.events(old.sid) == [] and store.events(recent.sid) != []
    # In progress, however old: the sweep ends such calls first.
    result = purge_cli(db, "--older-than", "0s", clock=T0 + dt.timedelta(days=400))
    assert result.output.startswith("1 ended call(s) deleted")
    assert stored(db, going.sid).status == "in-progress"


@pytest.mark.parametrize("args", [["--older-than", "30 days"], ["--older-than", "-1d"], []])
def test_ivr_db_purge_without_a_duration_is_a_usage_error(db: Database, args: list[str]) -> None:
    result = purge_cli(db, *args, clock=T0)
    assert result.exit_code == 2
    assert "--older-than" in result.output
    if args:
        assert "is not a duration" in result.output


# -- a call that has ended answers with a hang-up ----------------------------------------------


def _hangup_only(call: WebCall) -> None:
    assert [type(v) for v in call.answer.verbs] == [Hangup], call.twiml
    assert call.said == "" and not re.search(r"\d \d \d", call.twiml)


def test_a_step_after_the_status_callback_reads_nothing_back(app: Flask, db: Database) -> None:
    client = app.test_client()
    call = WebCall(client, xsd=True).press("1").press(ZHANG_WEI.keys)
    confirm = call.answer
    call.hang_up()
    call.answers.append(confirm)  # Twilio (or anyone) posts the read-back's Gather again
    call.press("1")
    _hangup_only(call)
    stale = client.post("/voice/step?s=1", data={"CallSid": call.sid, "Digits": "1"})
    retried = client.post("/voice", data={"CallSid": call.sid, "From": call.caller})
    for resp in (stale, retried):
        assert resp.status_code == 200 and resp.data == call.twiml.encode()
    row = stored(db, call.sid)
    assert row.status == "completed" and row.node == "activate_id"  # nothing moved


def test_an_abandoned_call_answers_with_a_hang_up(app: Flask, db: Database) -> None:
    call = activation_abandoned_at_read_back(app.test_client())
    confirm = call.answer
    assert sweep_idle_calls(CallStore(db), T0 + dt.timedelta(hours=5), 4 * 3600.0) == [call.sid]
    call.answers.append(confirm)
    call.press("1")
    _hangup_only(call)


def test_a_status_callback_before_the_end_does_not_end_the_call(app: Flask, db: Database) -> None:
    client = app.test_client()
    call = WebCall(client).press("1")
    for status in ("ringing", "in-progress"):
        resp = client.post("/status", data={"CallSid": call.sid, "CallStatus": status})
        assert resp.status_code == 204
    call.press(ZHANG_WEI.keys)
    assert call.node == "activate_id" and " ".join(ZHANG_WEI.id_number) in call.said
    assert stored(db, call.sid).status == "in-progress"


@pytest.mark.parametrize("ended_by", ["status callback", "sweep"])
def test_a_recording_whose_action_comes_after_the_end_is_saved(db: Database, tmp_path: Path, ended_by: str) -> None:
    app = webhook(db, tmp_path, SUNDAY_EVENING)
    try:
        client = app.test_client()
        call = WebCall(client, xsd=True).press("0").press("1")
        assert call.find(Record) is not None
        recording = call.answer
        if ended_by == "sweep":
            later = dt.datetime.fromisoformat(SUNDAY_EVENING) + dt.timedelta(hours=5)
            assert sweep_idle_calls(CallStore(db), later, 4 * 3600.0) == [call.sid]
        else:
            call.hang_up()
        call.record(RECORDING, 23)  # the caller's hang-up ended the <Record>: Twilio still posts its action
        _hangup_only(call)
        call.answers.append(recording)
        call.record(RECORDING, 23)  # again: saved once
        _hangup_only(call)
    finally:
        app_state(app).close()
    with db.session() as s:
        mails = s.scalars(select(Voicemail)).all()
    assert [(m.call_sid, m.seconds, m.recording_url) for m in mails] == [(call.sid, 23, RECORDING)]
    row = stored(db, call.sid)
    assert row.status == ("completed" if ended_by == "status callback" else "abandoned")
    assert row.node == "voicemail_saved" and row.last_twiml == ""
    assert CallState.from_json(row.state).awaiting == "ended"


def test_idle_and_ended_calls_are_found_whatever_zone_their_clock_wrote(db: Database) -> None:
    # A webhook with a Beijing clock and a CLI with a UTC one must agree on what is old (SQLite keeps no zone).
    store = CallStore(db)
    beijing = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2026, 12, 1, 10, 0, tzinfo=beijing)  # 02:00 UTC
    store.begin(
        "CAzone",
        caller="",
        menu_id="12333",
        menu_version="1",
        node="main",
        state="{}",
        now=at,
        twiml_for=lambda step: "<Response/>",
    )
    assert [c.call_sid for c in store.idle_calls(dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC))] == ["CAzone"]
    assert store.idle_calls(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)) == []
    store.finish("CAzone", "completed", 10, at, state="{}")
    assert store.purge(dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)) == (0, 0)
    assert store.purge(dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC))[0] == 1


def test_ivr_db_sweep_cleans_calls_an_older_version_ended_with_their_secrets(app: Flask, db: Database) -> None:
    # As an older version left them: ended, yet with the full ID number in the state and the read-back stored.
    call = activation_abandoned_at_read_back(app.test_client())
    with db.connection() as conn:
        conn.execute(text("UPDATE calls SET status = 'completed' WHERE call_sid = :sid"), {"sid": call.sid})
    assert secrets_in_database(db, (ZHANG_WEI.id_number,))
    result = sweep_cli(db, clock=T0 + dt.timedelta(seconds=5))
    assert result.exit_code == 0, result.output
    assert "1 ended call(s) from an older version cleaned" in result.output
    assert secrets_in_database(db, (ZHANG_WEI.id_number,)) == []
    row = stored(db, call.sid)
    assert (row.status, row.last_twiml) == ("completed", "") and "110***********2354" in row.state
