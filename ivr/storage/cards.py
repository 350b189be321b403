"""Tables for the self-service transactions, and how service passwords are kept.

- ``cards``: one social security card per ID number, with its status, its
  password hash and the counter of consecutive wrong passwords.  The counter
  lives on the card's row, so it holds across calls and across workers.
- ``loss_reports``: temporary loss reports made by phone, each with the
  reference number the caller heard.
- ``reference_counters``: the last sequence number given out on each day, so
  reference numbers are unique however many workers file reports at once.
- ``voicemails``: messages left for the agents, with the caller's number.
- ``audit_log``: one row for every transaction attempt, with its CallSid and a
  masked ID number (never a whole one, never a password).

Passwords are stored only as salted scrypt hashes in the PHC string format
(``$scrypt$ln=14,r=8,p=1$salt$hash``), so the cost parameters travel with each
hash and can be raised later without breaking the hashes already stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr.rules import MAX_ATTEMPTS
from ivr.storage.base import Base, UtcDateTime

if TYPE_CHECKING:
    pass

__all__ = [
    "CARD_KINDS",
    "CARD_STATUSES",
    "AuditEntry",
    "Card",
    "LossReport",
    "ReferenceCounter",
    "UtcDateTime",
    "Voicemail",
    "hash_pin",
    "verify_pin",
]

CARD_STATUSES = ("not_activated", "active", "reported_lost", "replacing")
"""What a card's ``status`` column may hold.

``reported_lost`` is a temporary (phone) loss report; whether it still holds
depends on the report's expiry, see :func:`ivr.services.cards.card_view`.
"""

CARD_KINDS = ("standard", "rural")


class Card(Base):
    """A social security card, found by its holder's resident ID number."""

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint("status IN ('not_activated', 'active', 'reported_lost', 'replacing')", name="status"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    holder: Mapped[str] = mapped_column(String(60), default="")
    kind: Mapped[str] = mapped_column(String(16), default="standard")
    status: Mapped[str] = mapped_column(String(20), default="not_activated")
    pin_hash: Mapped[str] = mapped_column(String(200))
    pin_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Wrong passwords in a row; a right one sets it back to 0."""
    locked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)
    """When the card was locked for self-service; None while it is not."""
    replacement_applied_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    """The date of the formal loss and replacement application at an outlet (Beijing date)."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    @property
    def locked(self) -> bool:
        """Whether self-service refuses this card (:data:`ivr.rules.MAX_ATTEMPTS` wrong passwords in a row)."""
        return self.failed_attempts >= MAX_ATTEMPTS


class LossReport(Base):
    """A temporary loss report, made by phone or entered by an operator."""

    __tablename__ = "loss_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    card_id: Mapped[int] = mapped_column(Integer, ForeignKey("cards.id", ondelete="CASCADE"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), default="")
    """The call that made the report; empty when an operator entered it."""
    reported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    reported_on: Mapped[dt.date] = mapped_column(Date)
    """The Beijing date of the report, from which the working days are counted."""
    expires_on: Mapped[dt.date] = mapped_column(Date)
    """The last day the temporary report holds, unless it is made formal."""


class ReferenceCounter(Base):
    """The last reference sequence number given out on one day."""

    __tablename__ = "reference_counters"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Voicemail(Base):
    """A message left for the agents."""

    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    caller: Mapped[str] = mapped_column(String(40), default="")
    recording_url: Mapped[str] = mapped_column(String(500))
    seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    """One transaction attempt: who (CallSid), on which card (masked), what, and how it ended."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_call_sid", "call_sid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    call_sid: Mapped[str] = mapped_column(String(64), default="")
    """The call's CallSid; empty for an operator's command."""
    service: Mapped[str] = mapped_column(String(40))
    id_masked: Mapped[str] = mapped_column(String(20), default="")
    card_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("cards.id", ondelete="SET NULL"), index=True, default=None
    )
    outcome: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    """JSON with what the caller was told (attempts left, a reference number); never a secret."""


# -- service passwords -----------------------------------------------------------

SCRYPT_LOG2_N = 14
"""scrypt's CPU/memory cost as a power of two: 2**14 with r=8 takes 16 MiB and about 50 ms."""
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32

_PHC = re.compile(r"^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(pin: str, salt: bytes, log2_n: int, r: int, p: int, length: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * n * r * p + (1 << 20)
    )


def hash_pin(pin: str) -> str:
    """A new salted scrypt hash of ``pin``, as a PHC string with its parameters."""
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(pin, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"$scrypt$ln={SCRYPT_LOG2_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches the hash ``stored``; False for a malformed hash.

    The comparison takes the same time wherever the digests differ.
    """
    m = _PHC.match(stored or "")
    if m is None:
        return False
    log2_n, r, p = int(m.group(1)), int(m.group(2)), int(m.group(3))
    # Bounds, so a damaged row cannot make one login take minutes or gigabytes.
    if not (10 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
        return False
    try:
        salt, expected = _unb64(m.group(4)), _unb64(m.group(5))
    except ValueError:
        return False
    if not expected:
        return False
    actual = _scrypt(pin, salt, log2_n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)
