"""Shared fixtures: the real 12333 menu, an engine for it, paths, webhook apps, and the ``xsd`` marker."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ivr.audio import RenderReport, render
from ivr.engine import Engine
from ivr.menu import Menu, load_menu
from tests.twiml_tools import require_xsd

if TYPE_CHECKING:
    from flask import Flask

    from tests.webapp import AppFactory

ROOT = Path(__file__).resolve().parent.parent
MENU_PATH = ROOT / "menus" / "12333.json"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def menu() -> Menu:
    """The hotline's own menu, loaded and checked."""
    return load_menu(MENU_PATH)


@pytest.fixture(scope="session")
def rendered(menu: Menu, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RenderReport]:
    """The real menu rendered once, by the real engine, with two workers."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make test installs it through scripts/sysdeps.sh)")
    out = tmp_path_factory.mktemp("audio")
    report = render([menu], out, workers=2)
    return out, report


@pytest.fixture(scope="session")
def engine(menu: Menu) -> Engine:
    """An engine for the 12333 menu."""
    return Engine(menu)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL with a schema of its own for this test session.

    Read from ``IVR_TEST_POSTGRES_URL``; the tests that use it skip when it is unset.
    """
    base = os.environ.get("IVR_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("IVR_TEST_POSTGRES_URL is not set (CI sets it; PostgreSQL tests need a server)")
    from ivr.storage.db import StoreUnavailable
    from ivr.storage.scratch import ScratchSchema

    try:
        scratch = ScratchSchema.create(base, prefix="ivr_test")
    except StoreUnavailable as exc:  # a URL that does not answer is a broken environment, not a pass
        pytest.fail(f"IVR_TEST_POSTGRES_URL is set but PostgreSQL does not answer: {exc}")
    yield scratch.url
    scratch.drop()


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Builds webhook apps (:func:`tests.webapp.build_app`, in ``tmp_path`` unless told), closed after the test."""
    from ivr.web import app_state
    from tests.webapp import build_app

    apps: list[Flask] = []

    def make(folder: Path | None = None, /, **overrides: Any) -> Flask:
        app = build_app(folder or tmp_path, **overrides)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app_state(app).close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "xsd: needs Twilio's TwiML XSD (../shared/twiml-xsd): skipped without it, an error under CI=true"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``xsd`` need Twilio's XSD: see :func:`tests.twiml_tools.require_xsd`."""
    if item.get_closest_marker("xsd") is not None:
        require_xsd()
