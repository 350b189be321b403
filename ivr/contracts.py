"""The services a menu may call by name, and what each one promises.

A :class:`ServiceSpec` is a service's contract: the parameters it takes, the
outcomes it can return and the values it may hand back.  The menu checks
(``ivr validate``) need only these, so they live apart from the handlers that
carry the services out (:mod:`ivr.services`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["SPECS", "SPECS_BY_NAME", "ServiceSpec"]


@dataclass(frozen=True)
class ServiceSpec:
    """The contract of one named service."""

    name: str
    params: tuple[str, ...]
    outcomes: tuple[str, ...]
    provides: tuple[str, ...] = ()
    summary: str = ""
    optional: tuple[str, ...] = ()
    """The parameters of ``params`` a menu may leave out."""


# The contracts of the 12333 hotline's transactions.  Handlers are bound to
# them by :mod:`ivr.services`; the menu can be validated with the specs alone.
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
        "http.request",
        params=("method", "url", "content_type", "body"),
        optional=("method", "content_type", "body"),
        outcomes=("success", "failed", "offline"),
        provides=("status_code", "body"),
        summary=(
            "An HTTP request to a host of IVR_HTTP_ALLOW_HOSTS (success: a 2xx answer, whose JSON fields become "
            "parsed.NAME); offline: the host is not allowed, so nothing was sent."
        ),
    ),
    ServiceSpec(
        "input.check",
        params=("rule", "value", "id_number"),
        optional=("id_number",),
        outcomes=("valid", "invalid"),
        provides=("value",),
        summary=(
            "Check an entry by one of the menu language's rules (cn_ric: a resident ID with its check digit, "
            "a final * for X; new_password: six digits, not trivial, not the ID's last six); value: as stored."
        ),
    ),
    ServiceSpec(
        "voicemail.save",
        params=("recording_url", "recording_seconds", "caller"),
        outcomes=("saved", "empty"),
        summary="Keep a voicemail with the caller's number.",
    ),
)


SPECS_BY_NAME: Mapping[str, ServiceSpec] = MappingProxyType({spec.name: spec for spec in SPECS})
"""The contracts of :data:`SPECS` by service name, as the menu checks take them."""
