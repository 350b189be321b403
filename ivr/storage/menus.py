"""Published menu versions: immutable, numbered, kept for as long as calls use them.

``ivr menu publish`` stores a menu's text as a new publication; the one with
the highest number is the menu the service serves to new calls, and a
rollback is simply a new publication of an older one's text.  Publications
are never changed nor deleted: a call keeps the number it started with
(``calls.publication``), and any worker on any host can load that number's
text again.

The webhook learns the newest number without a statement of its own: the
query that loads a call (:data:`ivr.storage.calls`) reads it alongside.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ForeignKey, Integer, String, Table, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from ivr.storage.base import Base
from ivr.storage.db import Database

__all__ = ["NOTE_LENGTH", "PUBLISHER_LENGTH", "MenuPublication", "PublicationRecord", "PublishedMenus", "content_hash"]

PUBLISHER_LENGTH = 100
"""The longest publisher name kept (``user@host``)."""
NOTE_LENGTH = 2000
"""The longest note kept."""


class PublicationRecord(Base):
    """One published menu text: what calls that start while it is current hear."""

    __tablename__ = "menu_publications"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    menu_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(32))
    """The menu's own ``version`` field: the author's label, shown beside the number."""
    content_hash: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    published_by: Mapped[str] = mapped_column(String(PUBLISHER_LENGTH), default="")
    published_at: Mapped[dt.datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    rollback_of: Mapped[int | None] = mapped_column(Integer, ForeignKey("menu_publications.number"), default=None)
    """For a rollback: the publication whose text this one publishes again."""


_TABLE = cast(Table, PublicationRecord.__table__)
LATEST = select(func.max(_TABLE.c.number)).scalar_subquery()
"""The current publication's number (None when nothing is published), for other queries to read alongside."""


@dataclass(frozen=True)
class MenuPublication:
    """A publication as the store keeps it (``content`` is the menu's JSON text as published)."""

    number: int
    menu_id: str
    label: str
    content_hash: str
    published_by: str
    published_at: dt.datetime
    note: str
    rollback_of: int | None
    content: str = ""

    def summary(self) -> dict[str, Any]:
        """The publication without its content, as ``ivr menu list --json`` prints it."""
        return {
            "version": self.number,
            "menu_id": self.menu_id,
            "label": self.label,
            "content_hash": self.content_hash,
            "published_by": self.published_by,
            "published_at": self.published_at.isoformat(),
            "note": self.note,
            "rollback_of": self.rollback_of,
        }


def content_hash(content: str) -> str:
    """The SHA-256 of a menu's meaning: its JSON with keys sorted and no spacing, so layout alone never counts."""
    try:
        canonical = json.dumps(json.loads(content), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        canonical = content
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_SUMMARY_COLUMNS = (
    _TABLE.c.number,
    _TABLE.c.menu_id,
    _TABLE.c.label,
    _TABLE.c.content_hash,
    _TABLE.c.published_by,
    _TABLE.c.published_at,
    _TABLE.c.note,
    _TABLE.c.rollback_of,
)


class PublishedMenus:
    """Reads and adds publications; every method is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def publish(
        self,
        content: str,
        *,
        menu_id: str,
        label: str,
        published_by: str,
        now: dt.datetime,
        note: str = "",
        rollback_of: int | None = None,
    ) -> MenuPublication:
        """Store ``content`` (a menu that was checked) as the newest publication, and return it."""
        record = PublicationRecord(
            menu_id=menu_id[:64],
            label=label[:32],
            content_hash=content_hash(content),
            content=content,
            published_by=published_by[:PUBLISHER_LENGTH],
            published_at=now,
            note=note[:NOTE_LENGTH],
            rollback_of=rollback_of,
        )
        with self.db.session() as s:
            s.add(record)
            s.flush()
            return _publication(record)

    def latest_number(self) -> int | None:
        """The current publication's number, or None when nothing is published."""
        with self.db.connection() as conn:
            value = conn.execute(select(LATEST)).scalar()
        return None if value is None else int(value)

    def get(self, number: int) -> MenuPublication | None:
        """The publication ``number`` with its content, or None when there is none."""
        with self.db.session() as s:
            record = s.get(PublicationRecord, number)
            return None if record is None else _publication(record)

    def current(self) -> MenuPublication | None:
        """The newest publication with its content, or None when nothing is published."""
        with self.db.session() as s:
            record = s.scalars(select(PublicationRecord).order_by(PublicationRecord.number.desc()).limit(1)).first()
            return None if record is None else _publication(record)

    def history(self, limit: int = 1000) -> list[MenuPublication]:
        """Publications without their content, newest first."""
        query = select(*_SUMMARY_COLUMNS).order_by(_TABLE.c.number.desc()).limit(limit)
        with self.db.connection() as conn:
            return [MenuPublication(*row) for row in conn.execute(query).all()]


def _publication(record: PublicationRecord) -> MenuPublication:
    return MenuPublication(
        number=record.number,
        menu_id=record.menu_id,
        label=record.label,
        content_hash=record.content_hash,
        published_by=record.published_by,
        published_at=record.published_at,
        note=record.note,
        rollback_of=record.rollback_of,
        content=record.content,
    )
