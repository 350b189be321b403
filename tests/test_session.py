"""The call session: a step carried through services and transfers, the same for the webhook and the harness."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from ivr.contracts import ServiceSpec
from ivr.engine import Digits, Engine, Hangup, ServiceDone, Transfer
from ivr.harness import HARNESS_TIME, Call
from ivr.menu.loader import parse_menu
from ivr.services.registry import ServiceContext
from ivr.session import MAX_SERVICE_CALLS, CallSession
from tests.test_engine import BASE, SPECS

CTX = ServiceContext(call_sid="CA-session", caller="+8613800000000", now=HARNESS_TIME)


class Handlers:
    """Service handlers by name, counting how often each ran."""

    def __init__(self, outcomes: Mapping[str, str]) -> None:
        self.outcomes = dict(outcomes)
        self.ran: list[str] = []

    def handler(self, name: str) -> Any:
        if name not in self.outcomes:
            return None

        def run(args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceDone:
            self.ran.append(name)
            return ServiceDone(self.outcomes[name], {"ref": "42", "due": "2026-12-10"})

        return run


def _small() -> Engine:
    return Engine(parse_menu(json.dumps(BASE), services=SPECS))


def _chain(length: int) -> Engine:
    """A menu whose key 4 runs ``length`` services in a row before anything waits."""
    doc: dict[str, Any] = copy.deepcopy(BASE)
    specs = dict(SPECS)
    for i in range(length):
        name = f"t.s{i}"
        specs[name] = ServiceSpec(name, (), ("ok",))
        doc["nodes"][f"s{i}"] = {
            "kind": "service",
            "service": name,
            "outcomes": {"ok": f"s{i + 1}" if i + 1 < length else "bye"},
        }
    doc["nodes"]["top"]["options"]["4"] = "s0"
    return Engine(parse_menu(json.dumps(doc), services=specs))


def test_a_service_outcome_comes_in_order_with_what_the_caller_hears() -> None:
    call = Call(_small(), Handlers({"t.lookup": "found"}))
    call.press("3")
    lines = [(t.who, t.what) for t in call.transcript]
    service = lines.index(("system", "t.lookup -> found"))
    assert lines[service - 1] == ("caller", "presses 3")
    assert lines[service + 1] == ("ivr", "Ref 4 2, due December 10, 2026.")


def test_the_webhook_and_the_harness_see_the_same_step() -> None:
    engine = _small()
    handlers = Handlers({"t.lookup": "found"})
    session = CallSession(engine, handlers, lambda to: "+8610012333" if to == "agent" else None)
    started = session.start(CTX)
    turn = session.send(started.state, Digits("3"), CTX)
    assert handlers.ran == ["t.lookup"]
    assert [e.kind for e in turn.events] == ["Digits", "service", "enter", "enter", "enter"]
    assert turn.path == ("svc", "found", "xfer")
    assert isinstance(turn.actions[-1], Transfer) and turn.numbers == {"agent": "+8610012333"}
    harness = Call(engine, Handlers({"t.lookup": "found"}), dial=lambda to: "+8610012333")
    harness.press("3")
    assert harness.actions[-len(turn.actions) :] == list(turn.actions)


def test_each_transfer_destination_is_dialled_once_a_step() -> None:
    engine = _small()
    asked: list[str] = []

    def dial(to: str) -> str | None:
        asked.append(to)
        return "+8610012333"

    session = CallSession(engine, Handlers({"t.lookup": "found"}), dial)
    session.send(session.start(CTX).state, Digits("3"), CTX)
    assert asked == ["agent"]


def test_a_transfer_with_no_number_fails_at_once_and_is_logged() -> None:
    engine = _small()
    session = CallSession(engine, Handlers({"t.lookup": "found"}), lambda to: None)
    turn = session.send(session.start(CTX).state, Digits("3"), CTX)
    assert ("transfer", "xfer", {"to": "agent", "status": "unconfigured"}) in turn.events
    assert isinstance(turn.actions[-1], Hangup) and turn.state.awaiting == "ended" and turn.numbers == {}


def test_services_in_a_row_run_up_to_the_guard_and_then_the_call_ends() -> None:
    within = _chain(MAX_SERVICE_CALLS)
    handlers = Handlers({f"t.s{i}": "ok" for i in range(MAX_SERVICE_CALLS + 1)})
    call = Call(within, handlers).press("4")
    assert len(handlers.ran) == MAX_SERVICE_CALLS and call.ended and call.actions[-1] == Hangup("menu")

    over = _chain(MAX_SERVICE_CALLS + 1)
    handlers = Handlers({f"t.s{i}": "ok" for i in range(MAX_SERVICE_CALLS + 1)})
    call = Call(over, handlers).press("4")
    assert len(handlers.ran) == MAX_SERVICE_CALLS
    assert call.ended and call.actions[-1] == Hangup("error")  # never a step left waiting for nothing
