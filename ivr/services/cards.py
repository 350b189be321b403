"""The 12333 self-service transactions on the database: activation, loss reports and card status.

The rules are the real line's:

- a card is activated with its initial service password, and a new password is
  set at the same time;
- six wrong passwords in a row lock the card for self-service: every
  transaction then answers ``locked`` and the caller is sent to an agent.  The
  counter is on the card's row, so it holds across calls and across workers;
- a loss report by phone is only for an active card whose password has been
  changed from the initial one (whoever holds a lost card may also hold the
  letter with its initial password).  It is temporary: it lapses 15 working
  days after the report unless it is made formal at an outlet, and then the
  card reads as active again;
- a replacement card is ready 15 working days after the formal application.

Every transaction is one database transaction that locks the card first, and
writes its audit row in the same transaction, so two calls on one card never
lose a wrong-password count or file two reports.  A handler returns only after
the commit: what the caller then hears is already stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from ivr.errors import ServiceUnavailable
from ivr.services.calendar import BEIJING, add_working_days
from ivr.services.registry import ServiceContext, ServiceRegistry, ServiceResultData
from ivr.services.voicemail import VoicemailService
from ivr.storage.cards import (
    CARD_KINDS,
    CARD_STATUSES,
    MAX_ATTEMPTS,
    AuditEntry,
    Card,
    LossReport,
    ReferenceCounter,
    hash_pin,
    mask_id_number,
    verify_pin,
    write_audit,
)
from ivr.storage.db import Database, StoreUnavailable

__all__ = [
    "LOSS_REPORT_WORKING_DAYS",
    "REPLACEMENT_WORKING_DAYS",
    "TRIVIAL_PINS",
    "CardError",
    "CardServices",
    "CardView",
    "add_card",
    "beijing_date",
    "bind_card_handlers",
    "card_view",
    "file_loss_report",
    "is_trivial_pin",
    "latest_report",
    "lock_card",
    "normalize_id_number",
]

log = logging.getLogger(__name__)

LOSS_REPORT_WORKING_DAYS = 15
"""A temporary loss report holds this many working days after the day it was made."""

REPLACEMENT_WORKING_DAYS = 15
"""A replacement card is ready this many working days after the formal application."""

TRIVIAL_PINS = frozenset({"000000", "123456"})
"""New passwords the line refuses, besides the last six characters of the ID number."""


class CardError(ValueError):
    """An operator's request about a card cannot be carried out; the message says why."""


@dataclass(frozen=True)
class CardView:
    """A card's status as the caller hears it, on one day."""

    status: str
    """``not_activated``, ``active``, ``reported_lost`` or ``replacing``."""
    until: dt.date | None = None
    """For ``reported_lost``: the last day the temporary report holds."""
    ready_on: dt.date | None = None
    """For ``replacing``: the first day the new card can be collected."""
    lapsed: bool = False
    """The card was reported lost by phone, but the report expired unconfirmed."""


def beijing_date(now: dt.datetime) -> dt.date:
    """The calendar date in Beijing at ``now`` (a naive ``now`` is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return now.astimezone(BEIJING).date()


def normalize_id_number(value: str | None) -> str | None:
    """A resident ID number in its stored form (final X upper case), or None if it is not valid.

    A final ``*`` stands for X, as callers key it on the 12333 line.
    """
    if not value:
        return None
    value = value.strip().upper()
    if value.endswith("*"):
        value = value[:-1] + "X"
    try:
        return str(ric.validate(value))
    except StdnumError:
        return None


def is_trivial_pin(pin: str, id_number: str) -> bool:
    """Whether ``pin`` is too easy to guess for a new password."""
    return pin in TRIVIAL_PINS or pin == id_number[-6:]


def _is_pin(value: str | None) -> bool:
    return value is not None and len(value) == 6 and value.isascii() and value.isdigit()


def latest_report(s: Session, card: Card) -> LossReport | None:
    """The card's most recent loss report."""
    return s.scalars(
        select(LossReport).where(LossReport.card_id == card.id).order_by(LossReport.id.desc()).limit(1)
    ).one_or_none()


