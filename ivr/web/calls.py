"""The webhook's call logic, without Flask: Twilio's parameters in, TwiML out.

Each webhook is one step: load the call's state by CallSid, turn the request
into an engine event, run the engine (and any services it invokes) until it
waits for the caller, write the TwiML, and save the new state, all against the
shared store, so consecutive steps may be served by different workers or hosts.

Replays and out-of-order requests are recognised by the step number in the
URL: they get the call's current TwiML again, not a second transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ivr.config import Settings
from ivr.engine import (
    Action,
    CallStarted,
    CallState,
    Digits,
    Engine,
    Event,
    HungUp,
    Invoke,
    NoInput,
    RecordingDone,
    ServiceDone,
    ServiceFailed,
    Step,
    Transfer,
    TransferDone,
)
from ivr.errors import EngineUsageError, ServiceUnavailable, StaleStateError
from ivr.rules import mask_keys, mask_phone
from ivr.services.registry import ServiceContext, ServiceRegistry
from ivr.storage.calls import CallStore, StoredCall
from ivr.web.twiml import TwimlWriter

__all__ = ["CallRunner", "Reply"]

log = logging.getLogger("ivr.calls")

MAX_SERVICE_CALLS = 8
"""Services run in one webhook at most; the menu checks forbid loops, this is a guard."""

MAX_CALL_SECONDS = 4 * 3600
"""Twilio ends a call after four hours; longer durations are forged or broken."""

DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True)
class Reply:
    """A webhook's answer: the TwiML, and the node the call is at (for logs and headers)."""

    twiml: str
    node: str
    path: tuple[str, ...] = ()
    """The nodes the call entered in this step; empty for a repeated answer."""


