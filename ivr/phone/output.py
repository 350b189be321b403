"""Showing a call: a readable transcript, or JSON Lines (one event a line)."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from ivr.phone import events as ev
from ivr.phone.events import to_json

__all__ = ["JsonLinesPrinter", "TranscriptPrinter", "describe"]


class JsonLinesPrinter:
    """Prints each event as one JSON line, flushed at once (a pipe sees the call live)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: ev.Event) -> None:
        """Print ``event``."""
        self.stream.write(to_json(event) + "\n")
        self.stream.flush()


def describe(event: ev.Event) -> tuple[str, str, str]:
    """A label, a line of text and a rich style for ``event``."""
    if isinstance(event, ev.CallEvent):
        return "call", f"{event.from_} calls {event.to} at {event.url}", "bold"
    if isinstance(event, ev.Request):
        status = "no answer" if event.status is None else str(event.status)
        node = f"  [{event.node}]" if event.node else ""
        return "http", f"{event.method} {event.url} → {status}{node}", "dim"
    if isinstance(event, ev.SayEvent):
        loop = f"  (×{event.loop or '∞'})" if event.loop != 1 else ""
        return "say", f"{event.text}{loop}", "cyan"
    if isinstance(event, ev.PlayEvent):
        what = f"digits {event.digits}" if event.digits is not None else f"{event.url}"
        words = f": {event.text}" if event.text else ""
        return "play", f"{what} ({event.seconds:.1f} s){words}", "cyan"
    if isinstance(event, ev.PauseEvent):
        return "pause", f"{event.seconds:g} s of silence", "dim"
    if isinstance(event, ev.GatherEvent):
        digits = f"{event.numDigits} key(s)" if event.numDigits else "keys"
        finish = f", ends with {event.finishOnKey}" if event.finishOnKey else ""
        return "gather", f"waits for {digits}{finish}, {event.timeout} s timeout → {event.action}", "dim"
    if isinstance(event, ev.Input):
        finish = f" then {event.finished_on_key}" if event.finished_on_key else ""
        return "caller", f"presses {event.digits}{finish}", "bold yellow"
    if isinstance(event, ev.NoInput):
        return "caller", "(no input)", "yellow"
    if isinstance(event, ev.KeyIgnored):
        return "caller", f"presses {event.key}: ignored, nothing is listening for keys", "yellow"
    if isinstance(event, ev.PromptSkipped):
        return "caller", f"skips the rest of the prompt ({event.seconds:.1f} s)", "yellow"
    if isinstance(event, ev.RedirectEvent):
        return "redirect", f"{event.method} {event.url}", "dim"
    if isinstance(event, ev.HttpRedirect):
        return (
            "http",
            event.message or f"HTTP {event.status} → {event.method} {event.url}",
            "yellow" if event.other_host else "dim",
        )
    if isinstance(event, ev.DialEvent):
        talk = f", talked {event.duration} s" if event.duration else ""
        return "dial", f"{event.number}: {event.status}{talk}", "magenta"
    if isinstance(event, ev.RecordEvent):
        key = f", ended with {event.digits}" if event.digits else ""
        return "record", f"{event.seconds} s recorded{key}", "magenta"
    if isinstance(event, ev.HangupEvent):
        return "hangup", "the application hangs up", "bold"
    if isinstance(event, ev.RejectEvent):
        return "reject", f"the application rejects the call ({event.reason})", "bold"
    if isinstance(event, ev.UnsupportedEvent):
        return "unsupported", f"<{event.verb}> is not supported by the simulator; the call ends here", "bold red"
    if isinstance(event, ev.ErrorEvent):
        status = f" (HTTP {event.status})" if event.status is not None else ""
        return "ERROR", f"{event.message}{status}", "bold red"
    if isinstance(event, ev.Warning):
        return "note", event.message, "yellow"
    return "end", f"{event.reason}, after {event.duration:.1f} s", "bold"


class TranscriptPrinter:
    """Prints each event as one readable line: time, label, text."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)

    def __call__(self, event: ev.Event) -> None:
        """Print ``event``."""
        label, text, style = describe(event)
        self.console.print(f"[{style}]{event.t:7.1f}  {label:<8} {escape(text)}[/{style}]")
