"""A call's newest events, kept in its own row until they are written out as ``call_events`` rows.

Every step of a call is an event, stored before the step is answered.  Written
as a ``call_events`` row, it costs the step a second place in the database
besides its call: an entry in the events' index by CallSid, a page anywhere
in that index.  So a step appends its events to the call's ``trail`` column
instead, in the same update that saves its state, and the trail goes out as
rows in one statement every :data:`TRAIL_STEPS` steps and when the call ends
(its status callback or the sweep).  A call's events then share one index
page instead of taking one each.

The trail is stored, not cached: a worker killed after a step has its events
in the call's row, committed with the step.  Whoever reads events reads them
with the trails of the calls in question (:func:`read_with_trails`), so the
dashboard, the call detail and the graph's visit counts see every event.

Only a call in progress has a trail: ending a call writes it out.  Every
event in a trail comes after (a higher ``seq`` than) every row of its call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Table, literal_column, select
from sqlalchemy.engine import Connection

from ivr.storage.models import IN_PROGRESS_ONLY, CallRecord

__all__ = ["TRAIL_STEPS", "TrailEvent", "due", "encode", "events_of", "read_with_trails"]

TRAIL_STEPS = 16
"""A call's trail goes out as rows at every step whose number is a multiple of this (and at its end)."""
_TRIES = 3
"""Reads of events and trails tried again when a trail went out between them (see :func:`read_with_trails`)."""

_CALLS = cast(Table, CallRecord.__table__)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)

TrailEvent = dict[str, Any]
"""An event as a ``call_events`` row: call_sid, seq, at (an aware datetime), kind, node, detail (JSON text)."""
T = TypeVar("T")


def due(step: int) -> bool:
    """Whether the step numbered ``step`` writes its call's trail out as rows."""
    return step % TRAIL_STEPS == 0


def encode(rows: Iterable[Mapping[str, Any]]) -> str:
    """Event rows (their ``at`` an aware datetime) as trail lines, to append to a call's trail.

    A line a row, its fields apart by tabs: seq, at (microseconds since 1970,
    UTC), kind, node and the detail as the exact JSON text its row will hold
    (the dashboard groups outcomes by that text).  JSON text holds no raw tab
    or line break, and neither do kinds or node ids (a menu's node ids are
    letters, digits and ``_.-``); one that did would have them as spaces.
    A few dozen bytes a step: a call's row grows little between write-outs.
    """
    return "".join(
        f"{r['seq']}\t{(r['at'] - _EPOCH) // _MICRO}\t{_field(r['kind'])}\t{_field(r['node'])}\t{r['detail']}\n"
        for r in rows
    )


def _field(text: str) -> str:
    return text if "\t" not in text and "\n" not in text else text.replace("\t", " ").replace("\n", " ")


def events_of(call_sid: str, trail: str) -> list[TrailEvent]:
    """A call's trail as ``call_events`` rows, oldest first (a line that cannot be read is skipped)."""
    rows = []
    # Split on line feeds alone: str.splitlines would also split a detail at U+2028 or U+0085,
    # which JSON written with ensure_ascii=False keeps as they are.
    for line in trail.split("\n"):
        if not line:
            continue
        try:
            seq, micros, kind, node, detail = line.split("\t", 4)
            row = {"call_sid": call_sid, "seq": int(seq), "at": _EPOCH + dt.timedelta(microseconds=int(micros))}
        except ValueError:
            continue  # only ivr writes trails; a torn line would be a bug, not a reason to fail a report
        rows.append(row | {"kind": kind, "node": node, "detail": detail})
    return rows


# The index's own condition, written out rather than bound, so SQLite sees it and uses the index.
_HAS_TRAIL = (IN_PROGRESS_ONLY, _CALLS.c.trail != literal_column("''"))


def _trails(conn: Connection, where: Sequence[ColumnElement[bool]]) -> dict[str, str]:
    c = _CALLS.c
    return {str(sid): str(t) for sid, t in conn.execute(select(c.call_sid, c.trail).where(*_HAS_TRAIL, *where))}


def read_with_trails(
    conn: Connection, where: Sequence[ColumnElement[bool]], read: Callable[[Connection], T]
) -> tuple[T, list[TrailEvent]]:
    """What ``read(conn)`` gives from the ``call_events`` rows, and the trail events of the calls ``where`` picks.

    Only calls in progress have trails, so only they are looked at.
    Together they hold each event once: the trails are read before and after
    ``read``, and if one went out as rows meanwhile (it is then no longer what
    it was, or its start) all is read again.  Steps that only append to a
    trail cost no retry: what they added is simply not seen yet.  After three
    tries (a dashboard read among calls that keep ending) the last reading is
    given as it is.
    """
    for _ in range(_TRIES):
        before = _trails(conn, where)
        result = read(conn)
        if not before:
            return result, []
        c = _CALLS.c
        after = {
            str(sid): str(t) for sid, t in conn.execute(select(c.call_sid, c.trail).where(c.call_sid.in_(list(before))))
        }
        if all(after.get(sid, "").startswith(trail) for sid, trail in before.items()):
            break
    return result, [event for sid, trail in before.items() for event in events_of(sid, trail)]
