"""In-process call rate: scripted calls through the WSGI app on one core, speech off.

Usage::

    .venv/bin/python bench/callrate.py [--seconds 10] [--mixes browse,transactions,all] [--profile] [--cpu 0]

The project's own webhook app (``ivr.web.create_app``, SQLite in a temporary
folder, every prompt a ``<Say>``) answers the project's simulator in this
process (:func:`ivr.phone.run.simulate` with its in-process
``WsgiClient``, a scripted caller on a virtual clock and ``MuteSpeaker``):
no network, no server, no speech.  The process is pinned to one CPU.

Calls are the load benchmark's scenarios (:mod:`bench.load.callers`), in
three mixes:

- ``browse``: menu navigation only (the load's browsing paths);
- ``transactions``: activations, loss reports and status checks on load
  cards; each checks a password with scrypt (about 50 ms, on purpose), an
  activation hashes the new one too;
- ``all``: the load's mix (transactions, voicemail, browsing, key mashing).

A step is one voice webhook (``/voice`` or ``/voice/step``); each call also
sends Twilio's status callback, counted apart.  Target (issue 9): at least
500 steps/s.  ``--profile`` runs each mix under cProfile and says where the
time goes, by part of the stack.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` and ``ivr`` importable
    sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402

from bench.generate import CardPools, seed_cards  # noqa: E402
from bench.load.callers import BROWSE_PATHS, DEFAULT_MIX, Plan, Planner, judge  # noqa: E402
from bench.load.client import Answered, Stats  # noqa: E402
from bench.load.server import AGENT_NUMBER, CLOCK, NOW  # noqa: E402
from ivr.phone.callers import ScriptedCaller  # noqa: E402
from ivr.phone.client import WebhookClient, WebhookRequest, WebhookResponse, WsgiClient  # noqa: E402
from ivr.phone.clock import VirtualClock  # noqa: E402
from ivr.phone.interpreter import CallSettings, Interpreter  # noqa: E402
from ivr.phone.run import INPROCESS_URL  # noqa: E402
from ivr.phone.speaker import MuteSpeaker  # noqa: E402
from ivr.simulator.app import project_app, seed_demo_data  # noqa: E402
from ivr.storage import cards as storage_cards  # noqa: E402
from ivr.web import app_state  # noqa: E402

__all__ = ["MIXES", "CallRate", "RecordingClient", "in_process_app", "measure", "profile_breakdown"]

MENU = ROOT / "menus" / "12333.json"
MIXES: dict[str, dict[str, int]] = {
    "browse": {"browse": 1},
    "transactions": {"activate": 1, "loss": 1, "status": 1},
    "all": DEFAULT_MIX,
}


class RecordingClient:
    """Wraps a webhook client: keeps the voice webhooks' answers of the call in progress (for judging)."""

    def __init__(self, inner: WebhookClient) -> None:
        self.inner = inner
        self.answers: list[Answered] = []
        self.status_callbacks = 0

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """Send through the wrapped client and remember the answer."""
        response = self.inner.send(request)
        path = urllib.parse.urlsplit(request.url).path
        if path.startswith("/voice"):
            node = response.header("X-IVR-Node") or ""
            self.answers.append(Answered(request.url, response.status, node, response.body))
        else:
            self.status_callbacks += 1
        return response


@contextmanager
def in_process_app(cards: int, scrypt_log2_n: int | None = None) -> Iterator[tuple[Flask, CardPools]]:
    """The 12333 app on a temporary SQLite file, with the demo cardholders and ``cards`` load cards per pool.

    ``scrypt_log2_n`` (analysis only) makes every password hash, stored or new,
    use that cost instead of the project's 14: each hash keeps its cost in its
    PHC string, so checks follow.  It shows what the rest of a transaction costs.
    """
    saved = storage_cards.SCRYPT_LOG2_N
    if scrypt_log2_n is not None:
        storage_cards.SCRYPT_LOG2_N = scrypt_log2_n
    config = {"CLOCK": CLOCK, "AGENT_NUMBER": AGENT_NUMBER, "AUDIO_DIR": str(ROOT / "no-such-audio-dir")}
    try:
        with project_app(MENU, config) as app:
            seed_demo_data(app)
            pools = seed_cards(app_state(app).db, cards, NOW)
            yield app, pools
    finally:
        storage_cards.SCRYPT_LOG2_N = saved


@dataclass
class CallRate:
    """One mix's figures."""

    mix: str
    calls: int = 0
    steps: int = 0
    status_callbacks: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """CPU time this process used meanwhile: on a shared machine, wall time includes waits for the CPU."""
    failures: int = 0
    """Calls that ended in an application error, or with a 5xx."""
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)

    def row(self) -> dict[str, Any]:
        """As a JSON-able dict."""
        return {
            "mix": self.mix,
            "calls": self.calls,
            "steps": self.steps,
            "seconds": round(self.seconds, 2),
            "calls_per_s": round(self.calls / self.seconds, 1),
            "steps_per_s": round(self.steps / self.seconds, 1),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "steps_per_cpu_s": round(self.steps / self.cpu_seconds, 1) if self.cpu_seconds else 0.0,
            "steps_per_call": round(self.steps / self.calls, 1) if self.calls else 0.0,
            "status_callbacks": self.status_callbacks,
            "failures": self.failures,
            "outcomes": dict(sorted(self.outcomes.items())),
        }


