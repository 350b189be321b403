"""Webhook throughput under gunicorn, driven by wrk, against a ceiling and a persisted floor in the same run.

Usage::

    .venv/bin/python bench/webhook.py [--seconds 8] [--rounds 2] [--postgres-url URL] [--load] [--json]

For each store (an SQLite file; PostgreSQL too when its URL is given, or
``IVR_BENCH_POSTGRES_URL`` is set), three gunicorn servers run side by side,
each with ``--workers 2`` sync workers on the loopback interface:

- the **ceiling**: Flask answering one fixed TwiML string (``bench/fixed_app.py``);
- the **floor**: Flask answering the same string after one read and one write
  transaction with the raw driver (``bench/floor_app.py``): what any
  persisted webhook must do at least;
- **ivr** (``ivr.web:create_app()``), driven two ways: the *first request* of
  a call (``POST /voice``, a new CallSid each time) and a *mid-call step*
  (``POST /voice/step?s=1`` with ``*`` at the main menu, for the next of a
  pool of calls stored at step 1; it counts only when the answer names step 2,
  so the step was persisted).

``wrk -t2 -c16`` drives each for ``--seconds`` in turn, and every measurement
is taken against the ceiling run just before it: ceiling, floor, ceiling,
step, ceiling, first request, repeated ``--rounds`` times.  ``--load`` then
runs the 200-caller load benchmark once (``python -m bench.load``).  The
targets of issue 19 are printed beside the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` and ``ivr`` importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, select  # noqa: E402

from bench.floor_app import create as create_floor  # noqa: E402
from bench.load.server import Store, postgres_base_url  # noqa: E402
from ivr.storage.db import Database  # noqa: E402
from ivr.storage.models import CallRecord  # noqa: E402

GUNICORN = Path(sys.executable).with_name("gunicorn")
LUA = Path(__file__).resolve().with_name("webhook.lua")
CALLS = cast(Table, CallRecord.__table__)
TARGETS = {"step/ceiling": 0.60, "step/floor": 0.90, "first/ceiling": 0.45, "p99_ms": 20.0}
"""Issue 19's targets on SQLite."""


