"""Two calls on one card at once, on SQLite and PostgreSQL.

Each thread is a worker with its own connection pool.  A short pause is put
inside the transaction, between reading the card and writing it, so that
without the card lock the race would be lost every time, not once in a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import ivr.services.cards as cards_module
from ivr.engine import ServiceDone
from ivr.services.cards import CardServices
from ivr.storage.cards import LossReport
from ivr.storage.db import Database
from ivr.web import app_state
from tests.cards_support import args, card_row, create_test_app, ctx, db, db_url, make_card
from tests.twiml_tools import WebCall

__all__ = ["db", "db_url"]  # fixtures, imported for pytest

PAUSE = 0.15


def url_of(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


def at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; their results in thread order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except BaseException as exc:  # collected, re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def slow_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pause inside every card transaction, after the card is read and before it is written."""
    real_password = cards_module._password

    def slow_password(*a: Any) -> bool:
        time.sleep(PAUSE)
        return real_password(*a)

    monkeypatch.setattr(cards_module, "_password", slow_password)


def workers(db: Database, n: int) -> list[CardServices]:
    return [CardServices(Database(url_of(db))) for _ in range(n)]


def dispose(services: list[CardServices]) -> None:
    for s in services:
        s.db.dispose()


def test_two_loss_reports_on_one_card_at_once_file_one(db: Database, slow_transactions: None) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    services = workers(db, 2)
    try:
        results: list[ServiceDone] = at_once(
            2, lambda i: services[i].report_loss(args(id_number=id_number, pin="802461"), ctx())
        )
    finally:
        dispose(services)
    assert sorted(r.outcome for r in results) == ["already_reported", "reported"]
    with db.session() as s:
        reports = s.scalars(select(LossReport)).all()
    assert len(reports) == 1
    [reported] = [r for r in results if r.outcome == "reported"]
    assert reported.data["reference"] == reports[0].reference


def test_wrong_passwords_at_once_are_all_counted(db: Database, slow_transactions: None) -> None:
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    services = workers(db, 6)
    try:
        results: list[ServiceDone] = at_once(
            6, lambda i: services[i].status(args(id_number=id_number, pin=f"00000{i}"), ctx())
        )
    finally:
        dispose(services)
    # Serialised by the card lock: each call saw the count the one before it left.
    assert sorted(r.data.get("attempts_left", "locked") for r in results) == ["1", "2", "3", "4", "5", "locked"]
    card = card_row(db, id_number)
    assert card.failed_attempts == 6 and card.locked


def test_reports_on_different_cards_at_once_get_distinct_references(db: Database) -> None:
    numbers = [make_card(db, pin="802461", status="active", pin_changed=True) for _ in range(5)]
    services = workers(db, 5)
    try:
        results: list[ServiceDone] = at_once(
            5, lambda i: services[i].report_loss(args(id_number=numbers[i], pin="802461"), ctx())
        )
    finally:
        dispose(services)
    assert [r.outcome for r in results] == ["reported"] * 5
    references = sorted(r.data["reference"] for r in results)
    assert len(set(references)) == 5
    # Sequence numbers 1 to 5 of the day, whoever got which.
    assert [int(ref[8:14]) for ref in references] == [1, 2, 3, 4, 5]


def test_two_phone_calls_on_one_card_at_once(db: Database, tmp_path: Path, slow_transactions: None) -> None:
    """Two callers report one card lost through two webhook workers at the same moment."""
    id_number = make_card(db, pin="802461", status="active", pin_changed=True)
    apps = [create_test_app(url_of(db), tmp_path) for _ in range(2)]
    phones = []
    for app in apps:
        p = WebCall(app.test_client())
        p.press("2").press("1").press(id_number).press("1")
        assert p.node == "loss_pin"
        phones.append(p)
    try:
        at_once(2, lambda i: phones[i].press("802461"))
    finally:
        for app in apps:
            app_state(app).close()
    assert sorted(p.node for p in phones) == ["loss_already_reported", "loss_reported_next"]
    with db.session() as s:
        [report] = s.scalars(select(LossReport)).all()
    [told] = [p for p in phones if p.node == "loss_reported_next"]
    assert " ".join(report.reference) in told.said
