"""``voicemail.save``: keep a caller's message for the agents, with the number to call back."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ivr.engine.events import ServiceDone
from ivr.errors import ServiceUnavailable
from ivr.services.registry import ServiceContext
from ivr.storage.db import Database, StoreUnavailable
from ivr.storage.transactions import transaction

__all__ = ["VoicemailService"]

log = logging.getLogger(__name__)


def _seconds(value: str | None) -> int:
    try:
        return max(0, int(value or "0"))
    except ValueError:
        return 0


class VoicemailService:
    """Stores voicemails in one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceDone:
        """``saved`` once the recording is stored; ``empty`` when there is no recording or it lasts 0 s."""
        url = (args.get("recording_url") or "").strip()
        seconds = _seconds(args.get("recording_seconds"))
        caller = args.get("caller") or ctx.caller or ""
        outcome = "saved" if url and seconds > 0 else "empty"
        try:
            with transaction(self.db) as tx:
                if outcome == "saved":
                    tx.add_voicemail(
                        call_sid=ctx.call_sid, caller=caller, recording_url=url, seconds=seconds, now=ctx.now
                    )
                tx.audit(
                    now=ctx.now,
                    call_sid=ctx.call_sid,
                    service="voicemail.save",
                    outcome=outcome,
                    detail={"seconds": str(seconds)},
                )
        except StoreUnavailable as exc:
            raise ServiceUnavailable(f"voicemail.save: the database is unavailable ({exc})") from exc
        log.info("%s: voicemail.save (%d s) -> %s", ctx.call_sid, seconds, outcome)
        return ServiceDone(outcome)
