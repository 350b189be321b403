"""The dashboard's SQL and the graph's heat map, in SQLAlchemy Core: every query bounded by a time window or a LIMIT.

Times are kept in UTC by every table (:class:`ivr.storage.base.UtcDateTime`)
and compare alike whatever zone the clock that wrote them had.

A call is *live* while it is in progress and its next request is still due:
each step stores when what it waits for is over (``calls.live_until``: the
prompts and the Gather's timeout, a recording's or a transfer's limit), and
:data:`LIVE_MARGIN` is added for the network.  A call has "ended" when Twilio
reported its final status, or when it is past that without a request (its
caller hung up and the status callback never came; the sweep abandons it
after ``IVR_CALL_IDLE_TIMEOUT``).

Every report may be limited to the calls of one menu publication (the
``publication`` argument: a number, or :data:`MENU_FILE` for calls that began
on the menu file), so operators can compare two versions.

:func:`visit_counts` opens a database by URL (``ivr graph --heat``) rather
than the app's :class:`~ivr.storage.db.Database`, and never creates one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, create_engine, func, inspect, make_url, or_, select, true, union
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ivr.storage.calls import IN_PROGRESS
from ivr.storage.cards import AuditEntry, LossReport, Voicemail
from ivr.storage.db import Database, StoreUnavailable
from ivr.storage.models import CallEvent, CallRecord
from ivr.storage.trail import TrailEvent, read_with_trails

__all__ = [
    "ALL_VERSIONS",
    "LIVE_MARGIN",
    "MENU_FILE",
    "WINDOWS",
    "CallDetail",
    "CallRow",
    "CallsStored",
    "EventRow",
    "NodeStat",
    "OutcomeCount",
    "Overview",
    "VersionCount",
    "VoicemailRow",
    "audit_counts",
    "build_path",
    "call_detail",
    "live_calls",
    "node_stats",
    "overview",
    "recent_calls",
    "silent_calls",
    "stored_by_calls",
    "transactions",
    "version_counts",
    "visit_counts",
    "voicemails",
]

CALLS = cast(Table, CallRecord.__table__)
EVENTS = cast(Table, CallEvent.__table__)
VOICEMAILS = cast(Table, Voicemail.__table__)
AUDIT = cast(Table, AuditEntry.__table__)

LIVE_MARGIN = dt.timedelta(seconds=30)
"""How late a call's next request may be, past what it waited for, and the call still count as live."""
MENU_FILE = 0
"""The ``publication`` argument for calls that began on the menu file (no publication)."""
ALL_VERSIONS = None
"""The ``publication`` argument for every call, whatever its version."""
WINDOWS: dict[str, dt.timedelta] = {
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
"""The time windows the pages offer, by the name used in ``?window=``."""

CALL_LIMIT = 50
"""Calls listed on a page."""
PATH_EVENT_LIMIT = 5000
"""Events read to draw the paths of one page of calls."""
DETAIL_EVENT_LIMIT = 1000
"""Events shown for one call."""
GROUP_LIMIT = 1000
"""Groups read by an aggregate (nodes, service outcomes): far more than a menu has."""


@dataclass(frozen=True)
class CallRow:
    """A call in a list, with the nodes it went through."""

    call_sid: str
    caller: str
    node: str
    status: str
    started_at: dt.datetime
    updated_at: dt.datetime
    ended_at: dt.datetime | None
    duration: int | None
    publication: int | None = None
    """The menu publication the call began on (None: the menu file)."""
    menu_version: str = ""
    """The menu's own version label when the call began."""
    live: bool = False
    """Whether it is really in progress: in progress in the store, and its next request still due."""
    path: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EventRow:
    """One recorded event of a call."""

    seq: int
    at: dt.datetime
    kind: str
    node: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class VoicemailRow:
    """A message left for the agents."""

    id: int
    call_sid: str
    caller: str
    recording_url: str
    seconds: int
    created_at: dt.datetime


@dataclass(frozen=True)
class OutcomeCount:
    """How often one service ended with one outcome: service calls (``error``: it failed) or audit-log rows."""

    service: str
    outcome: str
    count: int


@dataclass(frozen=True)
class CallDetail:
    """Everything the store has about one call."""

    call: CallRow
    menu_id: str
    menu_version: str
    events: list[EventRow]
    voicemails: list[VoicemailRow]
    audit: list[dict[str, Any]]
    truncated: bool


@dataclass(frozen=True)
class NodeStat:
    """Traffic at one node: calls that reached it, and calls that ended there."""

    node: str
    visits: int
    ended: int
    planned_end: bool
    """Ending here is the menu's plan (a goodbye, a transfer): not a drop-off."""

    @property
    def dropped(self) -> int:
        """Calls whose callers hung up here (0 at planned ends)."""
        return 0 if self.planned_end else self.ended

    @property
    def drop_rate(self) -> float:
        """Drop-offs per visit, 0 to 1."""
        return self.dropped / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class VersionCount:
    """Calls that began on one menu publication (``publication`` None: the menu file) since a moment."""

    publication: int | None
    menu_version: str
    calls: int


@dataclass(frozen=True)
class Overview:
    """The headline numbers for a window."""

    calls: int
    live: int
    dropped: int
    transactions: int
    voicemails: int


def _call_row(row: Any, path: list[str] | None = None) -> CallRow:
    return CallRow(
        call_sid=row.call_sid,
        caller=row.caller,
        node=row.node,
        status=row.status,
        started_at=row.started_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        duration=row.duration,
        publication=row.publication,
        menu_version=row.menu_version,
        live=bool(row.live),
        path=path or [],
    )


def _call_columns(now: dt.datetime) -> list[Any]:
    c = CALLS.c
    return [
        _is_live(now).label("live"),
        c.call_sid,
        c.caller,
        c.node,
        c.status,
        c.started_at,
        c.updated_at,
        c.ended_at,
        c.duration,
        c.publication,
        c.menu_version,
    ]


def _due(now: dt.datetime) -> ColumnElement[bool]:
    # Rows from before live_until was kept have none: their last step is all there is to go by.
    return func.coalesce(CALLS.c.live_until, CALLS.c.updated_at) >= now - LIVE_MARGIN


def _is_live(now: dt.datetime) -> ColumnElement[bool]:
    return and_(CALLS.c.status == "in-progress", _due(now))


def _has_ended(now: dt.datetime) -> ColumnElement[bool]:
    return or_(CALLS.c.status != "in-progress", ~_due(now))


def _of(publication: int | None) -> ColumnElement[bool]:
    """Calls of one publication (:data:`MENU_FILE`: of the menu file), or every call (:data:`ALL_VERSIONS`)."""
    if publication is ALL_VERSIONS:
        return true()
    if publication == MENU_FILE:
        return CALLS.c.publication.is_(None)
    return CALLS.c.publication == publication


def _detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"detail": text[:200]}
    return value if isinstance(value, dict) else {"detail": value}


