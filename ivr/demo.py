"""``make demo``: one scripted call through the real menu, printed as a transcript.

It drives the engine in memory.  The services are the project's own where
they exist; a service that has no back end yet answers as one that is down
would, so the caller hears the menu's polite apology.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console

from ivr.harness import Call, ServiceStub
from ivr.menu.loader import load_menu
from ivr.services.calendar import BEIJING, agents_on_duty
from ivr.services.registry import ServiceResultData

__all__ = ["DEMO_CLOCK", "DEMO_KEYS", "demo_services", "run_demo"]

DEMO_KEYS: tuple[str, ...] = ("4", "1", "#", "2", "-", "*", "#", "#", "5", "1", "#", "#", "9", "2", "0")
"""e-card download, back, insured place (with a silence and a repeat), registration,
then English, and the agent on a Sunday, when agents are off duty."""

DEMO_CLOCK = dt.datetime(2026, 11, 22, 10, 0, tzinfo=BEIJING)
"""A fixed clock, so the demo prints the same call every time (a Sunday morning)."""


def demo_services(now: dt.datetime = DEMO_CLOCK) -> Mapping[str, ServiceStub]:
    """The services the demo can run without a database."""

    def hours(_: Mapping[str, str | None]) -> ServiceResultData:
        return ServiceResultData("open" if agents_on_duty(now) else "closed")

    return {"agent.hours": hours}


def run_demo(menu_path: Path, keys: Sequence[str], language: str | None = None, console: Console | None = None) -> int:
    """Call the hotline with ``keys`` and print the transcript; 0 if the call ran its course."""
    console = console or Console(highlight=False)
    menu = load_menu(menu_path)
    console.print(f"[bold]Calling {menu.id} (menu version {menu.version})[/bold]")
    call = Call(menu, demo_services(), language=language)
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
    console.print(f"[bold]Call ended at node {call.node!r}.[/bold]")
    return 0