class CallRunner:
    """Serves the steps of calls for one menu, against one store.

    A stored call's ``step`` is the number its current TwiML's URLs carry; a
    request with any other number is a replay or comes from an old document.
    """

    def __init__(
        self,
        engine: Engine,
        store: CallStore,
        services: ServiceRegistry,
        writer: TwimlWriter,
        settings: Settings,
        step_base: str = "/voice/step",
        clock: Callable[[], dt.datetime] | None = None,
        observer: Callable[[list[tuple[str, str, Mapping[str, Any]]]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.services = services
        self.writer = writer
        self.settings = settings
        self.step_base = step_base
        self.clock = clock or settings.now
        self.observer = observer
        """Called with each step's events once they are stored (metrics)."""

    # -- webhooks -----------------------------------------------------------

    def incoming(self, params: Mapping[str, str]) -> Reply:
        """A new call: answer with the welcome, and store the call at step 1."""
        sid = params["CallSid"]
        existing = self.store.load(sid)
        if existing is not None:
            # Twilio retried the incoming webhook: say the same again.
            return Reply(existing.last_twiml, self._node_of(existing))
        caller = params.get("From", "")
        return self._begin(sid, caller, [("start", self.engine.menu.start, {"caller": mask_phone(caller)})])

    def step(self, params: Mapping[str, str], query: Mapping[str, str]) -> Reply:
        """A later step of a call, reached through an action or Redirect URL we wrote."""
        sid = params["CallSid"]
        stored = self.store.load(sid)
        if stored is None:
            log.info("unknown call %s: starting it at the main menu", sid)
            return self._restart(sid, params.get("From", ""))
        try:
            expected = int(query.get("s", ""))
        except ValueError:
            expected = -1
        if expected != stored.step:
            # A replay or a request from an old document: repeat where the call is.
            return Reply(stored.last_twiml, self._node_of(stored))
        try:
            state = CallState.from_json(stored.state)
            self.engine.check_state(state)
        except StaleStateError as exc:
            log.info("call %s: %s; starting again at the main menu", sid, exc)
            return self._restart(sid, stored.caller)
        event = self._event(state, params, query)
        if event is None:
            return Reply(stored.last_twiml, state.node)
        try:
            step = self.engine.send(state, event)
        except StaleStateError:
            return self._restart(sid, stored.caller)
        events: list[tuple[str, str, Mapping[str, Any]]] = [
            (type(event).__name__, state.node, self._describe(state, event))
        ]
        step, events = self._run(sid, stored.caller, step, events)
        twiml = self._write(step.actions, stored.step + 1)
        saved = self.store.advance(
            sid,
            stored.step,
            node=step.state.node,
            state=step.state.to_json(),
            twiml=twiml,
            now=self.clock(),
            events=events,
        )
        if not saved:
            # Another worker answered this step first: answer as it did.
            latest = self.store.load(sid)
            if latest is not None:
                return Reply(latest.last_twiml, self._node_of(latest))
        self._observe(events)
        return Reply(twiml, step.state.node, step.path)

    def status(self, params: Mapping[str, str]) -> bool:
        """Twilio's final status callback: close the call record, and forget what the caller keyed in secret."""
        duration = _bounded_int(params.get("CallDuration", ""), MAX_CALL_SECONDS)
        sid = params["CallSid"]
        ended: str | None = None
        stored = self.store.load(sid)
        if stored is not None:
            try:
                state = CallState.from_json(stored.state)
                # A caller who hung up mid-entry may have left a password in the state.
                ended = self.engine.send(state, HungUp()).state.to_json() if state.awaiting != "ended" else None
            except (StaleStateError, EngineUsageError):
                ended = None
        return self.store.finish(sid, params.get("CallStatus", "completed"), duration, self.clock(), state=ended)

    # -- plumbing -------------------------------------------------------------

    def _observe(self, events: list[tuple[str, str, Mapping[str, Any]]]) -> None:
        if self.observer is not None:
            self.observer(events)

    def _restart(self, sid: str, caller: str) -> Reply:
        return self._begin(sid, caller, [("restart", self.engine.menu.start, {})], again=True)

    def _begin(
        self, sid: str, caller: str, events: list[tuple[str, str, Mapping[str, Any]]], again: bool = False
    ) -> Reply:
        step = self.engine.start(CallStarted(caller=caller))
        step, events = self._run(sid, caller, step, events)
        written: list[int] = []

        def twiml_for(at: int) -> str:
            # Called only if this request stores the call (not when another worker already did).
            written.append(at)
            return self._write(step.actions, at)

        stored = self.store.begin(
            sid,
            caller=caller,
            menu_id=self.engine.menu.id,
            menu_version=self.engine.menu.version,
            node=step.state.node,
            state=step.state.to_json(),
            now=self.clock(),
            twiml_for=twiml_for,
            events=events,
            again=again,
        )
        if not written:
            return Reply(stored.last_twiml, self._node_of(stored))  # a retried first webhook: as stored
        self._observe(events)
        return Reply(stored.last_twiml, step.state.node, step.path)

    def _event(self, state: CallState, params: Mapping[str, str], query: Mapping[str, str]) -> Event | None:
        if state.awaiting in ("digits", "confirm"):
            if query.get("timeout") or "Digits" not in params:
                return NoInput()
            return Digits(params["Digits"][:64])
        if state.awaiting == "transfer":
            status = params.get("DialCallStatus", "failed")
            status = "completed" if status == "answered" else status
            return TransferDone(status if status in DIAL_STATUSES else "failed")
        if state.awaiting == "recording":
            if query.get("empty"):
                return RecordingDone("", 0)
            seconds = _bounded_int(params.get("RecordingDuration", "0"), MAX_CALL_SECONDS) or 0
            return RecordingDone(params.get("RecordingUrl", "")[:500], seconds)
        return None  # the call has ended: repeat its last words

    def _run(
        self, sid: str, caller: str, step: Step, events: list[tuple[str, str, Mapping[str, Any]]]
    ) -> tuple[Step, list[tuple[str, str, Mapping[str, Any]]]]:
        """Carry out services and unreachable transfers until the call waits for the caller."""
        actions: list[Action] = list(step.actions)
        path = list(step.path)
        for _ in range(MAX_SERVICE_CALLS):
            last = actions[-1] if actions else None
            result: ServiceDone | ServiceFailed | TransferDone
            if isinstance(last, Invoke):
                result = self._invoke(sid, caller, step.state, last)
                events.append(("service", step.state.node, {"service": last.service, "outcome": _outcome(result)}))
            elif isinstance(last, Transfer) and self._dial_to(last.to) is None:
                # No number is configured for this destination: a failed transfer.
                result = TransferDone("failed")
                events.append(("transfer", step.state.node, {"to": last.to, "status": "unconfigured"}))
            else:
                break
            step = self.engine.send(step.state, result)
            actions = actions[:-1] + list(step.actions)
            path += step.path
        # One event per node entered, so visits count message nodes passed through too.
        events.extend(("enter", node, {}) for node in path)
        return Step(tuple(actions), step.state, tuple(path)), events

    def _invoke(self, sid: str, caller: str, state: CallState, invoke: Invoke) -> ServiceDone | ServiceFailed:
        handler = self.services.handler(invoke.service)
        if handler is None:
            log.error("call %s: no handler is bound for %s", sid, invoke.service)
            return ServiceFailed("no handler")
        ctx = ServiceContext(call_sid=sid, caller=caller, now=self.clock())
        try:
            result = handler(invoke.args, ctx)
        except ServiceUnavailable as exc:
            log.warning("call %s: %s unavailable: %s", sid, invoke.service, exc)
            return ServiceFailed(str(exc))
        except Exception:  # a bug in a handler must not cost the caller the call
            log.exception("call %s: %s failed", sid, invoke.service)
            return ServiceFailed("handler error")
        return ServiceDone(result.outcome, dict(result.data))

    def _dial_to(self, to: str) -> str | None:
        if to.lstrip("+").isdigit():
            return to
        if to == "agent":
            return self.settings.agent_number
        return None

    def _write(self, actions: tuple[Action, ...] | list[Action], next_step: int) -> str:
        return self.writer.write(actions, self.step_base, next_step, self._dial_to)

    def _node_of(self, stored: StoredCall) -> str:
        try:
            return CallState.from_json(stored.state).node
        except StaleStateError:
            return ""

    def _describe(self, state: CallState, event: Event) -> dict[str, Any]:
        if isinstance(event, Digits):
            node = self.engine.menu.nodes.get(state.node)
            masked = bool(getattr(node, "masked", False)) and state.awaiting == "digits"
            return {"digits": mask_keys(event.digits, masked)}
        if isinstance(event, TransferDone):
            return {"status": event.status}
        if isinstance(event, RecordingDone):
            return {"seconds": event.seconds}
        return {}


def _bounded_int(text: str, limit: int) -> int | None:
    """``text`` as a whole number of seconds, clamped to 0..``limit``; None when it is not a number."""
    try:
        value = int(text)
    except ValueError:
        return None
    return max(0, min(value, limit))


def _outcome(result: Event) -> str:
    return result.outcome if isinstance(result, ServiceDone) else "error"
