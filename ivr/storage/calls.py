"""The shared call store: a call's engine state by CallSid, with optimistic concurrency."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ivr.storage.db import Database, StoreUnavailable
from ivr.storage.models import CallEvent, CallRecord

__all__ = ["CallStore", "StoredCall"]

_CALLS = cast(Table, CallRecord.__table__)
_EVENTS = cast(Table, CallEvent.__table__)

# The webhook's hot path runs these on every step: built once, they keep their
# compiled form and cache key instead of being constructed per request.
_LOAD = select(
    _CALLS.c.call_sid, _CALLS.c.state, _CALLS.c.step, _CALLS.c.last_twiml, _CALLS.c.status, _CALLS.c.caller
).where(_CALLS.c.call_sid == bindparam("sid"))
_ADVANCE = (
    update(_CALLS)
    .where(_CALLS.c.call_sid == bindparam("sid"), _CALLS.c.step == bindparam("expected"))
    .values(
        node=bindparam("new_node"),
        state=bindparam("new_state"),
        last_twiml=bindparam("new_twiml"),
        step=bindparam("new_step"),
        updated_at=bindparam("now"),
    )
)
_ADD_EVENTS = insert(_EVENTS)


@dataclass(frozen=True)
class StoredCall:
    """A call as the store has it."""

    call_sid: str
    state: str
    step: int
    last_twiml: str
    status: str
    caller: str


class CallStore:
    """Reads and writes calls; every method is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, call_sid: str) -> StoredCall | None:
        """The stored call, or None if the store has never seen it."""
        with self.db.connection() as conn:
            row = conn.execute(_LOAD, {"sid": call_sid}).first()
        return None if row is None else StoredCall(*row)

    def begin(
        self,
        call_sid: str,
        *,
        caller: str,
        menu_id: str,
        menu_version: str,
        node: str,
        state: str,
        now: dt.datetime,
        twiml_for: Callable[[int], str],
        events: Sequence[tuple[str, str, Mapping[str, Any]]] = (),
        again: bool = False,
    ) -> StoredCall:
        """Store a call at its first step, and return it as stored.

        ``twiml_for(step)`` writes the answer once the step number is known.  If
        the store has the call already, a retried incoming webhook gets the call
        as it is; with ``again`` (its stored state was unusable) the call starts
        over at the next step number, so answers to older documents stay stale.
        """
        try:
            with self.db.session() as s:
                row = s.get(CallRecord, call_sid, with_for_update=True)
                if row is not None and not again:
                    return StoredCall(row.call_sid, row.state, row.step, row.last_twiml, row.status, row.caller)
                if row is None:
                    row = CallRecord(call_sid=call_sid, caller=caller[:40], step=1, started_at=now)
                    s.add(row)
                else:
                    row.step += 1
                row.menu_id, row.menu_version, row.node, row.state = menu_id, menu_version, node, state
                row.last_twiml, row.status, row.updated_at = twiml_for(row.step), "in-progress", now
                s.flush()
                self._events(s, call_sid, row.step, now, events)
                return StoredCall(call_sid, state, row.step, row.last_twiml, row.status, row.caller)
        except StoreUnavailable as exc:
            # Two workers took the same first webhook at once: the other one stored it.
            if not again and isinstance(exc.__cause__, IntegrityError):
                existing = self.load(call_sid)
                if existing is not None:
                    return existing
            raise

    def advance(
        self,
        call_sid: str,
        expected_step: int,
        *,
        node: str,
        state: str,
        twiml: str,
        now: dt.datetime,
        events: Sequence[tuple[str, str, Mapping[str, Any]]] = (),
    ) -> bool:
        """Save the call's next state if nobody else has moved it since ``expected_step``."""
        params = {
            "sid": call_sid,
            "expected": expected_step,
            "new_node": node,
            "new_state": state,
            "new_twiml": twiml,
            "new_step": expected_step + 1,
            "now": now,
        }
        with self.db.connection() as conn:
            result = conn.execute(_ADVANCE, params)
            if result.rowcount != 1:
                return False
            if events:
                conn.execute(
                    _ADD_EVENTS,
                    [
                        {
                            "call_sid": call_sid,
                            "seq": expected_step,
                            "at": now,
                            "kind": kind,
                            "node": node_,
                            "detail": json.dumps(dict(detail), ensure_ascii=False, default=str),
                        }
                        for kind, node_, detail in events
                    ],
                )
            return True

    def finish(
        self, call_sid: str, status: str, duration: int | None, now: dt.datetime, state: str | None = None
    ) -> bool:
        """Close the call with its final status and duration (and its final ``state``); False if it is unknown."""
        with self.db.session() as s:
            row = s.get(CallRecord, call_sid)
            if row is None:
                return False
            row.status = status[:20]
            row.duration = duration
            if state is not None:
                row.state = state
            row.ended_at = now
            row.updated_at = now
            self._events(s, call_sid, row.step, now, [("status", "", {"status": status, "duration": duration})])
            return True

    def events(self, call_sid: str) -> list[tuple[str, str, dict[str, Any]]]:
        """The call's events in order: (kind, node, detail)."""
        with self.db.session() as s:
            rows = s.scalars(select(CallEvent).where(CallEvent.call_sid == call_sid).order_by(CallEvent.id)).all()
            return [(r.kind, r.node, json.loads(r.detail or "{}")) for r in rows]

    def count(self) -> int:
        """How many calls the store holds."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(CallRecord)) or 0)

    @staticmethod
    def _events(
        s: Any, call_sid: str, seq: int, now: dt.datetime, events: Sequence[tuple[str, str, Mapping[str, Any]]]
    ) -> None:
        for kind, node, detail in events:
            s.add(
                CallEvent(
                    call_sid=call_sid,
                    seq=seq,
                    at=now,
                    kind=kind,
                    node=node,
                    detail=json.dumps(dict(detail), ensure_ascii=False, default=str),
                )
            )
