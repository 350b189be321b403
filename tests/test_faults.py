"""Faults under load, the parts that fit in CI (bench/faults.py runs them longer, and restarts PostgreSQL).

- kill -9 a gunicorn worker in the middle of a burst of calls;
- the disk holding the SQLite file fills up, then has space again (a small tmpfs);
- the SQLite database file, or its whole folder, is read-only (a read-only bind mount).

Every answer must be an HTTP 200 with XSD-valid TwiML: the call goes on, or
ends with the polite "temporarily unavailable" (or the menu's service_down
goodbye).  Every transaction a caller heard confirmed must be in the database.
The mount tests need root's CAP_SYS_ADMIN and skip without it.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.faults import bind_mount, fill, mount_tmpfs, unmount
from bench.load import Gunicorn, LoadResult, Store, TwimlChecker, run_load, verify
from bench.load.callers import REFERENCE
from ivr.phone.twiml import Gather
from ivr.web import app_state, create_app
from ivr.web.twiml import APOLOGIES
from tests.cards_support import NOW_TEXT
from tests.twiml_tools import Twiml, WebCall, assert_valid_twiml, require_xsd

pytestmark = [pytest.mark.slow, pytest.mark.xsd]


@pytest.fixture(scope="module")
def checker() -> TwimlChecker:
    return TwimlChecker(require_xsd())


def _can_mount() -> str | None:
    """Why mounts cannot be used here, or None when they can."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "mount/umount are not installed"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            mount_tmpfs(Path(tmp), 1)
        except (subprocess.CalledProcessError, OSError) as exc:
            return f"cannot mount here (needs root with CAP_SYS_ADMIN): {exc}"
        unmount(Path(tmp))
    return None


@pytest.fixture(scope="module")
def mounts() -> None:
    why = _can_mount()
    if why:
        pytest.skip(why)


def _polite_and_valid(result: LoadResult) -> None:
    s = result.stats
    assert (s.http_5xx, s.http_other, s.invalid_twiml, s.crashes) == (0, 0, 0, 0), s.examples
    assert "error" not in s.reasons, s.examples  # nobody heard Twilio's "application error"


# -- kill -9 a worker ----------------------------------------------------------------------------


def test_kill_9_a_worker_mid_burst(tmp_path: Path, checker: TwimlChecker) -> None:
    store = Store.sqlite(tmp_path / "db")
    pools = store.prepare(cards_per_pool=60)
    rng = random.Random(1)
    with Gunicorn(store.url, workers=2, log=tmp_path / "gunicorn.log") as server:
        first = server.worker_pids()
        faults = [(1.2, lambda: server.kill_worker(rng)), (2.6, lambda: server.kill_worker(rng))]
        result = run_load(server.url, pools, callers=12, seconds=4.0, checker=checker, faults=faults)
        after = server.wait_workers()
        boots = server.log_counts()["worker_boots"]
    _polite_and_valid(result)
    s = result.stats
    assert all("kill -9 worker" in line for line in result.faults), result.faults
    # The master replaced what was killed.
    assert len(after) == 2 and set(after) != set(first) and boots >= 3
    # A sync worker serves one request at a time: each kill cost at most the one in flight,
    # and its retry (Twilio's connection override rp=all) was answered by the other worker.
    assert s.no_answer <= 2 and s.retried_ok == s.no_answer, s.examples
    assert s.apologies == 0 and s.service_down == 0, s.examples
    assert s.confirmed
    assert verify(store.url, s.confirmed, pin_sample=2).lost == []


# -- a full disk ---------------------------------------------------------------------------------


def test_full_disk_mid_burst_apologises_then_recovers(tmp_path: Path, checker: TwimlChecker, mounts: None) -> None:
    folder = tmp_path / "tmpfs"
    mount_tmpfs(folder, 16)
    try:
        store = Store.sqlite(folder)
        pools = store.prepare(cards_per_pool=60)
        with Gunicorn(store.url, workers=2, log=tmp_path / "gunicorn.log") as server:
            faults = [(1.2, lambda: fill(folder)), (2.6, lambda: _remove(folder / "filler"))]
            result = run_load(server.url, pools, callers=10, seconds=4.0, checker=checker, faults=faults)
        _polite_and_valid(result)
        timeline = result.timeline()
        assert result.stats.apologies + result.stats.service_down > 0, "the full disk was felt"
        # Space again: calls go through again, before the end of the run.
        assert any(row["t"] >= 3 and row.get("ok", 0) > 0 for row in timeline), timeline
        assert result.stats.no_answer == 0
        assert verify(store.url, result.stats.confirmed, pin_sample=2).lost == []
    finally:
        unmount(folder)


