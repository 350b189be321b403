"""``ivr simulate`` in-process uses the configured store; its calls end with a status callback (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from stdnum.cn import ric

from ivr.cli import main
from ivr.phone import STATUS_CALLBACK_HEADER
from ivr.phone import events as ev
from ivr.phone.callers import parse_answers
from ivr.phone.run import simulate
from ivr.storage.calls import CallStore
from ivr.storage.db import Database
from tests.conftest import MENU_PATH
from tests.twiml_fixture_app import serve
from tests.webapp import AppFactory

BODY = "11010519880101123"
ID_NUMBER = BODY + ric.calc_check_digit(BODY + "0")
INITIAL_PIN, NEW_PIN, WRONG_PIN = "123456", "654321", "000000"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """IVR_DATABASE_URL set to a SQLite file in ``tmp_path``, which is also the working directory."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("IVR_DATABASE_URL", url)
    monkeypatch.delenv("IVR_ENV", raising=False)
    monkeypatch.chdir(tmp_path)  # a default sqlite:///ivr.db would land here, never in the repository
    yield url


def _ivr(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def _call(keys: str, *options: str, env: dict[str, str] | None = None) -> Result:
    """One in-process call to the hotline's menu with ``keys``."""
    result = _ivr("simulate", str(MENU_PATH), "--mute", "--keys", keys, *options, env=env)
    assert result.exit_code == 0, result.output
    return result


def _requests(run: Result) -> list[dict[str, Any]]:
    """The webhook requests of a ``--json`` call, in order."""
    events = [json.loads(line) for line in run.stdout.splitlines()]
    return [e for e in events if e["event"] == "request"]


def _card() -> dict[str, Any]:
    shown = _ivr("cards", "show", "--id-number", ID_NUMBER, "--json")
    assert shown.exit_code == 0, shown.output
    card: dict[str, Any] = json.loads(shown.stdout)
    return card


def _add_card(*options: str) -> None:
    added = _ivr("cards", "add", "--id-number", ID_NUMBER, "--pin", INITIAL_PIN, "--holder", "Test Holder", *options)
    assert added.exit_code == 0, added.output


def test_calls_find_the_card_added_and_their_transactions_persist_from_call_to_call(store: str) -> None:
    _add_card()
    assert _card()["status"] == "not_activated"

    activation = _call(f"1 {ID_NUMBER} 1 {INITIAL_PIN} {NEW_PIN} {NEW_PIN} 1")
    card = _card()
    assert card["status"] == "active" and card["pin_changed"] is True
    assert [h["outcome"] for h in card["history"]] == ["not_activated", "activated"]
    # The store the call used is named once, dim, on stderr: the transcript's style, not its JSON.
    assert f"store    {store}" in activation.stderr and store not in activation.stdout

    _call(f"2 1 {ID_NUMBER} 1 {NEW_PIN} 1")
    card = _card()
    assert card["status"] == "reported_lost" and len(card["loss_reports"]) == 1

    # Wrong passwords count across calls: three in one, three in the next lock the card.
    _call(f"3 {ID_NUMBER} 1 {WRONG_PIN} {WRONG_PIN} {WRONG_PIN} -")
    lock = _card()["self_service"]
    assert lock["failed_attempts"] == 3 and not lock["locked"] and lock["attempts_left"] == 3
    _call(f"3 {ID_NUMBER} 1 {WRONG_PIN} {WRONG_PIN} {WRONG_PIN} -")
    assert _card()["self_service"]["locked"] is True
    # Locked: even the right password is refused now, and the card stays reported lost.
    _call(f"3 {ID_NUMBER} 1 {NEW_PIN} -")
    card = _card()
    assert card["self_service"]["locked"] is True and card["status"] == "reported_lost"


def test_the_database_url_option_names_the_store(store: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    _ivr("cards", "add", "--id-number", ID_NUMBER, "--pin", INITIAL_PIN, "--database-url", other)
    run = _call(f"1 {ID_NUMBER} 1 {INITIAL_PIN} {NEW_PIN} {NEW_PIN} 1", "--database-url", other)
    assert f"store    {other}" in run.stderr
    shown = _ivr("cards", "show", "--id-number", ID_NUMBER, "--json", "--database-url", other)
    assert json.loads(shown.stdout)["status"] == "active"
    assert not (tmp_path / "store.db").exists()  # IVR_DATABASE_URL's store was not used


def test_the_store_line_hides_a_password(store: str) -> None:
    run = _ivr(
        "simulate", str(MENU_PATH), "--mute", "--keys", "-",
        "--database-url", "postgresql+psycopg://ivr:s3cret@127.0.0.1:1/ivr",
    )  # fmt: skip
    assert "s3cret" not in run.output and "postgresql+psycopg://ivr:***@127.0.0.1:1/ivr" in run.stderr


def test_fresh_leaves_the_configured_store_untouched(store: str, tmp_path: Path) -> None:
    _add_card()
    before = (tmp_path / "store.db").read_bytes()
    run = _call(f"1 {ID_NUMBER} 1 {INITIAL_PIN} {NEW_PIN} {NEW_PIN} 1", "--fresh")
    assert "throw-away" in run.stderr
    assert (tmp_path / "store.db").read_bytes() == before
    assert _card()["status"] == "not_activated"
    assert not (tmp_path / "ivr.db").exists()


def test_fresh_and_a_database_url_or_a_url_are_refused_together(store: str) -> None:
    both = _ivr("simulate", "--mute", "--keys", "-", "--fresh", "--database-url", store)
    assert both.exit_code == 2 and "--fresh" in both.output
    remote = _ivr("simulate", "--url", "http://127.0.0.1:1/voice", "--mute", "--keys", "-", "--fresh")
    assert remote.exit_code == 2 and "--url server has its own" in remote.output


def _count_cards(url: str) -> int:
    db = Database(url)
    try:
        with db.connection() as conn:
            return int(conn.exec_driver_sql("SELECT COUNT(*) FROM cards").scalar_one())
    finally:
        db.dispose()


def test_demo_data_twice_is_harmless(store: str) -> None:
    _call("-", "--demo-data")
    count = _count_cards(store)
    assert count > 0
    _call("-", "--demo-data")
    assert _count_cards(store) == count


def test_demo_data_refuses_a_production_store(store: str, tmp_path: Path) -> None:
    env = {"IVR_ENV": "production", "TWILIO_AUTH_TOKEN": "a-token", "IVR_TRUSTED_PROXIES": "1"}
    run = _ivr("simulate", str(MENU_PATH), "--mute", "--keys", "-", "--demo-data", env=env)
    assert run.exit_code == 2, run.output
    assert "production" in run.output and "Traceback" not in run.output
    assert not (tmp_path / "store.db").exists()
    # A throw-away database is no production store.
    assert _ivr("simulate", str(MENU_PATH), "--mute", "--keys", "-", "--demo-data", "--fresh", env=env).exit_code == 0


def _stored_status(url: str, call_sid: str) -> str | None:
    db = Database(url)
    try:
        call = CallStore(db).load(call_sid)
        events = CallStore(db).events(call_sid)
    finally:
        db.dispose()
    assert call is not None
    assert any(kind == "status" for kind, _, _ in events)
    return call.status


def test_an_in_process_call_ends_with_the_project_status_callback(store: str) -> None:
    run = _call("4 1 -", "--json")
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[-2]["event"] == "request" and lines[-2]["url"] == "http://localhost/status"
    assert lines[-2]["status"] == 204
    assert _stored_status(store, lines[0]["call_sid"]) == "completed"


def test_status_callback_option_still_wins_in_process(store: str) -> None:
    run = _call("-", "--json", "--status-callback", "/elsewhere")
    requests = _requests(run)
    assert requests[-1]["url"] == "http://localhost/elsewhere" and requests[-1]["status"] == 404
    assert not any(r["url"].endswith("/status") for r in requests)


def test_over_a_url_the_phone_follows_the_announced_status_callback(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app()
    with serve(app) as (base, _):
        result = simulate(f"{base}/voice", parse_answers("4 1 -"))
    requests = [e for e in result.events if isinstance(e, ev.Request)]
    assert requests[0].url == f"{base}/voice" and requests[-1].url == f"{base}/status"
    assert requests[-1].status == 204
    call = result.events[0]
    assert isinstance(call, ev.CallEvent)
    assert _stored_status(f"sqlite:///{tmp_path / 'ivr.db'}", call.call_sid) == "completed"


def test_the_cli_over_a_url_follows_it_unless_told_otherwise(make_app: AppFactory) -> None:
    with serve(make_app()) as (base, _):
        followed = _ivr("simulate", "--url", f"{base}/voice", "--mute", "--json", "--keys", "-")
        overridden = _ivr(
            "simulate", "--url", f"{base}/voice", "--mute", "--json", "--keys", "-", "--status-callback", "/nowhere"
        )
    last = _requests(followed)[-1]
    assert last["url"] == f"{base}/status" and last["status"] == 204
    last = _requests(overridden)[-1]
    assert last["url"] == f"{base}/nowhere" and last["status"] == 404
    assert not any(r["url"].endswith("/status") for r in _requests(overridden))


def test_the_webhook_announces_its_status_callback(make_app: AppFactory, tmp_path: Path) -> None:
    form = {"CallSid": "CA" + "1" * 32, "From": "+8613800138000", "To": "+8612333"}
    relative = make_app().test_client().post("/voice", data=form)
    assert relative.headers[STATUS_CALLBACK_HEADER] == "/status"
    (tmp_path / "public").mkdir()
    public = make_app(tmp_path / "public", PUBLIC_URL="https://ivr.example.com")
    absolute = public.test_client().post("/voice", data=form)
    assert absolute.headers[STATUS_CALLBACK_HEADER] == "https://ivr.example.com/status"


def test_the_help_says_which_store_a_call_uses() -> None:
    shown = _ivr("simulate", "--help")
    text = " ".join(shown.output.split())
    assert "IVR_DATABASE_URL / --database-url (default sqlite:///ivr.db)" in text and "--fresh" in text
