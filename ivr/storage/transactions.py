"""The reads and writes of the self-service transactions, one database transaction at a time.

:mod:`ivr.services.cards` decides what a caller gets; this module finds,
locks and changes the rows.  A :class:`Transaction` is one database
transaction (:func:`transaction`): the card is locked first, and the audit row
is written before the commit, so two calls on one card never lose a
wrong-password count or file two reports, and what the caller then hears is
already stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator, Mapping

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from stdnum import luhn

from ivr.rules import LOSS_REPORT_WORKING_DAYS, MAX_ATTEMPTS, add_working_days, mask_id_number
from ivr.storage.cards import AuditEntry, Card, LossReport, ReferenceCounter, Voicemail
from ivr.storage.db import Database

__all__ = ["Transaction", "password_hash", "transaction"]


def password_hash(db: Database, id_number: str) -> str | None:
    """The stored password hash of the card for ``id_number``, read in a transaction of its own."""
    with db.session() as s:
        return s.scalar(select(Card.pin_hash).where(Card.id_number == id_number))


@contextlib.contextmanager
def transaction(db: Database) -> Iterator[Transaction]:
    """One transaction on the card tables: committed when the block ends, rolled back if it raises.

    Database failures come out as :class:`~ivr.storage.db.StoreUnavailable`.
    """
    with db.session() as s:
        yield Transaction(s)


class Transaction:
    """What the card services and the operators' commands read and write, inside one transaction."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # -- reading -------------------------------------------------------------------

    def find_card(self, id_number: str) -> Card | None:
        """The card for ``id_number`` (stored form), without locking it."""
        return self._s.scalars(select(Card).where(Card.id_number == id_number)).one_or_none()

    def has_card(self, id_number: str) -> bool:
        """Whether there is a card for ``id_number``."""
        return self._s.scalar(select(Card.id).where(Card.id_number == id_number)) is not None

    def lock_card(self, id_number: str) -> Card | None:
        """The card for ``id_number``, locked against other transactions until this one ends.

        PostgreSQL locks the row (``SELECT ... FOR UPDATE``).  SQLite has no row
        locks and ignores FOR UPDATE, and a transaction that reads first and writes
        later cannot wait for another writer: it fails with "database is locked".
        So on SQLite a harmless write comes first, which makes the transaction take
        the database's write lock at once, waiting for it up to the busy timeout.
        """
        s = self._s
        if s.get_bind().dialect.name == "sqlite":
            s.execute(
                update(Card)
                .where(Card.id_number == id_number)
                .values(failed_attempts=Card.failed_attempts)
                .execution_options(synchronize_session=False)
            )
        return s.scalars(select(Card).where(Card.id_number == id_number).with_for_update()).one_or_none()

    def latest_report(self, card: Card) -> LossReport | None:
        """The card's most recent loss report."""
        return self._s.scalars(
            select(LossReport).where(LossReport.card_id == card.id).order_by(LossReport.id.desc()).limit(1)
        ).one_or_none()

    def loss_reports(self, card: Card) -> list[LossReport]:
        """The card's loss reports, oldest first."""
        rows = self._s.scalars(select(LossReport).where(LossReport.card_id == card.id).order_by(LossReport.id))
        return list(rows.all())

    def history(self, card: Card) -> list[AuditEntry]:
        """The card's audit rows, oldest first."""
        rows = self._s.scalars(select(AuditEntry).where(AuditEntry.card_id == card.id).order_by(AuditEntry.id))
        return list(rows.all())

    def activated_by(self, card: Card, call_sid: str) -> bool:
        """Whether the call ``call_sid`` already activated ``card`` (the webhook is being retried)."""
        if not call_sid:
            return False
        found = self._s.scalar(
            select(AuditEntry.id)
            .where(
                AuditEntry.card_id == card.id,
                AuditEntry.call_sid == call_sid,
                AuditEntry.service == "card.activate",
                AuditEntry.outcome == "activated",
            )
            .limit(1)
        )
        return found is not None

    # -- writing -------------------------------------------------------------------

    def add_card(
        self,
        *,
        id_number: str,
        pin_hash: str,
        now: dt.datetime,
        status: str,
        pin_changed: bool,
        holder: str,
        kind: str,
        locked: bool,
        replacement_applied_on: dt.date | None,
        loss_reported: tuple[dt.datetime, dt.date] | None,
    ) -> Card:
        """Insert a card as given; with ``loss_reported`` (moment, hotline date), file its loss report then.

        A ``locked`` card has the wrong-password count that locks it, locked ``now``.
        """
        card = Card(
            id_number=id_number,
            holder=holder,
            kind=kind,
            status=status,
            pin_hash=pin_hash,
            pin_changed=pin_changed,
            failed_attempts=MAX_ATTEMPTS if locked else 0,
            locked_at=now if locked else None,
            replacement_applied_on=replacement_applied_on,
            created_at=now,
            updated_at=now,
        )
        self._s.add(card)
        self._s.flush()
        if loss_reported is not None:
            self.file_loss_report(card, *loss_reported)
            card.updated_at = now
        return card

    def file_loss_report(self, card: Card, now: dt.datetime, day: dt.date, call_sid: str = "") -> LossReport:
        """Record a temporary loss report for ``card`` (locked by the caller) and mark it reported lost.

        ``day`` is the hotline's date at ``now`` (:func:`ivr.rules.local_date`).
        The report holds :data:`~ivr.rules.LOSS_REPORT_WORKING_DAYS` working days
        after it.  The reference is that date, a six-digit sequence number of the
        day and a Luhn check digit (15 digits), so an agent can tell a mistyped
        reference from an unknown one.
        """
        body = f"{day:%Y%m%d}{self._next_sequence(day):06d}"
        report = LossReport(
            reference=body + luhn.calc_check_digit(body),
            card_id=card.id,
            call_sid=call_sid,
            reported_at=now,
            reported_on=day,
            expires_on=add_working_days(day, LOSS_REPORT_WORKING_DAYS),
        )
        self._s.add(report)
        card.status = "reported_lost"
        card.updated_at = now
        self._s.flush()
        return report

    def right_password(self, card: Card) -> None:
        """A right password: the count of wrong ones starts again."""
        card.failed_attempts = 0

    def wrong_password(self, card: Card, now: dt.datetime) -> int:
        """Count a wrong password on ``card``; the wrong passwords in a row so far."""
        # The card's row is locked by this transaction, so this increment cannot be lost.
        card.failed_attempts += 1
        card.updated_at = now
        return card.failed_attempts

    def lock(self, card: Card, now: dt.datetime) -> None:
        """Note when ``card`` was locked for self-service."""
        card.locked_at = now

    def unlock(self, card: Card, now: dt.datetime) -> None:
        """Lift a self-service lock and reset the wrong-password count."""
        card.failed_attempts = 0
        card.locked_at = None
        card.updated_at = now

    def activate(self, card: Card, pin_hash: str, now: dt.datetime) -> None:
        """Make ``card`` active with a new password (given hashed)."""
        card.pin_hash = pin_hash
        card.pin_changed = True
        card.status = "active"
        card.updated_at = now

    def add_voicemail(self, *, call_sid: str, caller: str, recording_url: str, seconds: int, now: dt.datetime) -> None:
        """Keep a voicemail (the caller's number and the URL are cut to their columns' sizes)."""
        self._s.add(
            Voicemail(
                call_sid=call_sid,
                caller=caller[:40],
                recording_url=recording_url[:500],
                seconds=seconds,
                created_at=now,
            )
        )

    def audit(
        self,
        *,
        now: dt.datetime,
        call_sid: str,
        service: str,
        outcome: str,
        id_number: str | None = None,
        card: Card | None = None,
        detail: Mapping[str, str] | None = None,
    ) -> None:
        """Add the audit row of this transaction; the ID number is stored masked."""
        self._s.add(
            AuditEntry(
                at=now,
                call_sid=call_sid[:64],
                service=service,
                id_masked=mask_id_number(id_number),
                card_id=card.id if card is not None else None,
                outcome=outcome,
                detail=json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True),
            )
        )

    def _next_sequence(self, day: dt.date) -> int:
        """The next reference sequence number of ``day``, unique under concurrent reports."""
        s = self._s
        dialect = s.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            # One atomic upsert: the first report of a day inserts 1, later ones add 1 under the row's lock.
            insert = sqlite_insert if dialect == "sqlite" else pg_insert
            upsert = insert(ReferenceCounter).values(day=day, last=1)
            stmt = upsert.on_conflict_do_update(
                index_elements=[ReferenceCounter.day], set_={"last": ReferenceCounter.last + 1}
            ).returning(ReferenceCounter.last)
            return int(s.execute(stmt).scalar_one())
        counter = s.get(ReferenceCounter, day, with_for_update=True)
        if counter is None:
            counter = ReferenceCounter(day=day, last=0)
            s.add(counter)
        counter.last += 1
        s.flush()
        return counter.last