def build_path(events: Iterable[tuple[str, str]], final: str) -> list[str]:
    """The nodes a call went through, in order, each run of repeats once, ending where the call is.

    ``events`` are (kind, node) in the order they were stored.  Calls recorded
    with "enter" events (one per node entered, message nodes included) are
    drawn from those alone, since a step stores its other events (keys, service
    outcomes) before the nodes it entered; older calls from every event's node.
    """
    pairs = list(events)
    entered = any(kind == "enter" for kind, _ in pairs)
    nodes = [node for kind, node in pairs if not entered or kind in ("enter", "start", "restart")]
    path: list[str] = []
    for node in [*nodes, final]:
        if node and (not path or path[-1] != node):
            path.append(node)
    return path


def _paths(conn: Connection, calls: Sequence[Any]) -> dict[str, list[str]]:
    sids = [r.call_sid for r in calls]
    if not sids:
        return {}
    e = EVENTS.c
    query = (
        select(e.call_sid, e.kind, e.node)
        .where(e.call_sid.in_(sids), e.node != "")
        .order_by(e.call_sid, e.seq, e.id)
        .limit(PATH_EVENT_LIMIT)
    )
    rows, pending = read_with_trails(conn, [CALLS.c.call_sid.in_(sids)], lambda on: on.execute(query).all())
    by_call: dict[str, list[tuple[str, str]]] = {sid: [] for sid in sids}
    for sid, kind, node in rows:
        by_call[sid].append((kind, node))
    for p in pending:
        if p["node"]:
            by_call[p["call_sid"]].append((p["kind"], p["node"]))
    return {r.call_sid: build_path(by_call[r.call_sid], r.node) for r in calls}


