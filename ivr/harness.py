"""Drive a call through the engine in memory, for tests and the demo.

Like h11's pair of connections over an in-memory pipe: no network, no speech,
no clock.  ::

    call = Call(menu)
    call.press("4")
    assert "electronic" in call.last_heard

Services run from ``services``: a name mapped to an outcome, a
:class:`~ivr.engine.ServiceDone`, or a function of the arguments.  A service with no
entry fails, as a service whose back end is down would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ivr.engine import (
    Action,
    CallStarted,
    CallState,
    Digits,
    Engine,
    Event,
    Gather,
    Hangup,
    HungUp,
    Invoke,
    NoInput,
    Record,
    RecordingDone,
    Say,
    ServiceDone,
    ServiceFailed,
    Transfer,
    TransferDone,
)
from ivr.errors import ServiceUnavailable
from ivr.menu.model import Menu

__all__ = ["Call", "ServiceStub", "Turn"]

ServiceStub = str | ServiceDone | Callable[[Mapping[str, str | None]], ServiceDone | str]


@dataclass(frozen=True)
class Turn:
    """One line of a call's transcript: who did what."""

    who: str  # "ivr", "caller" or "system"
    what: str


class Call:
    """One call through ``menu``, driven by method calls."""

    def __init__(
        self,
        menu: Menu | Engine,
        services: Mapping[str, ServiceStub] | None = None,
        *,
        caller: str = "+8613800000000",
        language: str | None = None,
    ) -> None:
        self.engine = menu if isinstance(menu, Engine) else Engine(menu)
        self.services = dict(services or {})
        self.transcript: list[Turn] = []
        self.actions: list[Action] = []
        self._since_input: list[str] = []
        step = self.engine.start(CallStarted(caller=caller, language=language))
        self.state: CallState = step.state
        self._take(step.actions)

    # -- what the caller does -------------------------------------------------

    def press(self, keys: str) -> Call:
        """Key ``keys`` at the current prompt (one entry: a menu choice or a whole number)."""
        self._need("digits", "confirm")
        shown = "*" * len(keys) if self._masked() else keys
        self.transcript.append(Turn("caller", f"presses {shown or '(nothing)'}"))
        return self._send(Digits(keys))

    def silence(self) -> Call:
        """Let the prompt time out."""
        self._need("digits", "confirm")
        self.transcript.append(Turn("caller", "(silence)"))
        return self._send(NoInput())

    def record(self, seconds: int, url: str = "memory://recording") -> Call:
        """Leave a recording of ``seconds``."""
        self._need("recording")
        self.transcript.append(Turn("caller", f"records {seconds} s"))
        return self._send(RecordingDone(url if seconds else "", seconds))

    def transfer_ends(self, status: str) -> Call:
        """The transfer to the agent ends with ``status`` (completed, busy, no-answer, failed)."""
        self._need("transfer")
        self.transcript.append(Turn("system", f"transfer {status}"))
        return self._send(TransferDone(status))

    def hang_up(self) -> Call:
        """The caller hangs up."""
        self.transcript.append(Turn("caller", "hangs up"))
        return self._send(HungUp())

    # -- what the caller heard ----------------------------------------------

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
        return last if isinstance(last, Gather) and self.state.awaiting in ("digits", "confirm") else None

    # -- plumbing -----------------------------------------------------------------

    def _need(self, *awaiting: str) -> None:
        if self.state.awaiting not in awaiting:
            raise AssertionError(
                f"the call awaits {self.state.awaiting} at {self.state.node!r}, not {' or '.join(awaiting)}"
            )

    def _masked(self) -> bool:
        g = self.gather
        return bool(g and g.masked)

    def _send(self, event: Event) -> Call:
        self._since_input = []
        step = self.engine.send(self.state, event)
        self.state = step.state
        self._take(step.actions)
        return self

    def _take(self, actions: tuple[Action, ...]) -> None:
        # Services run at once, as an adapter would run them in the same request.
        while True:
            for action in actions:
                self.actions.append(action)
                self._log(action)
            last = actions[-1] if actions else None
            if not isinstance(last, Invoke):
                return
            step = self.engine.send(self.state, self._run(last))
            self.state = step.state
            actions = step.actions

    def _run(self, invoke: Invoke) -> ServiceDone | ServiceFailed:
        stub = self.services.get(invoke.service)
        try:
            result = stub(invoke.args) if callable(stub) else stub
        except ServiceUnavailable as exc:
            result = None
            self.transcript.append(Turn("system", f"{invoke.service} failed: {exc}"))
        if isinstance(result, str):
            result = ServiceDone(result)
        if result is None:
            return ServiceFailed("no service")
        self.transcript.append(Turn("system", f"{invoke.service} -> {result.outcome}"))
        return ServiceDone(result.outcome, dict(result.data))

    def _log(self, action: Action) -> None:
        if isinstance(action, Say):
            self._heard(action)
        elif isinstance(action, Gather):
            for say in action.prompts:
                self._heard(say)
        elif isinstance(action, Transfer):
            self.transcript.append(Turn("system", f"transfer to {action.to}"))
        elif isinstance(action, Record):
            self.transcript.append(Turn("system", f"recording (up to {action.max_seconds} s)"))
        elif isinstance(action, Hangup):
            self.transcript.append(Turn("system", f"hangup ({action.reason})"))

    def _heard(self, say: Say) -> None:
        self.transcript.append(Turn("ivr", say.text))
        self._since_input.append(say.text)
