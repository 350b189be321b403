"""The webhook's call logic, without Flask: Twilio's parameters in, TwiML out.

Each webhook is one step: load the call's state by CallSid, turn the request
into an engine event, carry the step through the call session
(:mod:`ivr.session`: the engine, and any services it invokes, until the call
waits), write the TwiML, and save the new state, all against the shared store,
so consecutive steps may be served by different workers or hosts.

Replays and out-of-order requests are recognised by the step number in the
URL: they get the call's current TwiML again, not a second transaction.

A new call starts on the menu new calls get now (the current publication, or
the menu file), and every later step is served with the menu it started on
(:mod:`ivr.web.menus`).

A call that has ended (Twilio's status callback came, or the sweep abandoned
it) keeps nothing secret (:func:`ivr.session.forget_secrets`) and answers any
request with a bare ``<Hangup/>``: never its last words again, which may read
the caller's ID number back.  The one step it still takes is the action of a
``<Record>`` the caller's hang-up finished, which Twilio requests after the
hang-up, often after the status callback: the message is saved, then the
answer is the same ``<Hangup/>``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from ivr.engine import (
    ACCEPTS,
    CallState,
    Digits,
    Event,
    Hangup,
    NoInput,
    RecordingDone,
    TransferDone,
)
from ivr.errors import StaleStateError
from ivr.services.registry import ServiceContext
from ivr.session import StepEvent, Turn, forget_secrets, forget_stored_secrets
from ivr.storage.calls import IN_PROGRESS, SWEEP_LIMIT, CallStore, StoredCall
from ivr.web.menus import MenuCatalog, ServedMenu
from ivr.web.twiml import Answer, TwimlWriter

__all__ = ["FINAL_STATUSES", "ONGOING_STATUSES", "CallRunner", "Reply", "sweep_idle_calls"]

log = logging.getLogger("ivr.calls")

MAX_CALL_SECONDS = 4 * 3600
"""Twilio ends a call after four hours; longer durations are forged or broken."""

DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})

ONGOING_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})
"""Twilio's call statuses before the end: status callbacks for these (an operator may ask Twilio for
``initiated``, ``ringing`` and ``answered`` events too) do not end the call."""
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
"""Twilio's call statuses at the end of a call: the ``CallStatus`` of its final status callback."""
UNKNOWN_STATUS = "other"
"""What a call's record says for a final ``CallStatus`` Twilio never sends (never the junk itself)."""


class Reply(NamedTuple):
    """A webhook's answer: the TwiML, and the node the call is at (for logs and headers)."""

    twiml: str
    node: str
    path: tuple[str, ...] = ()
    """The nodes the call entered in this step; empty for a repeated answer."""
    prompts: tuple[tuple[str, str], ...] = ()
    """(``<Play>`` URL, the prompt's words) for the prompts played from files; empty for a repeated answer."""
    menu_id: str = ""
    """The id of the menu a new call started on; empty for every other answer."""


