"""The load benchmark's command: ``python -m bench.load --help``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.load import __doc__ as DOC
from bench.load.callers import run_load
from bench.load.server import Gunicorn, Store, postgres_base_url
from bench.load.verify import verify

__all__ = ["main", "one_run", "print_report", "store_for"]


# -- the command -------------------------------------------------------------------------------------


@contextlib.contextmanager
def store_for(backend: str, postgres_url: str | None, folder: Path) -> Iterator[Store]:
    """A fresh store of the ``backend`` kind, removed afterwards."""
    if backend == "sqlite":
        store = Store.sqlite(folder / "sqlite")
    elif backend == "postgresql":
        if not postgres_url:
            raise SystemExit("--backends postgresql needs --postgres-url or IVR_BENCH_POSTGRES_URL")
        store = Store.postgres(postgres_url)
    else:
        raise SystemExit(f"unknown back end {backend!r}: sqlite or postgresql")
    try:
        yield store
    finally:
        store.close()


def one_run(args: argparse.Namespace, backend: str, folder: Path) -> dict[str, Any]:
    """One back end: store, server, load, verification; the figures."""
    with store_for(backend, postgres_base_url(args.postgres_url), folder) as store:
        pools = store.prepare(args.cards)
        with Gunicorn(store.url, workers=args.workers, log=folder / f"gunicorn-{backend}.log") as server:
            cpu0 = server.cpu_seconds()
            result = run_load(
                server.url, pools, callers=args.callers, seconds=args.seconds, seed=args.seed, think=args.think
            )
            counts = {**server.log_counts(), "cpu_s": round(server.cpu_seconds() - cpu0, 1)}
        check = verify(store.url, result.stats.confirmed)
    return {
        "backend": backend,
        "workers": args.workers,
        **result.summary(),
        "server_log": counts,
        "verification": check.summary(),
    }


def print_report(rows: list[dict[str, Any]]) -> None:
    """The figures as a readable report."""
    for row in rows:
        v = row["verification"]
        print(
            f"\n== {row['backend']}: {row['callers']} callers, {row['workers']} gunicorn workers, "
            f"{row['seconds']} s, {os.cpu_count()} cores"
        )
        print(
            f"calls {row['calls']} ({row['calls_per_s']}/s)  steps {row['steps']} ({row['steps_per_s']}/s)  "
            f"latency p50 {row['p50_ms']} ms  p90 {row['p90_ms']} ms  p99 {row['p99_ms']} ms  max {row['max_ms']} ms"
        )
        print(
            f"5xx {row['http_5xx']}  other non-2xx {row['http_other']}  invalid TwiML {row['invalid_twiml']}  "
            f"crashes {row['caller_crashes']}  "
            f"no answer {row['no_answer']} (retried ok {row['retried_ok']})  apologies {row['apologies']}  "
            f"service_down {row['service_down']}  (/status: {row['status_callbacks']}, 5xx {row['status_5xx']})"
        )
        print(
            f"confirmed {row['confirmed']}  lost {v['lost']}  (new passwords checked: {v['pins_checked']}; "
            f"stored but not heard: {v['stored_not_confirmed']})"
        )
        print(f"end reasons {row['end_reasons']}")
        print(f"outcomes {row['outcomes']}")
        print(f"load generator CPU {row['load_cpu_s']} s; server log {row['server_log']}")
        if row["pools_exhausted"]:
            print(f"card pools used up (calls browsed instead): {row['pools_exhausted']}")
        for line in row["faults"]:
            print(f"fault: {line}")
        for line in row["examples"] + v["lost_examples"]:
            print(f"  ! {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load on each back end; exit 1 if any 5xx, invalid TwiML or lost transaction."""
    ap = argparse.ArgumentParser(description=(DOC or "").splitlines()[0], prog="python -m bench.load")
    ap.add_argument("--callers", type=int, default=200, help="Concurrent simulated callers (threads).")
    ap.add_argument("--seconds", type=float, default=60.0, help="How long callers keep placing calls.")
    ap.add_argument("--workers", type=int, default=4, help="gunicorn sync workers.")
    ap.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    ap.add_argument("--postgres-url", default=None, help="PostgreSQL URL (default: $IVR_BENCH_POSTGRES_URL).")
    ap.add_argument("--cards", type=int, default=4000, help="Load cards per pool (activate, report, check).")
    ap.add_argument("--think", type=float, default=0.0, help="Real seconds a caller waits between steps.")
    ap.add_argument("--seed", type=int, default=12333, help="Random seed of the callers.")
    ap.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the figures as JSON to this file.")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ivr-load-") as tmp:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            rows.append(one_run(args, backend, Path(tmp)))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print_report(rows)
    bad = any(r["http_5xx"] or r["invalid_twiml"] or r["caller_crashes"] or r["verification"]["lost"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