def live_calls(db: Database, now: dt.datetime, limit: int = CALL_LIMIT) -> list[CallRow]:
    """Calls really in progress at ``now`` (their next request is still due), newest step first, with paths."""
    query = select(*_call_columns(now)).where(_is_live(now)).order_by(CALLS.c.updated_at.desc()).limit(limit)
    with db.connection() as conn:
        rows = conn.execute(query).all()
        paths = _paths(conn, rows)
    return [_call_row(r, paths[r.call_sid]) for r in rows]


def silent_calls(db: Database, now: dt.datetime) -> int:
    """Calls the store still has in progress though their next request is overdue: the sweep will end them."""
    query = select(func.count()).select_from(CALLS).where(CALLS.c.status == "in-progress", ~_due(now))
    with db.connection() as conn:
        return int(conn.scalar(query) or 0)


def version_counts(db: Database, since: dt.datetime) -> list[VersionCount]:
    """Calls started since ``since`` by the menu publication they began on, the newest publication first."""
    c = CALLS.c
    query = (
        select(c.publication, func.max(c.menu_version), func.count())
        .where(c.started_at >= since)
        .group_by(c.publication)
        .limit(GROUP_LIMIT)
    )
    with db.connection() as conn:
        rows = conn.execute(query).all()
    counts = [VersionCount(None if p is None else int(p), str(v or ""), int(n)) for p, v, n in rows]
    counts.sort(key=lambda vc: -1 if vc.publication is None else vc.publication, reverse=True)
    return counts


def recent_calls(db: Database, since: dt.datetime, now: dt.datetime, limit: int = CALL_LIMIT) -> list[CallRow]:
    """Calls started since ``since``, newest first, with their paths (and whether each is live at ``now``)."""
    query = (
        select(*_call_columns(now))
        .where(CALLS.c.started_at >= since)
        .order_by(CALLS.c.started_at.desc(), CALLS.c.updated_at.desc())
        .limit(limit)
    )
    with db.connection() as conn:
        rows = conn.execute(query).all()
        paths = _paths(conn, rows)
    return [_call_row(r, paths[r.call_sid]) for r in rows]


def call_detail(db: Database, call_sid: str, now: dt.datetime) -> CallDetail | None:
    """One call with its events, voicemails and audit rows; None if the store has never seen it."""
    c, e, v, a = CALLS.c, EVENTS.c, VOICEMAILS.c, AUDIT.c
    with db.connection() as conn:
        row = conn.execute(select(*_call_columns(now), c.menu_id).where(c.call_sid == call_sid)).first()
        if row is None:
            return None
        query = (
            select(e.seq, e.at, e.kind, e.node, e.detail)
            .where(e.call_sid == call_sid)
            .order_by(e.seq, e.id)
            .limit(DETAIL_EVENT_LIMIT + 1)
        )
        stored, pending = read_with_trails(conn, [c.call_sid == call_sid], lambda on: on.execute(query).all())
        mails = conn.execute(
            select(v.id, v.call_sid, v.caller, v.recording_url, v.seconds, v.created_at)
            .where(v.call_sid == call_sid)
            .order_by(v.created_at)
            .limit(CALL_LIMIT)
        ).all()
        audit = conn.execute(
            select(a.at, a.service, a.id_masked, a.outcome, a.detail)
            .where(a.call_sid == call_sid)
            .order_by(a.at, a.id)
            .limit(CALL_LIMIT)
        ).all()
    events = [EventRow(r.seq, r.at, r.kind, r.node, _detail(r.detail)) for r in stored]
    events += [EventRow(p["seq"], p["at"], p["kind"], p["node"], _detail(p["detail"])) for p in pending]
    event_rows = events[:DETAIL_EVENT_LIMIT]
    path = build_path(((ev.kind, ev.node) for ev in event_rows), row.node)
    return CallDetail(
        call=_call_row(row, path),
        menu_id=row.menu_id,
        menu_version=row.menu_version,
        events=event_rows,
        voicemails=[VoicemailRow(*m) for m in mails],
        audit=[
            {"at": r.at, "service": r.service, "id_masked": r.id_masked, "outcome": r.outcome, **_detail(r.detail)}
            for r in audit
        ],
        truncated=len(events) > DETAIL_EVENT_LIMIT,
    )


