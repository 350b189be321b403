"""The caller's view: what a person on the line sees while ``ivr simulate`` plays the call.

A :class:`CallerView` is fed twice: by the call's events (it is an ``on_event``
sink: prompts, Gathers, inputs, the end) and by the terminal caller as keys are
pressed (:meth:`CallerView.heard`, :meth:`~CallerView.ignored`,
:meth:`~CallerView.skipped`, :meth:`~CallerView.listening`).  It renders, from
the call's clock:

* the prompt being spoken (or the file played) and its progress, elapsed / length;
* the keys the prompt offers (:func:`ivr.phone.keys.key_mentions` on its words);
* the keys typed so far in the current entry, as they are pressed;
* once the prompts are over, the input timeout counting down (Twilio starts it only then);
* a key pressed while nothing listens, as ignored;
* a one-line legend of the keys.

Events worth keeping (prompts, the caller's keys, notes, the end) are also
printed as transcript lines above the view; the HTTP-level lines (requests,
Gathers' actions, redirects) only when ``verbose``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.cells import chop_cells
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ivr.phone import events as ev
from ivr.phone.keys import key_mentions
from ivr.phone.output import describe

__all__ = ["LEGEND", "CallerView", "ViewState", "offered_keys"]

LEGEND = "0-9 * # are keys · Enter skips the prompt · q, Ctrl-C or Ctrl-D hangs up"
"""The keys of the terminal phone, in one line."""

HTTP_EVENTS = (ev.Request, ev.GatherEvent, ev.RedirectEvent)
"""Events shown in the view's log only with ``verbose``: they speak of URLs, not of what the caller hears."""


def offered_keys(text: str) -> list[str]:
    """The keys ``text`` offers the caller, each once, in the order it first offers them."""
    out: list[str] = []
    for mention in key_mentions(text):
        if mention.key not in out:
            out.append(mention.key)
    return out


@dataclass
class ViewState:
    """What the view knows of the call; every time is on the call's clock."""

    kind: str = ""
    """What plays: "say", "play", "digits", "pause", or "" (nothing yet)."""
    what: str = ""
    """The prompt's words, the file played, the digits played."""
    words: str = ""
    """For a file played: its words, when the app sent them (X-IVR-Prompts)."""
    started: float = 0.0
    length: float = 0.0
    offered: list[str] = field(default_factory=list)
    listening: bool = False
    """A ``<Gather>`` (or a ``<Record>``) takes keys."""
    entry: str = ""
    sent: str = ""
    """The last entry the call took (or "(no input)"), shown until the next Gather."""
    deadline: float | None = None
    """When the input times out: set once the prompts are over."""
    timeout: int = 0
    ignored: str = ""
    skipped: float | None = None
    stopped: float | None = None
    """When the prompt stopped before its end (a key cut it, the call ended)."""
    ended: str = ""


