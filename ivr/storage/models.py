"""Tables for calls and their events.

A call's engine state lives here, keyed by CallSid, so any worker on any host
can serve the next step.  ``step`` is a counter for optimistic concurrency and
for spotting replayed or out-of-order webhooks; ``last_twiml`` is what the
call was last told, answered again to a replay.

``login_failures`` is the admin login's throttle (:mod:`ivr.storage.throttle`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.storage.base import Base

__all__ = ["IN_PROGRESS_ONLY", "CallEvent", "CallRecord", "LoginFailure"]


IN_PROGRESS_ONLY = text("status = 'in-progress'")
"""The calls in progress, as the partial index of them says it: a query that says it alike can use the index."""


class CallRecord(Base):
    """One phone call: who, where it is in the menu, and how it ended."""

    __tablename__ = "calls"
    # The sweep of abandoned calls, the dashboard's live calls and the purge of old ones read by these.
    # Calls in progress are indexed by a column no step writes, so a step never touches an index.
    __table_args__ = (
        Index("ix_calls_in_progress", "started_at", sqlite_where=IN_PROGRESS_ONLY, postgresql_where=IN_PROGRESS_ONLY),
        Index("ix_calls_ended_at", "ended_at"),
    )

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller: Mapped[str] = mapped_column(String(40), default="")
    menu_id: Mapped[str] = mapped_column(String(64))
    menu_version: Mapped[str] = mapped_column(String(32))
    publication: Mapped[int | None] = mapped_column(Integer, default=None)
    """The published menu (``menu_publications.number``) the call started on and keeps; None: the menu file."""
    node: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(Text)
    step: Mapped[int] = mapped_column(Integer, default=1)
    last_twiml: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="in-progress")
    started_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    live_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    """When what the call now waits for (its prompts and Gather timeout, a recording, a transfer) is over:
    a call whose next request is later than this (and a margin) is not really in progress."""
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    duration: Mapped[int | None] = mapped_column(Integer, default=None)
    trail: Mapped[str] = mapped_column(Text, default="", server_default="")
    """The call's newest events, not yet ``call_events`` rows (:mod:`ivr.storage.trail`); empty once it ends."""


class CallEvent(Base):
    """Something that happened in a call: a step, a key, a service's outcome."""

    __tablename__ = "call_events"
    __table_args__ = (Index("ix_call_events_call_sid_seq", "call_sid", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64), ForeignKey("calls.call_sid", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(20))
    node: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class LoginFailure(Base):
    """A wrong admin password, or an attempt not judged yet: what the login throttle counts.

    ``client`` is the address (an IPv6 one by its /64), ``device`` the id of a
    browser that logged in before (empty for others).  Rows older than the
    throttle's longest window are deleted as new attempts come.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_at", "at"),
        Index("ix_login_failures_client_at", "client", "at"),
        Index("ix_login_failures_device_at", "device", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(32), default="")
    at: Mapped[dt.datetime]
