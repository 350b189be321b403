"""Load: N concurrent simulated callers against gunicorn, on SQLite and PostgreSQL, for a bounded time.

Usage (from the repository's root)::

    .venv/bin/python -m bench.load [--callers 200] [--seconds 60] [--workers 4]
        [--backends sqlite,postgresql] [--postgres-url URL] [--cards 4000] [--json] [--out FILE]

For each back end it makes a fresh store (an SQLite file in a temporary
folder, or a new schema in PostgreSQL), migrates it, seeds the demo
cardholders and ``--cards`` load cards per pool (:mod:`bench.generate`), and
starts gunicorn (sync workers, loopback only).  Then ``--callers`` threads
each place calls one after another until ``--seconds`` have passed; a call in
progress at that moment hangs up before its next step.

Each call is played by the project's own TwiML interpreter
(:class:`ivr.phone.interpreter.Interpreter`, with a scripted caller on a
virtual clock and no speech) through :class:`~bench.load.client.LoadClient`, a lean HTTP client
that times every webhook and checks every TwiML answer against Twilio's XSD.
Calls follow scripted paths of the 12333 menu (activation, loss report,
status with and without a wrong password first, voicemail, browsing) and
random key mashing.  Callers do not pause between steps: each of them keeps
one request in flight all the time, the harshest load N callers can make.

Recorded: calls and steps per second, p50/p99 step latency, HTTP 5xx, invalid
TwiML, requests with no answer, polite apologies, and lost transactions:
every loss report reference number, activation and voicemail a caller heard
confirmed is looked up in the database afterwards.

Modules: :mod:`~bench.load.client` (the HTTP client, counts, the XSD check),
:mod:`~bench.load.callers` (scenarios and the threads), :mod:`~bench.load.server`
(the store and gunicorn), :mod:`~bench.load.verify` (the database afterwards),
``__main__`` (the command).  ``bench/faults.py`` and the smoke tests reuse them.
"""

from __future__ import annotations

from bench.load.callers import Fault, LoadResult, Plan, Planner, judge, run_load
from bench.load.client import XSD, Confirmed, LoadClient, Stats, TwimlChecker
from bench.load.server import CLOCK, Gunicorn, Store, free_port, postgres_base_url
from bench.load.verify import Verification, verify

__all__ = [
    "CLOCK",
    "XSD",
    "Confirmed",
    "Fault",
    "Gunicorn",
    "LoadClient",
    "LoadResult",
    "Plan",
    "Planner",
    "Stats",
    "Store",
    "TwimlChecker",
    "Verification",
    "free_port",
    "judge",
    "postgres_base_url",
    "run_load",
    "verify",
]
