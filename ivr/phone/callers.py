"""Callers: who presses the keys.  Scripted (a list of answers) or a person (at a terminal, in a browser).

The interpreter asks its caller for keys with a deadline on the call's clock;
the caller answers with a key at the time it is pressed, or ``None`` when the
deadline passes.  Time moves only through the caller and the clock, so the
same interpreter serves a scripted call on a virtual clock and a live one on
the real clock.

A scripted answer is one of:

* a DTMF string: ``1``, ``110101199003074258#`` (a trailing finish key is just a key);
* ``^`` before it (``^1``): the caller does not wait for the prompt to end (barge-in);
* ``-``: no input, let it time out;
* ``rec:SECONDS`` (``rec:12``, ``rec:12#``): speak for that long at a ``<Record>``,
  then stop by silence or with the key given.

A person on the line is a :class:`LiveCaller`: keys act at once, timeouts are
real.  Where the keys come from is its subclasses' business (a terminal in
:mod:`ivr.phone.interactive`, HTTP requests in the admin's browser phone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from ivr.phone import events as ev
from ivr.phone.clock import Clock

__all__ = [
    "DTMF",
    "SKIP",
    "Answer",
    "Caller",
    "CallerHungUp",
    "Keys",
    "LiveCaller",
    "RecordAnswer",
    "ScriptedCaller",
    "Silence",
    "parse_answer",
    "parse_answers",
]

REACTION = 0.5
"""A scripted caller starts keying this long after the prompts end."""
KEY_INTERVAL = 0.2
"""Between two keys: a 100 ms tone and a 100 ms gap."""

InputKind = Literal["gather", "record"]
DTMF = frozenset("0123456789*#")
"""The keys of a phone."""
SKIP = "\n"
"""What a live caller's :meth:`LiveCaller._next_key` returns for "skip the rest of this prompt" (Enter)."""


