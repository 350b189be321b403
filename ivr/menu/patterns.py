"""The regular expressions of a menu's switch tests, on RE2.

A pattern comes from a menu author or an imported Studio flow, and the text
it searches from a caller's keys or a service's answer.  Python's ``re``
backtracks: ``^(\\d+)+$`` over 30 keys takes a minute, over 64 for ever.
RE2 (Google's engine, through ``google-re2``) matches in time linear in the
text, at the price of backreferences and look-arounds, which it refuses; the
checks name such a pattern when the menu is loaded.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

__all__ = ["compiled", "pattern_problem"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the problem is reported to the author, not to stderr


@lru_cache(maxsize=512)
def compiled(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (it must be one :func:`pattern_problem` accepts)."""
    return re2.compile(pattern, _OPTIONS)


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a switch's regex, or None when it can."""
    try:
        compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return (
            f"regex {pattern[:80]!r} is not a regular expression RE2 runs ({reason}); "
            "backreferences and look-arounds are not supported"
        )
    return None
