"""A call's state: everything needed to continue it, and nothing else.

The state is plain data so any web worker on any host can pick a call up from
a shared store: :meth:`CallState.to_json` and :meth:`CallState.from_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from ivr.engine.events import Digits, Event, NoInput, RecordingDone, ServiceDone, ServiceFailed, TransferDone
from ivr.errors import StaleStateError
from ivr.rules import mask_id_number

__all__ = ["ACCEPTS", "Awaiting", "CallState"]

Awaiting = Literal["digits", "confirm", "service", "transfer", "recording", "ended"]

ACCEPTS: Mapping[Awaiting, tuple[type[Event], ...]] = MappingProxyType(
    {
        "digits": (Digits, NoInput),
        "confirm": (Digits, NoInput),
        "service": (ServiceDone, ServiceFailed),
        "transfer": (TransferDone,),
        "recording": (RecordingDone,),
        "ended": (),
    }
)
"""The events a call can take in each waiting state (besides ``HungUp``, which any call can take).

Adapters ask it which event to build from what the outside world reported;
the engine refuses any other as the adapter's mistake.
"""


@dataclass(frozen=True, slots=True)
class CallState:
    """Where a call is in the menu, and what it has collected."""

    menu_id: str
    menu_version: str
    node: str
    awaiting: Awaiting
    language: str
    vars: dict[str, str] = field(default_factory=dict)
    secret: tuple[str, ...] = ()
    """Names of variables the caller keyed in masked entries (passwords)."""
    no_input: int = 0
    invalid: int = 0
    heard: tuple[str, ...] = ()
    """Nodes whose long prompt the caller has heard; later visits get the short one."""
    trail: tuple[str, ...] = ()
    """The menus the caller came through, innermost last: where "back" goes."""
    repeats: int = 0
    """How many times in a row the call has entered ``node`` (a menu may limit it, as Studio does)."""

    def evolve(self, **changes: Any) -> CallState:
        """A copy with ``changes`` (every step makes one: ``dataclasses.replace`` inspects the fields each time)."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return CallState(**values)

    def redacted_vars(self) -> dict[str, str]:
        """The variables with secrets starred out and ID numbers masked, for logs."""
        out = {}
        for k, v in self.vars.items():
            if k in self.secret:
                out[k] = "*" * len(v)
            elif len(v) >= 15 and v[:-1].isdigit():  # looks like an ID number
                out[k] = mask_id_number(v)
            else:
                out[k] = v
        return out

    def to_json(self) -> str:
        """The state as JSON text, for a store (every step writes one: pydantic's serializer, twice json's speed)."""
        return _ADAPTER.dump_json(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> CallState:
        """A state read back from a store; :class:`StaleStateError` if it is damaged."""
        try:
            return _ADAPTER.validate_json(text)
        except ValidationError as exc:
            raise StaleStateError(f"stored call state is damaged: {exc.error_count()} problem(s)") from None


_ADAPTER = TypeAdapter(CallState)
_FIELDS = tuple(f.name for f in fields(CallState))
