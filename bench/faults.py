"""Faults under load: kill -9 a worker, restart PostgreSQL, fill or write-protect the SQLite folder.

Usage::

    .venv/bin/python bench/faults.py [--faults kill,pg-restart,sqlite-full,sqlite-readonly]
        [--callers 50] [--seconds 30] [--workers 4] [--postgres-url URL] [--json]

Each fault runs the load of :mod:`bench.load` (same callers, same checks:
every answer is timed and checked against the XSD, every confirmed
transaction is looked up in the database afterwards) and breaks something
while it runs:

- ``kill``: ``kill -9`` a random gunicorn worker at 25 %, 50 % and 75 % of the
  run, on SQLite and on PostgreSQL.  The master starts a new one; a request
  the killed worker was serving gets no answer and is retried once, as
  Twilio can be told to with a connection override on the webhook URL
  (``#rc=1&rp=all``).  ``no answer`` counts them: without the retry those
  calls would hear Twilio's own error message (or go to the Fallback URL).
- ``pg-restart``: ``pg_ctlcluster --skip-systemctl-redirect VERSION main restart``
  at a third of the run.  PostgreSQL is started again at the end whatever
  happens.
- ``sqlite-full``: the SQLite file on a small tmpfs; at a third of the run a
  file fills it, at two thirds the file is removed.
- ``sqlite-readonly``: the SQLite database file, then (a second run) its
  whole folder, made read-only by a read-only bind mount before the server
  starts, and writable again at half the run.  (A file system cannot be
  remounted read-only while the server holds the database open for writing,
  and ``chmod`` stops neither root nor a process that has the file open
  already: so the fault is there from the start.)

Calls in flight must continue or end politely (the app's "temporarily
unavailable" apology, HTTP 200, or the menu's ``service_down`` goodbye), and
no transaction a caller heard confirmed may be missing.  A per-second
timeline of the answers shows the fault and the recovery.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` and ``ivr`` importable
    sys.path.insert(0, str(ROOT))

from bench.load import Fault, Gunicorn, LoadResult, Store, postgres_base_url, run_load, verify  # noqa: E402

__all__ = [
    "bind_mount",
    "fill",
    "mount_tmpfs",
    "pg_cluster",
    "pg_is_up",
    "pg_restart",
    "pg_start",
    "run_fault",
    "unmount",
]


# -- PostgreSQL ---------------------------------------------------------------------------------


def pg_cluster() -> tuple[str, str] | None:
    """(version, name) of the local PostgreSQL cluster, or None without ``pg_ctlcluster``."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(os.listdir("/etc/postgresql"))
    return (versions[-1], "main") if versions else None


def pg_is_up() -> bool:
    """Whether the local cluster is online."""
    cluster = pg_cluster()
    if cluster is None:
        return False
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False).stdout
    return any(line.split()[:2] == list(cluster) and "online" in line for line in out.splitlines())


def pg_restart() -> str:
    """Restart the local cluster; how long it took."""
    cluster = pg_cluster()
    if cluster is None:
        return "pg-restart: no pg_ctlcluster here"
    t0 = time.monotonic()
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "restart"], capture_output=True, text=True, check=False
    )
    took = time.monotonic() - t0
    return f"pg_ctlcluster {' '.join(cluster)} restart: exit {done.returncode} in {took:.1f} s {done.stderr.strip()}"


def pg_start() -> None:
    """Start the local cluster if it is not online (used in ``finally``: never leave it stopped)."""
    cluster = pg_cluster()
    if cluster is not None and not pg_is_up():
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "start"], check=False)


# -- mounts --------------------------------------------------------------------------------------


