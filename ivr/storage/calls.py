"""The shared call store: a call's engine state by CallSid, with optimistic concurrency.

A call is ``in-progress`` until Twilio's status callback ends it, or the sweep
finds it idle for too long (the callback was lost) and abandons it.  Steps are
saved only while a call is in progress, so a step that was still running when
the call ended cannot write its state (passwords included) back; the one kind
of step an ended call still takes, a recording the hang-up finished, is saved
by :meth:`CallStore.settle`.

A step's events are saved with it in the call's row and go out as
``call_events`` rows together (:mod:`ivr.storage.trail`); :meth:`CallStore.events`
reads both.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, delete, func, insert, literal_column, select, update

from ivr.storage.base import UtcDateTime
from ivr.storage.db import AlreadyStored, Database, Prepared
from ivr.storage.menus import LATEST
from ivr.storage.models import CallEvent, CallRecord
from ivr.storage.trail import due, encode, events_of, read_with_trails

__all__ = ["ABANDONED", "IN_PROGRESS", "SWEEP_LIMIT", "CallStore", "IdleCall", "Lookup", "StoredCall"]

log = logging.getLogger("ivr.calls")

IN_PROGRESS = "in-progress"
"""The status of a call that has not ended; any other status is a final one."""
ABANDONED = "abandoned"
"""The status the sweep gives a call whose status callback never came."""
SWEEP_LIMIT = 100
"""Calls one sweep abandons at most, so a sweep run after a request stays short; the next takes the rest."""

_CALLS = cast(Table, CallRecord.__table__)
_EVENTS = cast(Table, CallEvent.__table__)

# The webhook's hot path runs these on every step: built once, they keep their
# compiled form and cache key instead of being constructed per request.
_CALL_COLUMNS = (
    _CALLS.c.call_sid,
    _CALLS.c.state,
    _CALLS.c.step,
    _CALLS.c.last_twiml,
    _CALLS.c.status,
    _CALLS.c.caller,
    _CALLS.c.publication,
)
_LOAD = select(*_CALL_COLUMNS).where(_CALLS.c.call_sid == bindparam("sid"))
# The same, with the current menu publication's number read alongside: one row always, the call's
# columns NULL for a call the store has never seen.  So a worker learns of a new publication from
# the statement every step runs anyway, and a step costs no extra statement.
_LATEST = select(LATEST.label("number")).subquery()
_LOOKUP = select(_LATEST.c.number, *_CALL_COLUMNS).select_from(
    _LATEST.outerjoin(_CALLS, _CALLS.c.call_sid == bindparam("sid"))
)
# On SQLite the row's rowid comes too, so the step's update finds the row in the table's own tree
# instead of through the index by CallSid first (after another worker's commit, every page is read afresh).
_LOOKUP_KEYED = _LOOKUP.add_columns(literal_column("calls.rowid"))
_STEP_OF = (
    _CALLS.c.call_sid == bindparam("sid"),
    _CALLS.c.step == bindparam("expected"),
    _CALLS.c.status == IN_PROGRESS,
)
_NEXT: dict[str, Any] = {
    "node": bindparam("new_node"),
    "state": bindparam("new_state"),
    "last_twiml": bindparam("new_twiml"),
    "step": bindparam("new_step"),
    "updated_at": bindparam("now"),
    "live_until": bindparam("live_until"),
}
# Most steps append their events to the call's trail; every TRAIL_STEPS-th writes the trail out as rows.
_ADVANCE = update(_CALLS).where(*_STEP_OF).values(**_NEXT, trail=_CALLS.c.trail + bindparam("more"))
_ADVANCE_KEYED = _ADVANCE.where(literal_column("calls.rowid") == bindparam("key"))
_ADVANCE_EMPTYING = update(_CALLS).where(*_STEP_OF).values(**_NEXT, trail="")
_TRAIL_AT = select(_CALLS.c.trail).where(*_STEP_OF).with_for_update()
# A call's end (its status callback, or the sweep for a call idle since a step): the trail, locked
# (on SQLite the write transaction's BEGIN IMMEDIATE holds every writer off), then the final update.
_ENDING = select(_CALLS.c.step, _CALLS.c.trail).where(_CALLS.c.call_sid == bindparam("sid")).with_for_update()
_IDLE_TRAIL = select(_CALLS.c.step, _CALLS.c.trail).where(*_STEP_OF).with_for_update()
_END = (
    update(_CALLS)
    .where(_CALLS.c.call_sid == bindparam("sid"))
    .values(status=bindparam("final_status"), duration=bindparam("final_duration"), state=bindparam("final_state"))
    .values(last_twiml="", trail="", ended_at=bindparam("now"), updated_at=bindparam("now"))
)
_ADD_EVENTS = insert(_EVENTS).values(
    {name: bindparam(name) for name in ("call_sid", "seq", "at", "kind", "node", "detail")}
)
_INSERT_CALL = insert(_CALLS).values({c.name: bindparam(c.name) for c in _CALLS.c})
Events = Sequence[tuple[str, str, Mapping[str, Any]]]
_DETAIL = json.JSONEncoder(ensure_ascii=False, default=str)
"""How an event's detail is written (made once: ``json.dumps`` with options makes an encoder each call)."""