def node_stats(
    db: Database,
    since: dt.datetime,
    now: dt.datetime,
    planned_ends: Iterable[str],
    publication: int | None = ALL_VERSIONS,
) -> list[NodeStat]:
    """Visits (distinct calls that reached a node) and ends per node, for calls started since ``since``.

    A call reached a node if an event happened there or the call is (or ended)
    there.  ``publication`` limits them to the calls of one menu version.
    Sorted by drop-offs, then by visits, most first.
    """
    planned = frozenset(planned_ends)
    c, e = CALLS.c, EVENTS.c
    started = and_(c.started_at >= since, _of(publication))

    def reached(*calls: ColumnElement[bool]) -> Any:
        return union(
            select(e.call_sid, e.node).join(CALLS, c.call_sid == e.call_sid).where(*calls, e.node != ""),
            select(c.call_sid, c.node).where(*calls, c.node != ""),
        ).subquery()

    # Calls that ended are counted by the database.  Calls in progress (no more than are on the line)
    # are counted here, with the nodes their trails reached besides their rows.
    done = reached(started, c.status != IN_PROGRESS)
    visits_q = select(done.c.node, func.count()).group_by(done.c.node).limit(GROUP_LIMIT)
    live = reached(started, c.status == IN_PROGRESS)
    ended_q = select(c.node, func.count()).where(started, _has_ended(now)).group_by(c.node).limit(GROUP_LIMIT)

    def read(conn: Connection) -> tuple[Counter[str], set[tuple[str, str]]]:
        visits = Counter({str(node): int(n) for node, n in conn.execute(visits_q).all()})
        return visits, {(str(sid), str(node)) for sid, node in conn.execute(select(live)).all()}

    with db.connection() as conn:
        (visits, pairs), pending = read_with_trails(conn, [started], read)
        ended = {str(node): int(n) for node, n in conn.execute(ended_q).all()}
    pairs |= {(p["call_sid"], p["node"]) for p in pending if p["node"]}
    visits.update(node for _sid, node in pairs)
    stats = [
        NodeStat(node, max(visits.get(node, 0), ended.get(node, 0)), ended.get(node, 0), node in planned)
        for node in visits.keys() | ended.keys()
    ]
    stats.sort(key=lambda s: (-s.dropped, -s.visits, s.node))
    return stats


def _services(pending: Iterable[TrailEvent], since: dt.datetime) -> list[TrailEvent]:
    """The service outcomes since ``since`` among events still in trails."""
    return [p for p in pending if p["kind"] == "service" and p["at"] >= since]


def transactions(db: Database, since: dt.datetime) -> list[OutcomeCount]:
    """Service calls by service and outcome since ``since``, from the calls' ``service`` events."""
    e = EVENTS.c
    # Grouped by the stored JSON text ({"service": ..., "outcome": ...}, always written alike), so the
    # database does the counting without JSON functions, which SQLite and PostgreSQL spell differently.
    query = (
        select(e.detail, func.count()).where(e.kind == "service", e.at >= since).group_by(e.detail).limit(GROUP_LIMIT)
    )
    with db.connection() as conn:
        rows, pending = read_with_trails(conn, [], lambda on: on.execute(query).all())
    counted = [*rows, *((p["detail"], 1) for p in _services(pending, since))]
    counts: Counter[tuple[str, str]] = Counter()
    for text, n in counted:
        d = _detail(text)
        counts[(str(d.get("service", "?")), str(d.get("outcome", "?")))] += int(n)
    return [OutcomeCount(s, o, n) for (s, o), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1]))]


def audit_counts(db: Database, since: dt.datetime) -> list[OutcomeCount]:
    """Audit-log rows (card transactions) by service and outcome since ``since``."""
    a = AUDIT.c
    query = (
        select(a.service, a.outcome, func.count())
        .where(a.at >= since)
        .group_by(a.service, a.outcome)
        .order_by(a.service, func.count().desc())
        .limit(GROUP_LIMIT)
    )
    with db.connection() as conn:
        return [OutcomeCount(str(s), str(o), int(n)) for s, o, n in conn.execute(query).all()]


