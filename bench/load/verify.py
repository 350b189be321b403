"""After a run: is every transaction a caller heard confirmed in the database?"""

from __future__ import annotations

import collections
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bench.load.client import Confirmed
from ivr.storage.cards import AuditEntry, Card, LossReport, Voicemail, verify_pin
from ivr.storage.db import Database

__all__ = ["Verification", "verify"]


# -- checking the database afterwards ------------------------------------------------------------


@dataclass
class Verification:
    """Whether every confirmed transaction is in the database."""

    checked: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    pins_checked: int = 0
    stored_not_confirmed: dict[str, int] = field(default_factory=dict)
    """Transactions the load's calls stored that no caller heard confirmed (the call broke off after the commit)."""

    def summary(self) -> dict[str, Any]:
        """As a JSON-able dict."""
        return {
            "checked": self.checked,
            "lost": len(self.lost),
            "lost_examples": self.lost[:10],
            "pins_checked": self.pins_checked,
            "stored_not_confirmed": self.stored_not_confirmed,
        }


def verify(db_url: str, confirmed: Sequence[Confirmed], pin_sample: int = 10, seed: int = 0) -> Verification:
    """Look every confirmed transaction up in the database at ``db_url``.

    A loss report must be there under the reference the caller heard, for the
    right card and call; an activation must have left the card active with a
    changed password and an ``activated`` audit row of that call (for
    ``pin_sample`` of them, the new password is checked against the stored
    hash too: 50 ms each); a voicemail must be stored under the call's CallSid.
    """
    out = Verification()
    db = Database(db_url)
    try:
        with db.session() as s:
            reports = {
                ref: (sid, number)
                for ref, sid, number in s.execute(
                    select(LossReport.reference, LossReport.call_sid, Card.id_number).join(
                        Card, Card.id == LossReport.card_id
                    )
                )
            }
            activated = set(
                s.execute(
                    select(AuditEntry.call_sid, Card.id_number)
                    .join(Card, Card.id == AuditEntry.card_id)
                    .where(AuditEntry.service == "card.activate", AuditEntry.outcome == "activated")
                ).all()
            )
            rows = s.execute(select(Card.id_number, Card.status, Card.pin_changed, Card.pin_hash))
            cards = {n: (st, ch, h) for n, st, ch, h in rows}
            voicemails = set(s.scalars(select(Voicemail.call_sid)))
        by_kind = collections.Counter(c.kind for c in confirmed)
        out.checked = dict(by_kind)
        activations = []
        for c in confirmed:
            if c.kind == "loss_report":
                got = reports.get(c.reference)
                if got != (c.call_sid, c.id_number) or cards.get(c.id_number, ("",))[0] != "reported_lost":
                    out.lost.append(f"loss report {c.reference} ({c.call_sid}, {c.id_number}): stored as {got}")
            elif c.kind == "activation":
                status, changed, _hash = cards.get(c.id_number, ("missing", False, ""))
                if (c.call_sid, c.id_number) not in activated or status != "active" or not changed:
                    out.lost.append(f"activation of {c.id_number} by {c.call_sid}: card {status}, changed={changed}")
                else:
                    activations.append(c)
            elif c.kind == "voicemail" and c.call_sid not in voicemails:
                out.lost.append(f"voicemail of {c.call_sid}: not stored")
        for c in random.Random(seed).sample(activations, min(pin_sample, len(activations))):
            out.pins_checked += 1
            if not verify_pin(c.new_pin, cards[c.id_number][2]):
                out.lost.append(f"activation of {c.id_number} by {c.call_sid}: the new password does not match")
        heard_refs = {c.reference for c in confirmed if c.kind == "loss_report"}
        heard_acts = {(c.call_sid, c.id_number) for c in confirmed if c.kind == "activation"}
        heard_vms = {c.call_sid for c in confirmed if c.kind == "voicemail"}
        load_reports = [ref for ref, (sid, _n) in reports.items() if sid.startswith("CA") and ref not in heard_refs]
        out.stored_not_confirmed = {
            "loss_report": len(load_reports),
            "activation": len(activated - heard_acts),
            "voicemail": len(voicemails - heard_vms),
        }
    finally:
        db.dispose()
    return out
