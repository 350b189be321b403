"""Published menu versions: ``ivr menu`` publish/list/diff/show/rollback, and serving them.

A new publication reaches new calls on every app that shares the store
without a restart, and costs a step no statement; every call keeps the
publication it started on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import event, text

from ivr.cli import main
from ivr.storage.db import Database
from ivr.storage.menus import PublishedMenus
from ivr.web import app_state
from ivr.web import menus as served_menus
from tests.cards_support import db_url  # noqa: F401 - the fixture: a fresh SQLite file, and a PostgreSQL schema
from tests.test_web_shared_store import _free_port
from tests.twiml_tools import WebCall
from tests.webapp import AppFactory

ROOT = Path(__file__).resolve().parents[1]
MENU = ROOT / "menus" / "12333.json"
NEW_WORDS = "您好，这是新版主菜单。"
"""What the changed version's main options start with."""


def _changed(folder: Path, words: str = NEW_WORDS, version: str = "1.0.1") -> Path:
    """The 12333 menu with its main options prompt (what a repeat replays) changed, as a file in ``folder``."""
    doc = json.loads(MENU.read_text(encoding="utf-8"))
    doc["version"] = version
    doc["prompts"]["main_options"]["zh-CN"] = words + doc["prompts"]["main_options"]["zh-CN"]
    path = folder / f"menu-{version}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def _ivr(url: str, *args: str) -> Result:
    return CliRunner().invoke(
        main, list(args), env={"IVR_DATABASE_URL": url, "IVR_CLOCK": None}, catch_exceptions=False
    )