def card_view(card: Card, report: LossReport | None, today: dt.date) -> CardView:
    """What ``card``'s status is on ``today``, given its latest loss report."""
    if card.status == "reported_lost":
        if report is not None and today <= report.expires_on:
            return CardView("reported_lost", until=report.expires_on)
        # Nobody made the phone report formal in time: it lapsed and the card works again.
        return CardView("active", lapsed=True)
    if card.status == "replacing":
        applied = card.replacement_applied_on or card.updated_at.date()
        return CardView("replacing", ready_on=add_working_days(applied, REPLACEMENT_WORKING_DAYS))
    return CardView(card.status)


def lock_card(s: Session, id_number: str) -> Card | None:
    """The card for ``id_number``, locked against other transactions until this one ends.

    PostgreSQL locks the row (``SELECT ... FOR UPDATE``).  SQLite has no row
    locks and ignores FOR UPDATE, and a transaction that reads first and writes
    later cannot wait for another writer: it fails with "database is locked".
    So on SQLite a harmless write comes first, which makes the transaction take
    the database's write lock at once, waiting for it up to the busy timeout.
    """
    if s.get_bind().dialect.name == "sqlite":
        s.execute(
            update(Card)
            .where(Card.id_number == id_number)
            .values(failed_attempts=Card.failed_attempts)
            .execution_options(synchronize_session=False)
        )
    return s.scalars(select(Card).where(Card.id_number == id_number).with_for_update()).one_or_none()


def _next_sequence(s: Session, day: dt.date) -> int:
    """The next reference sequence number of ``day``, unique under concurrent reports."""
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


def file_loss_report(s: Session, card: Card, now: dt.datetime, call_sid: str = "") -> LossReport:
    """Record a temporary loss report for ``card`` (locked by the caller) and mark it reported lost.

    The reference is the report's Beijing date, a six-digit sequence number of
    that day and a Luhn check digit (15 digits), so an agent can tell a
    mistyped reference from an unknown one.
    """
    day = beijing_date(now)
    body = f"{day:%Y%m%d}{_next_sequence(s, day):06d}"
    report = LossReport(
        reference=body + luhn.calc_check_digit(body),
        card_id=card.id,
        call_sid=call_sid,
        reported_at=now,
        reported_on=day,
        expires_on=add_working_days(day, LOSS_REPORT_WORKING_DAYS),
    )
    s.add(report)
    card.status = "reported_lost"
    card.updated_at = now
    s.flush()
    return report


def add_card(
    s: Session,
    *,
    id_number: str,
    pin: str,
    now: dt.datetime,
    status: str = "not_activated",
    pin_changed: bool = False,
    holder: str = "",
    kind: str = "standard",
    locked: bool = False,
    since: dt.date | None = None,
) -> Card:
    """Create a card, as an operator or the demo seed does, with an audit row.

    ``since`` is the date of the loss report (``reported_lost``) or of the
    formal replacement application (``replacing``); it defaults to today.
    Raises :class:`CardError` for a request that makes no sense.
    """
    number = normalize_id_number(id_number)
    if number is None:
        raise CardError(f"{id_number!r} is not a valid resident ID number (18 characters, with a right check digit)")
    if not _is_pin(pin):
        raise CardError("the password must be 6 digits")
    if status not in CARD_STATUSES:
        raise CardError(f"unknown status {status!r}; use one of {', '.join(CARD_STATUSES)}")
    if kind not in CARD_KINDS:
        raise CardError(f"unknown kind {kind!r}; use one of {', '.join(CARD_KINDS)}")
    if status == "not_activated" and pin_changed:
        raise CardError("a card that is not activated still has its initial password (drop --pin-changed)")
    if s.scalar(select(Card.id).where(Card.id_number == number)) is not None:
        raise CardError(f"a card for {mask_id_number(number)} already exists")
    day = since or beijing_date(now)
    card = Card(
        id_number=number,
        holder=holder,
        kind=kind,
        status="active" if status == "reported_lost" else status,
        pin_hash=hash_pin(pin),
        pin_changed=pin_changed,
        failed_attempts=MAX_ATTEMPTS if locked else 0,
        locked_at=now if locked else None,
        replacement_applied_on=day if status == "replacing" else None,
        created_at=now,
        updated_at=now,
    )
    s.add(card)
    s.flush()
    if status == "reported_lost":
        at = dt.datetime.combine(day, dt.time(12, 0), tzinfo=BEIJING) if since else now
        file_loss_report(s, card, at)
        card.updated_at = now
    write_audit(s, now=now, call_sid="", service="cards.add", outcome=status, id_number=number, card=card)
    return card


