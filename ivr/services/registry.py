"""The services a menu may call by name, with the handlers that carry them out.

A menu's ``service`` node names a service; the engine emits an ``Invoke``
action and waits for the result, so the engine never runs a handler itself.
Adapters (the web app, the test harness) look the handler up here.

The contracts (:class:`~ivr.contracts.ServiceSpec`) live in :mod:`ivr.contracts`,
so ``ivr validate`` checks a menu against them without loading any handler;
they are re-exported here.  A handler answers with the engine's own event,
:class:`~ivr.engine.events.ServiceDone`: its outcome and values for the call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ivr.config import DEFAULT_TIMEZONE
from ivr.contracts import SPECS, ServiceSpec
from ivr.engine.events import ServiceDone

__all__ = ["SPECS", "Handler", "ServiceContext", "ServiceRegistry", "ServiceSpec", "default_registry"]


HOTLINE_ZONE = ZoneInfo(DEFAULT_TIMEZONE)
"""The zone of a context made without one (tests, the harness): the settings' default."""


@dataclass(frozen=True)
class ServiceContext:
    """What a handler knows of the call besides its arguments."""

    call_sid: str
    caller: str
    now: dt.datetime
    zone: dt.tzinfo = HOTLINE_ZONE
    """The hotline's time zone (``IVR_TIMEZONE``): its dates, working days and agent hours."""
    extra: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[Mapping[str, str | None], ServiceContext], ServiceDone]
"""A handler gets the arguments the menu mapped and the call's context.

It raises :class:`ivr.errors.ServiceUnavailable` when its back end is down.
"""


class ServiceRegistry(Mapping[str, ServiceSpec]):
    """Service contracts by name, with the handlers bound to them."""

    def __init__(self, specs: tuple[ServiceSpec, ...] = SPECS) -> None:
        self._specs = {s.name: s for s in specs}
        self._handlers: dict[str, Handler] = {}

    def __getitem__(self, name: str) -> ServiceSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def bind(self, name: str, handler: Handler) -> None:
        """Attach the handler that carries out the service ``name``."""
        if name not in self._specs:
            raise KeyError(f"no service named {name!r} is declared")
        self._handlers[name] = handler

    def handler(self, name: str) -> Handler | None:
        """The handler bound to ``name``, or None when none is."""
        return self._handlers.get(name)


def default_registry() -> ServiceRegistry:
    """The registry of the services this project declares."""
    return ServiceRegistry(SPECS)
