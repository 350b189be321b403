"""The call timeline: typed events, which are also the ``--json`` output.

Every event is a frozen dataclass with the time ``t`` (seconds since the call
started, on the call's clock) at which it happened.  :func:`to_json` gives the
JSON object for one event: an ``"event"`` name and the fields the issue lists,
plus ``t``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "CallEvent",
    "DialEvent",
    "End",
    "ErrorEvent",
    "Event",
    "GatherEvent",
    "HangupEvent",
    "HttpRedirect",
    "Input",
    "KeyIgnored",
    "NoInput",
    "PauseEvent",
    "PlayEvent",
    "PromptSkipped",
    "RecordEvent",
    "RedirectEvent",
    "RejectEvent",
    "Request",
    "SayEvent",
    "UnsupportedEvent",
    "Warning",
    "to_dict",
    "to_json",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Base:
    t: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent(_Base):
    """The call starts: ``from_`` calls ``to``, whose webhook is ``url``."""

    name = "call"
    call_sid: str
    from_: str
    to: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Request(_Base):
    """A webhook request and its HTTP status (``None``: no answer).

    ``node`` is the app's optional X-IVR-Node hint (where the call waits); ``path`` its
    optional X-IVR-Path hint (every place the call entered in this step, in order; empty when
    the app sent none, as on a replayed answer).
    """

    name = "request"
    method: str
    url: str
    status: int | None
    node: str | None = None
    path: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SayEvent(_Base):
    """A prompt spoken; ``seconds`` is how long it played (shorter when a key cut it)."""

    name = "say"
    text: str
    language: str
    voice: str | None
    loop: int = 1
    seconds: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayEvent(_Base):
    """Audio played from ``url``, or DTMF ``digits`` played to the caller."""

    name = "play"
    url: str | None
    digits: str | None = None
    seconds: float = 0.0
    text: str | None = None
    """The prompt's words, when the app sent them (the optional X-IVR-Prompts hint)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseEvent(_Base):
    """Silence."""

    name = "pause"
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GatherEvent(_Base):
    """The call waits for keys (after its nested prompts)."""

    name = "gather"
    numDigits: int | None  # the JSON field names are Twilio's attribute names
    timeout: int
    finishOnKey: str
    action: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Input(_Base):
    """The caller keyed ``digits`` (the finish key, if any, apart)."""

    name = "input"
    digits: str
    finished_on_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NoInput(_Base):
    """A Gather ended with nothing keyed."""

    name = "no_input"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyIgnored(_Base):
    """The caller pressed ``key`` while nothing listened for keys (a message, a transfer): it went nowhere."""

    name = "key_ignored"
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptSkipped(_Base):
    """The caller skipped the rest of a prompt (Enter in the terminal): ``seconds`` of it were not waited for.

    The call's clock moves to the prompt's end, as if it had played to the end.
    """

    name = "prompt_skipped"
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RedirectEvent(_Base):
    """A ``<Redirect>`` to ``url``."""

    name = "redirect"
    url: str
    method: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRedirect(_Base):
    """The application answered an HTTP redirect (``status``), followed with ``method`` to ``url``.

    ``other_host``: ``url`` is on another host than the request redirected, so the request
    went without the ``X-Twilio-Signature`` header; ``message`` says so in words.
    """

    name = "http_redirect"
    status: int
    method: str
    url: str
    other_host: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEvent(_Base):
    """A ``<Dial>`` and how the dialled call ended."""

    name = "dial"
    number: str
    status: str
    duration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordEvent(_Base):
    """A ``<Record>``: ``seconds`` recorded (0: nothing), ended by ``digits`` if a key ended it."""

    name = "record"
    seconds: int
    digits: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupEvent(_Base):
    """The application hung up (``<Hangup>``)."""

    name = "hangup"


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectEvent(_Base):
    """The application rejected the call."""

    name = "reject"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsupportedEvent(_Base):
    """A verb Twilio knows that the simulator cannot play; the call ends there."""

    name = "unsupported"
    verb: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent(_Base):
    """The application failed: Twilio would play its "application error" message and hang up."""

    name = "error"
    message: str
    status: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Warning(_Base):
    """Something the tester should know that does not end the call (no TTS, audio not fetched...)."""

    name = "warning"
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class End(_Base):
    """The call is over: why, and how long it lasted."""

    name = "end"
    reason: str
    duration: float


Event = (
    CallEvent
    | Request
    | SayEvent
    | PlayEvent
    | PauseEvent
    | GatherEvent
    | Input
    | NoInput
    | KeyIgnored
    | PromptSkipped
    | RedirectEvent
    | HttpRedirect
    | DialEvent
    | RecordEvent
    | HangupEvent
    | RejectEvent
    | UnsupportedEvent
    | ErrorEvent
    | Warning
    | End
)


def to_dict(event: Event) -> dict[str, Any]:
    """The JSON object for ``event``: ``{"event": name, ...fields, "t": seconds}``."""
    out: dict[str, Any] = {"event": event.name}
    for f in fields(event):
        if f.name == "t":
            continue
        key = "from" if f.name == "from_" else f.name
        out[key] = getattr(event, f.name)
    out["t"] = round(event.t, 3)
    return out


def to_json(event: Event) -> str:
    """One JSON Lines line for ``event``."""
    return json.dumps(to_dict(event), ensure_ascii=False)