class CallerView:
    """The live view of a call; ``now`` is the call's clock (``clock.now``)."""

    def __init__(self, now: Callable[[], float], console: Console | None = None, *, verbose: bool = False) -> None:
        self.now = now
        self.console = console or Console(highlight=False)
        self.verbose = verbose
        self.state = ViewState()

    # -- the call's events -----------------------------------------------------------

    def __call__(self, event: ev.Event) -> None:
        """Take ``event``: update the view, and print it above the view unless it is HTTP-level (and not verbose)."""
        self.update(event)
        if self.verbose or not isinstance(event, HTTP_EVENTS):
            self._log(event)

    def _log(self, event: ev.Event) -> None:
        """The transcript's line for ``event``, cut at the screen's width (words without spaces too: Chinese)."""
        label, text, style = describe(event)
        line = f"{event.t:7.1f}  {label:<8} {text}"
        parts = [part.rstrip() for part in chop_cells(line, max(20, self.console.width))]
        self.console.print(Text("\n".join(parts), style=style), soft_wrap=True)

    def update(self, event: ev.Event) -> None:
        """What ``event`` changes in the view."""
        s = self.state
        if isinstance(event, ev.SayEvent | ev.PlayEvent | ev.PauseEvent):
            self._prompt(event)
        elif isinstance(event, ev.GatherEvent):
            s.listening, s.entry, s.sent, s.deadline, s.offered = True, "", "", None, []
            s.timeout, s.ignored = event.timeout, ""
        elif isinstance(event, ev.Input):
            s.sent = event.digits + event.finished_on_key
            s.listening, s.entry, s.deadline = False, "", None
        elif isinstance(event, ev.NoInput):
            s.sent, s.listening, s.entry, s.deadline = "(no input)", False, "", None
        elif isinstance(event, ev.RecordEvent):
            s.listening, s.entry, s.deadline = False, "", None
        elif isinstance(event, ev.End):
            s.ended = f"{event.reason}, after {event.duration:.1f} s"
            s.listening, s.deadline = False, None
            self._stop(event.t)

    def _prompt(self, event: ev.SayEvent | ev.PlayEvent | ev.PauseEvent) -> None:
        s = self.state
        s.started, s.length, s.skipped, s.stopped, s.ignored = event.t, event.seconds, None, None, ""
        if isinstance(event, ev.SayEvent):
            s.kind, s.what = "say", event.text
            s.length = event.seconds * max(1, event.loop)
            keys = offered_keys(event.text)
            s.offered = [*s.offered, *(k for k in keys if k not in s.offered)] if s.listening else keys
        elif isinstance(event, ev.PlayEvent):
            s.kind = "play" if event.digits is None else "digits"
            s.what = (event.url or "") if event.digits is None else event.digits
            s.words = event.text or ""
            # The app's words for the file (X-IVR-Prompts), when it sent them, say which keys it offers.
            keys = offered_keys(s.words) if s.words else []
            s.offered = [*s.offered, *(k for k in keys if k not in s.offered)] if s.listening else keys
        else:
            s.kind, s.what = "pause", ""
            if not s.listening:
                s.offered = []

    # -- the caller, as it happens ----------------------------------------------------

    def _stop(self, t: float) -> None:
        s = self.state
        if s.kind and s.stopped is None and t < s.started + s.length:
            s.stopped = t

    def heard(self, key: str) -> None:
        """The call took ``key``: echo it (a key cuts the prompt that plays)."""
        self.state.entry += key
        self.state.ignored = ""
        self._stop(self.now())

    def ignored(self, key: str) -> None:
        """``key`` went nowhere: nothing listened."""
        self.state.ignored = key

    def skipped(self, seconds: float) -> None:
        """The caller skipped the last ``seconds`` of the prompt."""
        self.state.skipped = seconds

    def listening(self, until: float, prompt: bool) -> None:
        """The call waits until ``until``; past the prompts of a Gather, that is the input timeout."""
        self.state.deadline = None if prompt or not self.state.listening else until

    def note(self, message: str) -> None:
        """Something the tester should know, printed above the view."""
        self.console.print(f"[dim]{escape(message)}[/dim]")

    # -- rendering -------------------------------------------------------------------------

    def __rich__(self) -> RenderableType:
        return self.render(self.now())

    def render(self, now: float) -> RenderableType:
        """The view at ``now`` on the call's clock."""
        s = self.state
        rows = Table.grid(padding=(0, 1))
        rows.add_column(style="bold", no_wrap=True)
        rows.add_column()
        if s.kind:
            rows.add_row(s.kind, self._what())
            elapsed = min(max(0.0, (now if s.stopped is None else s.stopped) - s.started), s.length)
            progress = Table.grid(padding=(0, 1))
            progress.add_row(
                ProgressBar(total=max(s.length, 0.001), completed=elapsed, width=30),
                Text(progress_text(elapsed, s.length, s.skipped, cut=s.stopped is not None and not s.ended)),
            )
            rows.add_row("", progress)
        rows.add_row("offers", Text(" ".join(s.offered) if s.offered else "—"))
        rows.add_row("keys", self._keys())
        if s.deadline is not None:
            rows.add_row("timeout", Text(countdown_text(s.deadline - now, s.timeout), style="yellow"))
        if s.ignored:
            rows.add_row("ignored", Text(ignored_text(s.ignored), style="yellow"))
        if s.ended:
            rows.add_row("ended", Text(s.ended, style="bold"))
        return Panel(Group(rows, Text(LEGEND, style="dim")), title="the caller's view", title_align="left")

    def _what(self) -> Text:
        s = self.state
        if s.kind == "play":
            played = f"{s.what} ({s.length:.1f} s)"
            return Text(f"{s.words}\n{played}" if s.words else played, style="cyan", overflow="fold")
        if s.kind == "digits":
            return Text(f"digits {s.what}", style="cyan")
        if s.kind == "pause":
            return Text(f"{s.length:g} s of silence", style="dim")
        return Text(s.what, style="cyan", overflow="fold")

    def _keys(self) -> Text:
        s = self.state
        if s.entry:
            return Text(s.entry, style="bold yellow")
        if s.sent:
            return Text(f"sent {s.sent}", style="yellow")
        return Text("listening…" if s.listening else "nothing listens now", style="dim")


def progress_text(elapsed: float, length: float, skipped: float | None = None, *, cut: bool = False) -> str:
    """``3.2 / 8.5 s``, marked when the rest was skipped or a key cut it."""
    text = f"{elapsed:.1f} / {length:.1f} s"
    if skipped is not None:
        return f"{text}  (skipped {skipped:.1f} s)"
    return f"{text}  (cut by a key)" if cut else text


def countdown_text(left: float, timeout: int) -> str:
    """``no key: times out in 3.4 s (timeout 5 s)``."""
    return f"no key: times out in {max(0.0, left):.1f} s (timeout {timeout} s)"


def ignored_text(key: str) -> str:
    """A key that went nowhere."""
    return f"{key} went nowhere: nothing listens for keys now"
