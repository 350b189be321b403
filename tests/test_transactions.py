"""The self-service transactions through whole calls, on SQLite and PostgreSQL.

Calls run in memory through the real menu (``ivr.harness.Call``) with the real
handlers on a migrated database; the webhook tests are in
``test_transactions_webhook.py`` and the race tests in
``test_transactions_concurrency.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from sqlalchemy import select
from stdnum import luhn

from ivr.harness import Call
from ivr.menu import Menu
from ivr.rules import add_working_days
from ivr.services.registry import HOTLINE_ZONE as BEIJING
from ivr.storage.cards import AuditEntry, LossReport, Voicemail, verify_pin
from ivr.storage.db import Database
from tests.cards_support import CALLER, NOW, card_row, db, db_url, keys, make_card, new_id_number, new_sid, phone

__all__ = ["db", "db_url"]  # fixtures, imported for pytest

NEW_PIN = "246813"


def activate(call: Call, id_number: str, pin: str, new_pin: str = NEW_PIN) -> None:
    """Key main-menu 1 and the whole activation dialog."""
    call.press("1").press(keys(id_number)).press("1").press(pin).press(new_pin).press(new_pin)


def audit_rows(db: Database, call_sid: str) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.call_sid == call_sid).order_by(AuditEntry.id)))


def reports_of(db: Database, id_number: str) -> list[LossReport]:
    card = card_row(db, id_number)
    with db.session() as s:
        return list(s.scalars(select(LossReport).where(LossReport.card_id == card.id)))


# -- 1: activation ------------------------------------------------------------------


def test_activation_sets_the_new_password_and_activates_the_card(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790")
    sid = new_sid()
    call = phone(db, menu, call_sid=sid)
    activate(call, id_number, "135790")
    assert call.node == "activate_ok"
    assert "激活成功" in call.last_heard
    card = card_row(db, id_number)
    assert (card.status, card.pin_changed, card.failed_attempts) == ("active", True, 0)
    assert verify_pin(NEW_PIN, card.pin_hash)
    assert not verify_pin("135790", card.pin_hash)
    [row] = audit_rows(db, sid)
    assert (row.service, row.outcome, row.card_id) == ("card.activate", "activated", card.id)
    assert row.id_masked == id_number[:3] + "*" * 11 + id_number[-4:]


def test_activation_with_an_x_keyed_as_star(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790", x=True)
    assert id_number.endswith("X")
    call = phone(db, menu)
    activate(call, id_number, "135790")
    assert call.node == "activate_ok"
    assert card_row(db, id_number).status == "active"


def test_activation_wrong_password_is_counted_then_the_right_one_works(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790")
    call = phone(db, menu)
    activate(call, id_number, "111111")
    assert "还可以尝试5次" in call.heard
    assert call.node == "activate_pin"
    card = card_row(db, id_number)
    assert (card.status, card.failed_attempts) == ("not_activated", 1)
    call.press("135790").press(NEW_PIN).press(NEW_PIN)
    assert call.node == "activate_ok"
    card = card_row(db, id_number)
    assert (card.status, card.failed_attempts) == ("active", 0)


def test_activation_of_an_active_card_says_it_is_already_active(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790", status="active", pin_changed=True)
    before = card_row(db, id_number).pin_hash
    call = phone(db, menu)
    activate(call, id_number, "135790")
    assert "已经激活" in call.heard
    assert card_row(db, id_number).pin_hash == before


def test_activation_of_an_unknown_id_number_says_not_found(db: Database, menu: Menu) -> None:
    sid = new_sid()
    call = phone(db, menu, call_sid=sid)
    unknown = new_id_number()
    activate(call, unknown, "135790")
    assert call.node == "card_not_found"
    [row] = audit_rows(db, sid)
    assert (row.outcome, row.card_id) == ("not_found", None)
    assert unknown not in row.id_masked


def test_activation_refuses_a_new_password_equal_to_the_initial_one(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790")
    call = phone(db, menu)
    activate(call, id_number, "135790", new_pin="135790")
    assert "不能与初始服务密码相同" in call.heard
    # Passwords are forgotten once a service has used them: the caller starts again from the initial one.
    assert call.node == "activate_pin"
    card = card_row(db, id_number)
    assert (card.status, card.failed_attempts) == ("not_activated", 0)
    call.press("135790").press(NEW_PIN).press(NEW_PIN)
    assert call.node == "activate_ok"


def test_activation_refuses_trivial_new_passwords_before_the_service(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790")
    call = phone(db, menu)
    call.press("1").press(id_number).press("1").press("135790").press(id_number[-6:])
    assert "过于简单" in call.heard
    call.press("123456")
    assert call.node == "activate_new_pin"
    assert card_row(db, id_number).status == "not_activated"


# -- 2, 1: temporary loss report ---------------------------------------------------------


def report_loss(call: Call, id_number: str, pin: str) -> None:
    """Key main-menu 2, 1 and the loss report dialog."""
    call.press("2").press("1").press(keys(id_number)).press("1").press(pin)


def test_loss_report_marks_the_card_and_reads_the_reference_digit_by_digit(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    sid = new_sid()
    call = phone(db, menu, call_sid=sid)
    report_loss(call, id_number, "802461")
    assert call.node == "loss_reported_next"
    [report] = reports_of(db, id_number)
    assert card_row(db, id_number).status == "reported_lost"
    assert report.call_sid == sid
    # The reference: the report's date, a sequence number of the day and a Luhn check digit.
    assert report.reference.startswith("20261123") and len(report.reference) == 15
    assert luhn.is_valid(report.reference)
    assert " ".join(report.reference) in call.heard
    assert report.expires_on == add_working_days(dt.date(2026, 11, 23), 15) == dt.date(2026, 12, 14)
    assert "2026年12月14日" in call.heard
    # The three things the caller must be told: temporary, 15 working days, a new card 15 working days later.
    assert "临时挂失" in call.heard
    assert call.heard.count("15个工作日") >= 2
    assert "新卡" in call.heard
    [row] = audit_rows(db, sid)
    assert row.outcome == "reported"
    assert json.loads(row.detail)["reference"] == report.reference


def test_loss_report_in_english(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    call = phone(db, menu)
    call.press("9").press("2")
    report_loss(call, id_number, "802461")
    assert "temporar" in call.heard
    assert "December 14, 2026" in call.heard


def test_loss_report_needs_a_changed_password_and_offers_the_agent(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790", status="active", pin_changed=False)
    call = phone(db, menu)
    report_loss(call, id_number, "135790")
    assert call.node == "loss_initial_password"
    assert "只适用于已修改过初始密码" in call.last_heard
    assert reports_of(db, id_number) == []
    assert card_row(db, id_number).status == "active"
    call.press("0")
    assert call.node in ("agent_transfer", "agent_closed")


def test_loss_report_of_a_card_not_activated_is_refused(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790")
    call = phone(db, menu)
    report_loss(call, id_number, "135790")
    assert call.node == "loss_not_active"
    assert reports_of(db, id_number) == []


def test_loss_report_twice_says_already_reported_and_files_one(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    report_loss(phone(db, menu), id_number, "802461")
    second = phone(db, menu)
    report_loss(second, id_number, "802461")
    assert second.node == "loss_already_reported"
    assert len(reports_of(db, id_number)) == 1


def test_loss_report_with_a_wrong_password_is_counted(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    call = phone(db, menu)
    report_loss(call, id_number, "000111")
    assert "还可以尝试5次" in call.heard
    assert call.node == "loss_pin"
    assert card_row(db, id_number).failed_attempts == 1
    call.press("802461")
    assert call.node == "loss_reported_next"
    assert card_row(db, id_number).failed_attempts == 0


def test_a_lapsed_report_reads_active_and_a_new_one_is_accepted(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="reported_lost", pin_changed=True, since=dt.date(2026, 9, 23))
    status = phone(db, menu)
    status.press("3").press(id_number).press("1").press("802461")
    assert status.node == "status_active"
    call = phone(db, menu)
    report_loss(call, id_number, "802461")
    assert call.node == "loss_reported_next"
    assert [r.reported_on for r in reports_of(db, id_number)] == [dt.date(2026, 9, 23), dt.date(2026, 11, 23)]


def test_a_report_on_the_friday_before_spring_festival_expires_after_the_holiday(db: Database, menu: Menu) -> None:
    # 2026-02-13 is a Friday; 15-23 February are the Spring Festival holiday and
    # Saturday 14 and 28 February are make-up working days.  Counted by hand:
    # 14, 24, 25, 26, 27, 28 Feb, 2, 3, 4, 5, 6, 9, 10, 11, 12 Mar.
    friday = dt.datetime(2026, 2, 13, 16, 0, tzinfo=BEIJING)
    id_number = make_card(db, pin="802461", status="active", pin_changed=True, now=friday)
    call = phone(db, menu, now=friday)
    report_loss(call, id_number, "802461")
    [report] = reports_of(db, id_number)
    assert report.expires_on == dt.date(2026, 3, 12)
    assert report.expires_on > friday.date() + dt.timedelta(weeks=3)
    assert "2026年3月12日" in call.heard


def test_a_report_at_night_takes_the_beijing_date(db: Database, menu: Menu) -> None:
    late = dt.datetime(2026, 11, 23, 17, 30, tzinfo=dt.UTC)  # 01:30 on the 24th in Beijing
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    report_loss(phone(db, menu, now=late), id_number, "802461")
    [report] = reports_of(db, id_number)
    assert report.reported_on == dt.date(2026, 11, 24)
    assert report.reference.startswith("20261124")


# -- 3: status ------------------------------------------------------------------------------


def check_status(db: Database, menu: Menu, id_number: str, pin: str) -> Call:
    """A call that asks for the card's status (main-menu 3)."""
    call = phone(db, menu)
    call.press("3").press(keys(id_number)).press("1").press(pin)
    return call


