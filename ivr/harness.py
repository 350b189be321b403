"""Drive a call through the engine in memory, for tests and the demo: the call session's in-memory variant.

Like h11's pair of connections over an in-memory pipe: no network, no speech,
no clock, no store.  The steps go through :class:`ivr.session.CallSession`, as
the webhook's do, so services run, fail and are logged alike.  ::

    call = Call(menu)
    call.press("4")
    assert "electronic" in call.last_heard

Services come from ``services``: either a registry with handlers bound (they
get ``context``), or stubs by name, each an outcome name, a
:class:`ivr.engine.ServiceDone`, or a function of the arguments returning one
of those.  A service with no entry fails, as a service whose back end is down
would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ivr.engine import (
    ACCEPTS,
    Action,
    CallState,
    Digits,
    Engine,
    Event,
    Gather,
    Hangup,
    HungUp,
    NoInput,
    Play,
    Record,
    RecordingDone,
    Say,
    ServiceDone,
    Transfer,
    TransferDone,
)
from ivr.menu.model import Menu
from ivr.services.registry import Handler, ServiceContext
from ivr.session import CallSession, Dialer, HandlerSource, StepEvent, Turn

__all__ = ["HARNESS_TIME", "Call", "ServiceStub", "TranscriptLine"]

ServiceStub = str | ServiceDone | Callable[[Mapping[str, str | None]], ServiceDone | str]

HARNESS_TIME = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
"""The time handlers see when no ``context`` is given: the harness has no clock."""


@dataclass(frozen=True)
class TranscriptLine:
    """One line of a call's transcript: who did what."""

    who: str  # "ivr", "caller" or "system"
    what: str


class _Stubs:
    """Service stubs by name, as a handler source."""

    def __init__(self, stubs: Mapping[str, ServiceStub]) -> None:
        self.stubs = dict(stubs)

    def handler(self, name: str) -> Handler | None:
        if name not in self.stubs:
            return None
        stub = self.stubs[name]

        def run(args: Mapping[str, str | None], _: ServiceContext) -> ServiceDone:
            result = stub(args) if callable(stub) else stub
            return ServiceDone(result) if isinstance(result, str) else result

        return run


def _every_number(to: str) -> str:
    return to


class Call:
    """One call through ``menu``, driven by method calls.

    ``context`` is what handlers see of the call (its CallSid, caller and
    time); left out, it is made from ``caller`` at :data:`HARNESS_TIME`.
    ``dial`` resolves transfer destinations; by default every one is reachable.
    """

    def __init__(
        self,
        menu: Menu | Engine,
        services: Mapping[str, ServiceStub] | HandlerSource | None = None,
        *,
        caller: str = "+8613800000000",
        language: str | None = None,
        context: ServiceContext | None = None,
        dial: Dialer = _every_number,
    ) -> None:
        engine = menu if isinstance(menu, Engine) else Engine(menu)
        source: HandlerSource = services if isinstance(services, HandlerSource) else _Stubs(services or {})
        self.session = CallSession(engine, source, dial)
        self.context = context or ServiceContext(call_sid="CA-harness", caller=caller, now=HARNESS_TIME)
        self.transcript: list[TranscriptLine] = []
        self.actions: list[Action] = []
        self._since_input: list[str] = []
        turn = self.session.start(self.context, language=language)
        self.state: CallState = turn.state
        self._take(turn)

    # -- what the caller does -------------------------------------------------

    def press(self, keys: str) -> Call:
        """Key ``keys`` at the current prompt (one entry: a menu choice or a whole number)."""
        self._need(Digits)
        shown = "*" * len(keys) if self._masked() else keys
        self._log("caller", f"presses {shown or '(nothing)'}")
        return self._send(Digits(keys))

    def silence(self) -> Call:
        """Let the prompt time out."""
        self._need(NoInput)
        self._log("caller", "(silence)")
        return self._send(NoInput())

    def record(self, seconds: int, url: str = "memory://recording") -> Call:
        """Leave a recording of ``seconds``."""
        self._need(RecordingDone)
        self._log("caller", f"records {seconds} s")
        return self._send(RecordingDone(url if seconds else "", seconds))

    def transfer_ends(self, status: str) -> Call:
        """The transfer to the agent ends with ``status`` (completed, busy, no-answer, failed)."""
        self._need(TransferDone)
        self._log("system", f"transfer {status}")
        return self._send(TransferDone(status))

    def hang_up(self) -> Call:
        """The caller hangs up."""
        self._log("caller", "hangs up")
        return self._send(HungUp())

    # -- what the caller heard ----------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine the call runs on."""
        return self.session.engine

    @property
    def heard(self) -> str:
        """Everything the caller has heard so far, one prompt a line."""
        return "\n".join(t.what for t in self.transcript if t.who == "ivr")

    @property
    def last_heard(self) -> str:
        """What the caller heard after their last action."""
        return "\n".join(self._since_input)

    @property
    def node(self) -> str:
        """The node the call is at."""
        return self.state.node

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return self.state.awaiting == "ended"

    @property
    def gather(self) -> Gather | None:
        """The entry the call is waiting for, if it waits for keys."""
        last = self.actions[-1] if self.actions else None
        return last if isinstance(last, Gather) and Digits in ACCEPTS[self.state.awaiting] else None

    # -- plumbing -----------------------------------------------------------------

    def _need(self, kind: type[Event]) -> None:
        if kind not in ACCEPTS[self.state.awaiting]:
            raise AssertionError(f"the call awaits {self.state.awaiting} at {self.state.node!r}, not {kind.__name__}")

    def _masked(self) -> bool:
        g = self.gather
        return bool(g and g.masked)

    def _send(self, event: Event) -> Call:
        self._since_input = []
        turn = self.session.send(self.state, event, self.context)
        self.state = turn.state
        self._take(turn)
        return self

    def _take(self, turn: Turn) -> None:
        for item in turn.timeline:
            if isinstance(item, StepEvent):
                what = item.detail.get("outcome") or item.detail.get("status")
                self._log("system", f"{item.detail.get('service') or item.detail.get('to')} -> {what}")
            else:
                self.actions.append(item)
                self._show(item)

    def _show(self, action: Action) -> None:
        if isinstance(action, (Say, Play)):
            self._heard(action)
        elif isinstance(action, Gather):
            for say in action.prompts:
                self._heard(say)
        elif isinstance(action, Transfer):
            self._log("system", f"transfer to {action.to}")
        elif isinstance(action, Record):
            self._log("system", f"recording (up to {action.max_seconds} s)")
        elif isinstance(action, Hangup):
            self._log("system", f"hangup ({action.reason})")

    def _log(self, who: str, what: str) -> None:
        self.transcript.append(TranscriptLine(who, what))

    def _heard(self, say: Say | Play) -> None:
        if isinstance(say, Play):
            self._log("system", f"play {say.url or 'tones ' + say.digits}")
            return
        self._log("ivr", say.text)
        self._since_input.append(say.text)
