"""The system under load: a fresh store (SQLite or a PostgreSQL schema) and gunicorn in a subprocess."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.generate import CardPools, seed_cards
from ivr.services.registry import HOTLINE_ZONE as BEIJING
from ivr.services.seed import seed_demo
from ivr.storage.db import Database
from ivr.storage.scratch import ScratchSchema

__all__ = ["AGENT_NUMBER", "CLOCK", "NOW", "Gunicorn", "Store", "free_port", "postgres_base_url"]

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
CLOCK = "2026-11-23T10:00:00+08:00"
"""A Monday morning in Beijing: agents on duty, so ``0`` rings the agent."""
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=BEIJING)
AGENT_NUMBER = "+8610123456789"


# -- the store and the server ------------------------------------------------------------------


class Store:
    """A fresh database for one run: an SQLite file in a folder, or a new PostgreSQL schema."""

    def __init__(self, url: str, cleanup: Callable[[], None] = lambda: None, folder: Path | None = None) -> None:
        self.url = url
        self.folder = folder
        self._cleanup = cleanup

    @classmethod
    def sqlite(cls, folder: Path) -> Store:
        """An SQLite database ``load.db`` in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{folder / 'load.db'}", folder=folder)

    @classmethod
    def postgres(cls, base_url: str) -> Store:
        """A new schema in the PostgreSQL database at ``base_url``, dropped by :meth:`close`."""
        # No pool in ScratchSchema: a connection kept from before a PostgreSQL restart could not drop it.
        scratch = ScratchSchema.create(base_url, prefix="ivr_load")
        return cls(scratch.url, scratch.drop)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.split(":", 1)[0].split("+", 1)[0]

    def prepare(self, cards_per_pool: int) -> CardPools:
        """Migrate, seed the demo cardholders and the load cards."""
        db = Database(self.url)
        try:
            db.upgrade()
            seed_demo(db, NOW, BEIJING)
            return seed_cards(db, cards_per_pool, NOW)
        finally:
            db.dispose()

    def close(self) -> None:
        """Drop what the store made (a PostgreSQL schema; an SQLite folder is the caller's)."""
        self._cleanup()


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc: no tool needed)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the fields after it are fixed.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return sorted(out)


class Gunicorn:
    """``gunicorn 'ivr.web:create_app()'`` in a subprocess on the loopback interface, as a context manager."""

    def __init__(
        self,
        db_url: str,
        *,
        workers: int = 4,
        log: Path,
        menu: Path | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: int = 60,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log = log
        self.db_url = db_url
        self.audio = Path(tempfile.mkdtemp(prefix="ivr-load-audio-"))  # empty: every prompt is a <Say>
        self.env = {
            **os.environ,
            "IVR_DATABASE_URL": db_url,
            "IVR_CLOCK": CLOCK,
            "IVR_AGENT_NUMBER": AGENT_NUMBER,
            "IVR_LOG_LEVEL": "WARNING",
            "IVR_AUDIO_DIR": str(self.audio),
            "PYTHONPATH": str(ROOT),
            **({"IVR_MENU": str(menu)} if menu else {}),
            **(extra_env or {}),
        }
        for name in ("TWILIO_AUTH_TOKEN", "IVR_PUBLIC_URL", "IVR_ENV", "IVR_CONFIG", "PROMETHEUS_MULTIPROC_DIR"):
            self.env.pop(name, None)  # the load signs nothing and talks to the app directly
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, ready_timeout: float = 60) -> None:
        """Start gunicorn and wait until every worker answers ``/healthz``."""
        cmd = [
            str(GUNICORN),
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            str(self.timeout),
            "--backlog",
            "2048",
            "--log-level",
            "info",  # "Booting worker" lines: restarts show in the log
            "ivr.web:create_app()",
        ]
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=err, stderr=err)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}); see {self.log}")
            if len(self.worker_pids()) >= self.workers and self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not come up within {ready_timeout:g} s; see {self.log}")

    def _healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                return conn.getresponse().status in (200, 503)
            finally:
                conn.close()
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        """The worker processes' ids."""
        return _children(self.proc.pid) if self.proc is not None and self.proc.poll() is None else []

    def kill_worker(self, rng: random.Random | None = None) -> str:
        """kill -9 one worker (a random one); returns what was done."""
        pids = self.worker_pids()
        if not pids:
            return "kill -9: no worker to kill"
        pid = (rng or random).choice(pids)
        os.kill(pid, signal.SIGKILL)
        return f"kill -9 worker {pid} (of {len(pids)})"

    def wait_workers(self, timeout: float = 30) -> list[int]:
        """Wait until the master has its full set of workers again; their ids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) >= self.workers and self._healthy():
                return pids
            time.sleep(0.1)
        return self.worker_pids()

    def stop(self) -> None:
        """Stop gunicorn (TERM, then KILL after 20 s) and remove its empty audio folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.audio, ignore_errors=True)

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers so far, the dead ones included (from /proc)."""
        if self.proc is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")

        def times(pid: int, children: bool) -> float:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return 0.0
            # utime, stime, and (for the master) the reaped workers' cutime, cstime: fields 14-17 of stat.
            used = fields[11:15] if children else fields[11:13]
            return sum(int(x) for x in used) / tick

        return times(self.proc.pid, True) + sum(times(pid, False) for pid in self.worker_pids())

    def log_counts(self) -> dict[str, int]:
        """What the server's log says: worker boots, tracebacks, errors the app logged."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return {}
        return {
            "worker_boots": sum("Booting worker" in line for line in lines),
            "tracebacks": sum(line.startswith("Traceback") for line in lines),
            "app_errors": sum('"level": "error"' in line for line in lines),
            "worker_timeouts": sum("WORKER TIMEOUT" in line for line in lines),
        }


def postgres_base_url(option: str | None) -> str | None:
    """The PostgreSQL URL from the option, ``IVR_BENCH_POSTGRES_URL`` or ``IVR_TEST_POSTGRES_URL``."""
    return option or os.environ.get("IVR_BENCH_POSTGRES_URL") or os.environ.get("IVR_TEST_POSTGRES_URL")