@pytest.mark.parametrize(
    ("status", "since", "node", "said"),
    [
        ("not_activated", None, "status_not_activated", "尚未激活"),
        ("active", None, "status_active", "状态正常"),
        ("reported_lost", dt.date(2026, 11, 20), "status_reported_lost", "2026年12月11日"),
        ("replacing", dt.date(2026, 11, 16), "status_replacing", "2026年12月7日"),
    ],
)
def test_status_reads_out_each_state(
    db: Database, menu: Menu, status: str, since: dt.date | None, node: str, said: str
) -> None:
    id_number = make_card(db, pin="135790", status=status, pin_changed=status != "not_activated", since=since)
    call = check_status(db, menu, id_number, "135790")
    assert call.node == node
    assert said in call.heard


def test_status_then_activate_from_the_status_menu(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="135790")
    call = check_status(db, menu, id_number, "135790")
    call.press("1").press("135790").press(NEW_PIN).press(NEW_PIN)
    assert call.node == "activate_ok"
    assert card_row(db, id_number).status == "active"


# -- the lock -----------------------------------------------------------------------------


def test_six_wrong_passwords_across_calls_lock_every_transaction(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    # Two wrong tries in each of three calls, on three services: the count is the card's, not the call's.
    first = phone(db, menu)
    report_loss(first, id_number, "111111")
    first.press("222222")
    assert "还可以尝试4次" in first.heard
    second = check_status(db, menu, id_number, "333333")
    second.press("444444")
    assert "还可以尝试2次" in second.heard
    # A second worker, with its own connection pool, sees the same count.
    other_worker = Database(str(db.url.render_as_string(hide_password=False)))
    try:
        third = check_status(other_worker, menu, id_number, "555555")
        assert "还可以尝试1次" in third.heard
        third.press("666666")
        assert "锁定" in third.heard
        assert third.node in ("agent_transfer", "agent_closed")
    finally:
        other_worker.dispose()
    card = card_row(db, id_number)
    assert card.locked and card.failed_attempts == 6 and card.locked_at is not None
    # Locked: even the right password gets nowhere, in every transaction.
    for run in (
        lambda c: report_loss(c, id_number, "802461"),
        lambda c: c.press("3").press(id_number).press("1").press("802461"),
        lambda c: activate(c, id_number, "802461"),
    ):
        call = phone(db, menu)
        run(call)
        assert "锁定" in call.heard, call.heard
    assert reports_of(db, id_number) == []
    assert card_row(db, id_number).failed_attempts == 6


def test_a_right_password_resets_the_count(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    for _ in range(5):
        call = check_status(db, menu, id_number, "111111")
    assert card_row(db, id_number).failed_attempts == 5
    check_status(db, menu, id_number, "802461")
    assert card_row(db, id_number).failed_attempts == 0
    call = check_status(db, menu, id_number, "111111")
    assert "还可以尝试5次" in call.heard


def test_a_locked_card_is_refused_without_counting(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True, locked=True)
    call = check_status(db, menu, id_number, "000999")
    assert "锁定" in call.heard
    assert card_row(db, id_number).failed_attempts == 6


# -- 0: voicemail ---------------------------------------------------------------------------


def test_voicemail_out_of_hours_is_stored_with_the_callers_number(db: Database, menu: Menu) -> None:
    sunday = dt.datetime(2026, 11, 22, 20, 0, tzinfo=BEIJING)
    sid = new_sid()
    call = phone(db, menu, now=sunday, call_sid=sid)
    call.press("0")
    assert call.node == "agent_closed"
    call.press("1").record(17, "https://api.twilio.com/recordings/RE1")
    assert call.node == "voicemail_saved"
    with db.session() as s:
        [vm] = s.scalars(select(Voicemail)).all()
    assert (vm.call_sid, vm.caller, vm.recording_url, vm.seconds) == (
        sid,
        CALLER,
        "https://api.twilio.com/recordings/RE1",
        17,
    )
    assert vm.created_at == sunday
    assert [r.outcome for r in audit_rows(db, sid)] == ["saved"]


def test_an_empty_voicemail_is_not_stored(db: Database, menu: Menu) -> None:
    call = phone(db, menu, now=dt.datetime(2026, 11, 22, 20, 0, tzinfo=BEIJING))
    call.press("0").press("1").record(0)
    assert call.node == "main"
    assert "没有录到" in call.heard
    with db.session() as s:
        assert s.scalars(select(Voicemail)).all() == []


# -- failures and records ----------------------------------------------------------------------


def test_a_database_without_tables_gives_the_polite_apology(tmp_path: object, menu: Menu) -> None:
    broken = Database(f"sqlite:///{tmp_path}/empty.db")  # never migrated: every query fails
    try:
        call = phone(broken, menu)
        call.press("3").press(new_id_number()).press("1").press("135790")
        assert call.node == "service_down"
        assert call.ended
        assert "暂时无法提供服务" in call.heard
    finally:
        broken.dispose()


def test_every_attempt_is_audited_with_its_call_sid_and_a_masked_id(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    sid = new_sid()
    call = phone(db, menu, call_sid=sid)
    report_loss(call, id_number, "111111")
    call.press("802461")
    rows = audit_rows(db, sid)
    assert [(r.service, r.outcome) for r in rows] == [
        ("card.report_loss", "wrong_password"),
        ("card.report_loss", "reported"),
    ]
    assert json.loads(rows[0].detail) == {"attempts_left": "5"}
    for r in rows:
        assert r.id_masked == id_number[:3] + "*" * 11 + id_number[-4:]
        assert r.at == NOW
        assert id_number not in r.detail and "802461" not in r.detail and "111111" not in r.detail


def test_logs_mask_the_id_number(db: Database, menu: Menu) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("ivr.services.cards")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        report_loss(phone(db, menu), id_number, "802461")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    text = "\n".join(r.getMessage() for r in records)
    assert "card.report_loss" in text and id_number[-4:] in text
    assert id_number not in text and "802461" not in text


def test_a_retried_webhook_after_the_commit_reads_the_same_reference(db: Database) -> None:
    from ivr.services.cards import CardServices
    from tests.cards_support import args, ctx

    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    services = CardServices(db)
    context = ctx()
    first = services.report_loss(args(id_number=id_number, pin="802461"), context)
    again = services.report_loss(args(id_number=id_number, pin="802461"), context)
    assert first.outcome == again.outcome == "reported"
    assert first.data["reference"] == again.data["reference"]
    assert len(reports_of(db, id_number)) == 1
    other_call = services.report_loss(args(id_number=id_number, pin="802461"), ctx())
    assert other_call.outcome == "already_reported"
