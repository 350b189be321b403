"""Shared fixtures: the real 12333 menu, an engine for it, and paths."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.audio import RenderReport, render
from ivr.engine import Engine
from ivr.menu import Menu, load_menu

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
    from sqlalchemy import create_engine, text

    schema = f"ivr_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # a URL that does not answer is a broken environment, not a pass
        pytest.fail(f"IVR_TEST_POSTGRES_URL is set but PostgreSQL does not answer: {exc}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    """Close the connections of the apps a test made, so none leaks into the next."""
    yield
    from tests.webapp import dispose_apps

    dispose_apps()
