"""``ivr serve`` and ``ivr db``: running the webhook service and preparing its database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivr.config import ConfigError, Settings
from ivr.errors import MenuError

__all__ = ["serve", "db"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="The port to listen on.")
@click.option("--menu", type=click.Path(dir_okay=False, path_type=Path), envvar="IVR_MENU", help="The menu file to serve.")
@click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the call store.")
@click.option("--debug", is_flag=True, help="Reload on code changes and show the debugger (never in production).")
def serve(host: str, port: int, menu: Path | None, database_url: str | None, debug: bool) -> None:
    """Serve the hotline's webhooks with Flask's development server (use gunicorn in production)."""
    from ivr.web import create_app

    overrides: dict[str, object] = {}
    if menu is not None:
        overrides["menu"] = menu
    if database_url:
        overrides["database_url"] = database_url
    try:
        app = create_app(overrides)
    except MenuError as exc:
        for p in exc.problems:
            click.echo(p.located(exc.source), err=True)
        sys.exit(1)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"ivr: serving {app.extensions['ivr'].engine.menu.id} on http://{host}:{port}/voice", err=True)
    app.run(host=host, port=port, debug=debug, use_reloader=debug, threaded=True)


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
