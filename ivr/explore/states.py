"""States of a call, by what the caller hears and can do there.

Pure functions, no I/O: the crawler (:mod:`ivr.explore.search`) gives them what
one call heard and where it waited, and gets back a fingerprint.

**The rule.**  Two points of a call are the same state when the caller hears
the same thing and can do the same thing there:

- *what is heard* is every ``<Say>`` text and every ``<Play>`` since the
  caller's last input, in order (a ``<Play>`` by the prompt words the app sent
  in its optional ``X-IVR-Prompts`` header, else by its URL), normalised so
  that what changes from call to call does not count: dates (``2026-11-23``,
  ``2026年11月23日``, ``11月23日``) become ``<date>``, times (``10:30``) ``<time>``,
  and every run of two or more digits, spaced or not (a reference number,
  digits read back one by one, a year, an amount) becomes ``#``; single
  digits stay, because "press 1" and "press 2" are different offers;
  whitespace is collapsed;
- *what the caller can do* is the input the call waits for: a ``<Gather>`` by
  its ``numDigits``, ``finishOnKey``, ``timeout`` and action URL, a
  ``<Record>``, or the end of the call (how it ended);
- an action URL counts by its path and its *stable* query parameters only:
  a parameter whose value is volatile (all digits, as in a step counter
  ``/voice/step?s=12``; a CallSid or any long hex or uuid-ish token; a
  timestamp) is left out, name and value, so an app that numbers every step
  in its URLs still converges on a finite set of states;
- *where the app says the call is*: an app may name the point it waits at in
  an ``X-IVR-Node`` header (this project's app does).  The name counts, so one
  prompt used in two flows (the ID-number entry of an activation and of a
  loss report) makes two states, as it is two points of the app.  Without
  the header, words and wait are all there is.

Hidden state (a retry counter, a long prompt first and a short one after) is
not guessed: when the same input at the same state leads to different next
states on two calls, that is reported as nondeterminism.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Wait", "fingerprint", "normalise_text", "stable_url"]

_DATE = re.compile(
    r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"  # 2026-11-23, 2026年11月23日
    r"|\d{1,2}\s*月\s*\d{1,2}\s*[日号]"  # 11月23日
    r"|\d{4}\s*年"  # 2026年
)
_TIME = re.compile(r"\b\d{1,2}[:：]\d{2}(?:[:：]\d{2})?\b")
_DIGITS = re.compile(r"\d(?:[\s-]*[\dXx*])+")  # two or more digits, however spaced (a read-back)
_SPACE = re.compile(r"\s+")

_HEX = re.compile(r"^(?:[A-Z]{2})?[0-9a-fA-F]{16,}$")  # CallSids (CA + 32 hex), tokens
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def normalise_text(text: str) -> str:
    """``text`` with what changes from call to call replaced: dates, times, digit runs (see the module's rule)."""
    text = _DATE.sub("<date>", text)
    text = _TIME.sub("<time>", text)
    text = _DIGITS.sub("#", text)
    return _SPACE.sub(" ", text).strip()


def _volatile(value: str) -> bool:
    value = value.strip()
    return bool(
        value.isdigit()
        or re.fullmatch(r"-?\d+(?:\.\d+)?", value)
        or _HEX.match(value)
        or _UUID.match(value)
        or _STAMP.match(value)
    )


def stable_url(url: str) -> str:
    """``url``'s path and stable query parameters, sorted (host, fragment and volatile values left out)."""
    parts = urllib.parse.urlsplit(url)
    query = sorted((k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if not _volatile(v))
    path = parts.path or "/"
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


@dataclass(frozen=True)
class Wait:
    """What the caller can do at a point of the call.

    ``kind``: ``gather``, ``record`` or ``end``; for a Gather its shape; for the
    end, how the call ended (``hangup``, ``transfer``, ``voicemail``, ``error``...).
    """

    kind: str
    num_digits: int | None = None
    finish_on_key: str = ""
    timeout: int = 0
    action: str = ""
    ending: str = ""

    @property
    def multi_digit(self) -> bool:
        """A Gather for an entry of several keys (any length, or more than one key), not a menu choice."""
        return self.kind == "gather" and self.num_digits != 1


def fingerprint(heard: Sequence[str], wait: Wait, node: str | None = None) -> str:
    """The state's id: a hash of the normalised words heard, the wait's shape (action URL made stable), the node."""
    words = "\n".join(normalise_text(h) for h in heard)
    shape = (
        node or "",
        wait.kind,
        str(wait.num_digits),
        wait.finish_on_key,
        str(wait.timeout),
        stable_url(wait.action) if wait.action else "",
        wait.ending,
    )
    digest = hashlib.sha256((words + "\x00" + "\x1f".join(shape)).encode("utf-8")).hexdigest()
    return digest[:12]
