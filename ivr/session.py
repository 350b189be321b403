"""One call session: the engine driven through a step until the call waits for the outside world.

Flask-free and store-free.  The webhook (:class:`ivr.web.calls.CallRunner`,
which adds the shared store, replays and TwiML) and the in-memory harness
(:class:`ivr.harness.Call`) both drive calls through this module, so services
run, fail and are logged the same way in both.

A step may pass through services (each an ``Invoke`` answered at once with
``ServiceDone`` or ``ServiceFailed``) and transfers to destinations that have no
number (answered with a failed ``TransferDone``) before it waits for the
caller, a real transfer, a recording or the end of the call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ivr.engine import (
    Action,
    CallStarted,
    CallState,
    Digits,
    Engine,
    Event,
    Hangup,
    HungUp,
    Invoke,
    RecordingDone,
    ServiceDone,
    ServiceFailed,
    Transfer,
    TransferDone,
)
from ivr.errors import ServiceUnavailable, StaleStateError
from ivr.menu.model import InputNode
from ivr.rules import mask_keys, mask_phone
from ivr.services.registry import Handler, ServiceContext

__all__ = [
    "MAX_SERVICE_CALLS",
    "CallSession",
    "Dialer",
    "HandlerSource",
    "StepEvent",
    "Turn",
    "agent_dialer",
    "forget_secrets",
    "forget_stored_secrets",
]

log = logging.getLogger("ivr.calls")

MAX_SERVICE_CALLS = 8
"""Services run in one step at most; the menu checks forbid loops, this is a guard."""

Dialer = Callable[[str], str | None]
"""A transfer destination (a number, or a name such as ``agent``) to the number to dial, or None."""


@runtime_checkable
class HandlerSource(Protocol):
    """Where a session finds the handler of a service (a :class:`ivr.services.ServiceRegistry`)."""

    def handler(self, name: str) -> Handler | None:
        """The handler bound to ``name``, or None when none is."""
        ...


class StepEvent(NamedTuple):
    """Something that happened in a step, for the call's log: ``kind`` at ``node``, with ``detail``.

    Kinds: ``start`` and ``restart`` (the call began, or began again), the name
    of the engine event fed in (``Digits``, ``NoInput``, ``TransferDone``...),
    ``service`` (a service's outcome), ``transfer`` (a destination with no
    number), ``enter`` (a node entered) and ``status`` (the call ended).
    """

    kind: str
    node: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Turn:
    """A step carried through to where the call waits: what to tell the caller, and what happened."""

    timeline: tuple[Action | StepEvent, ...]
    """The step's actions, with each service's outcome (or unreachable transfer) where it happened."""
    state: CallState
    path: tuple[str, ...] = ()
    """The nodes entered, in order (message nodes passed through included)."""
    events: tuple[StepEvent, ...] = ()
    numbers: Mapping[str, str] = field(default_factory=dict)
    """The number to dial for each transfer destination among ``actions``."""

    @property
    def actions(self) -> tuple[Action, ...]:
        """What the adapter says and does, in order; the last one waits."""
        return tuple(a for a in self.timeline if not isinstance(a, StepEvent))


class CallSession:
    """Drives calls through one engine; holds no call's state, so one session serves every call."""

    def __init__(self, engine: Engine, services: HandlerSource, dial: Dialer) -> None:
        self.engine = engine
        self.services = services
        self.dial = dial

    def start(self, ctx: ServiceContext, *, language: str | None = None, again: bool = False) -> Turn:
        """Answer a new call from ``ctx.caller`` (``again``: a call whose stored state was unusable starts over)."""
        start = self.engine.menu.start
        opening = (
            StepEvent("restart", start, {}) if again else StepEvent("start", start, {"caller": mask_phone(ctx.caller)})
        )
        step = self.engine.start(CallStarted(caller=ctx.caller, language=language))
        return self._carry(step.actions, step.state, step.path, [opening], ctx)

    def send(self, state: CallState, event: Event, ctx: ServiceContext) -> Turn:
        """Feed ``event`` to a call in ``state`` and carry the step through.

        Raises :class:`ivr.errors.EngineUsageError` for an event the call's
        state does not accept, and :class:`ivr.errors.StaleStateError` for a
        state that does not fit the menu.
        """
        step = self.engine.send(state, event)
        record = StepEvent(type(event).__name__, state.node, self._describe(state, event))
        return self._carry(step.actions, step.state, step.path, [record], ctx)

    # -- plumbing -------------------------------------------------------------

    def _carry(
        self,
        actions: tuple[Action, ...],
        state: CallState,
        path: tuple[str, ...],
        events: list[StepEvent],
        ctx: ServiceContext,
    ) -> Turn:
        """Carry out services and unreachable transfers until the call waits for the outside world."""
        timeline: list[Action | StepEvent] = []
        entered = list(path)
        numbers: dict[str, str] = {}
        for ran in range(MAX_SERVICE_CALLS + 1):
            pending = self._pending(actions, numbers)
            if pending is None:
                timeline += actions
                break
            if ran == MAX_SERVICE_CALLS:
                # The menu checks forbid service loops; should one slip through, the call ends, never hangs.
                log.error("call %s: over %d services in one step at %s", ctx.call_sid, ran, state.node)
                timeline += [*actions[:-1], Hangup("error")]
                state = self.engine.send(state, HungUp()).state
                break
            result: ServiceDone | ServiceFailed | TransferDone
            if isinstance(pending, Invoke):
                result = self._invoke(pending, ctx)
                outcome = result.outcome if isinstance(result, ServiceDone) else "error"
                event = StepEvent("service", state.node, {"service": pending.service, "outcome": outcome})
            else:
                # No number is configured for this destination: a failed transfer.
                result = TransferDone("failed")
                event = StepEvent("transfer", state.node, {"to": pending.to, "status": "unconfigured"})
            timeline += [*actions[:-1], event]
            events.append(event)
            step = self.engine.send(state, result)
            actions, state = step.actions, step.state
            entered += step.path
        # One event per node entered, so visits count message nodes passed through too.
        events.extend(StepEvent("enter", node, {}) for node in entered)
        return Turn(tuple(timeline), state, tuple(entered), tuple(events), numbers)

    def _pending(self, actions: tuple[Action, ...], numbers: dict[str, str]) -> Invoke | Transfer | None:
        """What the session answers itself: a service, or a transfer with no number; None when the call waits.

        A reachable transfer's number is put in ``numbers``, for the TwiML.
        """
        last = actions[-1] if actions else None
        if isinstance(last, Invoke):
            return last
        if isinstance(last, Transfer):
            number = self.dial(last.to)
            if number is None:
                return last
            numbers[last.to] = number
        return None

    def _invoke(self, invoke: Invoke, ctx: ServiceContext) -> ServiceDone | ServiceFailed:
        handler = self.services.handler(invoke.service)
        if handler is None:
            log.error("call %s: no handler is bound for %s", ctx.call_sid, invoke.service)
            return ServiceFailed("no handler")
        try:
            return handler(invoke.args, ctx)
        except ServiceUnavailable as exc:
            log.warning("call %s: %s unavailable: %s", ctx.call_sid, invoke.service, exc)
            return ServiceFailed(str(exc))
        except Exception:  # a bug in a handler must not cost the caller the call
            log.exception("call %s: %s failed", ctx.call_sid, invoke.service)
            return ServiceFailed("handler error")

    def _describe(self, state: CallState, event: Event) -> dict[str, Any]:
        if isinstance(event, Digits):
            node = self.engine.menu.nodes.get(state.node)
            masked = isinstance(node, InputNode) and node.masked and state.awaiting == "digits"
            return {"digits": mask_keys(event.digits, masked)}
        if isinstance(event, TransferDone):
            return {"status": event.status}
        if isinstance(event, RecordingDone):
            return {"seconds": event.seconds}
        return {}


