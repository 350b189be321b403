"""The crawler: breadth-first over the states of a TwiML app, one call per new input tried.

Calls cannot be forked, so each call replays the keys of a path that reached a
state, tries one new input there, and hangs up once it has heard the state
that input leads to.  What it tries at a ``<Gather>``: every key the prompt
announces, silence, for an entry of several keys the ``--inputs`` values whose
``when`` matches and one wrong value, then the other single keys; at a
``<Record>``: a short recording (``rec:2``) and silence.

Work is taken in tiers, so a small budget goes where it shows the most:
first what the prompts offer at new states, then the ``--inputs`` values
combined (a state already seen, reached with another combination of values,
is tried again: an ID number followed by each password), then the keys no
prompt announces.  Within a tier, shallow paths go first.  An input that
leads a state back to itself is pressed again, up to :data:`RETRY_PROBES`
times, so retry limits are tried before a loop is declared.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.explore.inputs import Inputs
from ivr.explore.states import Wait, fingerprint
from ivr.explore.target import Target
from ivr.phone import events as ev
from ivr.phone.callers import InputKind, ScriptedCaller, parse_answer
from ivr.phone.clock import VirtualClock
from ivr.phone.interpreter import CallResult
from ivr.phone.keys import key_mentions
from ivr.phone.run import simulate
from ivr.phone.speaker import MuteSpeaker

__all__ = ["RETRY_PROBES", "Call", "Exploration", "Explorer", "Limits", "State", "segments"]

RETRY_PROBES = 4
"""How many more times an input that leads a state back to itself is pressed (retry limits are usually 3)."""
SINGLE_KEYS = tuple("123456789*0#")
RECORDING = "rec:2"
SILENCE = "-"

Path = tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    """How far the crawl may go: calls placed, inputs in one call, wall-clock seconds."""

    max_calls: int = 500
    max_depth: int = 12
    max_seconds: float = 60.0


@dataclass
class Segment:
    """What one stretch of a call between two inputs held: the words heard, and the wait or the end it led to."""

    heard: list[str]
    languages: list[str]
    wait: Wait
    node: str | None
    silent_end: bool = False  # the call ended with nothing said since the last input
    dialled: bool = False


@dataclass
class State:
    """A state found: its fingerprint, what was heard there (the first time), and the first path to it."""

    id: str
    heard: tuple[str, ...]
    languages: tuple[str, ...]
    wait: Wait
    path: Path
    node: str | None
    announced: tuple[str, ...] = ()
    tried: set[str] = field(default_factory=set)
    candidates: tuple[str, ...] = ()

    @property
    def ending(self) -> bool:
        """Whether the call ends here."""
        return self.wait.kind == "end"


@dataclass
class Call:
    """One call placed: the answers given, the states passed (in order), the result and request timings."""

    path: Path
    states: list[str]
    result: CallResult
    timings: list[tuple[float, str]]
    segments: list[Segment]


@dataclass
class Exploration:
    """What the crawl found: the states, the transitions seen, the calls, and why it stopped."""

    states: dict[str, State]
    transitions: dict[tuple[str, str], dict[str, Path]]
    calls: list[Call]
    stopped: str
    seconds: float
    agent_reached: bool
    input_values: frozenset[str]

    @property
    def call_count(self) -> int:
        """How many calls were placed."""
        return len(self.calls)


class _Caller(ScriptedCaller):
    """A scripted caller that notes what kind of input the call waited for at each step."""

    def __init__(self, answers: list[str]) -> None:
        super().__init__([parse_answer(a) for a in answers], VirtualClock())
        self.kinds: list[InputKind] = []

    def begin(self, kind: InputKind) -> str | None:
        """Note the wait, then answer as the script says."""
        self.kinds.append(kind)
        return super().begin(kind)


def _ending(result: CallResult, last: Segment, path: Path) -> str:
    if result.reason == "error":
        return "error"
    if result.reason in ("reject", "unsupported"):
        return result.reason
    if last.dialled:
        return "transfer"
    if path and path[-1].startswith("rec:"):
        return "voicemail"
    return "hangup"


def segments(result: CallResult, kinds: list[InputKind], path: Path) -> list[Segment]:
    """The call cut at each input: ``segments[i]`` is where answer ``i`` was given (the last: where it ended)."""
    out: list[Segment] = []
    heard: list[str] = []
    languages: list[str] = []
    gather: ev.GatherEvent | None = None
    node: str | None = None
    dialled = False

    def close() -> Segment:
        i = len(out)
        if i < len(kinds):
            kind = kinds[i]
            if kind == "gather" and gather is not None:
                wait = Wait(
                    "gather",
                    num_digits=gather.numDigits,
                    finish_on_key=gather.finishOnKey,
                    timeout=gather.timeout,
                    action=gather.action,
                )
            else:
                wait = Wait("record")
        else:
            wait = Wait("end")
        return Segment(list(heard), list(languages), wait, node, dialled=dialled)

    for e in result.events:
        if isinstance(e, ev.Request) and (e.node or e.path):
            node = e.node or e.path[-1]
        elif isinstance(e, ev.SayEvent):
            heard.append(e.text)
            languages.append(e.language)
        elif isinstance(e, ev.PlayEvent):
            heard.append(e.text or e.url or f"[digits {e.digits}]")
            languages.append("")
        elif isinstance(e, ev.GatherEvent):
            gather = e
        elif isinstance(e, ev.DialEvent) or (isinstance(e, ev.UnsupportedEvent) and e.verb == "Enqueue"):
            dialled = True
        elif isinstance(e, ev.Input | ev.NoInput | ev.RecordEvent):
            out.append(close())
            heard, languages, gather, dialled = [], [], None, False
    if len(out) < len(kinds):  # the caller hung up at this wait
        out.append(close())
    elif result.reason != "caller_hangup":  # the call ended on its own
        last = close()
        last.silent_end = not heard
        last.wait = Wait("end", ending=_ending(result, last, path[: len(out)]))
        out.append(last)
    return out


class Explorer:
    """Breadth-first crawl of ``target`` within ``limits``; ``on_progress(states, calls)`` after each call."""

    def __init__(
        self,
        target: Target,
        inputs: Inputs | None = None,
        limits: Limits | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.target = target
        self.inputs = inputs or Inputs()
        self.limits = limits or Limits()
        self.on_progress = on_progress
        self.states: dict[str, State] = {}
        self.transitions: dict[tuple[str, str], dict[str, Path]] = {}
        self.calls: list[Call] = []
        self._queue: list[tuple[int, int, int, Path, str]] = []
        self._seq = itertools.count()
        self._contexts: set[tuple[str, Path | None, str]] = set()
        self._input_values = frozenset(v for entry in self.inputs.inputs for v in entry.keys)
        self._entry: dict[str, int] = {}
        for n, entry in enumerate(self.inputs.inputs):
            for v in entry.keys:
                self._entry.setdefault(v, n)
        self._agent = False
        self._called: set[Path] = set()

    # -- one call -------------------------------------------------------------------

    def call(self, path: Path) -> Call:
        """Place one call answering ``path``, then hanging up at the next input."""
        self._called.add(path)
        caller = _Caller(list(path))
        client = self.target.client()
        try:
            result = simulate(
                self.target.start_url,
                caller=caller,
                speaker=MuteSpeaker(),
                client=client,
                method=self.target.method,
                auth_token=self.target.auth_token,
            )
        finally:
            client.close()
        segs = segments(result, caller.kinds, path)
        ids = [fingerprint(s.heard, s.wait) for s in segs]
        call = Call(path, ids, result, client.timings, segs)
        self.calls.append(call)
        self._agent = self._agent or any(s.dialled for s in segs)
        return call

    # -- the crawl ------------------------------------------------------------------------

    def _context(self, path: Path) -> Path | None:
        """The ``--inputs`` values on ``path``, or None when two come from one entry (a wrong value, then another).

        Only one value from each entry is combined with the others: the product of every
        retry would never end.
        """
        values = sorted({a for a in path if a in self._input_values})
        entries = [self._entry[v] for v in values]
        return tuple(values) if len(entries) == len(set(entries)) else None

    def _offered(self, state_id: str, answer: str) -> bool:
        """Whether ``answer`` at the state is what the prompt offers or an ``--inputs`` value (not a mistake)."""
        state = self.states.get(state_id)
        return answer in self._input_values or (state is not None and answer in state.announced)

    def _candidates(self, state: State) -> list[tuple[int, str]]:
        """What to try at ``state``, each with its tier (0: offered, 2: not announced)."""
        wait = state.wait
        if wait.kind == "record":
            return [(0, RECORDING), (0, SILENCE)]
        out: list[tuple[int, str]] = [(0, k) for k in state.announced]
        out.append((0, SILENCE))
        if wait.multi_digit:
            out += [(0, v) for v in self.inputs.values_for(state.heard)]
            out.append((0, _wrong_value(wait)))
        out += [(2, k) for k in SINGLE_KEYS if k not in state.announced]
        first: dict[str, int] = {}
        for tier, answer in out:
            first.setdefault(answer, tier)
        return [(tier, answer) for answer, tier in first.items()]

    def _push(self, tier: int, path: Path, answer: str) -> None:
        if (*path, answer) in self._called:
            return
        heapq.heappush(self._queue, (tier, len(path), next(self._seq), path, answer))

    def _found(self, call: Call) -> None:
        """Take in what one call showed: new states, transitions, and the work they open."""
        for i, (sid, seg) in enumerate(zip(call.states, call.segments, strict=True)):
            path = call.path[:i]
            if sid not in self.states:
                announced = tuple(dict.fromkeys(m.key for h in seg.heard for m in key_mentions(h)))
                state = State(sid, tuple(seg.heard), tuple(seg.languages), seg.wait, path, seg.node, announced)
                self.states[sid] = state
                state.candidates = tuple(a for _, a in self._candidates(state))
                if not state.ending and len(path) < self.limits.max_depth:
                    came = call.states[i - 1] if path and path[-1] in self._input_values else ""
                    self._contexts.add((sid, self._context(path), came))
                    for tier, answer in self._candidates(state):
                        self._push(tier, path, answer)
            elif not self.states[sid].ending and len(path) < self.limits.max_depth:
                values = self._context(path)
                # The same words can be heard in two flows (a read-back to confirm, in activation and in a
                # status check): reached by a value from another state, or with other values, it is tried on.
                context = (sid, values, call.states[i - 1] if path and path[-1] in self._input_values else "")
                offered = bool(path) and self._offered(call.states[i - 1], path[-1])
                if values is not None and offered and context not in self._contexts:
                    self._contexts.add(context)
                    # What the prompt offers, and the --inputs values; silence and wrong values were
                    # tried at this state already, and their retries lead where they led then.
                    for tier, answer in self._candidates(self.states[sid]):
                        if tier == 0 and answer != SILENCE and answer != _wrong_value(self.states[sid].wait):
                            self._push(1, path, answer)
            if i > 0:
                source, answer = call.states[i - 1], call.path[i - 1]
                self.transitions.setdefault((source, answer), {}).setdefault(sid, call.path[:i])
                self.states[source].tried.add(answer)
                repeats = _trailing(path, answer)
                if sid == source and repeats <= RETRY_PROBES and len(path) < self.limits.max_depth:
                    self._push(0, path, answer)  # the same input again: does a retry limit end the loop?

    def run(self) -> Exploration:
        """Crawl until every state's inputs are tried or a limit is reached."""
        start = time.monotonic()
        stopped = "done"
        self._found(self.call(()))
        self._progress()
        while self._queue:
            if len(self.calls) >= self.limits.max_calls:
                stopped = f"--max-calls {self.limits.max_calls} reached"
                break
            if time.monotonic() - start >= self.limits.max_seconds:
                stopped = f"--max-seconds {self.limits.max_seconds:g} reached"
                break
            _, _, _, path, answer = heapq.heappop(self._queue)
            if (*path, answer) in self._called:
                continue  # pushed twice before it was called
            self._found(self.call((*path, answer)))
            self._progress()
        return Exploration(
            self.states,
            self.transitions,
            self.calls,
            stopped,
            time.monotonic() - start,
            self._agent,
            self._input_values,
        )

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(len(self.states), len(self.calls))


def _trailing(path: Path, answer: str) -> int:
    """How many times ``answer`` ends ``path`` in a row."""
    n = 0
    for a in reversed(path):
        if a != answer:
            break
        n += 1
    return n


def _wrong_value(wait: Wait) -> str:
    """An entry no app accepts as valid: a single 1 (then the finish key, if the Gather has one)."""
    if wait.finish_on_key:
        return "1" + wait.finish_on_key
    return "1" * max(2, wait.num_digits or 2)
