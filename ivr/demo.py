"""``make demo``: one scripted call through the real menu, printed as a transcript.

It drives the engine in memory, with the project's real service handlers on a
temporary SQLite database seeded with the demo cardholders (docs/demo-data.md),
at a fixed time, so it prints the same call every time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select

from ivr.harness import Call, ServiceStub
from ivr.menu.loader import load_menu
from ivr.services.calendar import BEIJING
from ivr.services.handlers import build_registry, context_stubs
from ivr.services.registry import ServiceContext
from ivr.storage.cards import AuditEntry, LossReport
from ivr.storage.db import Database
from ivr.storage.seed import demo_card, seed_demo

__all__ = ["DEMO_CALLER", "DEMO_CALL_SID", "DEMO_CLOCK", "DEMO_KEYS", "demo_database", "demo_services", "run_demo"]

_ZHAO = demo_card("Zhao Min")  # a rural card, not activated, ID ending in X
_LI = demo_card("Li Na")  # active, password changed
_NEW_PIN = "802415"

DEMO_KEYS: tuple[str, ...] = (
    # 1: activate Zhao Min's card (the X keyed as *), first with a wrong initial password.
    *("1", _ZHAO.keys, "1", "111111", _NEW_PIN, _NEW_PIN, _ZHAO.pin, _NEW_PIN, _NEW_PIN, "1"),
    # 2, 1: report Li Na's card lost by phone; hear the reference number, then back to the main menu.
    *("2", "1", _LI.keys, "1", _LI.pin, "1"),
    # The information branches, as before.
    *("4", "1", "#", "2", "-", "*", "#", "#", "5", "1", "#", "#", "9", "2", "0"),
)
"""Activation with one wrong password, a loss report, e-card download, back, insured place (with a
silence and a repeat), registration, then English, and the agent on a Sunday, when agents are off duty."""

DEMO_CLOCK = dt.datetime(2026, 11, 22, 10, 0, tzinfo=BEIJING)
"""A fixed clock, so the demo prints the same call every time (a Sunday morning)."""

DEMO_CALL_SID = "CA00000000000000000000000000demo01"
DEMO_CALLER = "+8613800000000"


@contextlib.contextmanager
def demo_database(now: dt.datetime = DEMO_CLOCK) -> Iterator[Database]:
    """A temporary SQLite database with the schema and the demo cardholders, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ivr-demo-") as tmp:
        db = Database(f"sqlite:///{tmp}/demo.db")
        try:
            db.upgrade()
            seed_demo(db, now)
            yield db
        finally:
            db.dispose()


def demo_services(
    db: Database, now: dt.datetime = DEMO_CLOCK, call_sid: str = DEMO_CALL_SID, caller: str = DEMO_CALLER
) -> Mapping[str, ServiceStub]:
    """The real handlers on ``db``, as the harness calls them: every call gets the fixed clock's context."""
    return context_stubs(build_registry(db), ServiceContext(call_sid=call_sid, caller=caller, now=now))


def run_demo(menu_path: Path, keys: Sequence[str], language: str | None = None, console: Console | None = None) -> int:
    """Call the hotline with ``keys`` and print the transcript; 0 if the call ran its course."""
    console = console or Console(highlight=False)
    menu = load_menu(menu_path)
    console.print(f"[bold]Calling {menu.id} (menu version {menu.version})[/bold]")
    with demo_database() as db:
        call = Call(menu, demo_services(db), caller=DEMO_CALLER, language=language)
        _play(call, keys, console)
        with db.session() as s:
            reports = s.scalars(select(LossReport.reference).where(LossReport.call_sid == DEMO_CALL_SID)).all()
            audited = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.call_sid == DEMO_CALL_SID))
    stored = f"{audited} audited transaction(s)"
    if reports:
        stored += ", loss report " + ", ".join(reports)
    console.print(f"[bold]Call ended at node {call.node!r}.[/bold] [dim]Database: {stored}.[/dim]", soft_wrap=True)
    return 0


def _play(call: Call, keys: Sequence[str], console: Console) -> None:
    shown = 0

    def show() -> None:
        nonlocal shown
        for turn in call.transcript[shown:]:
            style = {"ivr": "cyan", "caller": "bold yellow", "system": "dim"}[turn.who]
            label = {"ivr": "hotline", "caller": "caller ", "system": "       "}[turn.who]
            console.print(f"[{style}]{label} │ {turn.what}[/{style}]", soft_wrap=True)
        shown = len(call.transcript)

    show()
    for answer in keys:
        if call.ended:
            break
        if call.state.awaiting == "recording":
            call.record(int(answer[4:]) if answer.startswith("rec:") else 0)
        elif call.state.awaiting == "transfer":
            call.transfer_ends(answer)
        elif answer == "-":
            call.silence()
        else:
            call.press(answer)
        show()
    if not call.ended:
        call.hang_up()
        show()
