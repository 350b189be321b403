"""The crawler: breadth-first over the states of a TwiML app, one call per new input tried.

Calls cannot be forked, so each call replays the keys of a path that reached a
state, tries one new input there, and hangs up once it has heard the state
that input leads to.  What it tries at a ``<Gather>``: every key the prompt
announces, silence, for an entry of several keys the ``--inputs`` values whose
``when`` matches and one wrong value, then the other single keys; at a
``<Record>``: a short recording (``rec:2``) and silence.

Work is taken in tiers, so a small budget goes where it shows the most:

0. what the prompts offer (announced keys, ``--inputs`` values) at states a
   caller reaches by doing what was offered, and two unannounced keys where
   an announced one was answered with a reprompt (a dead key?);
1. the ``--inputs`` values combined: a state first found after some values
   and reached again with another combination is tried again (an ID number
   followed by each password).  Values at the same position of their
   entries go together first (list a cardholder's ID number and password at
   the same position), then every other combination;
2. mistakes: silence, a wrong value, a lone key at an entry of several keys,
   the same input again at a state it led back to (pressed up to
   :data:`RETRY_PROBES` times, so retry limits are tried before a loop is
   declared), and everything at the states mistakes lead to, or that ask
   again what was just asked (the last prompt ends as before and the wait is the same: a
   password refused, "3 tries left"), since a reprompt offers what the
   prompt before it offered;
3. the single keys no prompt announces.

A state found by work of one tier has its own work done in that tier or a
later one.  Within a tier, shallow paths go first.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.explore.inputs import Inputs
from ivr.explore.states import Wait, fingerprint, normalise_text
from ivr.explore.target import Target
from ivr.phone import events as ev
from ivr.phone.callers import InputKind, ScriptedCaller, parse_answer
from ivr.phone.clock import VirtualClock
from ivr.phone.interpreter import CallResult
from ivr.phone.keys import key_mentions
from ivr.phone.run import simulate
from ivr.phone.speaker import MuteSpeaker

__all__ = ["RETRY_PROBES", "Call", "Exploration", "Explorer", "Limits", "State", "segments"]

FOLLOWED = 8
"""How many endings of the first way into an entry are keyed again through each other way."""
RETRY_PROBES = 4
"""How many more times an input that leads a state back to itself is pressed (retry limits are usually 3)."""
SINGLE_KEYS = tuple("123456789*0#")
RECORDING = "rec:2"
OFFERED, COMBINED, MISTAKE, UNANNOUNCED = 0, 1, 2, 3
"""The tiers of work, taken in this order (see the module's docstring)."""
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
    tier: int = OFFERED
    asks_again: bool = False  # it asks what the state before it asked (a reprompt)

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
    no_agent_hint: str = ""
    apart: dict[tuple[str, str], int] = field(default_factory=dict)
    """Inputs that led one state to several next states on calls that keyed the same ``--inputs`` values."""

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
        self._outcomes: dict[tuple[str, str, frozenset[str]], set[str]] = {}
        self._ways: dict[str, dict[Path, int]] = {}  # entries reached by several choices: each way, endings followed
        self._ways_by_choice: set[tuple[str, str]] = set()
        self._probed: set[str] = set()
        self.calls: list[Call] = []
        self._queue: list[tuple[int, int, int, int, int, Path, str]] = []
        self._turns: dict[tuple[int, str], int] = {}
        self._turn_of: dict[Path, int] = {}
        self._seq = itertools.count()
        self._contexts: set[tuple[str, Path | None, str]] = set()
        self._input_values = frozenset(v for entry in self.inputs.inputs for v in entry.keys)
        self._entry: dict[str, int] = {}
        self._position: dict[str, int] = {}  # only for values of entries that list several
        for n, entry in enumerate(self.inputs.inputs):
            for i, v in enumerate(entry.keys):
                self._entry.setdefault(v, n)
                if len(entry.keys) > 1:
                    self._position.setdefault(v, i)
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
        ids = [fingerprint(s.heard, s.wait, s.node) for s in segs]
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
        """What to try at ``state``, each with its tier (never earlier than the tier that found the state)."""
        wait = state.wait
        out: list[tuple[int, str]]
        if wait.kind == "record":
            out = [(OFFERED, RECORDING), (OFFERED, SILENCE)]  # a caller who says nothing is common here
        elif wait.multi_digit:
            # "End with #", "key * for X" name keys of the entry, not choices: a lone # is a mistake.
            out = [(OFFERED, v) for v in self.inputs.values_for(state.heard)]
            out += [(MISTAKE, _wrong_value(wait)), (MISTAKE, SILENCE)]
            out += [(MISTAKE, k) for k in state.announced]
        else:
            out = [(OFFERED, k) for k in state.announced]
            out.append((MISTAKE, SILENCE))
        out += [(UNANNOUNCED, k) for k in SINGLE_KEYS if k not in state.announced]
        first: dict[str, int] = {}
        for tier, answer in out:
            first.setdefault(answer, max(tier, state.tier))
        return [(tier, answer) for answer, tier in first.items()]

    def _push(self, tier: int, state: str, path: Path, answer: str) -> None:
        """Queue ``answer`` at ``state`` (reached by ``path``) as work of ``tier``."""
        if (*path, answer) in self._called:
            return
        positions = {self._position[a] for a in (*path, answer) if a in self._position}
        mixed = max(0, len(positions) - 1)  # 0: the values keyed go together (one cardholder's)
        depth = len(path)
        if tier == COMBINED:
            # A combination is followed to its end before the next is begun, and the states where
            # values are keyed take turns beginning one: every flow gets its first combinations early.
            turn = self._turn_of.get(path)
            if turn is None or answer in self._position:
                turn = self._turns[mixed, state] = self._turns.get((mixed, state), -1) + 1
            self._turn_of[(*path, answer)] = turn
            depth = -depth
        else:
            turn = 0
        heapq.heappush(self._queue, (tier, mixed, turn, depth, next(self._seq), path, answer))

    def _found(self, call: Call, tier: int = OFFERED) -> None:
        """Take in what one call showed (placed as work of ``tier``): new states, transitions, the work they open."""
        for i, (sid, seg) in enumerate(zip(call.states, call.segments, strict=True)):
            path = call.path[:i]
            if sid not in self.states:
                announced = tuple(dict.fromkeys(m.key for h in seg.heard for m in key_mentions(h)))
                asked_again = i > 0 and _asks_again(call.segments[i - 1], seg)
                state = State(
                    sid, tuple(seg.heard), tuple(seg.languages), seg.wait, path, seg.node, announced,
                    tier=max(tier, MISTAKE) if asked_again else tier, asks_again=asked_again,
                )  # fmt: skip
                self.states[sid] = state
                state.candidates = tuple(a for _, a in self._candidates(state))
                if not state.ending and len(path) < self.limits.max_depth:
                    came = call.states[i - 1] if path and path[-1] in self._input_values else ""
                    self._contexts.add((sid, self._context(path), came))
                    for first, answer in self._candidates(state):
                        self._push(first, sid, path, answer)
            elif not self.states[sid].ending and len(path) < self.limits.max_depth:
                values = self._context(path)
                # The same words can be heard in two flows (a read-back to confirm, in activation and in a
                # status check): reached by a value from another state, or with other values, it is tried on.
                context = (sid, values, call.states[i - 1] if path and path[-1] in self._input_values else "")
                offered = bool(path) and self._offered(call.states[i - 1], path[-1])
                known = self.states[sid]
                # Only a state first found after some values is worth trying with others: the main menu
                # reached again after a transaction does not depend on what was keyed before.
                in_flow = bool(self._context(known.path))
                if values is not None and offered and in_flow and context not in self._contexts:
                    self._contexts.add(context)
                    # What the prompt offers, and the --inputs values; silence and wrong values were
                    # tried at this state already, and their retries lead where they led then.
                    for first, answer in self._candidates(known):
                        if first == max(OFFERED, known.tier):
                            self._push(max(COMBINED, known.tier), sid, path, answer)
                elif known.wait.multi_digit and offered and values == () and path != known.path:
                    self._another_way(sid, call.states[i - 1], path)
            if i > 0:
                source, answer = call.states[i - 1], call.path[i - 1]
                self.transitions.setdefault((source, answer), {}).setdefault(sid, call.path[:i])
                # Values keyed earlier explain a difference (one ID number, then another); the same
                # values and another outcome show state the caller cannot see.
                keyed = frozenset(a for a in path if a in self._input_values)
                self._outcomes.setdefault((source, answer, keyed), set()).add(sid)
                self.states[source].tried.add(answer)
                if sid != source and self.states[sid].asks_again:
                    self._probe_invalid(source, call.path[: i - 1], answer)
                repeats = _trailing(path, answer)
                if sid == source and repeats <= RETRY_PROBES and len(path) < self.limits.max_depth:
                    # The same input again: does a retry limit end the loop?
                    self._push(max(MISTAKE, self.states[sid].tier), sid, path, answer)

    def _probe_invalid(self, source: str, path: Path, answer: str) -> None:
        """An announced key was answered with a reprompt: try two keys no prompt names, to compare.

        Unannounced keys come last otherwise; without them a key announced but
        not handled (it does what an invalid key does) could not be told from
        a key that asks again on purpose.
        """
        state = self.states[source]
        if answer not in state.announced or state.wait.multi_digit or source in self._probed:
            return
        self._probed.add(source)
        for key in [k for k in SINGLE_KEYS if k not in state.announced][:2]:
            self._push(max(OFFERED, state.tier), source, path, key)

    def _another_way(self, sid: str, before: str, path: Path) -> None:
        """``path`` reaches the entry ``sid`` from another choice: it will be followed as the first way was.

        Without a node name from the app, one question asked in two flows (an
        account number, to activate or to report a loss) is one state; what is
        keyed after it may lead apart.  The endings reached through the first
        way are keyed again through this one, so that a difference shows (as
        nondeterminism) instead of half the app going unseen.
        """
        ways = self._ways.setdefault(sid, {self.states[sid].path: 0})
        if path in ways or (before, path[-1]) in self._ways_by_choice:
            return
        self._ways_by_choice.add((before, path[-1]))
        ways[path] = 0
        for call in self.calls:
            self._follow(call)

    def _follow(self, call: Call) -> None:
        """Key the rest of an ended ``call`` through every other way into the entries it passed."""
        if call.segments[-1].wait.kind != "end" or len(call.states) != len(call.path) + 1:
            return
        for j, sid in enumerate(call.states[:-1]):
            ways = self._ways.get(sid)
            if not ways or call.path[:j] not in ways:
                continue
            rest = call.path[j:]
            for way, used in ways.items():
                if way != call.path[:j] and used < FOLLOWED and len(way) + len(rest) <= self.limits.max_depth:
                    ways[way] = used + 1
                    self._push(max(COMBINED, self.states[sid].tier), sid, (*way, *rest[:-1]), rest[-1])

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
            tier, _, _, _, _, path, answer = heapq.heappop(self._queue)
            if (*path, answer) in self._called:
                continue  # pushed twice before it was called
            call = self.call((*path, answer))
            self._found(call, tier)
            self._follow(call)
            self._progress()
        return Exploration(
            self.states,
            self.transitions,
            self.calls,
            stopped,
            time.monotonic() - start,
            self._agent,
            self._input_values,
            self.target.no_agent_hint,
            self._apart(),
        )

    def _apart(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for (source, answer, _), nexts in self._outcomes.items():
            if len(nexts) > 1:
                out[source, answer] = max(out.get((source, answer), 0), len(nexts))
        return out

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(len(self.states), len(self.calls))


def _asks_again(before: Segment, after: Segment) -> bool:
    """Whether ``after`` asks what ``before`` asked: its last prompt ends as before's did, with the same wait."""
    if not before.heard or not after.heard or after.wait.kind == "end":
        return False
    same_wait = fingerprint((), before.wait, before.node) == fingerprint((), after.wait, after.node)
    return same_wait and normalise_text(after.heard[-1]).endswith(normalise_text(before.heard[-1]))


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
