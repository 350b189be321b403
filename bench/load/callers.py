"""What the simulated callers do, and the run that drives them: scenarios, card hand-out, judging, threads."""

from __future__ import annotations

import collections
import html
import random
import re
import resource
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.generate import ACTIVE_PIN, INITIAL_PIN, CardPools, keys, new_pin_for
from bench.load.client import (
    APOLOGY_MARK,
    TWILIO_TIMEOUT,
    Answered,
    Confirmed,
    LoadClient,
    Stats,
    TwimlChecker,
    percentile,
)
from ivr.phone.callers import Answer, Keys, RecordAnswer, ScriptedCaller, Silence
from ivr.phone.clock import VirtualClock
from ivr.phone.interpreter import CallSettings, Interpreter
from ivr.phone.speaker import MuteSpeaker

__all__ = [
    "BROWSE_PATHS",
    "DEFAULT_MIX",
    "REFERENCE",
    "Fault",
    "LoadResult",
    "Plan",
    "Planner",
    "judge",
    "random_answers",
    "run_load",
]

REFERENCE = re.compile(r"(\d(?: \d){14})")
"""A loss report's reference as the caller hears it: 15 digits read one by one."""


# -- what callers do ------------------------------------------------------------------------


@dataclass
class Plan:
    """One call to place: the caller's answers, and what it should achieve."""

    scenario: str
    answers: list[Answer]
    goal: str = ""
    """The node that means the call did what it came for; empty for browsing and random calls."""
    id_number: str = ""
    new_pin: str = ""
    dial_outcomes: tuple[str, ...] = ("completed",)


def _k(*tokens: str) -> list[Answer]:
    return [Keys(t) for t in tokens]


BROWSE_PATHS: tuple[tuple[str, ...], ...] = (
    ("4", "1", "#", "2", "*", "#", "#", "5", "1", "1"),
    ("2", "2", "*", "1", "5", "2", "#", "1", "3"),
    ("9", "2", "4", "2", "1", "5", "1", "#", "2", "1"),
    ("*", "4", "#", "5", "#", "2", "#", "4", "1", "1"),
)
DEFAULT_MIX = {"activate": 2, "loss": 2, "status": 2, "voicemail": 1, "browse": 1, "random": 2}
"""Relative weights of the scenarios."""


class Planner:
    """Picks each caller's next call; hands out the load cards, each to one call only."""

    def __init__(self, pools: CardPools, mix: dict[str, int] | None = None) -> None:
        self._pools = {
            "activate": collections.deque(pools.to_activate),
            "loss": collections.deque(pools.to_report),
            "status": collections.deque(pools.to_check),
        }
        self._lock = threading.Lock()
        weights = mix or DEFAULT_MIX
        self.names = [n for n in weights if weights[n] > 0]
        self.weights = [weights[n] for n in self.names]
        self.exhausted: collections.Counter[str] = collections.Counter()

    def remix(self, mix: dict[str, int]) -> Planner:
        """A planner with other weights that hands out the same cards (none twice between the two)."""
        other = Planner(CardPools(), mix)
        other._pools, other._lock, other.exhausted = self._pools, self._lock, self.exhausted
        return other

    def _card(self, pool: str) -> str | None:
        with self._lock:
            cards = self._pools[pool]
            if pool == "status":
                # Status calls change nothing: the cards go round.
                card = cards.popleft()
                cards.append(card)
                return card
            if not cards:
                self.exhausted[pool] += 1
                return None
            return cards.popleft()

    def plan(self, rng: random.Random) -> Plan:
        """The next call for a caller with random source ``rng``."""
        name = rng.choices(self.names, self.weights)[0]
        if name in self._pools:
            card = self._card(name)
            if card is None:
                name = "browse"  # this pool is used up: browse instead
            elif name == "activate":
                new = new_pin_for(card)
                return Plan(name, _k("1", keys(card), "1", INITIAL_PIN, new, new, "1"), "activate_ok", card, new)
            elif name == "loss":
                return Plan(name, _k("2", "1", keys(card), "1", ACTIVE_PIN, "1"), "loss_reported_next", card)
            else:
                wrong = rng.random() < 0.5  # half the callers mistype their password first
                pins = ("000000", ACTIVE_PIN) if wrong else (ACTIVE_PIN,)
                return Plan("status", _k("3", keys(card), "1", *pins, "1"), "status_active", card)
        if name == "voicemail":
            answers: list[Answer] = [*_k("0", "1"), RecordAnswer(rng.randint(2, 20), "#")]
            return Plan(name, answers, "voicemail_saved", dial_outcomes=("busy",))
        if name == "browse":
            return Plan(name, _k(*rng.choice(BROWSE_PATHS)))
        return Plan("random", random_answers(rng), dial_outcomes=(rng.choice(("completed", "busy", "no-answer")),))


