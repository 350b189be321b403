"""Building the webhook app for tests, and closing its connections afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from ivr.web import create_app

IN_HOURS = "2026-11-23T10:00:00+08:00"  # a Monday morning in Beijing
OUT_OF_HOURS = "2026-11-22T10:00:00+08:00"  # a Sunday

_APPS: list[Flask] = []


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
    """The app on a fresh SQLite file in ``tmp_path``, agents on duty, with ``overrides``."""
    config: dict[str, Any] = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.db'}",
        "CLOCK": IN_HOURS,
        "AGENT_NUMBER": "+8610123456789",
        "LOG_LEVEL": "WARNING",
        "TESTING": True,
    }
    config.update(overrides)
    app = create_app(config)
    _APPS.append(app)
    return app


def dispose_apps() -> None:
    """Close the database connections of every app made since the last call."""
    while _APPS:
        _APPS.pop().extensions["ivr"].db.dispose()
