"""The project's own webhook app, in-process, for the simulator, scenarios and the demo.

:func:`project_app` builds ``ivr.web.create_app`` for a menu on a throw-away
SQLite database (or the database ``config`` names); with ``fresh=False`` it uses
the store the settings name instead (``IVR_DATABASE_URL``, else ``sqlite:///ivr.db``),
as ``ivr simulate`` does.  The phone then calls it over WSGI, with no network.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from ivr.errors import MenuError

__all__ = ["TargetUnavailable", "project_app", "seed_demo_data", "store_url"]


class TargetUnavailable(Exception):
    """The application to call cannot be built (bad settings, no database)."""


@contextmanager
def project_app(menu: Path, config: Mapping[str, Any] | None = None, *, fresh: bool = True) -> Iterator[Flask]:
    """The project's webhook app for ``menu``, on a temporary SQLite database unless ``config`` names one.

    ``fresh=False`` uses the configured store instead of a temporary one: ``config``'s
    ``DATABASE_URL``, else the settings' (``IVR_DATABASE_URL``, else ``sqlite:///ivr.db``).

    A menu that cannot be loaded raises :class:`ivr.errors.MenuError` with its
    located problems; other reasons the app cannot start raise :class:`TargetUnavailable`.
    """
    from ivr.config import ConfigError
    from ivr.web import app_state, create_app

    with tempfile.TemporaryDirectory(prefix="ivr-sim-") as tmp:
        settings: dict[str, Any] = {
            "MENU": str(menu),
            "LOG_LEVEL": "WARNING",  # the app's access log would drown the transcript
        }
        if fresh:
            settings["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'sim.db'}"
        settings.update(config or {})
        try:
            app = create_app(settings)
        except MenuError:
            raise
        except (ConfigError, OSError) as exc:
            raise TargetUnavailable(f"cannot start the app for {menu}: {exc}") from None
        try:
            yield app
        finally:
            app_state(app).close()  # release the SQLite file before the directory goes


def seed_demo_data(app: Flask) -> None:
    """Give the in-process app's database the fictional demo cardholders (docs/demo-data.md)."""
    from ivr.web import app_state

    app_state(app).seed_demo()


def store_url(app: Flask) -> str:
    """The in-process app's database URL with its password hidden (what ``ivr simulate`` names)."""
    from ivr.web import app_state

    return app_state(app).db.url.render_as_string(hide_password=True)
