"""The admin login's failures in the store, so that every worker and host counts the same guesses.

:class:`LoginFailures` is the log; what it means (how many failures are too
many, how long to wait) is the caller's rule, handed in as ``decide`` (the
admin's is :mod:`ivr.web.admin.throttle`).  An attempt is judged and, when let
through, recorded as a failure in one transaction under a lock, before the
password is even checked: so concurrent guesses from any number of processes
never slip past the count, and a right password then takes its row back
(:meth:`LoginFailures.forget`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import Session

from ivr.storage.db import Database
from ivr.storage.models import LoginFailure

__all__ = ["LoginFailures", "Tally"]

_LOCK_KEY = 123330002
"""The PostgreSQL advisory lock that serialises judging attempts (the migrations use 123330001)."""


@dataclass(frozen=True)
class Tally:
    """The failures an attempt is judged by."""

    client: tuple[dt.datetime, ...]
    """The client's failures within the short window, oldest first."""
    device: tuple[dt.datetime, ...]
    """The browser's failures within the short window, oldest first (none when it has no device id)."""
    total: int
    """Everyone's failures within the long window."""
    latest: dt.datetime | None
    """Everyone's latest failure within the long window."""


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back the naive UTC time it was given.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class LoginFailures:
    """The log of failed (and pending) admin logins, in ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _lock(self, s: Session, purge_before: dt.datetime) -> None:
        if not self.db.is_sqlite:
            s.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
        # A write first: on SQLite it takes the database's write lock for the whole transaction,
        # so two processes never judge from the same count.  And old rows go.
        s.execute(delete(LoginFailure).where(LoginFailure.at < purge_before))

    def admit(
        self,
        client: str,
        device: str,
        now: dt.datetime,
        short: dt.timedelta,
        long: dt.timedelta,
        decide: Callable[[Tally], float],
    ) -> float:
        """Judge an attempt by the failures so far: ``decide`` gives the seconds to wait (0: go ahead).

        An attempt let through is recorded as a failure at ``now`` at once;
        rows older than ``long`` are deleted.  Raises
        :class:`~ivr.storage.db.StoreUnavailable` when the store fails.
        """
        now = now.astimezone(dt.UTC)
        with self.db.session() as s:
            self._lock(s, now - long)
            since = now - short
            mine = s.scalars(
                select(LoginFailure.at)
                .where(LoginFailure.client == client, LoginFailure.at >= since)
                .order_by(LoginFailure.at)
            ).all()
            theirs: list[dt.datetime] = []
            if device:
                theirs = list(
                    s.scalars(
                        select(LoginFailure.at)
                        .where(LoginFailure.device == device, LoginFailure.at >= since)
                        .order_by(LoginFailure.at)
                    ).all()
                )
            total, latest = s.execute(
                select(func.count(), func.max(LoginFailure.at)).where(LoginFailure.at >= now - long)
            ).one()
            tally = Tally(
                client=tuple(_utc(t) for t in mine),
                device=tuple(_utc(t) for t in theirs),
                total=int(total or 0),
                latest=_utc(latest) if latest is not None else None,
            )
            wait = decide(tally)
            if wait <= 0:
                s.add(LoginFailure(client=client, device=device, at=now))
            return wait

    def forget(self, client: str, device: str) -> None:
        """A right password: the failures of ``client`` and of ``device`` no longer count."""
        with self.db.session() as s:
            where = LoginFailure.client == client
            s.execute(delete(LoginFailure).where(or_(where, LoginFailure.device == device) if device else where))

    def count(self) -> int:
        """How many rows the log holds (for tests and the curious)."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(LoginFailure)) or 0)
