"""``ivr serve``: the webhook service under Flask's development server."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivr.cli_common import refuse_menu
from ivr.config import ConfigError
from ivr.errors import MenuError

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="The port to listen on.")
@click.option(
    "--menu", type=click.Path(dir_okay=False, path_type=Path), envvar="IVR_MENU", help="The menu file to serve."
)
@click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the call store.")
@click.option("--debug", is_flag=True, help="Reload on code changes and show the debugger (never in production).")
def serve(host: str, port: int, menu: Path | None, database_url: str | None, debug: bool) -> None:
    """Serve the hotline's webhooks with Flask's development server (use gunicorn in production)."""
    from ivr.web import app_state, create_app

    overrides: dict[str, object] = {}
    if menu is not None:
        overrides["menu"] = menu
    if database_url:
        overrides["database_url"] = database_url
    try:
        app = create_app(overrides)
    except MenuError as exc:
        refuse_menu(exc)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"ivr: serving {app_state(app).engine.menu.id} on http://{host}:{port}/voice", err=True)
    app.run(host=host, port=port, debug=debug, use_reloader=debug, threaded=True)
