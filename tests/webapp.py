"""Building the webhook app for tests.

Tests take the ``make_app`` fixture (tests/conftest.py), which builds apps with
:func:`build_app` and closes each one's database when the test ends.  A test
that needs an app outside a fixture calls :func:`build_app` and closes it
itself, with ``ivr.web.app_state(app).close()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from flask import Flask

from ivr.web import create_app

IN_HOURS = "2026-11-23T10:00:00+08:00"  # a Monday morning in Beijing
OUT_OF_HOURS = "2026-11-22T10:00:00+08:00"  # a Sunday


class AppFactory(Protocol):
    """What the ``make_app`` fixture hands out: :func:`build_app`, in the test's ``tmp_path`` unless told."""

    def __call__(self, folder: Path | None = None, /, **overrides: Any) -> Flask: ...


def build_app(folder: Path, **overrides: Any) -> Flask:
    """The app on a fresh SQLite file in ``folder``, agents on duty, with ``overrides``; the caller closes it."""
    config: dict[str, Any] = {
        "DATABASE_URL": f"sqlite:///{folder / 'ivr.db'}",
        "CLOCK": IN_HOURS,
        "AGENT_NUMBER": "+8610123456789",
        "LOG_LEVEL": "WARNING",
        "TESTING": True,
    }
    config.update(overrides)
    return create_app(config)