class CallRunner:
    """Serves the steps of calls against one store, each with the menu it started on.

    A stored call's ``step`` is the number its current TwiML's URLs carry; a
    request with any other number is a replay or comes from an old document.
    """

    def __init__(
        self,
        menus: MenuCatalog,
        store: CallStore,
        writer: TwimlWriter,
        clock: Callable[[], dt.datetime],
        zone: dt.tzinfo,
        step_base: str = "/voice/step",
        observer: Callable[[Sequence[StepEvent]], None] | None = None,
    ) -> None:
        self.menus = menus
        self.store = store
        self.zone = zone
        self.writer = writer
        self.step_base = step_base
        self.clock = clock
        self.observer = observer
        """Called with each step's events once they are stored (metrics)."""
        self.hangup = writer.write((Hangup("menu"),), step_base, 0, {})
        """What a call that has ended is told, whatever it asks: ``<Hangup/>`` and nothing else."""

    # -- webhooks -----------------------------------------------------------

    def incoming(self, params: Mapping[str, str]) -> Reply:
        """A new call: answer with the welcome, and store the call at step 1."""
        with self.store.db.held():
            return self._incoming(params)

    def step(self, params: Mapping[str, str], query: Mapping[str, str]) -> Reply:
        """A later step of a call, reached through an action or Redirect URL we wrote."""
        with self.store.db.held():
            return self._step(params, query)

    def _incoming(self, params: Mapping[str, str]) -> Reply:
        sid = params["CallSid"]
        found = self.store.lookup(sid)
        if found.call is not None:
            # Twilio retried the incoming webhook: say the same again, unless the call has ended.
            return self._repeat(found.call)
        return self._begin(self.menus.serve(found.current), sid, params.get("From", ""))

    def _step(self, params: Mapping[str, str], query: Mapping[str, str]) -> Reply:
        sid = params["CallSid"]
        found = self.store.lookup(sid)
        stored = found.call
        if stored is None:
            log.info("unknown call %s: starting it at the main menu", sid)
            return self._begin(self.menus.serve(found.current), sid, params.get("From", ""), again=True)
        try:
            expected = int(query.get("s", ""))
        except ValueError:
            expected = -1
        if stored.status != IN_PROGRESS:
            if expected == stored.step:
                self._after_end(stored, params, query)
            return Reply(self.hangup, "")
        if expected != stored.step:
            # A replay or a request from an old document: repeat where the call is.
            return self._repeat(stored)
        try:
            served = self.menus.keep(stored.publication)
            state = CallState.from_json(stored.state)
            served.engine.check_state(state)
        except StaleStateError as exc:
            log.info("call %s: %s; starting again at the main menu", sid, exc)
            return self._begin(self.menus.serve(found.current), sid, stored.caller, again=True)
        event = self._event(state, params, query)
        if event is None:
            return Reply(stored.last_twiml, state.node)
        now = self.clock()
        try:
            turn = served.session.send(state, event, self._context(sid, stored.caller, now))
        except StaleStateError:
            return self._begin(self.menus.serve(found.current), sid, stored.caller, again=True)
        played: list[tuple[str, str]] = []
        twiml, wait = self._write(turn, stored.step + 1, played)
        saved = self.store.advance(
            sid,
            stored.step,
            node=turn.state.node,
            state=turn.state.to_json(),
            twiml=twiml,
            now=now,
            live_until=now + dt.timedelta(seconds=wait),
            events=turn.events,
            key=stored.key,
        )
        if not saved:
            # Another worker answered this step first (answer as it did), or the call ended meanwhile.
            latest = self.store.load(sid)
            if latest is not None:
                return self._repeat(latest)
        self._observe(turn.events)
        return Reply(twiml, turn.state.node, turn.path, tuple(played))

    def status(self, params: Mapping[str, str]) -> bool:
        """Twilio's status callback: at the end, close the call record and forget what the caller keyed in secret.

        False when the store does not know the call.  A callback for a status
        before the end (ringing, answered) changes nothing.
        """
        with self.store.db.held():  # the read and the write on this thread's kept connection, as a step's
            sid = params["CallSid"]
            status = params.get("CallStatus", "completed")
            if status in ONGOING_STATUSES:
                return self.store.lookup(sid).call is not None
            if status not in FINAL_STATUSES:
                status = UNKNOWN_STATUS
            duration = _bounded_int(params.get("CallDuration", ""), MAX_CALL_SECONDS)
            stored = self.store.lookup(sid).call
            if stored is None:
                return False
            # A caller who hung up mid-entry may have left a password in the state.
            left = forget_stored_secrets(stored.state)
            return self.store.finish(sid, status, duration, self.clock(), state=left)

    def sweep(self, idle_timeout: float, limit: int = SWEEP_LIMIT) -> list[str]:
        """End the calls idle over ``idle_timeout`` seconds as abandoned (their status callback was lost).

        They keep what a call ended by its status callback keeps; the CallSids
        abandoned, at most ``limit`` of them (the next sweep takes the rest).
        """
        return sweep_idle_calls(self.store, self.clock(), idle_timeout, limit)

    # -- plumbing -------------------------------------------------------------

    def _repeat(self, stored: StoredCall) -> Reply:
        """The call's current TwiML again; a bare hang-up once it has ended."""
        if stored.status != IN_PROGRESS:
            return Reply(self.hangup, "")
        return Reply(stored.last_twiml, self._node_of(stored))

    def _after_end(self, stored: StoredCall, params: Mapping[str, str], query: Mapping[str, str]) -> None:
        """A request at the step of a call that has ended: save the recording its hang-up finished, if it awaits one."""
        try:
            state = CallState.from_json(stored.state)
            served = self.menus.keep(stored.publication)
        except StaleStateError:
            return
        if state.awaiting != "recording":
            return
        event = self._event(state, params, query)
        if event is None:
            return
        now = self.clock()
        try:
            turn = served.session.send(state, event, self._context(stored.call_sid, stored.caller, now))
        except StaleStateError:
            return
        left = forget_secrets(turn.state)
        if self.store.settle(
            stored.call_sid, stored.step, node=left.node, state=left.to_json(), now=now, events=turn.events
        ):
            log.info("call %s: the recording its hang-up finished was handled at %s", stored.call_sid, left.node)
            self._observe(turn.events)

    def _observe(self, events: Sequence[StepEvent]) -> None:
        if self.observer is not None:
            self.observer(events)

    def _context(self, sid: str, caller: str, now: dt.datetime) -> ServiceContext:
        return ServiceContext(call_sid=sid, caller=caller, now=now, zone=self.zone)

    def _begin(self, served: ServedMenu, sid: str, caller: str, again: bool = False) -> Reply:
        """Start the call on ``served`` (``again``: over, at the next step number: its stored state is unusable)."""
        now = self.clock()
        turn = served.session.start(self._context(sid, caller, now), again=again)
        played: list[tuple[str, str]] = []
        first = self._write(turn, 1, played)  # a new call's step is 1; a call begun again has its own

        def twiml_for(at: int) -> str:
            return first.twiml if at == 1 else self._write(turn, at, []).twiml

        stored, created = self.store.begin(
            sid,
            caller=caller,
            menu_id=served.menu.id,
            menu_version=served.menu.version,
            publication=served.publication,
            node=turn.state.node,
            state=turn.state.to_json(),
            now=now,
            live_until=now + dt.timedelta(seconds=first.wait),
            twiml_for=twiml_for,
            events=turn.events,
            again=again,
        )
        if not created:
            return Reply(stored.last_twiml, self._node_of(stored))  # another worker stored it first: as stored
        self._observe(turn.events)
        return Reply(stored.last_twiml, turn.state.node, turn.path, tuple(played), served.menu.id)

    def _event(self, state: CallState, params: Mapping[str, str], query: Mapping[str, str]) -> Event | None:
        """The engine event Twilio's request reports, for what the call awaits; None once it has ended."""
        accepts = ACCEPTS[state.awaiting]
        if Digits in accepts:
            if query.get("timeout") or "Digits" not in params:
                return NoInput()
            return Digits(params["Digits"][:64])
        if TransferDone in accepts:
            status = params.get("DialCallStatus", "failed")
            status = "completed" if status == "answered" else status
            return TransferDone(status if status in DIAL_STATUSES else "failed")
        if RecordingDone in accepts:
            if query.get("empty"):
                return RecordingDone("", 0)
            seconds = _bounded_int(params.get("RecordingDuration", "0"), MAX_CALL_SECONDS) or 0
            return RecordingDone(params.get("RecordingUrl", "")[:500], seconds)
        return None  # the call has ended: repeat its last words

    def _write(self, turn: Turn, next_step: int, played: list[tuple[str, str]]) -> Answer:
        return self.writer.answer(turn.actions, self.step_base, next_step, turn.numbers, played)

    def _node_of(self, stored: StoredCall) -> str:
        try:
            return CallState.from_json(stored.state).node
        except StaleStateError:
            return ""


def sweep_idle_calls(store: CallStore, now: dt.datetime, idle_timeout: float, limit: int = SWEEP_LIMIT) -> list[str]:
    """Abandon the calls of ``store`` idle over ``idle_timeout`` seconds at ``now`` (see :meth:`CallRunner.sweep`).

    The webhook's own periodic sweep and ``ivr db sweep`` both come here, so
    both drop what Twilio's status callback drops.
    """
    cutoff = now - dt.timedelta(seconds=idle_timeout)
    return store.sweep(cutoff, now, forget_stored_secrets, limit)


def scrub_ended_calls(store: CallStore, limit: int = SWEEP_LIMIT) -> int:
    """Drop the secrets and TwiML that calls ended by an older version still hold (``ivr db sweep``)."""
    return store.scrub_ended(forget_stored_secrets, limit)


def _bounded_int(text: str, limit: int) -> int | None:
    """``text`` as a whole number of seconds, clamped to 0..``limit``; None when it is not a number."""
    try:
        value = int(text)
    except ValueError:
        return None
    return max(0, min(value, limit))
