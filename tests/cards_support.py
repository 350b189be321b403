"""Fixtures and helpers for the card transaction tests, on SQLite and on PostgreSQL.

The ``db`` fixture is parametrised over both databases.  PostgreSQL is used
when ``IVR_TEST_POSTGRES_URL`` is set (CI sets it); every test then gets a
schema of its own, named uniquely and dropped afterwards, so concurrent test
runs on one server do not collide.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from stdnum.cn import ric

from ivr.harness import Call
from ivr.menu import Menu
from ivr.services.cards import add_card
from ivr.services.handlers import build_registry
from ivr.services.registry import HOTLINE_ZONE as BEIJING
from ivr.services.registry import ServiceContext
from ivr.storage.cards import Card
from ivr.storage.db import Database
from ivr.storage.scratch import ScratchSchema
from ivr.storage.transactions import transaction
from tests.twiml_tools import CALLER, new_sid

ROOT = Path(__file__).resolve().parent.parent
MENU_PATH = ROOT / "menus" / "12333.json"

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=BEIJING)
"""Monday 23 November 2026, 10:00 Beijing time: a working day, agents on duty."""
NOW_TEXT = "2026-11-23T10:00:00+08:00"

POSTGRES_ENV = "IVR_TEST_POSTGRES_URL"

_serial = itertools.count(1)


def new_id_number(x: bool = False) -> str:
    """A valid resident ID number no other test uses; ``x`` asks for one ending in X."""
    while True:
        n = next(_serial)
        body = f"110105{1970 + n % 40}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if number.endswith("X") == x:
            return number


def keys(id_number: str) -> str:
    """The ID number as a caller keys it: a final X is ``*``."""
    return id_number[:-1] + "*" if id_number.endswith("X") else id_number


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of each kind, for this test alone."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cards.db'}"
        return
    scratch = ScratchSchema.create(_postgres_url(), prefix="ivr_test")
    try:
        yield scratch.url
    finally:
        scratch.drop()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database of each kind."""
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


def make_card(
    db: Database,
    *,
    pin: str = "135790",
    status: str = "not_activated",
    pin_changed: bool = False,
    locked: bool = False,
    since: dt.date | None = None,
    x: bool = False,
    now: dt.datetime = NOW,
) -> str:
    """Add a card with a fresh ID number, as an operator would; returns the ID number."""
    id_number = new_id_number(x)
    with transaction(db) as tx:
        add_card(
            tx,
            id_number=id_number,
            pin=pin,
            now=now,
            zone=BEIJING,
            status=status,
            pin_changed=pin_changed,
            locked=locked,
            since=since,
        )
    return id_number


def card_row(db: Database, id_number: str) -> Card:
    """The card as stored."""
    with db.session() as s:
        return s.scalars(select(Card).where(Card.id_number == id_number)).one()


def phone(
    db: Database, menu: Menu, *, now: dt.datetime = NOW, call_sid: str | None = None, caller: str = CALLER
) -> Call:
    """An in-memory call through the real menu, with the real handlers on ``db``."""
    ctx = ServiceContext(call_sid=call_sid or new_sid(), caller=caller, now=now)
    return Call(menu, build_registry(db), context=ctx)


def ctx(now: dt.datetime = NOW, call_sid: str | None = None) -> ServiceContext:
    """A service context for calling a handler directly."""
    return ServiceContext(call_sid=call_sid or new_sid(), caller=CALLER, now=now)


def args(**values: str | None) -> Mapping[str, str | None]:
    """Handler arguments."""
    return values


def create_test_app(url: str, tmp_path: Path, clock: str = NOW_TEXT) -> Any:
    """The webhook app on ``url`` at a fixed clock, speaking every prompt with <Say> (no audio files)."""
    from ivr.web import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "CLOCK": clock,
            "LOG_LEVEL": "WARNING",
            "MENU": str(MENU_PATH),
            "AUDIO_DIR": str(tmp_path / "no-audio"),
            "TESTING": True,
        }
    )