# -- the handlers ------------------------------------------------------------------


@dataclass
class _Attempt:
    """One transaction attempt on a card, as the handler works it out."""

    id_number: str | None
    pin: str
    checked_hash: str | None = None
    """The hash the password was checked against before the transaction, and the answer."""
    pin_ok: bool = False
    outcome: str = ""
    data: dict[str, str] = field(default_factory=dict)


Work = Callable[[Session, Card, _Attempt, ServiceContext], None]


class CardServices:
    """The card transactions, bound to one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # The handlers' signatures are the registry's Handler type.

    def activate(self, args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceResultData:
        """``card.activate``: check the initial password and set the new one."""
        new_pin = args.get("new_pin")
        id_number = normalize_id_number(args.get("id_number"))
        if not _is_pin(new_pin) or (id_number is not None and is_trivial_pin(str(new_pin), id_number)):
            # The menu refuses such passwords before calling; getting one here is a wiring bug.
            raise ValueError("card.activate needs a new 6-digit password that is not trivial")
        assert new_pin is not None
        # Hashed before the transaction, so the slow hash does not hold the card's lock.
        return self._run("card.activate", args, ctx, self._activate(new_pin, hash_pin(new_pin)))

    def report_loss(self, args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceResultData:
        """``card.report_loss``: a temporary loss report by phone, with a reference number."""
        return self._run("card.report_loss", args, ctx, _report_loss)

    def status(self, args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceResultData:
        """``card.status``: the card's status, once its password is right."""
        return self._run("card.status", args, ctx, _status)

    # -- plumbing -----------------------------------------------------------------

    def _activate(self, new_pin: str, new_hash: str) -> Work:
        def work(s: Session, card: Card, attempt: _Attempt, ctx: ServiceContext) -> None:
            if card.status != "not_activated":
                if _activated_by(s, card, ctx.call_sid):
                    # Twilio retried the webhook after our commit: say what the first try said.
                    attempt.outcome = "activated"
                else:
                    attempt.outcome = "already_active"
                return
            if not _password(card, attempt, ctx.now):
                return
            if new_pin == attempt.pin:
                attempt.outcome = "same_password"
                return
            card.pin_hash = new_hash
            card.pin_changed = True
            card.status = "active"
            card.updated_at = ctx.now
            attempt.outcome = "activated"

        return work

    def _run(self, service: str, args: Mapping[str, str | None], ctx: ServiceContext, work: Work) -> ServiceResultData:
        if ctx.now.tzinfo is None:  # the contract says aware; a naive time is taken as UTC, as the calendar does
            ctx = replace(ctx, now=ctx.now.replace(tzinfo=dt.UTC))
        attempt = _Attempt(normalize_id_number(args.get("id_number")), args.get("pin") or "")
        try:
            if attempt.id_number is not None:
                self._check_password_early(attempt)
            with self.db.session() as s:
                card = lock_card(s, attempt.id_number) if attempt.id_number is not None else None
                if card is None:
                    attempt.outcome = "not_found"
                elif card.locked:
                    attempt.outcome = "locked"
                else:
                    work(s, card, attempt, ctx)
                write_audit(
                    s,
                    now=ctx.now,
                    call_sid=ctx.call_sid,
                    service=service,
                    outcome=attempt.outcome,
                    id_number=attempt.id_number or args.get("id_number"),
                    card=card,
                    detail=attempt.data,
                )
        except StoreUnavailable as exc:
            raise ServiceUnavailable(f"{service}: the card database is unavailable ({exc})") from exc
        log.info(
            "%s: %s for %s -> %s",
            ctx.call_sid,
            service,
            mask_id_number(attempt.id_number or args.get("id_number")),
            attempt.outcome,
        )
        return ServiceResultData(attempt.outcome, attempt.data)

    def _check_password_early(self, attempt: _Attempt) -> None:
        """Check the password before the transaction, so the slow hash does not hold the card's lock.

        On SQLite the lock is the whole database's, so this keeps other calls from
        waiting ~50 ms per check.  If the hash changes before the lock is taken, the
        check is made again under the lock.
        """
        with self.db.session() as s:
            stored = s.scalar(select(Card.pin_hash).where(Card.id_number == attempt.id_number))
        if stored is not None:
            attempt.checked_hash = stored
            attempt.pin_ok = verify_pin(attempt.pin, stored)


