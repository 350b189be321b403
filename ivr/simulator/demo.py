"""``make demo``: one scripted call through the real hotline, printed as a transcript.

The call goes through the simulator, exactly as a tester's would: the webhook
app runs in-process on a temporary SQLite database seeded with the demo
cardholders (docs/demo-data.md), at a fixed time, and the simulator plays
Twilio's part over WSGI, so the demo prints the same call every time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from ivr.config import DEFAULT_TIMEZONE
from ivr.phone.callers import parse_answers
from ivr.phone.output import TranscriptPrinter
from ivr.phone.run import simulate
from ivr.phone.speaker import MuteSpeaker
from ivr.services.seed import demo_card
from ivr.simulator.app import project_app, seed_demo_data
from ivr.storage.reports import stored_by_calls
from ivr.web import app_state

__all__ = ["DEMO_CLOCK", "DEMO_KEYS", "run_demo"]

_ZHAO = demo_card("Zhao Min")  # a rural card, not activated, ID ending in X
_LI = demo_card("Li Na")  # active, password changed
_NEW_PIN = "802415"

DEMO_KEYS: tuple[str, ...] = (
    # 1: activate Zhao Min's card (the X keyed as *), first with a wrong initial password.
    *("1", _ZHAO.keys, "1", "111111", _NEW_PIN, _NEW_PIN, _ZHAO.pin, _NEW_PIN, _NEW_PIN, "1"),
    # 2, 1: report Li Na's card lost by phone; hear the reference number, then back to the main menu.
    *("2", "1", _LI.keys, "1", _LI.pin, "1"),
    # The e-card: download, back, the insured place (with a silence and a repeat), back twice.
    *("4", "1", "#", "2", "-", "*", "#", "#"),
    # English, then the agent on a Sunday, when agents are off duty: leave a message.
    *("9", "2", "0", "1", "rec:8"),
)
"""Activation with one wrong password, a loss report, the e-card information, English, and a voicemail."""

DEMO_CLOCK = dt.datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo(DEFAULT_TIMEZONE))
"""A fixed clock, so the demo prints the same call every time (a Sunday morning)."""


def run_demo(menu_path: Path, keys: Sequence[str], console: Console | None = None) -> int:
    """Call the hotline with ``keys`` through the simulator and print the transcript; the call's exit code."""
    console = console or Console(highlight=False, soft_wrap=True)
    with project_app(menu_path, {"CLOCK": DEMO_CLOCK.isoformat()}) as app:
        seed_demo_data(app)
        result = simulate(
            app, parse_answers(" ".join(keys)), speaker=MuteSpeaker(), on_event=TranscriptPrinter(console)
        )
        done = stored_by_calls(app_state(app).db)
    stored = f"{done.audited} audited transaction(s), {done.voicemails} voicemail(s)"
    if done.references:
        stored += ", loss report " + ", ".join(done.references)
    console.print(f"[bold]This call stored:[/bold] {stored}.")
    return result.exit_code