class _HotPath:
    """What every webhook runs, compiled once for the store's database and run on the driver's cursor."""

    def __init__(self, db: Database) -> None:
        keyed = db.is_sqlite  # elsewhere rows have no such key: StoredCall.key stays None
        self.lookup = db.prepare(_LOOKUP_KEYED if keyed else _LOOKUP)
        self.advance = db.prepare(_ADVANCE)
        self.advance_keyed = db.prepare(_ADVANCE_KEYED) if keyed else self.advance
        self.advance_emptying = db.prepare(_ADVANCE_EMPTYING)
        self.trail_at = db.prepare(_TRAIL_AT)
        self.ending = db.prepare(_ENDING)
        self.idle_trail = db.prepare(_IDLE_TRAIL)
        self.end = db.prepare(_END)
        self.add_events = db.prepare(_ADD_EVENTS)
        self.insert_call = db.prepare(_INSERT_CALL)
        # How the store keeps a moment (in UTC; on SQLite as the same text SQLAlchemy writes), done
        # here since no SQLAlchemy runs these: the type as the dialect has it, with its own processor.
        dialect = db.engine.dialect
        process = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
        self.moment: Callable[[dt.datetime | None], Any] = process or (lambda value: value)


class StoredCall(NamedTuple):
    """A call as the store has it."""

    call_sid: str
    state: str
    step: int
    last_twiml: str
    status: str
    caller: str
    publication: int | None = None
    """The published menu the call keeps (None: the menu file)."""
    key: int | None = None
    """Where the store keeps the row, for a quicker update (SQLite's rowid, as :meth:`CallStore.lookup` read it)."""


class Lookup(NamedTuple):
    """A call as the store has it (None: never seen), and the current menu publication (None: none)."""

    call: StoredCall | None
    current: int | None


@dataclass(frozen=True)
class IdleCall:
    """A call in progress that has not moved for too long: what the sweep needs to abandon it."""

    call_sid: str
    step: int
    state: str


