"""A call's newest events wait in its row (its trail) and go out as rows together; nothing is lost or doubled.

And a step finds its row by the key its lookup read.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from ivr.storage import reports
from ivr.storage.calls import _DETAIL, CallStore
from ivr.storage.db import MIGRATIONS, Database
from ivr.storage.trail import TRAIL_STEPS, encode, events_of, read_with_trails
from tests.cards_support import db, db_url

__all__ = ["db", "db_url"]  # fixtures, imported for pytest

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
SERVICE = {"service": "card_status", "outcome": "ok"}


def _begin(store: CallStore, sid: str) -> None:
    store.begin(
        sid,
        caller="+8613800000000",
        menu_id="12333",
        menu_version="v1",
        node="main",
        state="{}",
        now=T0,
        twiml_for=lambda step: f"<Response>{step}</Response>",
        events=[("enter", "main", {})],
    )


def _step(store: CallStore, sid: str, step: int, events: Any = None) -> bool:
    now = T0 + dt.timedelta(seconds=step)
    node = f"n{step}"
    return store.advance(
        sid, step, node=node, state="{}", twiml="<Response/>", now=now, events=events or [("Digits", node, {"k": step})]
    )


def _stored(db: Database, sid: str) -> tuple[str, int]:
    with db.engine.connect() as conn:
        trail = conn.execute(text("SELECT trail FROM calls WHERE call_sid = :s"), {"s": sid}).scalar_one()
        rows = conn.execute(text("SELECT count(*) FROM call_events WHERE call_sid = :s"), {"s": sid}).scalar_one()
    return str(trail), int(rows)


def test_a_step_stores_its_events_in_the_call_row_until_the_trail_is_due(db: Database) -> None:
    store = CallStore(db)
    _begin(store, "CA1")
    for step in range(1, TRAIL_STEPS - 1):
        assert _step(store, "CA1", step)
    trail, rows = _stored(db, "CA1")
    assert rows == 0 and trail.count("\n") == TRAIL_STEPS - 1  # the call's first event and each step's
    # Another process sees them: they were committed with each step, not held in memory.
    other = Database(str(db.url.render_as_string(hide_password=False)))
    try:
        seen = CallStore(other).events("CA1")
    finally:
        other.dispose()
    assert seen == [("enter", "main", {}), *(("Digits", f"n{s}", {"k": s}) for s in range(1, TRAIL_STEPS - 1))]

    assert _step(store, "CA1", TRAIL_STEPS - 1)  # the step numbered TRAIL_STEPS writes the trail out
    assert _stored(db, "CA1") == ("", TRAIL_STEPS)
    assert store.events("CA1")[-1] == ("Digits", f"n{TRAIL_STEPS - 1}", {"k": TRAIL_STEPS - 1})
    assert _step(store, "CA1", TRAIL_STEPS)
    assert _stored(db, "CA1")[1] == TRAIL_STEPS
    assert [e[2].get("k") for e in store.events("CA1")] == [None, *range(1, TRAIL_STEPS + 1)]


def test_a_stale_step_adds_nothing_to_the_trail(db: Database) -> None:
    store = CallStore(db)
    _begin(store, "CA1")
    assert _step(store, "CA1", 1)
    assert not _step(store, "CA1", 1)  # a replayed webhook: the step moved on
    assert len(store.events("CA1")) == 2


@pytest.mark.parametrize("end", ["finish", "sweep"])
def test_a_call_that_ends_writes_its_trail_out(db: Database, end: str) -> None:
    store = CallStore(db)
    _begin(store, "CA1")
    for step in (1, 2, 3):
        assert _step(store, "CA1", step)
    if end == "finish":
        assert store.finish("CA1", "completed", 30, T0 + dt.timedelta(minutes=1), "{}")
    else:
        assert store.sweep(T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2), lambda s: s) == ["CA1"]
    assert _stored(db, "CA1") == ("", 5)
    kinds = [kind for kind, _, _ in store.events("CA1")]
    assert kinds == ["enter", "Digits", "Digits", "Digits", "status"]


def _report(db: Database, url: str) -> dict[str, Any]:
    since, now = T0 - dt.timedelta(hours=1), T0 + dt.timedelta(seconds=10)
    detail = reports.call_detail(db, "CA1", now)
    assert detail is not None
    return {
        "detail": [(e.seq, e.kind, e.node, e.detail) for e in detail.events],
        "path": detail.call.path,
        "recent": [c.path for c in reports.recent_calls(db, since, now)],
        "services": reports.overview(db, since, now, []).transactions,
        "transactions": reports.transactions(db, since),
        "visits per node": {n.node: n.visits for n in reports.node_stats(db, since, now, [])},
        "visits": reports.visit_counts(url),
    }


def test_reports_read_the_same_whether_events_are_in_trails_or_rows(db: Database) -> None:
    store = CallStore(db)
    _begin(store, "CA1")
    _begin(store, "CA2")
    card = [("Digits", "main", {"Digits": "3"}), ("enter", "card", {}), ("service", "card", SERVICE)]
    assert _step(store, "CA1", 1, card)
    assert _step(store, "CA1", 2, [("Digits", "card", {"Digits": "*"}), ("enter", "main", {})])
    assert _step(store, "CA2", 1, [("Digits", "main", {"Digits": "0"}), ("enter", "agent", {})])
    url = db.url.render_as_string(hide_password=False)
    in_trails = _report(db, url)
    assert in_trails["services"] == 1 and in_trails["transactions"][0].count == 1
    assert in_trails["visits"] == {"main": 5, "card": 3, "agent": 1}
    assert in_trails["visits per node"] == {"main": 2, "card": 1, "agent": 1, "n2": 1, "n1": 1}
    assert in_trails["path"] == ["main", "card", "main", "n2"]
    # The same calls with every event a row: what a report says cannot depend on where events wait.
    for sid in ("CA1", "CA2"):
        assert store.finish(sid, "completed", 10, T0 + dt.timedelta(seconds=10), "{}")
    assert _stored(db, "CA1")[0] == "" and _stored(db, "CA2")[0] == ""
    as_rows = _report(db, url)
    assert as_rows["detail"][-1][1] == "status"
    as_rows["detail"] = as_rows["detail"][:-1]  # less the status event the end added
    assert as_rows == in_trails


def test_a_trail_written_out_while_a_report_reads_is_counted_once(db: Database) -> None:
    store = CallStore(db)
    _begin(store, "CA1")
    assert _step(store, "CA1", 1, [("service", "card", SERVICE)])
    reads = []

    def read(conn: Any) -> int:
        reads.append(1)
        if len(reads) == 1:  # the call ends between the report's reading of trails and of rows
            store.finish("CA1", "completed", 5, T0 + dt.timedelta(seconds=5), "{}")
        return int(conn.execute(text("SELECT count(*) FROM call_events WHERE kind = 'service'")).scalar_one())

    with db.connection() as conn:
        counted, pending = read_with_trails(conn, [], read)
    assert len(reads) == 2 and counted == 1 and pending == []


def test_steps_and_ends_racing_lose_and_double_nothing(db: Database) -> None:
    store = CallStore(db)
    sids = [f"CA{n}" for n in range(12)]
    for sid in sids:
        _begin(store, sid)
    saved: dict[str, list[int]] = {sid: [] for sid in sids}
    ended: dict[str, bool] = {}

    def caller(sid: str) -> None:
        for step in range(1, 2 * TRAIL_STEPS + 2):
            if _step(store, sid, step):
                saved[sid].append(step)
            else:
                return

    def hangups() -> None:
        rng = random.Random(7)
        for sid in rng.sample(sids, len(sids)):
            threading.Event().wait(rng.random() / 50)
            ended[sid] = store.finish(sid, "completed", 9, T0 + dt.timedelta(minutes=5), "{}")

    threads = [threading.Thread(target=caller, args=(sid,)) for sid in sids] + [threading.Thread(target=hangups)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for sid in sids:
        events = store.events(sid)
        keys = [detail["k"] for kind, _, detail in events if kind == "Digits"]
        assert keys == saved[sid]  # every step saved, once, in order
        assert [kind for kind, _, _ in events].count("status") == 1 and ended[sid]
        assert _stored(db, sid)[0] == ""


@pytest.mark.parametrize("to", ["0006", "0004"])
def test_downgrading_writes_trails_out_as_rows_and_keeps_them(db: Database, to: str) -> None:
    store = CallStore(db)
    _begin(store, "CA1")
    assert _step(store, "CA1", 1)
    before = store.events("CA1")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, to)
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, node FROM call_events WHERE call_sid = 'CA1' ORDER BY seq, id")).all()
    assert [tuple(r) for r in rows] == [(kind, node) for kind, node, _ in before]
    db.upgrade()
    assert store.events("CA1") == before


_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)


@given(
    st.lists(
        st.tuples(
            st.integers(1, 10**6),
            st.datetimes(timezones=st.just(dt.UTC)),
            _TEXT,
            _TEXT,
            st.dictionaries(_TEXT, _TEXT | st.integers() | st.none(), max_size=3),
        ),
        max_size=5,
    )
)
def test_trail_lines_read_back_as_the_rows_they_stand_for(events: list[Any]) -> None:
    rows = [
        {"call_sid": "CA1", "seq": seq, "at": at, "kind": kind, "node": node, "detail": _DETAIL.encode(detail)}
        for seq, at, kind, node, detail in events
    ]
    back = events_of("CA1", encode(rows))
    # Kinds and node ids never hold tabs or line breaks; if one did, it would read back with spaces.
    flat = str.maketrans("\t\n", "  ")
    assert back == [r | {"kind": r["kind"].translate(flat), "node": r["node"].translate(flat)} for r in rows]


def _advance_keyed(store: CallStore, sid: str, step: int, key: int | None) -> bool:
    return store.advance(sid, step, node="next", state="{}", twiml="<Response/>", now=T0, key=key)


def test_a_step_saves_by_the_key_its_lookup_read_and_never_into_another_call(db: Database) -> None:
    store = CallStore(db)
    _begin(store, "CA1")
    _begin(store, "CA2")
    one, two = store.lookup("CA1").call, store.lookup("CA2").call
    assert one is not None and two is not None
    if db.is_sqlite:
        assert isinstance(one.key, int) and one.key != two.key
    else:
        assert one.key is None and two.key is None  # PostgreSQL finds the row by its CallSid alone

    # A key that is not the call's saves nothing, to either call.
    if two.key is not None:
        assert not _advance_keyed(store, "CA1", 1, two.key)
        assert [store.lookup(sid).call.step for sid in ("CA1", "CA2")] == [1, 1]  # type: ignore[union-attr]

    assert _advance_keyed(store, "CA1", 1, one.key)
    after = store.lookup("CA1").call
    assert after is not None and (after.step, after.last_twiml, after.key) == (2, "<Response/>", one.key)
    assert not _advance_keyed(store, "CA1", 1, one.key)  # a replayed step: still guarded by the step number
    assert _advance_keyed(store, "CA1", 2, None)  # without the key, found by its CallSid
