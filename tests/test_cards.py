"""Cards at rest: password hashes, the schema, the demo data and the demo call."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from rich.console import Console
from sqlalchemy import select
from stdnum.cn import ric

import ivr.storage.menus
import ivr.storage.models  # noqa: F401 - the call tables
from ivr.rules import mask_id_number, normalize_id_number
from ivr.services.cards import card_view
from ivr.services.registry import HOTLINE_ZONE as BEIJING
from ivr.services.seed import DEMO_CARDS, demo_card, seed_demo
from ivr.storage.base import Base
from ivr.storage.cards import Card, hash_pin, verify_pin
from ivr.storage.db import Database
from ivr.storage.transactions import transaction
from tests.cards_support import MENU_PATH, NOW, ROOT, db, db_url

__all__ = ["db", "db_url"]  # fixtures, imported for pytest

# -- password hashes ---------------------------------------------------------------


def test_pin_hashes_are_salted_scrypt_with_their_parameters() -> None:
    first, second = hash_pin("802461"), hash_pin("802461")
    assert first != second  # a salt of its own for each
    m = re.fullmatch(r"\$scrypt\$ln=14,r=8,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})", first)
    assert m, first
    assert "802461" not in first
    assert verify_pin("802461", first) and verify_pin("802461", second)
    assert not verify_pin("802462", first)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "802461",
        "$scrypt$ln=14,r=8,p=1$c2FsdA",
        "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",  # absurd cost: refused, not run
        "$pbkdf2$ln=14,r=8,p=1$c2FsdA$aGFzaA",
    ],
)
def test_malformed_hashes_never_match(stored: str) -> None:
    assert not verify_pin("802461", stored)


def test_id_numbers_are_masked_and_normalised() -> None:
    assert mask_id_number("61011319950621122X") == "610***********122X"
    assert mask_id_number("") == ""
    assert normalize_id_number("61011319950621122*") == "61011319950621122X"
    assert normalize_id_number("61011319950621122x") == "61011319950621122X"
    assert normalize_id_number("610113199506211221") is None  # wrong check digit


# -- the schema ---------------------------------------------------------------------


def test_the_migrations_create_exactly_the_models_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_the_card_tables_downgrade_and_upgrade_again(db: Database) -> None:
    from alembic import command
    from alembic.config import Config

    from ivr.storage.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with db.engine.connect() as conn:
        from sqlalchemy import inspect

        assert "cards" not in inspect(conn).get_table_names()
    db.upgrade()
    with db.session() as s:
        assert s.scalars(select(Card)).all() == []


def test_times_read_back_in_utc_whatever_clock_wrote_them(db: Database) -> None:
    beijing = dt.datetime(2026, 11, 23, 10, 0, tzinfo=BEIJING)
    seed_demo(db, beijing, BEIJING, [demo_card("Li Na")])
    with db.session() as s:
        card = s.scalars(select(Card)).one()
    assert card.created_at == beijing
    assert card.created_at.tzinfo is not None and card.created_at.utcoffset() == dt.timedelta(0)


# -- the demo data -------------------------------------------------------------------


def test_demo_cards_have_valid_id_numbers_and_cover_every_state() -> None:
    for card in DEMO_CARDS:
        assert ric.is_valid(card.id_number), card
        assert card.pin != card.id_number[-6:]
    states = {(c.status, c.pin_changed, c.locked) for c in DEMO_CARDS}
    assert ("not_activated", False, False) in states
    assert ("active", True, False) in states
    assert ("active", False, False) in states
    assert ("reported_lost", True, False) in states
    assert ("replacing", True, False) in states
    assert any(locked for _, _, locked in states)
    assert any(c.id_number.endswith("X") and c.keys.endswith("*") for c in DEMO_CARDS)
    assert len({c.id_number for c in DEMO_CARDS}) == len(DEMO_CARDS)


def test_seeded_demo_cards_read_as_documented(db: Database) -> None:
    seeded = seed_demo(db, NOW, BEIJING)
    assert all(added for _, added in seeded)
    assert not any(added for _, added in seed_demo(db, NOW, BEIJING))  # seeding twice adds nothing
    today = NOW.date()
    views = {}
    with transaction(db) as tx:
        for demo in DEMO_CARDS:
            card = tx.find_card(demo.id_number)
            assert card is not None
            assert verify_pin(demo.pin, card.pin_hash)
            views[demo.holder_en] = (card_view(card, tx.latest_report(card), today), card.locked)
    assert views["Zhang Wei"][0].status == "not_activated"
    assert views["Liu Yang"][0].status == "reported_lost"
    assert views["Liu Yang"][0].until == dt.date(2026, 12, 11)  # reported 2026-11-20, 15 working days
    assert views["Chen Jing"][0].status == "replacing"
    assert views["Yang Lei"][1] is True
    assert views["Huang Qiang"][0].status == "active" and views["Huang Qiang"][0].lapsed


def test_the_demo_data_page_lists_every_demo_card() -> None:
    page = (ROOT / "docs" / "demo-data.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| ") and re.search(r"\d{17}[\dX]", line)]
    assert len(rows) == len(DEMO_CARDS)
    for card, row in zip(DEMO_CARDS, rows, strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == f"{card.holder} {card.holder_en}"
        assert cells[1] == card.id_number
        assert cells[2] == f"`{card.keys}`"
        assert cells[3].startswith(card.pin)


# -- the demo call ---------------------------------------------------------------------


def test_the_demo_call_activates_a_card_and_reports_one_lost() -> None:
    from ivr.simulator.demo import DEMO_KEYS, run_demo

    out = io.StringIO()
    assert run_demo(MENU_PATH, DEMO_KEYS, console=Console(file=out, width=400, color_system=None)) == 0
    text = out.getvalue()
    assert "presses 61011319950621122*" in text  # Zhao Min's X keyed as *
    assert text.index("初始服务密码不正确，您还可以尝试5次") < text.index("您的社保卡已激活成功")
    reference = re.search(r"loss report (\d{15})", text)
    assert reference, text[-300:]
    assert " ".join(reference.group(1)) in text  # read back digit by digit
    assert "Agents are not available now" in text and "Your message has been saved" in text
    assert "This call stored: 4 audited transaction(s), 1 voicemail(s)" in text