def random_answers(rng: random.Random) -> list[Answer]:
    """A caller mashing keys: single keys, silences, long digit strings, a recording."""
    out: list[Answer] = []
    for _ in range(rng.randint(2, 14)):
        r = rng.random()
        if r < 0.70:
            out.append(Keys(rng.choice("1234567890*#")))
        elif r < 0.82:
            out.append(Silence())
        elif r < 0.92:
            out.append(Keys("".join(rng.choice("0123456789") for _ in range(rng.randint(2, 20)))))
        else:
            out.append(RecordAnswer(rng.randint(1, 10), rng.choice(("", "#"))))
    return out


def judge(plan: Plan, answers: list[Answered], sid: str, stats: Stats, cut: bool = False) -> None:
    """Record how the call went, and every transaction it heard confirmed (``cut``: by the end of the run)."""
    nodes = [a.node for a in answers]
    for a in answers:
        if a.node == "loss_reported_next" and plan.scenario == "loss":
            m = REFERENCE.search(html.unescape(a.body.decode("utf-8", "replace")))
            if m is None:
                stats.example(f"{sid}: a loss report was confirmed without a reference: {a.body[:300]!r}")
            else:
                stats.confirmed.append(Confirmed("loss_report", sid, plan.id_number, m.group(1).replace(" ", "")))
        elif a.node == "activate_ok" and plan.scenario == "activate":
            stats.confirmed.append(Confirmed("activation", sid, plan.id_number, new_pin=plan.new_pin))
        elif a.node == "voicemail_saved":
            stats.confirmed.append(Confirmed("voicemail", sid))
    if not plan.goal:
        outcome = "done"
    elif plan.goal in nodes:
        outcome = "confirmed"
    elif any(APOLOGY_MARK.encode() in a.body for a in answers):
        outcome = "apology"
    elif "service_down" in nodes:
        outcome = "service_down"
    elif any(a.status != 200 for a in answers):
        outcome = "http_error"
    elif cut:
        outcome = "cut_by_end_of_run"
    else:
        outcome = "unfinished"
    stats.outcomes[f"{plan.scenario}:{outcome}"] += 1


