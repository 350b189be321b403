"""Clocks: virtual for scripted calls, real for interactive ones.

The interpreter reads time and waits only through a clock, so a scripted call
with five-second timeouts runs in milliseconds: :class:`VirtualClock` jumps
forward instead of sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock(Protocol):
    """Seconds since the call started, and a way to let time pass."""

    def now(self) -> float:
        """Seconds since the call started."""
        ...

    def sleep_until(self, t: float) -> None:
        """Let time pass until ``t`` (no-op if it already has)."""
        ...

    def skip_to(self, t: float) -> None:
        """Move the call's time forward to ``t`` at once (the caller skipped the rest of a prompt)."""
        ...


class VirtualClock:
    """A clock that only moves when told to: waiting costs no wall time."""

    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        """The virtual time."""
        return self._now

    def sleep_until(self, t: float) -> None:
        """Jump to ``t``; time never goes back."""
        self._now = max(self._now, t)

    def skip_to(self, t: float) -> None:
        """Jump to ``t``, as waiting does."""
        self.sleep_until(t)


class RealClock:
    """Wall time (monotonic), for interactive calls."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        """Seconds of wall time since the clock was made (plus any time skipped)."""
        return time.monotonic() - self._start

    def skip_to(self, t: float) -> None:
        """Move the call's time forward to ``t`` without waiting: the call's elapsed time jumps."""
        ahead = t - self.now()
        if ahead > 0:
            self._start -= ahead

    def sleep_until(self, t: float) -> None:
        """Sleep until ``t``."""
        delay = t - self.now()
        if delay > 0:
            time.sleep(delay)
