"""``ivr serve``: the webhook service under Flask's development server."""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path

import click

from ivr.cli_common import refuse_menu
from ivr.config import ConfigError, Settings
from ivr.errors import MenuError
from ivr.web.logs import MAX_LINE_BYTES, clip

__all__ = ["exposure_warnings", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` listens only to this machine: 127.0.0.0/8, ::1 or ``localhost``."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # another name (or 0.0.0.0's spelling as a name): it may be reachable from anywhere


def exposure_warnings(host: str, settings: Settings) -> list[str]:
    """What to tell whoever serves on ``host``, reachable by others, with these settings."""
    if is_loopback(host):
        return []
    if not settings.twilio_auth_token:
        return [
            f"warning: serving on {host} without TWILIO_AUTH_TOKEN: anyone who can reach it can drive any call "
            "(set TWILIO_AUTH_TOKEN, or serve on 127.0.0.1)"
        ]
    if not settings.public_url and not settings.trusted_proxies:
        return [
            f"warning: serving on {host} without IVR_PUBLIC_URL: signatures are checked against the Host header "
            "each request names (set IVR_PUBLIC_URL to the URL Twilio calls, or IVR_TRUSTED_PROXIES behind a proxy)"
        ]
    return []


class _ClipRequestLines(logging.Filter):
    """Bounds the development server's request lines, which carry the whole requested path.

    The server logs them through the ``werkzeug`` logger, outside the ``ivr``
    loggers' JSON formatter (:mod:`ivr.web.logs`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_LINE_BYTES // 4:
            record.msg, record.args = clip(message, MAX_LINE_BYTES // 4), None
        return True


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="The port to listen on.")
@click.option(
    "--menu", type=click.Path(dir_okay=False, path_type=Path), envvar="IVR_MENU", help="The menu file to serve."
)
@click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the call store.")
@click.option(
    "--reload",
    "reload_menu",
    is_flag=True,
    help="Serve the menu file's new content to new calls whenever it changes (while no version is published).",
)
@click.option("--debug", is_flag=True, help="Reload on code changes and show the debugger (never in production).")
def serve(host: str, port: int, menu: Path | None, database_url: str | None, reload_menu: bool, debug: bool) -> None:
    """Serve the hotline's webhooks with Flask's development server (use gunicorn in production)."""
    from ivr.web import app_state, create_app

    overrides: dict[str, object] = {}
    if menu is not None:
        overrides["menu"] = menu
    if database_url:
        overrides["database_url"] = database_url
    if reload_menu:
        overrides["menu_reload"] = True
    try:
        app = create_app(overrides)
    except MenuError as exc:
        refuse_menu(exc)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    state = app_state(app)
    for warning in exposure_warnings(host, state.settings):
        click.echo(warning, err=True)
    served = state.current_menu()
    click.echo(f"ivr: serving {served.menu.id} {served.label} on http://{host}:{port}/voice", err=True)
    if reload_menu:
        if served.publication is not None:
            click.echo(
                f"ivr: --reload watches {state.settings.menu}, but version {served.publication} is "
                "published: new calls get the published versions (see: ivr menu list)",
                err=True,
            )
        else:
            click.echo(f"ivr: watching {state.settings.menu}: new calls get its content as it changes", err=True)
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _ClipRequestLines) for f in werkzeug.filters):
        werkzeug.addFilter(_ClipRequestLines())
    app.run(host=host, port=port, debug=debug, use_reloader=debug, threaded=True)