# -- the run -----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """A run's figures."""

    callers: int
    seconds: float
    """Wall time from the first call to the last caller's end."""
    stats: Stats
    cpu_seconds: float
    """CPU time the load generator itself used (all its threads)."""
    faults: list[str] = field(default_factory=list)
    exhausted: dict[str, int] = field(default_factory=dict)

    def timeline(self, bucket: int = 1) -> list[dict[str, int]]:
        """Answers per ``bucket`` seconds of the run, by kind (``ok``, ``apology``, ``no_answer``...)."""
        rows: dict[int, dict[str, int]] = {}
        for (second, kind), n in self.stats.timeline.items():
            row = rows.setdefault(second // bucket * bucket, {"t": second // bucket * bucket})
            row[kind] = row.get(kind, 0) + n
        return [rows[t] for t in sorted(rows)]

    def summary(self) -> dict[str, Any]:
        """The figures as a flat JSON-able dict."""
        s = self.stats
        lat = s.latencies
        confirmed = collections.Counter(c.kind for c in s.confirmed)
        return {
            "callers": self.callers,
            "seconds": round(self.seconds, 1),
            "calls": s.calls,
            "calls_per_s": round(s.calls / self.seconds, 1) if self.seconds else 0.0,
            "steps": s.steps,
            "steps_per_s": round(s.steps / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(lat, 50), 1),
            "p90_ms": round(percentile(lat, 90), 1),
            "p99_ms": round(percentile(lat, 99), 1),
            "max_ms": round(max(lat) * 1000, 1) if lat else float("nan"),
            "status_callbacks": s.status_callbacks,
            "status_5xx": s.status_5xx,
            "http_5xx": s.http_5xx,
            "http_other": s.http_other,
            "invalid_twiml": s.invalid_twiml,
            "caller_crashes": s.crashes,
            "no_answer": s.no_answer,
            "retried_ok": s.retried_ok,
            "apologies": s.apologies,
            "service_down": s.service_down,
            "confirmed": dict(confirmed),
            "end_reasons": dict(s.reasons),
            "outcomes": dict(sorted(s.outcomes.items())),
            "load_cpu_s": round(self.cpu_seconds, 1),
            "faults": self.faults,
            "pools_exhausted": self.exhausted,
            "examples": s.examples[:10],
        }


Fault = tuple[float, Callable[[], str]]
"""At this many seconds into the run, call this; it returns a line describing what it did."""


def run_load(
    url: str,
    pools: CardPools,
    *,
    callers: int,
    seconds: float,
    seed: int = 12333,
    mix: dict[str, int] | None = None,
    retries: int = 1,
    think: float = 0.0,
    faults: Sequence[Fault] = (),
    checker: TwimlChecker | None = None,
) -> LoadResult:
    """Run ``callers`` concurrent callers against ``url`` (the app's base URL) for ``seconds``."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    checker = checker or TwimlChecker()
    planner = Planner(pools, mix)
    start = time.monotonic()
    deadline = start + seconds
    totals = Stats()
    lock = threading.Lock()
    fault_log: list[str] = []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)

    def caller(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        stats = Stats()
        client = LoadClient(host, port, checker, stats, deadline, retries, think, start)
        try:
            while time.monotonic() < deadline:
                plan = planner.plan(rng)
                client.answers, client.cut = [], False
                sid = "CA" + uuid.UUID(int=rng.getrandbits(128)).hex
                settings = CallSettings(
                    url=f"{url}/voice",
                    call_sid=sid,
                    from_number=f"+86139{rng.randrange(10**8):08d}",
                    status_callback="/status",
                    dial_outcomes=plan.dial_outcomes,
                )
                interpreter = Interpreter(client, ScriptedCaller(plan.answers, VirtualClock()), MuteSpeaker(), settings)
                result = interpreter.run()
                stats.calls += 1
                stats.reasons[result.reason] += 1
                if result.reason == "error":
                    stats.example(f"{sid} ({plan.scenario}) ended in an application error: {result.events[-2]}")
                judge(plan, client.answers, sid, stats, client.cut)
        except Exception as exc:  # a bug in the load generator: counted and shown, the other callers go on
            stats.crashes += 1
            stats.example(f"caller {index} crashed: {type(exc).__name__}: {exc}")
        finally:
            with lock:
                totals.add(stats)

    def run_faults() -> None:
        for at, fault in sorted(faults, key=lambda f: f[0]):
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                line = fault()
            except Exception as exc:
                line = f"fault failed: {type(exc).__name__}: {exc}"
            fault_log.append(f"t={time.monotonic() - start:.1f}s {line}")

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(callers)]
    fault_thread = threading.Thread(target=run_faults, daemon=True)
    for t in threads:
        t.start()
    fault_thread.start()
    # Calls in flight at the deadline end at their next step; a step waits at most Twilio's timeout, twice.
    final = deadline + 2 * TWILIO_TIMEOUT + 30
    for t in threads:
        t.join(timeout=max(0.0, final - time.monotonic()))
    fault_thread.join(timeout=max(1.0, final - time.monotonic()))
    elapsed = time.monotonic() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    hung = sum(t.is_alive() for t in threads)
    if hung:
        totals.example(f"{hung} caller thread(s) still running after the run")
    return LoadResult(callers, elapsed, totals, cpu, fault_log, dict(planner.exhausted))