def _remove(path: Path) -> str:
    path.unlink()
    return "space again"


# -- a read-only database ---------------------------------------------------------------------------


def _app(db_url: str, tmp_path: Path) -> Any:
    return create_app(
        {
            "DATABASE_URL": db_url,
            "CLOCK": NOW_TEXT,
            "LOG_LEVEL": "CRITICAL",  # the apologies are logged as errors; they are expected here
            "AUDIO_DIR": str(tmp_path / "no-audio"),
            "TESTING": True,
        }
    )


@pytest.fixture
def reported(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A migrated SQLite database in its own folder, with Li Na's card reported lost by phone: (folder, reference)."""
    from ivr.services.seed import demo_card

    folder = tmp_path / "data"
    folder.mkdir()
    url = f"sqlite:///{folder / 'ivr.db'}"
    app = _app(url, tmp_path)
    state = app_state(app)
    state.seed_demo()
    li = demo_card("Li Na")
    phone = WebCall(app.test_client())
    phone.press("2").press("1").press(li.keys).press("1").press(li.pin)
    assert phone.node == "loss_reported_next"
    heard = REFERENCE.search(phone.said)
    assert heard is not None, phone.said
    reference = heard.group(1).replace(" ", "")
    state.close()  # last connection closed: SQLite folds the WAL back into the file
    yield folder, reference


def _report_is_stored(folder: Path, reference: str) -> bool:
    from sqlalchemy import select

    from ivr.storage.cards import LossReport
    from ivr.storage.db import Database

    db = Database(f"sqlite:///{folder / 'ivr.db'}")
    try:
        with db.session() as s:
            return s.scalar(select(LossReport.id).where(LossReport.reference == reference)) is not None
    finally:
        db.dispose()


def _calls_hear_the_apology(app: Any, n: int = 3) -> None:
    client = app.test_client()
    for i in range(n):
        resp = client.post("/voice", data={"CallSid": f"CAro{i}", "From": "+8613800000000"})
        assert resp.status_code == 200 and resp.mimetype == "text/xml"
        assert_valid_twiml(resp.data)
        assert APOLOGIES["en-US"] in Twiml.parse(resp.data).said


def test_read_only_database_file_apologises_and_loses_nothing(
    reported: tuple[Path, str], tmp_path: Path, mounts: None
) -> None:
    folder, reference = reported
    db_file = folder / "ivr.db"
    bind_mount(db_file, read_only=True)
    try:
        app = _app(f"sqlite:///{db_file}", tmp_path)
        _calls_hear_the_apology(app)
        app_state(app).close()
    finally:
        unmount(db_file)
    assert _report_is_stored(folder, reference)


def test_read_only_folder_apologises(reported: tuple[Path, str], tmp_path: Path, mounts: None) -> None:
    folder, reference = reported
    bind_mount(folder, read_only=True)
    try:
        app = _app(f"sqlite:///{folder / 'ivr.db'}", tmp_path)
        _calls_hear_the_apology(app)
        app_state(app).close()
    finally:
        unmount(folder)
    assert _report_is_stored(folder, reference)


def test_calls_go_through_again_once_the_database_is_writable(
    reported: tuple[Path, str], tmp_path: Path, mounts: None
) -> None:
    folder, _reference = reported
    db_file = folder / "ivr.db"
    bind_mount(db_file, read_only=True)
    try:
        app = _app(f"sqlite:///{db_file}", tmp_path)
        _calls_hear_the_apology(app, n=1)
        bind_mount(db_file, read_only=False)
        resp = app.test_client().post("/voice", data={"CallSid": "CAwritable", "From": "+8613800000000"})
        app_state(app).close()
    finally:
        unmount(db_file)
    assert resp.status_code == 200 and Twiml.parse(resp.data).find(Gather) is not None, resp.data
