"""Smoke versions of the load and call-rate benchmarks (bench/load, bench/callrate.py): errors, not speed.

The full runs and their figures are in bench/README.md.  Here a few callers
run for a few seconds against a real gunicorn (SQLite, and PostgreSQL when
``IVR_TEST_POSTGRES_URL`` is set), and every answer must be a 200 with
XSD-valid TwiML, and every transaction a caller heard confirmed must be in
the database.  No figure is asserted: the machine is shared.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.callrate import in_process_app, measure
from bench.load import Gunicorn, LoadResult, Planner, Store, TwimlChecker, run_load, verify
from tests.twiml_tools import require_xsd

pytestmark = [pytest.mark.slow, pytest.mark.xsd]

CALLERS = 20
SECONDS = 3.0


@pytest.fixture(scope="module")
def checker() -> TwimlChecker:
    return TwimlChecker(require_xsd())


def _assert_clean(result: LoadResult, store: Store) -> None:
    """No caller heard an error, every answer was valid TwiML, nothing confirmed is missing."""
    s = result.stats
    assert s.calls >= CALLERS, "every caller placed at least one call"
    assert (s.http_5xx, s.http_other, s.invalid_twiml, s.no_answer, s.crashes) == (0, 0, 0, 0, 0), s.examples
    assert (s.apologies, s.service_down, s.status_5xx) == (0, 0, 0), s.examples
    assert "error" not in s.reasons, s.examples
    assert not [k for k in s.outcomes if k.endswith(("unfinished", "http_error"))], s.outcomes
    assert s.confirmed, "some transactions were confirmed"
    check = verify(store.url, s.confirmed, pin_sample=2)
    assert check.lost == []
    assert sum(check.checked.values()) == len(s.confirmed)


def _run(store: Store, tmp_path: Path, checker: TwimlChecker) -> None:
    pools = store.prepare(cards_per_pool=80)
    with Gunicorn(store.url, workers=2, log=tmp_path / "gunicorn.log") as server:
        result = run_load(server.url, pools, callers=CALLERS, seconds=SECONDS, checker=checker)
        log = server.log_counts()
    _assert_clean(result, store)
    assert log["tracebacks"] == 0 and log["app_errors"] == 0, (tmp_path / "gunicorn.log").read_text()[-2000:]


def test_twenty_callers_for_three_seconds_on_sqlite(tmp_path: Path, checker: TwimlChecker) -> None:
    _run(Store.sqlite(tmp_path / "db"), tmp_path, checker)


@pytest.fixture
def postgres_store() -> Iterator[Store]:
    base = os.environ.get("IVR_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("IVR_TEST_POSTGRES_URL is not set (CI sets it; PostgreSQL tests need a server)")
    store = Store.postgres(base)
    yield store
    store.close()


def test_twenty_callers_for_three_seconds_on_postgresql(
    postgres_store: Store, tmp_path: Path, checker: TwimlChecker
) -> None:
    _run(postgres_store, tmp_path, checker)


def test_in_process_call_rate_smoke() -> None:
    """bench/callrate.py's mixes, briefly: every call does what it came for, none fails."""
    with in_process_app(cards=30) as (app, pools):
        cards = Planner(pools)
        for mix in ("browse", "transactions", "all"):
            rate = measure(app, cards, mix, seconds=0.7)
            assert rate.calls > 0 and rate.steps > rate.calls and rate.failures == 0
            bad = [k for k in rate.outcomes if not k.endswith((":confirmed", ":done"))]
            assert not bad, rate.outcomes