def voicemails(db: Database, since: dt.datetime, limit: int = CALL_LIMIT) -> list[VoicemailRow]:
    """Voicemails left since ``since``, newest first."""
    v = VOICEMAILS.c
    query = (
        select(v.id, v.call_sid, v.caller, v.recording_url, v.seconds, v.created_at)
        .where(v.created_at >= since)
        .order_by(v.created_at.desc(), v.id.desc())
        .limit(limit)
    )
    with db.connection() as conn:
        return [VoicemailRow(*r) for r in conn.execute(query).all()]


def overview(db: Database, since: dt.datetime, now: dt.datetime, planned_ends: Iterable[str]) -> Overview:
    """Calls, live calls, drop-offs, transactions and voicemails for the window."""
    c, e, v = CALLS.c, EVENTS.c, VOICEMAILS.c
    planned = list(planned_ends)
    with db.connection() as conn:
        calls = conn.scalar(select(func.count()).select_from(CALLS).where(c.started_at >= since)) or 0
        live = conn.scalar(select(func.count()).select_from(CALLS).where(_is_live(now))) or 0
        dropped_q = select(func.count()).select_from(CALLS).where(c.started_at >= since, _has_ended(now))
        if planned:
            dropped_q = dropped_q.where(c.node.not_in(planned))
        dropped = conn.scalar(dropped_q) or 0
        services_q = select(func.count()).select_from(EVENTS).where(e.kind == "service", e.at >= since)
        stored, pending = read_with_trails(conn, [], lambda on: int(on.scalar(services_q) or 0))
        services = stored + len(_services(pending, since))
        mails = conn.scalar(select(func.count()).select_from(VOICEMAILS).where(v.created_at >= since)) or 0
    return Overview(int(calls), int(live), int(dropped), int(services), int(mails))


def visit_counts(url: str) -> dict[str, int]:
    """Recorded call events per node (the ``node`` column of ``call_events``) in the database at ``url``.

    :class:`StoreUnavailable`, with a message for the menu's author, when the
    URL is malformed, the database cannot be opened, or it has no
    ``call_events`` table.  An SQLite file that does not exist is an error too,
    rather than a new empty database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailable(f"not a database URL: {url!r} (for example sqlite:///ivr.db)") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database not in ("", ":memory:") and not database.startswith("file:") and not Path(database).is_file():
            raise StoreUnavailable(f"no such SQLite database file: {database}")
    try:
        engine = create_engine(parsed)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise StoreUnavailable(f"cannot open the database {shown}: {exc}") from None
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(EVENTS.name):
                raise StoreUnavailable(f"the database {shown} has no call_events table (run: ivr db upgrade)")
            query = select(EVENTS.c.node, func.count()).where(EVENTS.c.node != "").group_by(EVENTS.c.node)
            if any(column["name"] == "trail" for column in inspect(conn).get_columns(CALLS.name)):
                rows, pending = read_with_trails(conn, [], lambda on: on.execute(query).all())
            else:  # a database from before trails (ivr db upgrade adds them): every event is a row
                rows, pending = conn.execute(query).all(), []
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise StoreUnavailable(f"cannot read call events from {shown}: {first}") from None
    finally:
        engine.dispose()
    counts = Counter({str(node): int(count) for node, count in rows})
    counts.update(p["node"] for p in pending if p["node"])
    return dict(counts)


@dataclass(frozen=True)
class CallsStored:
    """What calls (not operators or the seed) have left in the card tables."""

    references: tuple[str, ...]
    """The loss reports' reference numbers, oldest first."""
    audited: int
    """Audited transaction attempts."""
    voicemails: int


def stored_by_calls(db: Database) -> CallsStored:
    """What calls have stored: rows with a CallSid (the seed's and operators' carry none)."""
    with db.session() as s:
        references = s.scalars(
            select(LossReport.reference).where(LossReport.call_sid != "").order_by(LossReport.id)
        ).all()
        audited = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.call_sid != ""))
        voicemails = s.scalar(select(func.count()).select_from(Voicemail))
    return CallsStored(tuple(references), int(audited or 0), int(voicemails or 0))
