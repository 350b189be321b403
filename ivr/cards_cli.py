"""``ivr cards``: social security cards, for operators and testers.

``add`` creates a card in any state, ``show`` prints a card's status (with a
self-service lock) and its history, and ``unlock`` lifts a lock after the
holder proved who they are.  No command ever prints a password or its hash.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any, NoReturn

import click

from ivr.db_cli import open_database
from ivr.rules import MAX_ATTEMPTS, local_date, mask_id_number, normalize_id_number
from ivr.storage.cards import CARD_KINDS, CARD_STATUSES
from ivr.storage.db import Database

__all__ = ["cards"]

DATABASE_OPTION = click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the database.")


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _id_number(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    number = normalize_id_number(value)
    if number is None:
        raise click.BadParameter("not a valid 18-character resident ID number (check digit wrong, or a bad date)")
    return number


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@click.group()
def cards() -> None:
    """Look after social security cards (for operators and testers)."""


@cards.command()
@click.option(
    "--id-number", required=True, callback=_id_number, help="The holder's resident ID number; a final X may be *."
)
@click.option(
    "--pin",
    prompt="Service password",
    hide_input=True,
    help="The card's 6-digit service password (asked for without echo if left out).",
)
@click.option(
    "--status",
    type=click.Choice(CARD_STATUSES),
    default="not_activated",
    show_default=True,
    help="The card's state; reported_lost also files a temporary loss report.",
)
@click.option("--pin-changed", is_flag=True, help="The password is no longer the initial one.")
@click.option("--holder", default="", help="The holder's name.")
@click.option("--kind", type=click.Choice(CARD_KINDS), default="standard", show_default=True, help="The card's kind.")
@click.option("--locked", is_flag=True, help="Lock the card for self-service, as six wrong passwords do.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date of the loss report (reported_lost) or of the formal replacement application (replacing); default today.",
)
@DATABASE_OPTION
def add(
    id_number: str,
    pin: str,
    status: str,
    pin_changed: bool,
    holder: str,
    kind: str,
    locked: bool,
    since: dt.datetime | None,
    database_url: str | None,
) -> None:
    """Create a card."""
    from ivr.services.cards import CardError, add_card
    from ivr.storage.db import StoreUnavailable
    from ivr.storage.transactions import transaction

    try:
        with open_database(database_url) as (settings, database), transaction(database) as tx:
            add_card(
                tx,
                id_number=id_number,
                pin=pin,
                now=settings.now(),
                zone=settings.zone,
                status=status,
                pin_changed=pin_changed,
                holder=holder,
                kind=kind,
                locked=locked,
                since=since.date() if since else None,
            )
    except CardError as exc:
        _fail(str(exc))
    except StoreUnavailable as exc:
        _fail(str(exc))
    click.echo(f"added a {kind} card for {mask_id_number(id_number)}: {status}" + (", locked" if locked else ""))


@cards.command()
@click.option("--id-number", required=True, callback=_id_number, help="The holder's resident ID number.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@DATABASE_OPTION
def show(id_number: str, as_json: bool, database_url: str | None) -> None:
    """Print a card's status, lock and history (never its password)."""
    from ivr.storage.db import StoreUnavailable

    try:
        with open_database(database_url) as (settings, database):
            report = _describe(database, id_number, settings.now(), settings.zone)
    except StoreUnavailable as exc:
        _fail(str(exc))
    if report is None:
        _fail(f"no card for {mask_id_number(id_number)}")
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"card      {report['id_number']}  {report['holder']}  ({report['kind']})")
    status = report["status"]
    if report["until"]:
        status += f" until {report['until']}"
    if report["ready_on"]:
        status += f", ready from {report['ready_on']}"
    if report["report_lapsed"]:
        status += " (its temporary loss report lapsed)"
    click.echo(f"status    {status}")
    click.echo(f"password  {'changed' if report['pin_changed'] else 'initial'}")
    lock = report["self_service"]
    if lock["locked"]:
        click.echo(f"locked    since {lock['locked_at']} after {lock['failed_attempts']} wrong passwords")
    else:
        click.echo(f"unlocked  {lock['attempts_left']} attempt(s) left")
    for r in report["loss_reports"]:
        by = r["call_sid"] or "an operator"
        click.echo(f"report    {r['reference']}  on {r['reported_on']}  expires {r['expires_on']}  by {by}")
    for h in report["history"]:
        click.echo(f"history   {h['at']}  {h['call_sid'] or '-':<36} {h['service']:<18} {h['outcome']}")


@cards.command()
@click.option("--id-number", required=True, callback=_id_number, help="The holder's resident ID number.")
@DATABASE_OPTION
def unlock(id_number: str, database_url: str | None) -> None:
    """Lift a self-service lock and reset the wrong-password count.

    For an operator, once the holder has proved who they are.
    """
    from ivr.storage.db import StoreUnavailable
    from ivr.storage.transactions import transaction

    try:
        with open_database(database_url) as (settings, database), transaction(database) as tx:
            now = settings.now()
            card = tx.lock_card(id_number)
            if card is None:
                _fail(f"no card for {mask_id_number(id_number)}")
            was_locked = card.locked
            tx.unlock(card, now)
            outcome = "unlocked" if was_locked else "not_locked"
            tx.audit(now=now, call_sid="", service="cards.unlock", outcome=outcome, id_number=id_number, card=card)
    except StoreUnavailable as exc:
        _fail(str(exc))
    click.echo(f"{mask_id_number(id_number)}: {'unlocked' if was_locked else 'was not locked; count reset to 0'}")


def _describe(database: Database, id_number: str, now: dt.datetime, zone: dt.tzinfo) -> dict[str, Any] | None:
    """The card as ``show`` prints it, or None if there is none."""
    from ivr.services.cards import card_view
    from ivr.storage.transactions import transaction

    with transaction(database) as tx:
        card = tx.find_card(id_number)
        if card is None:
            return None
        view = card_view(card, tx.latest_report(card), local_date(now, zone))
        reports = tx.loss_reports(card)
        audit = tx.history(card)
        return {
            "id_number": mask_id_number(card.id_number),
            "holder": card.holder,
            "kind": card.kind,
            "status": view.status,
            "until": _iso(view.until),
            "ready_on": _iso(view.ready_on),
            "report_lapsed": view.lapsed,
            "stored_status": card.status,
            "pin_changed": card.pin_changed,
            "self_service": {
                "locked": card.locked,
                "locked_at": _iso(card.locked_at),
                "failed_attempts": card.failed_attempts,
                "attempts_left": max(0, MAX_ATTEMPTS - card.failed_attempts),
            },
            "replacement_applied_on": _iso(card.replacement_applied_on),
            "created_at": _iso(card.created_at),
            "updated_at": _iso(card.updated_at),
            "loss_reports": [
                {
                    "reference": r.reference,
                    "reported_on": _iso(r.reported_on),
                    "expires_on": _iso(r.expires_on),
                    "call_sid": r.call_sid,
                }
                for r in reports
            ],
            "history": [
                {
                    "at": _iso(a.at),
                    "call_sid": a.call_sid,
                    "service": a.service,
                    "outcome": a.outcome,
                    "detail": json.loads(a.detail or "{}"),
                }
                for a in audit
            ],
        }
