"""The brake on guessing the admin password: per address, per browser and for everyone at once.

The rules (every wrong password also waits ``IVR_ADMIN_LOGIN_DELAY``):

- **Per address**: 5 failures within a minute from one address (an IPv6
  address counts by its /64, which one subscriber usually holds) and it gets
  429 until the oldest of them is a minute old.
- **Per browser**: the same for a browser that logged in before (it carries a
  signed device cookie), whatever address it comes from.
- **Everyone**: once 20 failures from all addresses together fall within an
  hour, each attempt from anyone waits after the latest failure, 5 s at the
  20th and twice as long with each failure more, at most 5 minutes after the
  latest one.  So rotating addresses (``X-Forwarded-For`` behind a trusted
  proxy, a botnet) gets some 25 to 40 guesses an hour instead of unlimited
  ones.  A browser with a device cookie is not held back by this brake, so the
  operator can log in during an attack.  One without is held back as long as
  the attack lasts, since every attempt that gets through re-arms the brake:
  log in from a browser that has logged in before, or stop the attack at the
  proxy.
- A right password clears the failures of its address and browser (the
  operator's own typos), not the attacker's.

The counts live in the store (:mod:`ivr.storage.throttle`), shared by every
worker and host.  When the store is down the rules hold in this process's
memory instead, so logging in still works (the dashboard then shows what is
broken).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ivr.storage.db import StoreUnavailable
from ivr.storage.throttle import LoginFailures, Tally

__all__ = ["Limits", "LoginThrottle", "MemoryFailures", "client_key"]

log = logging.getLogger("ivr.admin")

Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Limits:
    """The throttle's numbers (the module docstring explains them)."""

    client_limit: int = 5
    client_window: dt.timedelta = dt.timedelta(minutes=1)
    global_limit: int = 20
    global_window: dt.timedelta = dt.timedelta(hours=1)
    global_first_wait: float = 5.0
    global_max_wait: float = 300.0

    def wait(self, tally: Tally, now: dt.datetime, known_device: bool) -> float:
        """Seconds until an attempt judged by ``tally`` may go ahead (0: now); a known device skips the global brake."""
        waits = [0.0]
        window = self.client_window.total_seconds()
        for times in (tally.client, tally.device):
            if len(times) >= self.client_limit:
                waits.append(window - (now - times[-self.client_limit]).total_seconds())
        if not known_device and tally.total >= self.global_limit and tally.latest is not None:
            over = tally.total - self.global_limit
            brake = min(self.global_max_wait, self.global_first_wait * 2.0 ** min(over, 30))
            waits.append(brake - (now - tally.latest).total_seconds())
        return max(waits)


def client_key(address: str | None) -> str:
    """What the per-address count is kept by: the address, an IPv6 one by its /64 network."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "?")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class MemoryFailures:
    """The failure log in this process's memory: what the throttle falls back on when the store is down."""

    def __init__(self, max_rows: int = 10_000) -> None:
        self.max_rows = max_rows
        self._rows: list[tuple[str, str, dt.datetime]] = []
        self._lock = threading.Lock()

    def admit(
        self,
        client: str,
        device: str,
        now: dt.datetime,
        short: dt.timedelta,
        long: dt.timedelta,
        decide: Callable[[Tally], float],
    ) -> float:
        """As :meth:`ivr.storage.throttle.LoginFailures.admit`."""
        with self._lock:
            self._rows = [r for r in self._rows if r[2] >= now - long][-self.max_rows :]
            since = now - short
            tally = Tally(
                client=tuple(t for c, _, t in self._rows if c == client and t >= since),
                device=tuple(t for _, d, t in self._rows if device and d == device and t >= since),
                total=len(self._rows),
                latest=self._rows[-1][2] if self._rows else None,
            )
            wait = decide(tally)
            if wait <= 0:
                self._rows.append((client, device, now))
            return wait

    def forget(self, client: str, device: str) -> None:
        """As :meth:`ivr.storage.throttle.LoginFailures.forget`."""
        with self._lock:
            self._rows = [r for r in self._rows if r[0] != client and not (device and r[1] == device)]


class LoginThrottle:
    """Judges login attempts by the failures in the store (``store``), or in memory without one."""

    def __init__(self, store: LoginFailures | None = None, limits: Limits | None = None, clock: Clock | None = None):
        self.store = store
        self.memory = MemoryFailures()
        self.limits = limits or Limits()
        self.clock = clock or _utc_now

    def admit(self, client: str, device: str = "") -> float:
        """Seconds ``client`` must wait before trying; 0: try now.

        ``device`` is the id of a browser that logged in before (from its
        signed cookie; empty for others).  An attempt let through counts as a
        failure until :meth:`succeeded` says otherwise.
        """
        now = self.clock()
        limits = self.limits

        def decide(tally: Tally) -> float:
            return limits.wait(tally, now, known_device=bool(device))

        args = (client, device, now, limits.client_window, limits.global_window, decide)
        if self.store is not None:
            try:
                return self.store.admit(*args)
            except StoreUnavailable as exc:
                log.error("login throttle: the store is unavailable, counting in this process only: %s", exc)
        return self.memory.admit(*args)

    def succeeded(self, client: str, device: str = "") -> None:
        """A right password: the failures of ``client`` and ``device`` no longer count."""
        self.memory.forget(client, device)
        if self.store is not None:
            try:
                self.store.forget(client, device)
            except StoreUnavailable as exc:
                log.error("login throttle: cannot clear the failures in the store: %s", exc)
