"""Property tests: whatever a caller (or a forged request) sends, the engine stays defined."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.engine import (
    CallStarted,
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
    ServiceDone,
    ServiceFailed,
    Transfer,
    TransferDone,
)
from ivr.engine.state import CallState
from ivr.services.registry import SPECS

OUTCOMES = {s.name: s.outcomes for s in SPECS}

keys = st.one_of(
    st.sampled_from(list("0123456789*#")),
    st.text(alphabet="0123456789*#", max_size=25),
    st.just("110101199003074258"),
    st.just("11010519491231002*"),
    st.text(max_size=40),
)
caller_move = st.one_of(keys.map(Digits), st.just(NoInput()), st.just(HungUp()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(caller_move, max_size=40), data=st.data())
def test_any_key_sequence_keeps_the_call_defined(engine: Engine, moves: list[Event], data: st.DataObject) -> None:
    step = engine.start(CallStarted(caller="+8613800000000"))
    for move in moves:
        state = step.state
        assert state.node in engine.menu.nodes
        last = step.actions[-1] if step.actions else None
        if state.awaiting == "ended":
            assert last is None or isinstance(last, Hangup)
            break
        # Answer whatever the call waits for; the caller's move only where keys are wanted.
        event: Event
        if state.awaiting == "service":
            assert isinstance(last, Invoke)
            outcomes = OUTCOMES[last.service]
            event = data.draw(st.one_of(st.sampled_from(outcomes).map(ServiceDone), st.just(ServiceFailed("down"))))
        elif state.awaiting == "transfer":
            assert isinstance(last, Transfer)
            event = TransferDone(data.draw(st.sampled_from(["completed", "busy", "no-answer", "failed", "canceled"])))
        elif state.awaiting == "recording":
            assert isinstance(last, Record)
            event = RecordingDone("memory://r", data.draw(st.integers(0, 120)))
        else:
            assert isinstance(last, Gather)
            event = move
        step = engine.send(CallState.from_json(state.to_json()), event)
        if not isinstance(event, HungUp):
            assert step.actions, "every step but a hangup tells the adapter what to do next"
            assert isinstance(step.actions[-1], (Gather, Invoke, Transfer, Record, Hangup))
        assert step.state.awaiting in ("digits", "confirm", "service", "transfer", "recording", "ended")
        assert step.state.no_input < 3 and step.state.invalid < 3
