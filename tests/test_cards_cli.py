"""``ivr cards`` and ``ivr db seed --demo``, through click's CliRunner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.services.cards import CardServices
from ivr.services.seed import DEMO_CARDS, demo_card
from ivr.storage.db import Database
from tests.cards_support import NOW_TEXT, args, ctx, db_url, new_id_number

__all__ = ["db_url"]  # fixture, imported for pytest


def ivr(url: str, *argv: str, input: str | None = None) -> Result:
    """Run ``ivr ARGV`` against the database at ``url`` with the tests' fixed clock."""
    runner = CliRunner()
    return runner.invoke(main, list(argv), env={"IVR_DATABASE_URL": url, "IVR_CLOCK": NOW_TEXT}, input=input)


def show(url: str, id_number: str) -> dict[str, object]:
    result = ivr(url, "cards", "show", "--id-number", id_number, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_seed_demo_loads_every_demo_card_once(db_url: str) -> None:
    first = ivr(db_url, "db", "seed", "--demo")
    assert first.exit_code == 0, first.output
    assert f"{len(DEMO_CARDS)} demo card(s) added" in first.output
    for card in DEMO_CARDS:
        assert card.keys in first.output
        assert card.pin not in first.output
    again = ivr(db_url, "db", "seed", "--demo")
    assert again.exit_code == 0
    assert f"0 demo card(s) added, {len(DEMO_CARDS)} already there" in again.output
    locked = show(db_url, demo_card("Yang Lei").id_number)
    assert locked["self_service"] == {
        "locked": True,
        "locked_at": "2026-11-23T02:00:00+00:00",
        "failed_attempts": 6,
        "attempts_left": 0,
    }


def test_seed_without_a_kind_of_data_is_a_usage_error(db_url: str) -> None:
    result = ivr(db_url, "db", "seed")
    assert result.exit_code == 2
    assert "--demo" in result.output


def test_cards_add_and_show_never_print_the_password(db_url: str) -> None:
    id_number = new_id_number(x=True)
    added = ivr(
        db_url, "cards", "add", "--id-number", id_number[:-1] + "*", "--pin", "135790", "--status", "active",
        "--pin-changed", "--holder", "测试",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "135790" not in added.output
    data = show(db_url, id_number)
    assert data["status"] == "active" and data["pin_changed"] is True and data["holder"] == "测试"
    assert data["id_number"] == id_number[:3] + "*" * 11 + id_number[-4:]
    text = ivr(db_url, "cards", "show", "--id-number", id_number)
    assert text.exit_code == 0
    for output in (json.dumps(data), text.output):
        assert "135790" not in output and "scrypt" not in output and id_number not in output
    assert "status    active" in text.output


def test_cards_show_includes_the_lock_and_the_calls_history(db_url: str) -> None:
    id_number = new_id_number()
    assert ivr(db_url, "cards", "add", "--id-number", id_number, "--pin", "802461", "--status", "active",
               "--pin-changed").exit_code == 0  # fmt: skip
    services = CardServices(Database(db_url))
    try:
        sids = []
        for i in range(6):
            c = ctx()
            sids.append(c.call_sid)
            services.status(args(id_number=id_number, pin=f"00000{i}"), c)
        c = ctx()
        sids.append(c.call_sid)
        assert services.report_loss(args(id_number=id_number, pin="802461"), c).outcome == "locked"
    finally:
        services.db.dispose()
    data = show(db_url, id_number)
    lock = data["self_service"]
    assert isinstance(lock, dict)
    assert lock["locked"] is True and lock["attempts_left"] == 0 and lock["failed_attempts"] == 6
    history = data["history"]
    assert isinstance(history, list)
    assert [h["service"] for h in history] == ["cards.add"] + ["card.status"] * 6 + ["card.report_loss"]
    assert [h["call_sid"] for h in history[1:]] == sids
    assert [h["outcome"] for h in history[-3:]] == ["wrong_password", "locked", "locked"]
    assert history[1]["detail"] == {"attempts_left": "5"}
    unlocked = ivr(db_url, "cards", "unlock", "--id-number", id_number)
    assert unlocked.exit_code == 0 and "unlocked" in unlocked.output
    assert show(db_url, id_number)["self_service"] == {
        "locked": False, "locked_at": None, "failed_attempts": 0, "attempts_left": 6,
    }  # fmt: skip


def test_cards_add_reported_lost_since_a_date(db_url: str) -> None:
    id_number = new_id_number()
    result = ivr(db_url, "cards", "add", "--id-number", id_number, "--pin", "802461", "--status", "reported_lost",
                 "--pin-changed", "--since", "2026-11-20")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = show(db_url, id_number)
    assert (data["status"], data["until"]) == ("reported_lost", "2026-12-11")
    reports = data["loss_reports"]
    assert isinstance(reports, list) and reports[0]["reported_on"] == "2026-11-20"


def test_cards_add_asks_for_the_pin_without_echo(db_url: str) -> None:
    id_number = new_id_number()
    result = ivr(db_url, "cards", "add", "--id-number", id_number, input="135790\n")
    assert result.exit_code == 0, result.output
    assert "135790" not in result.output
    assert show(db_url, id_number)["status"] == "not_activated"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["cards", "add", "--id-number", "110101199001011230", "--pin", "135790"], 2, "not a valid"),
        (["cards", "add", "--id-number", "110101199001011237", "--pin", "12345"], 1, "6 digits"),
        (["cards", "add", "--id-number", "110101199001011237", "--pin", "135790", "--pin-changed"], 1, "initial"),
        (["cards", "add", "--id-number", "110101199001011237", "--pin", "135790", "--status", "lost"], 2, "lost"),
        (["cards", "show", "--id-number", "110101199001011237"], 1, "no card for 110***********1237"),
        (["cards", "unlock", "--id-number", "110101199001011237"], 1, "no card"),
    ],
)
def test_cli_errors_are_clear_and_have_no_traceback(db_url: str, argv: list[str], code: int, message: str) -> None:
    result = ivr(db_url, *argv)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_adding_a_card_twice_is_refused(db_url: str) -> None:
    id_number = new_id_number()
    assert ivr(db_url, "cards", "add", "--id-number", id_number, "--pin", "135790").exit_code == 0
    again = ivr(db_url, "cards", "add", "--id-number", id_number, "--pin", "246813")
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_an_unreachable_database_is_reported_without_a_traceback() -> None:
    result = ivr("postgresql+psycopg://nobody@127.0.0.1:1/none", "cards", "show", "--id-number", "110101199001011237")
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "Traceback" not in result.output