class CallStore:
    """Reads and writes calls; every method is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, call_sid: str) -> StoredCall | None:
        """The stored call, or None if the store has never seen it."""
        with self.db.connection() as conn:
            row = conn.execute(_LOAD, {"sid": call_sid}).first()
        return None if row is None else StoredCall(*row)

    @cached_property
    def _hot(self) -> _HotPath:
        return _HotPath(self.db)

    def lookup(self, call_sid: str) -> Lookup:
        """The stored call and the current publication's number, in one statement (a step's only read)."""
        (row,) = self.db.read(self._hot.lookup, {"sid": call_sid})
        current = None if row[0] is None else int(row[0])
        return Lookup(None if row[1] is None else StoredCall(*row[1:]), current)

    def begin(
        self,
        call_sid: str,
        *,
        caller: str,
        menu_id: str,
        menu_version: str,
        publication: int | None = None,
        node: str,
        state: str,
        now: dt.datetime,
        live_until: dt.datetime | None = None,
        twiml_for: Callable[[int], str],
        events: Events = (),
        again: bool = False,
    ) -> tuple[StoredCall, bool]:
        """Store a call at its first step; the call as stored, and whether this request stored it.

        ``twiml_for(step)`` writes the answer once the step number is known.  If
        the store has the call already, a retried incoming webhook gets the call
        as it is; with ``again`` (its stored state was unusable) the call starts
        over at the next step number, so answers to older documents stay stale.
        ``publication`` is the published menu the call starts on and keeps;
        ``live_until`` when what it waits for is over (None: ``now``).
        """
        if not again:
            return self._insert(
                StoredCall(call_sid, state, 1, twiml_for(1), IN_PROGRESS, caller[:40], publication),
                menu_id=menu_id,
                menu_version=menu_version,
                node=node,
                now=now,
                live_until=live_until or now,
                events=events,
            )
        with self.db.session() as s:
            row = s.get(CallRecord, call_sid, with_for_update=True)
            if row is None:
                row = CallRecord(call_sid=call_sid, caller=caller[:40], step=1, started_at=now)
                s.add(row)
            else:
                row.step += 1
            row.menu_id, row.menu_version, row.publication = menu_id, menu_version, publication
            row.node, row.state = node, state
            row.last_twiml, row.status, row.updated_at = twiml_for(row.step), IN_PROGRESS, now
            row.live_until = live_until or now
            more = encode(_event_rows(call_sid, row.step, now, events))
            row.trail = more if row.trail is None else CallRecord.trail + more  # appended by the database
            s.flush()
            return _stored(row), True

    def _insert(
        self,
        call: StoredCall,
        *,
        menu_id: str,
        menu_version: str,
        node: str,
        now: dt.datetime,
        live_until: dt.datetime,
        events: Events,
    ) -> tuple[StoredCall, bool]:
        """A new call's row and its events, in one write; a call stored meanwhile by another worker wins."""
        hot = self._hot
        at = hot.moment(now)
        row = {
            "call_sid": call.call_sid,
            "caller": call.caller,
            "menu_id": menu_id,
            "menu_version": menu_version,
            "publication": call.publication,
            "node": node,
            "state": call.state,
            "step": call.step,
            "last_twiml": call.last_twiml,
            "status": call.status,
            "started_at": at,
            "updated_at": at,
            "live_until": hot.moment(live_until),
            "ended_at": None,
            "duration": None,
        }

        row["trail"] = encode(_event_rows(call.call_sid, call.step, now, events))
        try:
            self.db.write(lambda cur: cur.execute(hot.insert_call.sql, hot.insert_call.args(row)))
        except AlreadyStored:
            # Two workers took the same first webhook at once: the other one stored it.
            existing = self.load(call.call_sid)
            if existing is None:
                raise
            return existing, False
        return call, True

    def advance(
        self,
        call_sid: str,
        expected_step: int,
        *,
        node: str,
        state: str,
        twiml: str,
        now: dt.datetime,
        live_until: dt.datetime | None = None,
        events: Events = (),
        key: int | None = None,
    ) -> bool:
        """Save the call's next state if it is still in progress and nobody has moved it since ``expected_step``.

        ``live_until``: when what the call now waits for is over (None: ``now``); ``key``:
        the call's :attr:`StoredCall.key`, if known.
        """
        hot = self._hot
        at = hot.moment(now)
        params = {
            "sid": call_sid,
            "expected": expected_step,
            "new_node": node,
            "new_state": state,
            "new_twiml": twiml,
            "new_step": expected_step + 1,
            "now": at,
            "live_until": at if live_until is None else hot.moment(live_until),
        }

        rows = _event_rows(call_sid, expected_step, now, events)
        if not due(expected_step + 1):
            params["more"] = encode(rows)
            statement = hot.advance if key is None else hot.advance_keyed
            params["key"] = key

            def advance(cur: Any) -> bool:
                cur.execute(statement.sql, statement.args(params))
                return bool(cur.rowcount == 1)

            return self.db.write(advance)

        def advance_emptying(cur: Any) -> bool:
            # The trail as it is at this step (locked on PostgreSQL), then this step's update emptying it.
            found = cur.execute(hot.trail_at.sql, hot.trail_at.args(params)).fetchone()
            if found is None:
                return False
            cur.execute(hot.advance_emptying.sql, hot.advance_emptying.args(params))
            if cur.rowcount != 1:
                return False
            self._write_events(cur, [*events_of(call_sid, found[0]), *rows])
            return True

        return self.db.write(advance_emptying)

    def settle(
        self, call_sid: str, expected_step: int, *, node: str, state: str, now: dt.datetime, events: Events = ()
    ) -> bool:
        """Save the last step of a call that has ended (a recording its hang-up finished), once.

        Guarded like :meth:`advance`, but only for a call that has ended; its
        status and end stay as they are, and it keeps no TwiML to repeat.
        """
        calls = _CALLS.c
        query = (
            update(_CALLS)
            .where(calls.call_sid == call_sid, calls.step == expected_step, calls.status != IN_PROGRESS)
            .values(node=node, state=state, last_twiml="", step=expected_step + 1, updated_at=now)
        )
        with self.db.connection() as conn:
            if conn.execute(query).rowcount != 1:
                return False
            self._add_events(conn, _event_rows(call_sid, expected_step, now, events))
            return True

    def finish(self, call_sid: str, status: str, duration: int | None, now: dt.datetime, state: str) -> bool:
        """Close the call with its final status and duration, keeping ``state``; False if it is unknown.

        The TwiML kept for replays goes: an ended call is answered with a hang-up,
        and its last document may read the caller's ID number back.
        """
        hot = self._hot
        values = {"sid": call_sid, "final_status": status[:20], "final_duration": duration, "final_state": state}
        values["now"] = hot.moment(now)
        last = [("status", "", {"status": status, "duration": duration})]
        return self.db.write(lambda cur: self._end(cur, hot.ending, hot.end, values, last, now))

    # -- calls whose end never came, and old calls ------------------------------

    def idle_calls(self, cutoff: dt.datetime, limit: int = SWEEP_LIMIT) -> list[IdleCall]:
        """Calls still in progress that have not moved since before ``cutoff``, the longest idle first."""
        calls = _CALLS.c
        query = (
            select(calls.call_sid, calls.step, calls.state)
            .where(calls.status == IN_PROGRESS, calls.updated_at < cutoff)
            .order_by(calls.updated_at)
            .limit(limit)
        )
        with self.db.connection() as conn:
            return [IdleCall(*row) for row in conn.execute(query).all()]

    def abandon(self, call_sid: str, expected_step: int, state: str, now: dt.datetime, idle: int = 0) -> bool:
        """End a call whose status callback never came, keeping ``state``; False if it moved on or ended since.

        ``idle``: the seconds it had been idle at least, for its event.

        Guarded by the step and the status, so when every worker sweeps at once
        each call is abandoned once, with one event.
        """
        hot = self._hot
        values = {"sid": call_sid, "expected": expected_step, "final_status": ABANDONED, "final_duration": None}
        values.update(final_state=state, now=hot.moment(now))
        last = [("status", "", {"status": ABANDONED, "idle_over": idle})]
        return self.db.write(lambda cur: self._end(cur, hot.idle_trail, hot.end, values, last, now))

    def _end(
        self, cur: Any, trail_of: Prepared, end: Prepared, values: dict[str, Any], last: Events, now: dt.datetime
    ) -> bool:
        """End a call in the write transaction on ``cur``: its trail out as rows, then its last event."""
        found = cur.execute(trail_of.sql, trail_of.args(values)).fetchone()
        if found is None:
            return False
        step, trail = found
        cur.execute(end.sql, end.args(values))
        sid = values["sid"]
        self._write_events(cur, [*events_of(sid, trail), *_event_rows(sid, step, now, last)])
        return True

    def sweep(
        self, cutoff: dt.datetime, now: dt.datetime, forget: Callable[[str], str], limit: int = SWEEP_LIMIT
    ) -> list[str]:
        """Abandon up to ``limit`` calls idle since before ``cutoff``; the CallSids abandoned.

        ``forget`` turns a stored state into what an ended call may keep (the
        call session's rule: :func:`ivr.session.forget_stored_secrets`).
        """
        abandoned = []
        idle = round((now - cutoff).total_seconds())
        for call in self.idle_calls(cutoff, limit):
            if self.abandon(call.call_sid, call.step, forget(call.state), now, idle=idle):
                log.info("call %s abandoned: no status callback, idle over %d s", call.call_sid, idle)
                abandoned.append(call.call_sid)
        return abandoned

    def scrub_ended(self, forget: Callable[[str], str], limit: int = SWEEP_LIMIT) -> int:
        """Make up to ``limit`` ended calls that still hold their last TwiML keep only what an ended call may.

        Calls that ended before the service dropped secrets at the end (an
        older version) keep their ID read-back and full ID number; this is the
        one pass that cleans them.  Guarded by the step, like the sweep.  How
        many were cleaned.
        """
        calls = _CALLS.c
        query = (
            select(calls.call_sid, calls.step, calls.state)
            .where(calls.status != IN_PROGRESS, calls.last_twiml != "")
            .limit(limit)
        )
        cleaned = 0
        with self.db.connection() as conn:
            for sid, step, state in conn.execute(query).all():
                result = conn.execute(
                    update(_CALLS)
                    .where(calls.call_sid == sid, calls.step == step, calls.status != IN_PROGRESS)
                    .values(state=forget(state), last_twiml="")
                )
                cleaned += result.rowcount
        return cleaned

    def purge(self, before: dt.datetime) -> tuple[int, int]:
        """Delete the calls that ended before ``before``, with their events; (calls, events) deleted.

        Calls in progress are kept whatever their age (the sweep ends them
        first).  Voicemails, loss reports and the audit trail are records of
        their own, kept: they carry the CallSid, not the call.
        """
        calls = _CALLS.c
        ended = (calls.status != IN_PROGRESS, calls.ended_at < before)
        with self.db.connection() as conn:
            events = conn.execute(delete(_EVENTS).where(_EVENTS.c.call_sid.in_(select(calls.call_sid).where(*ended))))
            deleted = conn.execute(delete(_CALLS).where(*ended))
        return int(deleted.rowcount), int(events.rowcount)

    def events(self, call_sid: str) -> list[tuple[str, str, dict[str, Any]]]:
        """The call's events in order, those still in its trail included: (kind, node, detail)."""
        e = _EVENTS.c
        query = select(e.kind, e.node, e.detail).where(e.call_sid == call_sid).order_by(e.seq, e.id)
        with self.db.connection() as conn:
            rows, pending = read_with_trails(conn, [_CALLS.c.call_sid == call_sid], lambda c: c.execute(query).all())
        listed = [(kind, node, detail) for kind, node, detail in rows]
        listed += [(p["kind"], p["node"], p["detail"]) for p in pending]
        return [(kind, node, json.loads(detail or "{}")) for kind, node, detail in listed]

    def count(self) -> int:
        """How many calls the store holds."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(CallRecord)) or 0)

    def _write_events(self, cur: Any, rows: list[dict[str, Any]]) -> None:
        """Event rows, in one statement on the driver's cursor."""
        prepared, moment = self._hot.add_events, self._hot.moment
        if rows:
            cur.executemany(prepared.sql, [prepared.args(row | {"at": moment(row["at"])}) for row in rows])

    @staticmethod
    def _add_events(conn: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(_ADD_EVENTS, rows)


def _event_rows(call_sid: str, seq: int, at: dt.datetime, events: Events) -> list[dict[str, Any]]:
    """The ``call_events`` rows of a step's events, however they are then written (in a trail or as rows)."""
    return [
        {"call_sid": call_sid, "seq": seq, "at": at, "kind": kind, "node": node, "detail": _DETAIL.encode(dict(detail))}
        for kind, node, detail in events
    ]


def _stored(row: CallRecord) -> StoredCall:
    return StoredCall(row.call_sid, row.state, row.step, row.last_twiml, row.status, row.caller, row.publication)
