"""Webhook throughput under gunicorn, against a fixed-TwiML Flask endpoint in the same run.

Usage::

    .venv/bin/python bench/webhook.py [--seconds 10] [--clients 8] [--workers 2] [--database-url URL]

It starts gunicorn (sync workers, loopback) three times with the same
settings: a minimal Flask app that returns one fixed TwiML string (the
practical ceiling), then the ivr app for the first request of a call
(``POST /voice``), then for a mid-call menu step whose state is persisted
(``POST /voice/step``, the caller pressing ``*`` at the main menu).  Clients
are threads in this process, each with its own calls.  Prints requests/s,
p50/p99 latency and errors for each, and the ratios to the ceiling.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(p / 100 * len(data)))] * 1000

    def row(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "requests": len(self.latencies),
            "req_per_s": round(self.rate, 1),
            "p50_ms": round(self.pct(50), 2),
            "p99_ms": round(self.pct(99), 2),
            "errors": self.errors,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(app: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [str(GUNICORN), "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(0.5)  # let every worker boot
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn exited early for {app}") from None
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"gunicorn did not start for {app}")


def post(port: int, path: str, form: dict[str, str]) -> tuple[int, str, float]:
    body = urllib.parse.urlencode(form)
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        text = resp.read().decode()
        return resp.status, text, time.perf_counter() - t0
    finally:
        conn.close()


def run_clients(name: str, clients: int, seconds: float, work: object) -> Result:
    result = Result(name)
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop() -> None:
        lat: list[float] = []
        errors = 0
        state: dict[str, object] = {}
        while time.monotonic() < stop:
            ok, dt = work(state)  # type: ignore[operator]
            if ok:
                lat.append(dt)
            else:
                errors += 1
        with lock:
            result.latencies.extend(lat)
            result.errors += errors

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t0
    return result


STEP = re.compile(r'action="/voice/step\?s=(\d+)"')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="How long each measurement runs.")
    ap.add_argument("--clients", type=int, default=8, help="Concurrent client threads.")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    ap.add_argument("--database-url", default=None, help="Store URL (default: a fresh SQLite file).")
    ap.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ivr-bench-")
    env = {
        **os.environ,
        "IVR_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
        "IVR_LOG_LEVEL": "WARNING",
        "IVR_CLOCK": "2026-11-23T10:00:00+08:00",
        "PYTHONPATH": str(ROOT),
    }
    results: list[Result] = []

    port = free_port()
    proc = start_gunicorn("bench.fixed_app:app", port, args.workers, env)
    try:

        def fixed(_: dict[str, object]) -> tuple[bool, float]:
            status, _text, dt = post(port, "/voice", {"CallSid": "CAfixed", "Digits": "*"})
            return status == 200, dt

        results.append(run_clients("fixed TwiML string (ceiling)", args.clients, args.seconds, fixed))
    finally:
        proc.terminate()
        proc.wait()

    port = free_port()
    # Migrate once before the workers start, as a deployment would.
    subprocess.run(
        [sys.executable, "-m", "ivr.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    proc = start_gunicorn("ivr.web:create_app()", port, args.workers, env)
    try:

        def first(_: dict[str, object]) -> tuple[bool, float]:
            status, text, dt = post(port, "/voice", {"CallSid": "CA" + uuid.uuid4().hex, "From": "+8613800000000"})
            return status == 200 and "<Gather" in text, dt

        results.append(run_clients("ivr: first request of a call", args.clients, args.seconds, first))

        def step(state: dict[str, object]) -> tuple[bool, float]:
            if "sid" not in state:
                state["sid"] = "CA" + uuid.uuid4().hex
                _, text, _ = post(port, "/voice", {"CallSid": str(state["sid"]), "From": "+8613800000000"})
                m = STEP.search(text)
                state["s"] = m.group(1) if m else "1"
            status, text, dt = post(port, f"/voice/step?s={state['s']}", {"CallSid": str(state["sid"]), "Digits": "*"})
            m = STEP.search(text)
            if status != 200 or not m or m.group(1) == state["s"]:
                return False, dt  # not persisted as a new step
            state["s"] = m.group(1)
            return True, dt

        results.append(run_clients("ivr: mid-call menu step (state persisted)", args.clients, args.seconds, step))
    finally:
        proc.terminate()
        proc.wait()

    rows = [r.row() for r in results]
    ceiling = results[0].rate or 1.0
    for row, r in zip(rows, results, strict=True):
        row["ratio_to_ceiling"] = round(r.rate / ceiling, 3)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"gunicorn --workers {args.workers}, {args.clients} client threads, {args.seconds:g} s each, "
        f"{os.cpu_count()} cores, store {env['IVR_DATABASE_URL'].split(':')[0]}"
    )
    print(f"{'endpoint':45} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['name']!s:45} {row['req_per_s']:>8} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['errors']:>7} "
            f"{row['ratio_to_ceiling']:>6}"
        )


if __name__ == "__main__":
    main()
