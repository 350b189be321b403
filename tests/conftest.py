"""Shared fixtures: the real 12333 menu, an engine for it, and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

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
def engine(menu: Menu) -> Engine:
    """An engine for the 12333 menu."""
    return Engine(menu)