def _password(card: Card, attempt: _Attempt, now: dt.datetime) -> bool:
    """Whether the caller's password is right; counts a wrong one, and may lock the card.

    Sets the attempt's outcome when the password is wrong.
    """
    ok = attempt.pin_ok if attempt.checked_hash == card.pin_hash else verify_pin(attempt.pin, card.pin_hash)
    if ok:
        card.failed_attempts = 0
        return True
    # The card's row is locked by this transaction, so this increment cannot be lost.
    card.failed_attempts += 1
    card.updated_at = now
    left = MAX_ATTEMPTS - card.failed_attempts
    if left <= 0:
        card.locked_at = now
        attempt.outcome = "locked"
    else:
        attempt.outcome = "wrong_password"
        attempt.data = {"attempts_left": str(left)}
    return False


def _activated_by(s: Session, card: Card, call_sid: str) -> bool:
    """Whether this call already activated ``card`` (the webhook is being retried)."""
    if not call_sid:
        return False
    return (
        s.scalar(
            select(AuditEntry.id)
            .where(
                AuditEntry.card_id == card.id,
                AuditEntry.call_sid == call_sid,
                AuditEntry.service == "card.activate",
                AuditEntry.outcome == "activated",
            )
            .limit(1)
        )
        is not None
    )


def _report_loss(s: Session, card: Card, attempt: _Attempt, ctx: ServiceContext) -> None:
    if not _password(card, attempt, ctx.now):
        return
    report = latest_report(s, card)
    view = card_view(card, report, beijing_date(ctx.now))
    if view.status == "not_activated":
        attempt.outcome = "not_active"
    elif not card.pin_changed:
        attempt.outcome = "initial_password"
    elif view.status == "reported_lost" and report is not None and ctx.call_sid and report.call_sid == ctx.call_sid:
        # This call filed the report and Twilio retried the webhook: read the same reference again.
        attempt.outcome = "reported"
        attempt.data = {"reference": report.reference, "expires_on": report.expires_on.isoformat()}
    elif view.status in ("reported_lost", "replacing"):
        attempt.outcome = "already_reported"
    else:
        report = file_loss_report(s, card, ctx.now, ctx.call_sid)
        attempt.outcome = "reported"
        attempt.data = {"reference": report.reference, "expires_on": report.expires_on.isoformat()}


def _status(s: Session, card: Card, attempt: _Attempt, ctx: ServiceContext) -> None:
    if not _password(card, attempt, ctx.now):
        return
    view = card_view(card, latest_report(s, card), beijing_date(ctx.now))
    attempt.outcome = view.status
    if view.until is not None:
        attempt.data = {"until": view.until.isoformat()}
    if view.ready_on is not None:
        attempt.data = {"ready_on": view.ready_on.isoformat()}


def bind_card_handlers(registry: ServiceRegistry, db: Database) -> CardServices:
    """Bind ``card.activate``, ``card.report_loss``, ``card.status`` and ``voicemail.save`` to ``db``."""
    services = CardServices(db)
    registry.bind("card.activate", services.activate)
    registry.bind("card.report_loss", services.report_loss)
    registry.bind("card.status", services.status)
    registry.bind("voicemail.save", VoicemailService(db).save)
    return services