@dataclass
class Run:
    """One wrk run: what it measured."""

    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    bad: int

    @property
    def rate(self) -> float:
        """Good answers a second (errors and answers without the expected work do not count)."""
        return max(0, self.requests - self.errors - self.bad) / self.seconds if self.seconds else 0.0


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(app: str, workers: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """``app`` under gunicorn (sync workers) on a free loopback port; its base URL while the block runs."""
    port = free_port()
    cmd = [str(GUNICORN), "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app]
    with log.open("ab") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start {app}: see {log}") from None
                time.sleep(0.1)
        time.sleep(1.0)  # every worker booted
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wrk(name: str, url: str, mode: str, prefix: str, seconds: float, threads: int, connections: int) -> Run:
    """One wrk run of ``mode`` (webhook.lua) against ``url``."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(LUA)]
    done = subprocess.run([*cmd, url, "--", mode, prefix], capture_output=True, text=True, check=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    r = json.loads(line)
    return Run(name, r["requests"], r["seconds"], r["p50_us"] / 1000, r["p99_us"] / 1000, r["errors"], r["bad"])


def stored_at_step_one(db: Database, base_url: str, prefix: str, threads: int, per_thread: int) -> None:
    """Store ``threads * per_thread`` calls at step 1 of the main menu, named as webhook.lua's step mode asks."""
    template = f"{prefix}template"
    data = urllib.parse.urlencode({"CallSid": template, "From": "+8613800000000"}).encode()
    with urllib.request.urlopen(f"{base_url}/voice", data=data, timeout=10) as resp:
        assert resp.status == 200
    with db.engine.begin() as conn:
        row = dict(conn.execute(select(CALLS).where(CALLS.c.call_sid == template)).mappings().one())
        rows = [
            {**row, "call_sid": f"{prefix}{t}x{n}"} for t in range(1, threads + 1) for n in range(1, per_thread + 1)
        ]
        conn.execute(CALLS.insert(), rows)
    if db.is_sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def measure(store: Store, args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    """The rounds on one store: each round's runs and ratios."""
    env = {
        **os.environ,
        "IVR_DATABASE_URL": store.url,
        "IVR_LOG_LEVEL": "WARNING",
        "IVR_CLOCK": "2026-11-23T10:00:00+08:00",
        "IVR_AUDIO_DIR": str(folder / "no-audio"),
        "PYTHONPATH": str(ROOT),
    }
    floor_url = f"sqlite:///{folder / 'floor.db'}" if store.backend == "sqlite" else store.url
    create_floor(floor_url)
    db = Database(store.url)
    db.upgrade()  # once, before the workers start, as a deployment does
    log = folder / "gunicorn.log"
    rounds: list[dict[str, Any]] = []
    with (
        gunicorn("bench.fixed_app:app", args.workers, env, log) as ceiling_url,
        gunicorn("bench.floor_app:app", args.workers, {**env, "IVR_BENCH_FLOOR_URL": floor_url}, log) as floor_url_,
        gunicorn("ivr.web:create_app()", args.workers, env, log) as ivr_url,
    ):

        def run(name: str, url: str, mode: str, prefix: str = "CAfixed") -> Run:
            return wrk(name, url, mode, prefix, args.seconds, args.threads, args.connections)

        for n in range(1, args.rounds + 1):
            c1 = run("ceiling", ceiling_url, "fixed")
            floor = run("floor", floor_url_, "fixed")
            c2 = run("ceiling", ceiling_url, "fixed")
            per_thread = int(c2.rate * args.seconds * 1.5 / args.threads) + 1000
            prefix = f"CAs{n}r{os.getpid()}t"
            stored_at_step_one(db, ivr_url, prefix, args.threads, per_thread)
            step = run("step", ivr_url, "step", prefix)
            c3 = run("ceiling", ceiling_url, "fixed")
            first = run("first", ivr_url, "first", f"CAf{n}r{os.getpid()}t")
            rounds.append(
                {
                    "round": n,
                    "runs": [vars(r) | {"rate": round(r.rate, 1)} for r in (c1, floor, c2, step, c3, first)],
                    "floor/ceiling": round(floor.rate / c1.rate, 3),
                    "step/ceiling": round(step.rate / c2.rate, 3),
                    "step/floor": round(step.rate / floor.rate, 3),
                    "first/ceiling": round(first.rate / c3.rate, 3),
                    "step_p99_ms": step.p99_ms,
                    "first_p99_ms": first.p99_ms,
                }
            )
            _print_round(store.backend, rounds[-1])
    db.dispose()
    return rounds


def _print_round(backend: str, r: dict[str, Any]) -> None:
    print(f"\n{backend}, round {r['round']}")
    print(f"  {'run':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'bad':>5}")
    for run in r["runs"]:
        print(
            f"  {run['name']:10} {run['rate']:>8} {run['p50_ms']:>8.2f} {run['p99_ms']:>8.2f} "
            f"{run['errors']:>7} {run['bad']:>5}"
        )
    print(
        f"  step/ceiling {r['step/ceiling']}  step/floor {r['step/floor']}  first/ceiling {r['first/ceiling']}"
        f"  (floor/ceiling {r['floor/ceiling']})"
    )


def summary(backend: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians over the rounds, and whether each met its target (the targets are set for SQLite)."""
    out: dict[str, Any] = {"store": backend, "rounds": len(rounds)}
    for key in ("step/ceiling", "step/floor", "first/ceiling", "floor/ceiling", "step_p99_ms"):
        out[key] = round(statistics.median(r[key] for r in rounds), 3)
    out["met"] = {
        "step/ceiling": all(r["step/ceiling"] >= TARGETS["step/ceiling"] for r in rounds),
        "step/floor": all(r["step/floor"] >= TARGETS["step/floor"] for r in rounds),
        "first/ceiling": all(r["first/ceiling"] >= TARGETS["first/ceiling"] for r in rounds),
        "p99": all(r["step_p99_ms"] <= TARGETS["p99_ms"] for r in rounds),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="How long each wrk run lasts.")
    ap.add_argument("--rounds", type=int, default=2, help="How many times the alternation is repeated.")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads.")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections.")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server.")
    ap.add_argument("--postgres-url", default=None, help="Also measure PostgreSQL (a scratch schema of this database).")
    ap.add_argument("--load", action="store_true", help="Then run the 200-caller load benchmark once.")
    ap.add_argument("--json", action="store_true", help="Print the results as JSON at the end.")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: sh scripts/sysdeps.sh (or apt-get install wrk)")

    print(
        f"wrk -t{args.threads} -c{args.connections}, {args.seconds:g} s a run; gunicorn --workers {args.workers} "
        f"(sync); {os.cpu_count()} cores; Python {sys.version.split()[0]}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="ivr-webhook-") as tmp:
        stores = [("sqlite", lambda: Store.sqlite(Path(tmp) / "sqlite"))]
        pg = postgres_base_url(args.postgres_url)
        if pg:
            stores.append(("postgresql", lambda: Store.postgres(pg)))
        for backend, make in stores:
            store = make()
            folder = Path(tmp) / backend
            folder.mkdir(exist_ok=True)
            try:
                rounds = measure(store, args, folder)
            finally:
                store.close()
            results.append({"summary": summary(backend, rounds), "rounds": rounds})
    print("\nmedians (targets, on SQLite: step ≥ 0.60× ceiling and ≥ 0.90× floor, first ≥ 0.45× ceiling, p99 ≤ 20 ms)")
    for r in results:
        s = r["summary"]
        print(
            f"  {s['store']:10} step/ceiling {s['step/ceiling']}  step/floor {s['step/floor']}  "
            f"first/ceiling {s['first/ceiling']}  step p99 {s['step_p99_ms']} ms  met: {s['met']}"
        )
    if args.load:
        cmd = [sys.executable, "-m", "bench.load", "--callers", "200", "--seconds", "60", "--workers", "4"]
        if pg:
            cmd += ["--postgres-url", pg]
        print("\nthe 200-caller load, once:", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=False)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
