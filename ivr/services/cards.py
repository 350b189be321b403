"""The 12333 self-service transactions on the database: activation, loss reports and card status.

The rules are the real line's (their numbers are in :mod:`ivr.rules`):

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

This module decides what a caller gets; :mod:`ivr.storage.transactions` reads
and writes the rows.  Every transaction is one database transaction that locks
the card first, and writes its audit row in the same transaction, so two calls
on one card never lose a wrong-password count or file two reports.  A handler
returns only after the commit: what the caller then hears is already stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ivr.engine.events import ServiceDone
from ivr.errors import ServiceUnavailable
from ivr.rules import (
    MAX_ATTEMPTS,
    REPLACEMENT_WORKING_DAYS,
    add_working_days,
    is_new_password,
    is_password,
    local_date,
    mask_id_number,
    normalize_id_number,
)
from ivr.services.registry import ServiceContext, ServiceRegistry
from ivr.services.voicemail import VoicemailService
from ivr.storage.cards import CARD_KINDS, CARD_STATUSES, Card, LossReport, hash_pin, verify_pin
from ivr.storage.db import Database, StoreUnavailable
from ivr.storage.transactions import Transaction, password_hash, transaction

__all__ = [
    "CardError",
    "CardServices",
    "CardView",
    "add_card",
    "bind_card_handlers",
    "card_view",
]

log = logging.getLogger(__name__)


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


def add_card(
    tx: Transaction,
    *,
    id_number: str,
    pin: str,
    now: dt.datetime,
    zone: dt.tzinfo,
    status: str = "not_activated",
    pin_changed: bool = False,
    holder: str = "",
    kind: str = "standard",
    locked: bool = False,
    since: dt.date | None = None,
) -> Card:
    """Create a card in ``tx``, as an operator or the demo seed does, with an audit row.

    ``since`` is the date of the loss report (``reported_lost``) or of the
    formal replacement application (``replacing``); it defaults to today in
    the hotline's ``zone``.
    Raises :class:`CardError` for a request that makes no sense.
    """
    number = normalize_id_number(id_number)
    if number is None:
        raise CardError(f"{id_number!r} is not a valid resident ID number (18 characters, with a right check digit)")
    if not is_password(pin):
        raise CardError("the password must be 6 digits")
    if status not in CARD_STATUSES:
        raise CardError(f"unknown status {status!r}; use one of {', '.join(CARD_STATUSES)}")
    if kind not in CARD_KINDS:
        raise CardError(f"unknown kind {kind!r}; use one of {', '.join(CARD_KINDS)}")
    if status == "not_activated" and pin_changed:
        raise CardError("a card that is not activated still has its initial password (drop --pin-changed)")
    if tx.has_card(number):
        raise CardError(f"a card for {mask_id_number(number)} already exists")
    day = since or local_date(now, zone)
    reported = None
    if status == "reported_lost":
        # A report on a given day is taken as made at noon, the hotline's time.
        reported = (dt.datetime.combine(day, dt.time(12, 0), tzinfo=zone) if since else now, day)
    card = tx.add_card(
        id_number=number,
        pin_hash=hash_pin(pin),
        now=now,
        status=status,
        pin_changed=pin_changed,
        holder=holder,
        kind=kind,
        locked=locked,
        replacement_applied_on=day if status == "replacing" else None,
        loss_reported=reported,
    )
    tx.audit(now=now, call_sid="", service="cards.add", outcome=status, id_number=number, card=card)
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


Work = Callable[[Transaction, Card, _Attempt, ServiceContext], None]


class CardServices:
    """The card transactions, bound to one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # The handlers' signatures are the registry's Handler type.

    def activate(self, args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceDone:
        """``card.activate``: check the initial password and set the new one."""
        new_pin = args.get("new_pin")
        id_number = normalize_id_number(args.get("id_number"))
        if not is_new_password(new_pin, id_number):
            # The menu refuses such passwords before calling; getting one here is a wiring bug.
            raise ValueError("card.activate needs a new 6-digit password that is not trivial")
        # Hashed before the transaction, so the slow hash does not hold the card's lock.
        return self._run("card.activate", args, ctx, self._activate(new_pin, hash_pin(new_pin)))

    def report_loss(self, args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceDone:
        """``card.report_loss``: a temporary loss report by phone, with a reference number."""
        return self._run("card.report_loss", args, ctx, _report_loss)

    def status(self, args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceDone:
        """``card.status``: the card's status, once its password is right."""
        return self._run("card.status", args, ctx, _status)

    # -- plumbing -----------------------------------------------------------------

    def _activate(self, new_pin: str, new_hash: str) -> Work:
        def work(tx: Transaction, card: Card, attempt: _Attempt, ctx: ServiceContext) -> None:
            if card.status != "not_activated":
                if tx.activated_by(card, ctx.call_sid):
                    # Twilio retried the webhook after our commit: say what the first try said.
                    attempt.outcome = "activated"
                else:
                    attempt.outcome = "already_active"
                return
            if not _password(tx, card, attempt, ctx.now):
                return
            if new_pin == attempt.pin:
                attempt.outcome = "same_password"
                return
            tx.activate(card, new_hash, ctx.now)
            attempt.outcome = "activated"

        return work

    def _run(self, service: str, args: Mapping[str, str | None], ctx: ServiceContext, work: Work) -> ServiceDone:
        if ctx.now.tzinfo is None:  # the contract says aware; a naive time is taken as UTC, as the calendar does
            ctx = replace(ctx, now=ctx.now.replace(tzinfo=dt.UTC))
        attempt = _Attempt(normalize_id_number(args.get("id_number")), args.get("pin") or "")
        try:
            if attempt.id_number is not None:
                self._check_password_early(attempt)
            with transaction(self.db) as tx:
                card = tx.lock_card(attempt.id_number) if attempt.id_number is not None else None
                if card is None:
                    attempt.outcome = "not_found"
                elif card.locked:
                    attempt.outcome = "locked"
                else:
                    work(tx, card, attempt, ctx)
                tx.audit(
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
        return ServiceDone(attempt.outcome, attempt.data)

    def _check_password_early(self, attempt: _Attempt) -> None:
        """Check the password before the transaction, so the slow hash does not hold the card's lock.

        On SQLite the lock is the whole database's, so this keeps other calls from
        waiting ~50 ms per check.  If the hash changes before the lock is taken, the
        check is made again under the lock.
        """
        assert attempt.id_number is not None
        stored = password_hash(self.db, attempt.id_number)
        if stored is not None:
            attempt.checked_hash = stored
            attempt.pin_ok = verify_pin(attempt.pin, stored)


def _password(tx: Transaction, card: Card, attempt: _Attempt, now: dt.datetime) -> bool:
    """Whether the caller's password is right; counts a wrong one, and may lock the card.

    Sets the attempt's outcome when the password is wrong.
    """
    ok = attempt.pin_ok if attempt.checked_hash == card.pin_hash else verify_pin(attempt.pin, card.pin_hash)
    if ok:
        tx.right_password(card)
        return True
    left = MAX_ATTEMPTS - tx.wrong_password(card, now)
    if left <= 0:
        tx.lock(card, now)
        attempt.outcome = "locked"
    else:
        attempt.outcome = "wrong_password"
        attempt.data = {"attempts_left": str(left)}
    return False


def _report_loss(tx: Transaction, card: Card, attempt: _Attempt, ctx: ServiceContext) -> None:
    if not _password(tx, card, attempt, ctx.now):
        return
    report = tx.latest_report(card)
    view = card_view(card, report, local_date(ctx.now, ctx.zone))
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
        report = tx.file_loss_report(card, ctx.now, local_date(ctx.now, ctx.zone), ctx.call_sid)
        attempt.outcome = "reported"
        attempt.data = {"reference": report.reference, "expires_on": report.expires_on.isoformat()}


def _status(tx: Transaction, card: Card, attempt: _Attempt, ctx: ServiceContext) -> None:
    if not _password(tx, card, attempt, ctx.now):
        return
    view = card_view(card, tx.latest_report(card), local_date(ctx.now, ctx.zone))
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
