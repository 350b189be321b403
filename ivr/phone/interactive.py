"""A person at a terminal as the caller: keys act at once, timeouts are real.

The terminal is put in cbreak mode (no Enter needed, no echo) for the length of
the call and restored afterwards, whatever happens.  Keys 0-9, * and # are
DTMF; ``q`` (or Ctrl-C, Ctrl-D) hangs up; Enter skips the rest of the prompt
being spoken (the call's clock jumps to its end); anything else is ignored.
Keys pressed while nothing listens (outside a Gather or a Record) go nowhere, as
on a phone line, and the timeline says so.  With a
:class:`~ivr.phone.view.CallerView` the caller shows each key as it happens.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import tty
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from ivr.phone.callers import DTMF, SKIP, CallerHungUp, InputKind, LiveCaller
from ivr.phone.clock import Clock, RealClock
from ivr.phone.view import CallerView

__all__ = ["TerminalCaller"]

_HANG_UP = frozenset({"q", "Q", "\x03", "\x04"})
_ENTER = frozenset({"\r", "\n"})


class TerminalCaller(LiveCaller):
    """Reads keys from a terminal without Enter; use it as a context manager."""

    def __init__(
        self,
        stream: TextIO | None = None,
        clock: Clock | None = None,
        notify: Callable[[str], None] | None = None,
        view: CallerView | None = None,
    ) -> None:
        self.stream = stream or sys.stdin
        self.fd = self.stream.fileno()
        self.clock: Clock = clock or RealClock()
        self.notify = notify or (lambda message: None)
        self.view = view
        self._saved: list[Any] | None = None
        self._hinted = view is not None  # the view's legend says how to answer

    def __enter__(self) -> TerminalCaller:
        if os.isatty(self.fd):
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
            # Ctrl-C arrives as a key, so it hangs up cleanly instead of interrupting mid-call.
            attrs = termios.tcgetattr(self.fd)
            attrs[3] &= ~termios.ISIG
            termios.tcsetattr(self.fd, termios.TCSADRAIN, attrs)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def begin(self, kind: InputKind) -> str | None:
        """Tell the person, once, how to answer."""
        if not self._hinted:
            self._hinted = True
            self.notify("press 0-9, * or # to answer (no Enter needed); Enter skips the prompt; q hangs up")
        if kind == "record":
            self.notify("recording: the simulator cannot hear you; press a finish key to stop")
        return None

    def _next_key(self, timeout: float) -> str | None:
        """The key typed within ``timeout`` seconds: ``""`` for a character that is not a key, None for none."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return None
        data = os.read(self.fd, 1)
        ch = data.decode(errors="replace")
        if not data or ch in _HANG_UP:
            raise CallerHungUp  # end of input (Ctrl-D, a closed pipe) or q: the caller hangs up
        if ch in _ENTER:
            return SKIP
        return ch if ch in DTMF else ""

    def _heard(self, key: str) -> None:
        if self.view is not None:
            self.view.heard(key)

    def _dropped(self, key: str) -> None:
        if self.view is not None:
            self.view.ignored(key)

    def _skipped(self, seconds: float) -> None:
        if self.view is not None:
            self.view.skipped(seconds)

    def _listening(self, until: float, prompt: bool) -> None:
        if self.view is not None:
            self.view.listening(until, prompt)
