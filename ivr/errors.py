"""Errors, named by whose fault they are.

- :class:`MenuError`: the menu author's.  Raised when a menu is loaded or
  validated, carrying every problem found with its location.
- :class:`EngineUsageError`: the adapter's.  An adapter fed the engine an event
  that makes no sense in the call's state (a service result while the caller is
  being asked for digits, say).  Adapters that serve remote peers check
  :attr:`ivr.engine.CallState.awaiting` first, so this means a bug.
- :class:`StaleStateError`: nobody's in particular.  A stored call state that no
  longer fits the menu (the menu changed, or the state is damaged); adapters
  restart the call politely.
- :class:`ServiceUnavailable`: the back end's.  A service could not run (the
  database is down); the caller hears a polite apology.

Mistakes the *caller* makes (wrong keys, silence) are not errors at all: the
menu's own rules handle them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["EngineUsageError", "MenuError", "Problem", "ServiceUnavailable", "StaleStateError"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a menu, and where."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"
    line: int | None = None
    column: int | None = None

    def located(self, source: str) -> str:
        """``source:line:col: severity: path: message``, as compilers print it."""
        where = source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.severity}: {self.path}: {self.message}"


class MenuError(Exception):
    """A menu that cannot be used; the author's fault."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        first = problems[0].located(source) if problems else source
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)


class EngineUsageError(Exception):
    """The adapter fed the engine an event that does not fit the call's state."""


class StaleStateError(Exception):
    """A stored call state that does not fit the loaded menu."""


class ServiceUnavailable(Exception):
    """A service could not run; the back end's fault, not the caller's."""
