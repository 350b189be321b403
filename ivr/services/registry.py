"""The services a menu may call by name, and what each one promises.

A menu's ``service`` node names a service; the engine emits an ``Invoke``
action and waits for the result, so the engine never runs a handler itself.
Adapters (the web app, the test harness) look the handler up here.

A :class:`ServiceSpec` is the contract: the parameters the service takes, the
outcomes it can return and the values it may hand back.  ``ivr validate``
checks a menu against these contracts without running anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SPECS", "ServiceRegistry", "ServiceResultData", "ServiceSpec", "default_registry"]


@dataclass(frozen=True)
class ServiceResultData:
    """What a handler returns: an outcome name and values for the call's variables."""

    outcome: str
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceContext:
    """What a handler knows of the call besides its arguments."""

    call_sid: str
    caller: str
    now: dt.datetime
    extra: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[Mapping[str, str | None], ServiceContext], ServiceResultData]
"""A handler gets the arguments the menu mapped and the call's context.

It raises :class:`ivr.errors.ServiceUnavailable` when its back end is down.
"""


@dataclass(frozen=True)
class ServiceSpec:
    """The contract of one named service."""

    name: str
    params: tuple[str, ...]
    outcomes: tuple[str, ...]
    provides: tuple[str, ...] = ()
    summary: str = ""


# The contracts of the 12333 hotline's transactions.  Handlers are bound to
# them by the storage layer; the menu can be validated with the specs alone.
SPECS: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "agent.hours",
        params=(),
        outcomes=("open", "closed"),
        provides=("hours",),
        summary="Whether agents are on duty now (working days, 08:30-11:30 and 13:00-17:30 Beijing time).",
    ),
    ServiceSpec(
        "card.activate",
        params=("id_number", "pin", "new_pin"),
        outcomes=("activated", "not_found", "already_active", "wrong_password", "locked", "same_password"),
        provides=("attempts_left",),
        summary=(
            "Activate a social security card with its initial password and set a new one "
            "(same_password: the new one equals the initial one, which would leave the card unprotected)."
        ),
    ),
    ServiceSpec(
        "card.report_loss",
        params=("id_number", "pin"),
        outcomes=(
            "reported",
            "not_found",
            "initial_password",
            "not_active",
            "already_reported",
            "wrong_password",
            "locked",
        ),
        provides=("reference", "expires_on", "attempts_left"),
        summary="Record a temporary loss report by phone and give a reference number.",
    ),
    ServiceSpec(
        "card.status",
        params=("id_number", "pin"),
        outcomes=(
            "not_activated",
            "active",
            "reported_lost",
            "replacing",
            "not_found",
            "wrong_password",
            "locked",
        ),
        provides=("until", "ready_on", "attempts_left"),
        summary="Tell the card's status.",
    ),
    ServiceSpec(
        "voicemail.save",
        params=("recording_url", "recording_seconds", "caller"),
        outcomes=("saved", "empty"),
        summary="Keep a voicemail with the caller's number.",
    ),
)


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
