"""The call store's step: found by the key its lookup read, and guarded all the same."""

from __future__ import annotations

import datetime as dt

from ivr.storage.calls import CallStore
from ivr.storage.db import Database
from tests.cards_support import db, db_url

__all__ = ["db", "db_url"]  # fixtures, imported for pytest

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


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
    )


def _advance(store: CallStore, sid: str, step: int, key: int | None) -> bool:
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
        assert not _advance(store, "CA1", 1, two.key)
        assert [store.lookup(sid).call.step for sid in ("CA1", "CA2")] == [1, 1]  # type: ignore[union-attr]

    assert _advance(store, "CA1", 1, one.key)
    after = store.lookup("CA1").call
    assert after is not None and (after.step, after.last_twiml, after.key) == (2, "<Response/>", one.key)
    assert not _advance(store, "CA1", 1, one.key)  # a replayed step: still guarded by the step number
    assert _advance(store, "CA1", 2, None)  # without the key, found by its CallSid