class CallerHungUp(Exception):
    """The caller hung up (no answers left, or the person pressed q)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """Press ``keys``; ``barge_in``: without waiting for the prompts to end."""

    keys: str
    barge_in: bool = False


@dataclass(frozen=True, slots=True)
class Silence:
    """Press nothing."""


@dataclass(frozen=True, slots=True)
class RecordAnswer:
    """Speak for ``seconds`` at a ``<Record>``, then press ``key`` (or fall silent)."""

    seconds: int
    key: str = ""


Answer = Keys | Silence | RecordAnswer
_KEYS = re.compile(r"^(\^?)([0-9*#]+)$")
_REC = re.compile(r"^rec:(\d{1,5})([0-9*#]?)$")


def parse_answer(text: str) -> Answer:
    """One scripted answer; ``ValueError`` with a readable message if it is not one."""
    if text == "-":
        return Silence()
    if m := _KEYS.match(text):
        return Keys(m.group(2), barge_in=bool(m.group(1)))
    if m := _REC.match(text):
        return RecordAnswer(int(m.group(1)), m.group(2))
    raise ValueError(f"{text!r} is not an answer: use keys (0-9 * #, ^ to barge in), - for silence, or rec:SECONDS")


def parse_answers(text: str | Iterable[str]) -> list[Answer]:
    """Whitespace-separated answers (or a list of them)."""
    items = text.split() if isinstance(text, str) else list(text)
    return [parse_answer(str(item)) for item in items]


class Caller(Protocol):
    """The person (or script) on the line."""

    clock: Clock

    def begin(self, kind: InputKind) -> str | None:
        """The call starts waiting for input (any method may raise :class:`CallerHungUp` to hang up).

        Returns a note for the timeline, if the caller has something to say about it.
        """
        ...

    def prompts_over(self) -> None:
        """The prompts of the current Gather have finished."""
        ...

    def wait_key(self, until: float, *, prompt: bool = False) -> str | None:
        """The next key, pressed no later than ``until`` (the clock is then at the press), or None at ``until``.

        ``prompt``: a prompt plays until ``until``, and the caller may skip the rest of it.
        """
        ...

    def idle(self, until: float, *, prompt: bool = False) -> None:
        """Time passes until ``until`` while nothing listens for keys (``prompt``: a prompt plays meanwhile)."""
        ...

    def take_events(self) -> list[ev.Event]:
        """What the caller did that the timeline should show (keys ignored, prompts skipped), each at its time."""
        ...

    def record(self, max_length: int, finish_keys: str, timeout: int) -> tuple[float, str]:
        """Speak at a ``<Record>``: seconds of speech and the key that ended it ("" for silence)."""
        ...

    def end_input(self) -> str:
        """The input is over; return the keys the caller meant to press but did not get to."""
        ...


class ScriptedCaller:
    """Answers from a script, on a (usually virtual) clock.  No answers left: hangs up."""

    def __init__(self, answers: Iterable[Answer], clock: Clock) -> None:
        self.clock = clock
        self.answers = list(answers)
        self.used = 0
        self._current: Answer | None = None
        self._pending: list[str] = []
        self._ready_at = float("inf")
        self._out = False

    def begin(self, kind: InputKind) -> str | None:
        """Take the next answer; with none left, listen to the prompts, then hang up."""
        self._out = self.used >= len(self.answers)
        if self._out:
            self._pending = []
            return None
        answer = self.answers[self.used]
        self.used += 1
        self._current = answer
        self._pending = list(answer.keys) if isinstance(answer, Keys) else []
        barge = isinstance(answer, Keys) and answer.barge_in
        self._ready_at = self.clock.now() if barge or kind == "record" else float("inf")
        if isinstance(answer, RecordAnswer) and kind == "gather":
            return f"answer {self.used} (rec:{answer.seconds}) is a recording, but the call waits for keys: no keys"
        return None

    def prompts_over(self) -> None:
        """Start keying shortly, as a person does after hearing the options (or hang up: no answers left)."""
        if self._out:
            raise CallerHungUp
        self._ready_at = min(self._ready_at, self.clock.now() + REACTION)

    def wait_key(self, until: float, *, prompt: bool = False) -> str | None:
        """The next scripted key, if it comes before ``until``."""
        if self._pending and self._ready_at <= until:
            self.clock.sleep_until(self._ready_at)
            self._ready_at = self.clock.now() + KEY_INTERVAL
            return self._pending.pop(0)
        self.clock.sleep_until(until)
        return None

    def idle(self, until: float, *, prompt: bool = False) -> None:
        """Let the clock run."""
        self.clock.sleep_until(until)

    def take_events(self) -> list[ev.Event]:
        """A script neither skips prompts nor presses keys that go nowhere."""
        return []

    def record(self, max_length: int, finish_keys: str, timeout: int) -> tuple[float, str]:
        """Speak for the scripted time; stop with the key, or by falling silent for ``timeout``."""
        if self._out:
            raise CallerHungUp
        answer = self._current
        if isinstance(answer, Keys):  # keys at a Record: the first finish key ends it at once
            key = next((k for k in answer.keys if k in finish_keys), "")
            return 0.0, key
        seconds = float(min(answer.seconds, max_length)) if isinstance(answer, RecordAnswer) else 0.0
        self.clock.sleep_until(self.clock.now() + seconds)
        key = answer.key if isinstance(answer, RecordAnswer) and answer.key in finish_keys else ""
        if not key and seconds < max_length:
            self.clock.sleep_until(self.clock.now() + timeout)
        return seconds, key

    def end_input(self) -> str:
        """Keys the script gave that the input did not take."""
        left = "".join(self._pending)
        self._pending = []
        self._current = None
        self._ready_at = float("inf")
        return left


class LiveCaller:
    """A person as the caller: keys act at once, timeouts are real, and a person's keys are never queued ahead.

    Subclasses say where keys come from (:meth:`_next_key`) and how the call
    learns it was hung up (:meth:`_check`); :meth:`begin` is theirs to write.
    A key pressed while nothing listens is ignored, and the timeline is told
    (:class:`~ivr.phone.events.KeyIgnored`); :data:`SKIP` during a prompt moves
    the call's clock to the prompt's end (:class:`~ivr.phone.events.PromptSkipped`).
    The ``_heard``, ``_dropped``, ``_skipped`` and ``_listening`` hooks let a
    subclass show these as they happen.
    """

    clock: Clock
    _told: list[ev.Event]

    def _next_key(self, timeout: float) -> str | None:
        """Wait up to ``timeout`` seconds for a key: a DTMF key, ``""`` to look again, or None when the time is up.

        May raise :class:`CallerHungUp`.
        """
        raise NotImplementedError

    def _check(self) -> None:
        """Raise :class:`CallerHungUp` if the call was hung up from outside; called before every wait."""

    def _dropped(self, key: str) -> None:
        """``key`` was pressed while nothing listened, and is dropped, as on a phone line."""

    def _heard(self, key: str) -> None:
        """``key`` was pressed and the call takes it."""

    def _skipped(self, seconds: float) -> None:
        """The rest of a prompt, ``seconds`` long, was skipped."""

    def _listening(self, until: float, prompt: bool) -> None:
        """The call waits until ``until`` (``prompt``: while a prompt plays), for keys or (in :meth:`idle`) not."""

    def _tell(self, event: ev.Event) -> None:
        told = getattr(self, "_told", None)
        if told is None:
            told = self._told = []
        told.append(event)

    def take_events(self) -> list[ev.Event]:
        """Keys ignored and prompts skipped since the last call, each at its time."""
        out = getattr(self, "_told", None) or []
        self._told = []
        return out

    def prompts_over(self) -> None:
        """Nothing to do: a person answers when they like."""
        self._check()

    def _wait(self, until: float, prompt: bool) -> str | None:
        self._listening(until, prompt)
        while True:
            self._check()
            now = self.clock.now()
            left = until - now
            if left <= 0:
                return None
            key = self._next_key(left)
            if key == SKIP:
                if prompt:  # the call's time jumps to the prompt's end, as if it had played
                    skipped = round(until - self.clock.now(), 3)
                    self.clock.skip_to(until)
                    self._tell(ev.PromptSkipped(t=round(until - skipped, 3), seconds=skipped))
                    self._skipped(skipped)
                    return None
                continue  # no prompt playing: nothing to skip
            if key:
                return key

    def wait_key(self, until: float, *, prompt: bool = False) -> str | None:
        """The next DTMF key pressed before ``until`` (on the call's clock), or None when the time is up."""
        key = self._wait(until, prompt)
        if key is not None:
            self._heard(key)
        return key

    def idle(self, until: float, *, prompt: bool = False) -> None:
        """Time passes while nothing listens: keys pressed now are ignored (and the timeline is told)."""
        while (key := self._wait(until, prompt)) is not None:
            self._tell(ev.KeyIgnored(t=round(self.clock.now(), 3), key=key))
            self._dropped(key)

    def record(self, max_length: int, finish_keys: str, timeout: int) -> tuple[float, str]:
        """The person "speaks" until they press a finish key, or for ``max_length`` seconds."""
        start = self.clock.now()
        while True:
            key = self.wait_key(start + max_length)
            if key is None:
                return float(max_length), ""
            if key in finish_keys:
                return self.clock.now() - start, key

    def end_input(self) -> str:
        """A person's keys are never queued ahead of the call."""
        return ""
