"""Binding the project's handlers to the service contracts."""

from __future__ import annotations

from collections.abc import Mapping

from ivr.engine.events import ServiceDone
from ivr.rules import agents_on_duty, is_new_password, normalize_id_number
from ivr.services.registry import ServiceContext, ServiceRegistry, default_registry
from ivr.storage.db import Database

__all__ = ["agent_hours", "build_registry", "input_check"]


def agent_hours(_: Mapping[str, str | None], ctx: ServiceContext) -> ServiceDone:
    """``open`` when agents are on duty at the call's time, else ``closed``."""
    return ServiceDone("open" if agents_on_duty(ctx.now, ctx.zone) else "closed")


def input_check(args: Mapping[str, str | None], _: ServiceContext) -> ServiceDone:
    """``valid``, with the entry as stored, when it keeps its rule; else ``invalid``."""
    rule, value = args.get("rule") or "", args.get("value") or ""
    if rule == "cn_ric":
        stored = normalize_id_number(value, keyed=True)
    elif rule == "new_password":
        stored = value if is_new_password(value, args.get("id_number")) else None
    else:
        stored = value if value.isascii() and value.isdigit() else None
    return ServiceDone("valid", {"value": stored}) if stored else ServiceDone("invalid")


def build_registry(db: Database | None = None, http_allow_hosts: tuple[str, ...] = ()) -> ServiceRegistry:
    """The registry with every handler this project has; the card and voicemail ones need ``db``.

    ``http.request`` reaches only the hosts of ``http_allow_hosts``; with none it sends nothing.
    """
    from ivr.services.http import http_request

    registry = default_registry()
    registry.bind("agent.hours", agent_hours)
    registry.bind("input.check", input_check)
    registry.bind("http.request", http_request(http_allow_hosts))
    if db is not None:
        from ivr.services.cards import bind_card_handlers

        bind_card_handlers(registry, db)
    return registry
