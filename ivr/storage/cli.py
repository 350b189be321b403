"""``ivr db``: preparing the hotline's database."""

from __future__ import annotations

import sys

import click

from ivr.config import ConfigError, Settings

__all__ = ["db"]


@click.group()
def db() -> None:
    """Manage the database behind the hotline."""


@db.command()
@click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the database.")
def upgrade(database_url: str | None) -> None:
    """Create or migrate the database's tables to the newest schema."""
    from ivr.storage.db import Database, StoreUnavailable

    try:
        settings = Settings.load(overrides={"database_url": database_url} if database_url else None)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    database = Database(settings.database_url)
    try:
        database.upgrade()
    except StoreUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"database at {database.url.render_as_string(hide_password=True)} is up to date")