def _versions(url: str) -> list[dict[str, Any]]:
    result = _ivr(url, "menu", "list", "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


# -- the commands -------------------------------------------------------------------------------


def test_publish_list_diff_show_and_rollback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    assert _versions(url) == []
    assert "no version is published" in _ivr(url, "menu", "list").stdout

    first = _ivr(url, "menu", "publish", str(MENU), "--note", "launch", "--by", "ops@beijing")
    assert first.exit_code == 0, first.output
    assert "published version 1 (12333 1.0.0) by ops@beijing" in first.stdout
    again = _ivr(url, "menu", "publish", str(MENU))
    assert again.exit_code == 0 and "unchanged: version 1" in again.stdout
    second = _ivr(url, "menu", "publish", str(_changed(tmp_path)), "--note", "friendlier main menu")
    assert second.exit_code == 0 and "published version 2 (12333 1.0.1)" in second.stdout

    rows = _versions(url)
    assert [(r["version"], r["label"], r["note"], r["current"]) for r in rows] == [
        (2, "1.0.1", "friendlier main menu", True),
        (1, "1.0.0", "launch", False),
    ]
    assert rows[1]["published_by"] == "ops@beijing"
    assert rows[0]["published_at"].endswith("+08:00")  # the hotline's time, with its offset

    diff = _ivr(url, "menu", "diff", "1", "2")
    assert diff.exit_code == 1  # they differ
    assert "prompt main_options" in diff.stdout
    assert '$.prompts.main_options["zh-CN"]' in diff.stdout and NEW_WORDS in diff.stdout
    assert '~ $.version: "1.0.0" → "1.0.1"' in diff.stdout
    assert _ivr(url, "menu", "diff", "1", str(MENU)).exit_code == 0  # a file compares too: the same menu

    as_json = json.loads(_ivr(url, "menu", "diff", "1", "2", "--json").stdout)
    assert {(c["section"], c["name"], c["change"]) for c in as_json} == {
        ("menu", "", "changed"),
        ("prompt", "main_options", "changed"),
    }

    shown = _ivr(url, "menu", "show", "1")
    assert shown.exit_code == 0 and json.loads(shown.stdout) == json.loads(MENU.read_text(encoding="utf-8"))

    back = _ivr(url, "menu", "rollback", "1", "--note", "the old words tested better")
    assert back.exit_code == 0 and "published version 3 (12333 1.0.0, rollback to 1)" in back.stdout
    rows = _versions(url)
    assert [(r["version"], r["rollback_of"], r["current"]) for r in rows][:2] == [(3, 1, True), (2, None, False)]
    assert "(rollback to 1) the old words tested better" in _ivr(url, "menu", "list").stdout
    assert json.loads(_ivr(url, "menu", "show", "current").stdout)["version"] == "1.0.0"


def test_publish_refuses_a_menu_that_does_not_validate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    doc = json.loads(MENU.read_text(encoding="utf-8"))
    doc["nodes"]["main"]["options"]["6"] = "nowhere"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = _ivr(url, "menu", "publish", str(broken))
    assert result.exit_code == 2
    assert f'{broken}: error: $.nodes.main.options["6"]' in result.stderr
    assert "nothing was published" in result.stderr
    assert _versions(url) == []

    not_json = tmp_path / "half.json"
    not_json.write_text('{"id": "12333",', encoding="utf-8")
    result = _ivr(url, "menu", "publish", str(not_json))
    assert result.exit_code == 2 and f"{not_json}:1:" in result.stderr and "JSON syntax" in result.stderr
    assert _ivr(url, "menu", "publish", str(tmp_path / "missing.json")).exit_code == 2
    long_note = _ivr(url, "menu", "publish", str(MENU), "--note", "x" * 2001)
    assert long_note.exit_code == 2 and "a note may have 2000 characters" in long_note.stderr
    assert _versions(url) == []


def test_publish_strict_also_refuses_lint_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    doc = json.loads(MENU.read_text(encoding="utf-8"))
    doc["nodes"]["main"]["options"]["6"] = "ecard"  # an option its prompt never announces: a lint error
    path = tmp_path / "no-agent.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    strict = _ivr(url, "menu", "publish", str(path), "--strict")
    assert strict.exit_code == 1 and "lint error(s) (--strict)" in strict.stderr
    assert "option-not-announced" in strict.stderr
    assert _versions(url) == []
    assert _ivr(url, "menu", "publish", str(path)).exit_code == 0  # without --strict, lint is advice
    assert [r["version"] for r in _versions(url)] == [1]


def test_the_commands_refuse_versions_that_do_not_exist(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    assert "no version is published" in _ivr(url, "menu", "show", "current").stderr
    _ivr(url, "menu", "publish", str(MENU))
    for args in (("show", "7"), ("rollback", "7"), ("diff", "1", "7")):
        result = _ivr(url, "menu", *args)
        assert result.exit_code == 1 and "there is no version 7" in result.stderr
    assert _ivr(url, "menu", "show", "latest").exit_code == 2
    unchanged = _ivr(url, "menu", "rollback", "1")
    assert unchanged.exit_code == 0 and "unchanged" in unchanged.stdout
    assert len(_versions(url)) == 1


# -- serving ------------------------------------------------------------------------------------


def _main_words(call: WebCall) -> str:
    return call.said


def test_calls_keep_their_version_across_two_apps_on_one_store(
    db_url: str,  # noqa: F811 - the fixture
    make_app: AppFactory,
    tmp_path: Path,
) -> None:
    one, two = make_app(DATABASE_URL=db_url), make_app(DATABASE_URL=db_url)
    before = WebCall(one.test_client())  # begins on the menu file: nothing is published
    assert NEW_WORDS not in before.said

    store = PublishedMenus(app_state(one).db)
    assert _ivr(db_url, "menu", "publish", str(_changed(tmp_path))).exit_code == 0

    after = WebCall(two.test_client())  # a new call, on the other app: no restart
    assert after.said.startswith("欢迎") and NEW_WORDS in after.said
    assert NEW_WORDS in WebCall(one.test_client()).said  # and on the first app

    before.client = two.test_client()  # the old call's next step on the other app
    before.press("*")
    assert NEW_WORDS not in before.said and "激活社保卡，请按1" in before.said
    before.client = one.test_client()
    before.press("*")
    assert NEW_WORDS not in before.said

    assert _ivr(db_url, "menu", "rollback", "1").stdout.startswith("unchanged")  # version 1 is current
    assert _ivr(db_url, "menu", "publish", str(MENU)).exit_code == 0  # the old words again, as version 2
    assert store.latest_number() == 2
    later = WebCall(one.test_client())
    assert NEW_WORDS not in later.said
    after.press("*")  # the call on version 1 keeps it
    assert NEW_WORDS in after.said
    back = _ivr(db_url, "menu", "rollback", "1")
    assert back.exit_code == 0 and "version 3" in back.stdout
    assert NEW_WORDS in WebCall(two.test_client()).said


def test_calls_store_the_version_they_began_on(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app()
    url = app_state(app).settings.database_url
    first = WebCall(app.test_client())
    _ivr(url, "menu", "publish", str(_changed(tmp_path)))
    second = WebCall(app.test_client())
    with app_state(app).db.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT call_sid, publication FROM calls")).all())
    assert rows == {first.sid: None, second.sid: 1}


def _statements(app: Flask) -> list[str]:
    """Every statement SQLite runs for ``app`` from now on, as the driver sees it (the hot path skips SQLAlchemy)."""
    seen: list[str] = []
    engine = app_state(app).db.engine

    def traced(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(seen.append)

    event.listen(engine, "connect", traced)
    engine.dispose()  # the connections made from now on are traced
    return seen


def test_a_step_costs_no_statement_more_with_versions_published(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app()
    url = app_state(app).settings.database_url
    seen = _statements(app)

    def step_cost(call: WebCall) -> int:
        seen.clear()
        call.press("*")
        return len(seen)

    file_call = WebCall(app.test_client())
    unpublished = step_cost(file_call)
    assert 2 <= unpublished <= 8  # the read, the write and its events, and their transactions: counted, not 0
    _ivr(url, "menu", "publish", str(_changed(tmp_path)))
    published_call = WebCall(app.test_client())  # this worker reads version 1 once, here
    assert NEW_WORDS in published_call.said
    assert step_cost(published_call) == unpublished
    assert step_cost(file_call) == unpublished
    seen.clear()
    WebCall(app.test_client())
    new_call = len(seen)
    _ivr(url, "menu", "publish", str(_changed(tmp_path, "第三版。", "1.0.2")))
    seen.clear()
    WebCall(app.test_client())
    assert len(seen) == new_call + 1  # the first new call after a publication reads it, once per worker
    seen.clear()
    WebCall(app.test_client())
    assert len(seen) == new_call


def test_a_publication_that_no_longer_loads_is_never_served(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app()
    state = app_state(app)
    url = state.settings.database_url
    _ivr(url, "menu", "publish", str(_changed(tmp_path)))
    pinned = WebCall(app.test_client())
    assert NEW_WORDS in pinned.said
    _ivr(url, "menu", "publish", str(_changed(tmp_path, "第三版。", "1.0.2")))
    with state.db.engine.begin() as conn:  # a later release refuses what an older one published
        conn.execute(text("UPDATE menu_publications SET content = '{\"id\": 1}' WHERE number = 2"))
    fresh = make_app(DATABASE_URL=url)  # a worker that never read version 2
    call = WebCall(fresh.test_client())
    assert NEW_WORDS not in call.said and "第三版" not in call.said  # the menu file, the last good it has
    assert call.node == "main"
    pinned.client = fresh.test_client()
    pinned.press("*")
    assert NEW_WORDS in pinned.said  # version 1 still loads: the call keeps it


# -- the menu file in development ----------------------------------------------------------------


def test_serve_reload_picks_up_a_changed_menu_file(
    make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(served_menus, "RELOAD_CHECK_SECONDS", 0.0)
    path = tmp_path / "menu.json"
    path.write_bytes(MENU.read_bytes())
    app = make_app(MENU=str(path), MENU_RELOAD=True)
    assert NEW_WORDS not in WebCall(app.test_client()).said
    path.write_bytes(_changed(tmp_path).read_bytes())
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert NEW_WORDS in WebCall(app.test_client()).said
    path.write_text('{"id": "12333", "nodes": {}}', encoding="utf-8")  # broken mid-edit
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000))
    assert NEW_WORDS in WebCall(app.test_client()).said  # the last good menu goes on
    still = make_app(MENU=str(MENU))
    assert NEW_WORDS not in WebCall(still.test_client()).said  # without --reload nothing is watched


# -- gunicorn, forked after loading ---------------------------------------------------------------


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[int, str]]:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    Database(url).upgrade()
    port = _free_port()
    env = {**os.environ, "IVR_DATABASE_URL": url, "IVR_LOG_LEVEL": "WARNING"}
    log = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    with log.open("wb") as err:
        proc = subprocess.Popen([*command, "ivr.web:create_app()"], env=env, cwd=ROOT, stderr=err)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield port, url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _answer(port: int, path: str, sid: str, **form: str) -> str:
    data = urllib.parse.urlencode({"CallSid": sid, "From": "+8613800000000", **form}).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data=data, timeout=10) as r:
        body: bytes = r.read()
    return body.decode("utf-8")


def test_every_gunicorn_worker_serves_a_new_version_without_a_restart(
    gunicorn: tuple[int, str], tmp_path: Path
) -> None:
    port, url = gunicorn
    old = [f"CAold{i}" for i in range(6)]
    assert all(NEW_WORDS not in _answer(port, "/voice", sid) for sid in old)
    published = _ivr(url, "menu", "publish", str(_changed(tmp_path)))
    assert published.exit_code == 0
    # Each new call may land on either worker: all of them hear the new version at once.
    assert all(NEW_WORDS in _answer(port, "/voice", f"CAnew{i}") for i in range(10))
    assert all(NEW_WORDS not in _answer(port, "/voice/step?s=1", sid, Digits="*") for sid in old)


def test_a_worker_keeps_a_few_versions_and_reads_an_older_one_again(
    make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(served_menus, "KEPT_PUBLICATIONS", 2)
    app = make_app()
    url = app_state(app).settings.database_url
    calls = []
    for n in range(1, 5):
        _ivr(url, "menu", "publish", str(_changed(tmp_path, f"第{n}版。", f"1.0.{n}")))
        calls.append(WebCall(app.test_client()))
    assert len(app_state(app).menus._kept) == 2  # the newest two
    first = calls[0].press("*")
    assert "第1版。" in first.said  # read from the store again: the call keeps its version
    assert sorted(app_state(app).menus._kept) == [1, 4]  # and kept for its next steps
    assert "第4版。" in WebCall(app.test_client()).said