def mount_tmpfs(folder: Path, megabytes: int) -> None:
    """Mount a tmpfs of ``megabytes`` on ``folder`` (needs CAP_SYS_ADMIN); CalledProcessError if refused."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)], check=True, capture_output=True
    )


def bind_mount(folder: Path, read_only: bool) -> None:
    """Bind-mount ``folder`` on itself, then make it read-only or writable."""
    if read_only:
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True, capture_output=True)
    mode = "remount,ro,bind" if read_only else "remount,rw,bind"
    subprocess.run(["mount", "-o", mode, str(folder)], check=True, capture_output=True)


def unmount(folder: Path) -> None:
    """Unmount ``folder`` (lazily, so a lingering open file cannot keep it mounted)."""
    subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def fill(folder: Path) -> str:
    """Write a file into ``folder`` until its file system is full."""
    filler = folder / "filler"
    written = 0
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
                written += 65536
        except OSError as exc:
            return f"filled {folder} with {written // 1024} KiB: {exc.strerror}"
    return "fill: never full"  # pragma: no cover


# -- one fault run -----------------------------------------------------------------------------------


def run_fault(
    name: str,
    store: Store,
    folder: Path,
    *,
    callers: int,
    seconds: float,
    workers: int,
    cards: int,
    faults: Callable[[Gunicorn], Sequence[Fault]],
    before_start: Callable[[], None] = lambda: None,
    seed: int = 9,
) -> tuple[dict[str, Any], LoadResult]:
    """Prepare ``store``, start gunicorn, run the load with ``faults(server)``; the figures, and the result.

    The caller verifies the result's confirmed transactions once the store is readable again.
    """
    pools = store.prepare(cards)
    before_start()
    with Gunicorn(store.url, workers=workers, log=folder / f"gunicorn-{name}.log") as server:
        first = server.worker_pids()
        result: LoadResult = run_load(
            server.url, pools, callers=callers, seconds=seconds, seed=seed, faults=faults(server)
        )
        after = server.wait_workers()
        counts = server.log_counts()
    row = {
        "fault": name,
        "backend": store.backend,
        "workers": workers,
        **result.summary(),
        "workers_before": first,
        "workers_after": after,
        "server_log": counts,
        "timeline": result.timeline(),
        "verification": {},
    }
    return row, result


def _kill(args: argparse.Namespace, backend: str, tmp: Path) -> dict[str, Any]:
    rng = random.Random(3)
    with _store(args, backend, tmp / f"kill-{backend}") as store:
        row, result = _run(
            args,
            f"kill-{backend}",
            store,
            tmp,
            faults=lambda server: [(args.seconds * f, lambda: server.kill_worker(rng)) for f in (0.25, 0.5, 0.75)],
        )
        row["verification"] = verify(store.url, result.stats.confirmed).summary()
    return row


def _run(args: argparse.Namespace, name: str, store: Store, tmp: Path, **options: Any) -> tuple[dict[str, Any], Any]:
    """:func:`run_fault` with the load the command line asked for."""
    return run_fault(
        name, store, tmp, callers=args.callers, seconds=args.seconds, workers=args.workers, cards=args.cards, **options
    )


def _pg_restart(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    if pg_cluster() is None:
        return {"fault": "pg-restart", "skipped": "pg_ctlcluster is not here"}
    try:
        with _store(args, "postgresql", tmp) as store:
            row, result = _run(
                args,
                "pg-restart",
                store,
                tmp,
                faults=lambda _server: [(args.seconds / 3, pg_restart)],
            )
            pg_start()
            row["verification"] = verify(store.url, result.stats.confirmed).summary()
    finally:
        pg_start()  # never leave PostgreSQL stopped
    row["pg_online_at_end"] = pg_is_up()
    return row


def _sqlite_full(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    folder = tmp / "full"
    try:
        mount_tmpfs(folder, 48)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        return {"fault": "sqlite-full", "skipped": f"cannot mount a tmpfs: {exc}"}
    try:
        store = Store.sqlite(folder)
        row, result = _run(
            args,
            "sqlite-full",
            store,
            tmp,
            faults=lambda _server: [
                (args.seconds / 3, lambda: fill(folder)),
                (2 * args.seconds / 3, lambda: _remove(folder / "filler")),
            ],
        )
        row["verification"] = verify(store.url, result.stats.confirmed).summary()
    finally:
        unmount(folder)
    return row


def _sqlite_readonly(args: argparse.Namespace, tmp: Path, target: str) -> dict[str, Any]:
    """The SQLite ``folder`` or just its database ``file`` read-only from the start; writable at half the run."""
    name = f"sqlite-readonly-{target}"
    folder = tmp / name
    store = Store.sqlite(folder)
    protected = folder if target == "folder" else folder / "load.db"
    mounted = False

    def protect() -> None:
        nonlocal mounted
        bind_mount(protected, read_only=True)
        mounted = True

    def release() -> str:
        bind_mount(protected, read_only=False)
        return f"{protected} writable again"

    try:
        row, result = _run(
            args,
            name,
            store,
            tmp,
            faults=lambda _server: [(args.seconds / 2, release)],
            before_start=protect,
        )
    except subprocess.CalledProcessError as exc:
        return {"fault": name, "skipped": f"cannot bind-mount read-only: {exc.stderr!r}"}
    except RuntimeError as exc:  # gunicorn did not come up: say why, from its log
        log = (tmp / f"gunicorn-{name}.log").read_text(errors="replace").splitlines()
        errors = [line for line in log if "Error" in line or "error" in line][-3:]
        return {"fault": name, "failed": f"{exc}", "log": errors}
    finally:
        if mounted:
            unmount(protected)
    row["verification"] = verify(store.url, result.stats.confirmed).summary()
    return row


def _remove(path: Path) -> str:
    path.unlink(missing_ok=True)
    return f"removed {path.name}: space again"


@contextlib.contextmanager
def _store(args: argparse.Namespace, backend: str, folder: Path) -> Iterator[Store]:
    if backend == "sqlite":
        yield Store.sqlite(folder)
        return
    url = postgres_base_url(args.postgres_url)
    if not url:
        raise SystemExit("PostgreSQL faults need --postgres-url or IVR_BENCH_POSTGRES_URL")
    store = Store.postgres(url)
    try:
        yield store
    finally:
        pg_start()
        store.close()


def print_report(rows: list[dict[str, Any]]) -> None:
    """The figures as a readable report."""
    for row in rows:
        if "skipped" in row:
            print(f"\n== {row['fault']}: skipped ({row['skipped']})")
            continue
        if "failed" in row:
            print(f"\n== {row['fault']}: FAILED: {row['failed']}")
            for line in row["log"]:
                print(f"  ! {line}")
            continue
        v = row["verification"]
        print(f"\n== {row['fault']} ({row['backend']}): {row['callers']} callers, {row['workers']} workers")
        print(
            f"calls {row['calls']}  steps {row['steps']} ({row['steps_per_s']}/s)  p50 {row['p50_ms']} ms  "
            f"p99 {row['p99_ms']} ms  max {row['max_ms']} ms"
        )
        print(
            f"5xx {row['http_5xx']}  other non-2xx {row['http_other']}  invalid TwiML {row['invalid_twiml']}  "
            f"crashes {row['caller_crashes']}  "
            f"no answer {row['no_answer']} (retried ok {row['retried_ok']})  apologies {row['apologies']}  "
            f"service_down {row['service_down']}  (/status: {row['status_callbacks']}, 5xx {row['status_5xx']})"
        )
        print(
            f"confirmed {row['confirmed']}  lost {v.get('lost')}  stored but not heard {v.get('stored_not_confirmed')}"
        )
        print(f"end reasons {row['end_reasons']}")
        print(f"workers before {row['workers_before']} after {row['workers_after']}; server log {row['server_log']}")
        for line in row["faults"]:
            print(f"fault: {line}")
        if "pg_online_at_end" in row:
            print(f"PostgreSQL online at the end: {row['pg_online_at_end']}")
        print("timeline (answers per second):")
        for t in row["timeline"]:
            kinds = "  ".join(f"{k} {n}" for k, n in t.items() if k != "t")
            print(f"  t={t['t']:>3}s  {kinds}")
        for line in row["examples"] + v.get("lost_examples", []):
            print(f"  ! {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the faults; exit 1 on a 5xx, invalid TwiML or a lost transaction."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--faults", default="kill,pg-restart,sqlite-full,sqlite-readonly", help="Comma-separated.")
    ap.add_argument("--backends", default="sqlite,postgresql", help="Back ends for the kill fault.")
    ap.add_argument("--callers", type=int, default=50, help="Concurrent simulated callers.")
    ap.add_argument("--seconds", type=float, default=30.0, help="Length of each run.")
    ap.add_argument("--workers", type=int, default=4, help="gunicorn sync workers.")
    ap.add_argument("--cards", type=int, default=2000, help="Load cards per pool.")
    ap.add_argument("--postgres-url", default=None, help="PostgreSQL URL (default: $IVR_BENCH_POSTGRES_URL).")
    ap.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = ap.parse_args(argv)
    wanted = [f.strip() for f in args.faults.split(",") if f.strip()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ivr-faults-") as tmpdir:
        tmp = Path(tmpdir)
        runs: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        for fault in wanted:
            if fault == "kill":
                for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
                    runs.append((f"kill-{backend}", functools.partial(_kill, args, backend, tmp)))
            elif fault == "pg-restart":
                runs.append((fault, lambda: _pg_restart(args, tmp)))
            elif fault == "sqlite-full":
                runs.append((fault, lambda: _sqlite_full(args, tmp)))
            elif fault == "sqlite-readonly":
                runs.append(("sqlite-readonly-file", lambda: _sqlite_readonly(args, tmp, "file")))
                runs.append(("sqlite-readonly-folder", lambda: _sqlite_readonly(args, tmp, "folder")))
            else:
                raise SystemExit(f"unknown fault {fault!r}")
        for name, run in runs:
            try:
                rows.append(run())
            except Exception as exc:  # one broken run must not lose the others' figures
                rows.append({"fault": name, "failed": f"{type(exc).__name__}: {str(exc)[:300]}", "log": []})
            finally:
                pg_start()  # whatever happened, PostgreSQL is left running
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print_report(rows)
    bad = any(
        r.get("failed")
        or r.get("http_5xx")
        or r.get("invalid_twiml")
        or r.get("caller_crashes")
        or r.get("verification", {}).get("lost")
        for r in rows
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