def forget_secrets(state: CallState) -> CallState:
    """What a call that is over keeps of its state: nothing keyed in secret, and no ID number in full.

    The one rule for what a finished call may keep, used by Twilio's status
    callback and by the sweep of abandoned calls alike.  Variables keyed in
    masked entries (passwords) are dropped; ID numbers are kept only masked,
    as logs show them (:meth:`CallState.redacted_vars` decides what is one).

    A call awaiting a recording goes on awaiting it: when the caller's hang-up
    ends a ``<Record>``, Twilio still requests its action URL, often after the
    status callback, and the message must still be saved.  Any other call is
    ended.
    """
    kept = {k: v for k, v in state.redacted_vars().items() if k not in state.secret}
    return state.evolve(awaiting="recording" if state.awaiting == "recording" else "ended", vars=kept, secret=())


def forget_stored_secrets(text: str) -> str:
    """:func:`forget_secrets` on a stored state's JSON; a state that cannot be read is dropped whole (``""``)."""
    try:
        return forget_secrets(CallState.from_json(text)).to_json()
    except StaleStateError:
        return ""


def agent_dialer(agent_number: str | None) -> Dialer:
    """Numbers dial themselves; ``agent`` dials ``agent_number``; any other name has no number."""

    def dial(to: str) -> str | None:
        if to.lstrip("+").isdigit():
            return to
        if to == "agent":
            return agent_number
        return None

    return dial