def measure(app: Flask, cards: Planner, mix: str, seconds: float, seed: int = 1) -> CallRate:
    """Place calls of ``mix`` one after another for ``seconds``; the figures.

    ``cards`` hands out the load cards: pass the same one to every mix, so no
    mix gets a card another one has already activated or reported lost.
    """
    planner = cards.remix(MIXES[mix])
    rng = random.Random(seed)
    client = RecordingClient(WsgiClient(app, "http://localhost/"))
    out = CallRate(mix)
    stats = Stats()
    t0, cpu0 = time.perf_counter(), time.process_time()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        plan: Plan = planner.plan(rng)
        client.answers = []
        settings = CallSettings(
            url=INPROCESS_URL,
            call_sid="CA" + uuid.uuid4().hex,  # unique across mixes: a reused CallSid is a Twilio retry
            status_callback="/status",
            dial_outcomes=plan.dial_outcomes,
        )
        result = Interpreter(client, ScriptedCaller(plan.answers, VirtualClock()), MuteSpeaker(), settings).run()
        out.calls += 1
        out.steps += len(client.answers)
        if result.reason == "error" or any(a.status >= 500 for a in client.answers):
            out.failures += 1
        judge(plan, client.answers, settings.call_sid, stats)
    out.seconds = time.perf_counter() - t0
    out.cpu_seconds = time.process_time() - cpu0
    out.status_callbacks = client.status_callbacks
    out.outcomes = stats.outcomes
    return out


_PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (label, file the function is in, function names): inclusive (cumulative) time, so parts nest.
    ("the app, in-process (WsgiClient.send)", "ivr/phone/client.py", ("send",)),
    ("  Werkzeug request building (EnvironBuilder)", "werkzeug/test.py", ("get_environ",)),
    ("  Flask dispatch (wsgi_app)", "flask/app.py", ("wsgi_app",)),
    ("    webhook logic (CallRunner.incoming/step/status)", "ivr/web/calls.py", ("incoming", "step", "status")),
    (
        "      call store SQL (CallStore.load/begin/advance/finish)",
        "ivr/storage/calls.py",
        ("load", "begin", "advance", "finish"),
    ),
    ("      engine (Engine.start/send)", "ivr/engine/core.py", ("start", "send")),
    ("      call state JSON (CallState.from_json/to_json)", "ivr/engine/state.py", ("from_json", "to_json")),
    ("      TwiML writing (TwimlWriter.write)", "ivr/web/twiml.py", ("write",)),
    ("      services (CallSession._invoke)", "ivr/session.py", ("_invoke",)),
    ("        scrypt (hashlib.scrypt)", "~", ("<built-in method _hashlib.scrypt>",)),
    ("  request logging and metrics (after_request)", "ivr/web/", ("_log", "_observe")),
    ("the phone's TwiML parsing (parse_twiml)", "ivr/phone/twiml.py", ("parse_twiml",)),
)


def profile_breakdown(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Inclusive time of the main parts of a call's path, as (label, share of the whole run); parts nest."""
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    out: list[tuple[str, float]] = []
    for label, where, names in _PARTS:
        cumulative = sum(v[3] for (filename, _line, name), v in raw.items() if name in names and where in filename)
        out.append((label, cumulative / total))
    send = out[0][1]
    out.append(("the simulator's interpreter and the rest (whole run - the app)", 1.0 - send))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Measure each mix; exit 1 when a call fails."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=10.0, help="How long each mix runs.")
    ap.add_argument("--mixes", default="browse,transactions,all", help=f"Comma-separated: {', '.join(MIXES)}.")
    ap.add_argument("--cards", type=int, default=3000, help="Load cards per pool.")
    ap.add_argument("--cpu", type=int, default=0, help="The CPU to pin the process to (-1: do not pin).")
    ap.add_argument("--profile", action="store_true", help="Run under cProfile and break the time down.")
    ap.add_argument(
        "--scrypt-log2-n",
        type=int,
        default=None,
        help="Analysis only: hash every password at this scrypt cost instead of 14 (10 is 16 times cheaper).",
    )
    ap.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = ap.parse_args(argv)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    rows = []
    with in_process_app(args.cards, args.scrypt_log2_n) as (app, pools):
        cards = Planner(pools)
        measure(app, cards, "browse", 0.5, seed=0)  # warm-up: imports, caches, the first SQL
        for mix in [m.strip() for m in args.mixes.split(",") if m.strip()]:
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            rate = measure(app, cards, mix, args.seconds)
            row = rate.row()
            if profiler:
                profiler.disable()
                stats = pstats.Stats(profiler, stream=io.StringIO())
                row["profile"] = [(label, round(share * 100, 1)) for label, share in profile_breakdown(stats)]
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        pinned = f"pinned to CPU {args.cpu}" if args.cpu >= 0 else "not pinned"
        cost = f"scrypt ln={args.scrypt_log2_n} (analysis)" if args.scrypt_log2_n else "scrypt ln=14 (the project's)"
        print(f"in-process, one thread, {pinned}; {os.cpu_count()} cores on the machine; {cost}")
        for row in rows:
            print(
                f"{row['mix']:13} calls {row['calls']:6} ({row['calls_per_s']:7}/s)  steps {row['steps']:7} "
                f"({row['steps_per_s']:7}/s; {row['steps_per_cpu_s']:7} per CPU-second)  "
                f"{row['steps_per_call']} steps a call  failures {row['failures']}"
                + ("  (under cProfile)" if args.profile else "")
            )
            print(f"{'':13} outcomes {row['outcomes']}")
            for label, pct in row.get("profile", []):
                print(f"{'':13} {pct:5.1f} %  {label}")
        if args.profile:
            print("(profile: inclusive time of each part, as a share of the whole run under cProfile; parts nest)")
        print(f"browsing paths: {[' '.join(p) for p in BROWSE_PATHS]}")
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
