"""Actions: what the engine asks an adapter to do.

A step's actions are said or done in order.  The last action of every step is
one that waits for something (a :data:`Waiting` action): keys from the caller,
a service's result, the end of a transfer or a recording, or the end of the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Action",
    "Gather",
    "Hangup",
    "Invoke",
    "Part",
    "Play",
    "Prompted",
    "Record",
    "Say",
    "SayAs",
    "Transfer",
    "Waiting",
    "Words",
]


@dataclass(frozen=True, slots=True)
class Words:
    """Fixed words of a prompt, the same on every call."""

    text: str


@dataclass(frozen=True, slots=True)
class SayAs:
    """A variable's value, and how it is spoken (``digits``, ``number``, ``date`` or ``text``)."""

    value: str
    how: Literal["text", "digits", "number", "date"]
    text: str
    """The words a speech engine should say for it in the prompt's language."""


Part = Words | SayAs


@dataclass(frozen=True, slots=True)
class Say:
    """Speak a prompt in ``language``."""

    language: str
    parts: tuple[Part, ...]
    voice: str | None = None
    """The speech engine's voice for this prompt alone; None: the hotline's voice for ``language``."""
    loop: int = 1
    """How many times it is said in a row."""

    @property
    def text(self) -> str:
        """The whole prompt as one string for a speech engine."""
        return "".join(p.text for p in self.parts)


@dataclass(frozen=True, slots=True)
class Play:
    """Play a recording from ``url``, or the key tones ``digits`` (``w``: half a second's pause), ``loop`` times."""

    url: str = ""
    digits: str = ""
    loop: int = 1


Prompted = Say | Play
"""What a prompt is made of: words to speak and audio to play."""


@dataclass(frozen=True, slots=True)
class Gather:
    """Speak ``prompts`` (the caller may key over them) and wait for keys.

    ``max_digits`` keys end the entry, as does ``finish_key`` (``""``: none);
    silence for ``timeout`` seconds after the prompts end is no input.
    """

    prompts: tuple[Prompted, ...]
    max_digits: int
    finish_key: str
    timeout: float
    min_digits: int = 1
    masked: bool = False


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run the service ``service`` with ``args``; answer with ServiceDone or ServiceFailed."""

    service: str
    args: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transfer:
    """Connect the caller to ``to`` (a number or a configured destination)."""

    to: str
    timeout: int


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller for at most ``max_seconds``; any key of ``finish_key``, or ``silence`` s of quiet, ends it."""

    max_seconds: int
    finish_key: str
    silence: int = 5
    beep: bool = True


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call.  ``reason`` is ``menu`` for a planned goodbye, ``error`` otherwise."""

    reason: Literal["menu", "error", "caller"] = "menu"


Action = Say | Play | Gather | Invoke | Transfer | Record | Hangup
Waiting = Gather | Invoke | Transfer | Record | Hangup
