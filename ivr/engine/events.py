"""Events: what happens to a call, fed to the engine by an adapter.

Each event is a small frozen dataclass.  Events carry what the outside world
reported, as it reported it: a caller's digits may be anything a forged request
contains, and the engine's rules decide what that means for the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "CallStarted",
    "Digits",
    "Event",
    "HungUp",
    "NoInput",
    "RecordingDone",
    "ServiceDone",
    "ServiceFailed",
    "TransferDone",
]


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A call has come in."""

    caller: str = ""
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Digits:
    """The caller keyed ``digits`` (the finish key, if pressed, is not included)."""

    digits: str


@dataclass(frozen=True, slots=True)
class NoInput:
    """The caller pressed nothing before the timeout."""


@dataclass(frozen=True, slots=True)
class ServiceDone:
    """A service ran and returned ``outcome``, with values for the call's variables."""

    outcome: str
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServiceFailed:
    """A service could not run (its back end is down, or it broke)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class TransferDone:
    """A transfer ended: ``completed``, ``busy``, ``no-answer``, ``failed`` or ``canceled``."""

    status: str


@dataclass(frozen=True, slots=True)
class RecordingDone:
    """A recording finished."""

    url: str = ""
    seconds: int = 0


@dataclass(frozen=True, slots=True)
class HungUp:
    """The caller hung up."""


Event = CallStarted | Digits | NoInput | ServiceDone | ServiceFailed | TransferDone | RecordingDone | HungUp
