"""``ivr db``: preparing the hotline's database, and what it keeps of calls.

It lives beside :mod:`ivr.cards_cli`, above the storage layer, since seeding
goes through the card services' rules, and sweeping through the call session's
rule for what an ended call may keep.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import click

from ivr.config import ConfigError, Settings, parse_duration

if TYPE_CHECKING:
    from ivr.storage.db import Database

__all__ = ["db", "open_database"]


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def open_database(database_url: str | None) -> Iterator[tuple[Settings, Database]]:
    """The settings and the database, migrated to the newest schema; its connections are closed afterwards.

    Exits with a clear message when the settings are wrong or the database cannot be reached.
    """
    from ivr.storage.db import Database, StoreUnavailable

    try:
        settings = Settings.load(overrides={"database_url": database_url} if database_url else None)
    except ConfigError as exc:
        _fail(str(exc), 2)
    try:
        database = Database(settings.database_url)
    except ConfigError as exc:
        _fail(str(exc), 2)
    try:
        try:
            database.upgrade()
        except StoreUnavailable as exc:
            _fail(str(exc))
        yield settings, database
    finally:
        database.dispose()


@click.group()
def db() -> None:
    """Manage the database behind the hotline."""


@db.command()
@click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the database.")
def upgrade(database_url: str | None) -> None:
    """Create or migrate the database's tables to the newest schema."""
    with open_database(database_url) as (_, database):
        click.echo(f"database at {database.url.render_as_string(hide_password=True)} is up to date")


@db.command()
@click.option("--demo", is_flag=True, help="Load the fictional demo cardholders listed in docs/demo-data.md.")
@click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the database.")
def seed(demo: bool, database_url: str | None) -> None:
    """Load the demo cardholders (migrating the database first).

    Cards already there are left as they are, so seeding twice is harmless.
    """
    if not demo:
        raise click.UsageError("say what to seed: --demo loads the demo cardholders")
    from ivr.services.cards import CardError
    from ivr.services.seed import seed_demo
    from ivr.storage.db import StoreUnavailable

    with open_database(database_url) as (settings, database):
        try:
            results = seed_demo(database, settings.now(), settings.zone)
        except (StoreUnavailable, CardError) as exc:
            _fail(str(exc))
    for card, added in results:
        state = card.status + (", locked" if card.locked else "") + (", pin changed" if card.pin_changed else "")
        click.echo(f"{'added' if added else 'kept '}  {card.keys}  {card.holder_en:<12} {card.kind:<8} {state}")
    added_count = sum(added for _, added in results)
    click.echo(
        f"{added_count} demo card(s) added, {len(results) - added_count} already there; "
        "passwords and what to try: docs/demo-data.md"
    )


@db.command()
@click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the database.")
def sweep(database_url: str | None) -> None:
    """Abandon idle calls, dropping their secrets.

    A call is idle when it has not moved for IVR_CALL_IDLE_TIMEOUT (its status
    callback was lost); it keeps no password, no full ID number and no TwiML.
    Calls ended by an older version are cleaned the same way.
    """
    from ivr.storage.calls import SWEEP_LIMIT, CallStore
    from ivr.storage.db import StoreUnavailable
    from ivr.web.calls import scrub_ended_calls, sweep_idle_calls

    total = scrubbed = 0
    with open_database(database_url) as (settings, database):
        store = CallStore(database)
        try:
            while True:  # in batches, as the webhook's own sweeps go
                ended = sweep_idle_calls(store, settings.now(), settings.call_idle_timeout, SWEEP_LIMIT)
                total += len(ended)
                if len(ended) < SWEEP_LIMIT:
                    break
            while True:  # calls that ended before secrets were dropped at the end
                cleaned = scrub_ended_calls(store, SWEEP_LIMIT)
                scrubbed += cleaned
                if cleaned < SWEEP_LIMIT:
                    break
        except StoreUnavailable as exc:
            _fail(str(exc))
    click.echo(f"{total} idle call(s) ended as abandoned (idle over {settings.call_idle_timeout:g} s)")
    if scrubbed:
        click.echo(f"{scrubbed} ended call(s) from an older version cleaned of their secrets and TwiML")


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value).total_seconds()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@db.command()
@click.option(
    "--older-than",
    required=True,
    metavar="DURATION",
    callback=_duration,
    help="How long ago the calls ended: 30d, 12h, 1h30m, 90s.",
)
@click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the database.")
def purge(older_than: float, database_url: str | None) -> None:
    """Delete ended calls older than --older-than.

    Calls that ended longer ago than the duration go, with their events.
    Calls in progress are kept (ivr db sweep ends the abandoned ones);
    voicemails, loss reports and the audit trail are records of their own, kept.
    """
    from ivr.storage.calls import CallStore
    from ivr.storage.db import StoreUnavailable

    with open_database(database_url) as (settings, database):
        try:
            calls, events = CallStore(database).purge(settings.now() - dt.timedelta(seconds=older_than))
        except StoreUnavailable as exc:
            _fail(str(exc))
    click.echo(f"{calls} ended call(s) deleted, with {events} event(s)")
