"""The load's HTTP side: the client the interpreter calls through, what it counts, and the XSD check."""

from __future__ import annotations

import collections
import http.client
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ivr.phone.callers import CallerHungUp
from ivr.phone.client import TransportError, WebhookRequest, WebhookResponse
from ivr.web.twiml import APOLOGIES

__all__ = [
    "APOLOGY_MARK",
    "TWILIO_TIMEOUT",
    "XSD",
    "Answered",
    "Confirmed",
    "LoadClient",
    "Stats",
    "TwimlChecker",
    "percentile",
]

ROOT = Path(__file__).resolve().parents[2]
XSD = ROOT.parent / "shared" / "twiml-xsd" / "twiml_v20100401_twilioRealtimeCallSchema.xsd"
"""Twilio's TwiML schema, in the shared folder beside the checkout."""
TWILIO_TIMEOUT = 15.0
"""Twilio gives up on a webhook after 15 s: a slower answer counts as no answer."""
APOLOGY_MARK = APOLOGIES["en-US"]
"""Part of the web app's polite "temporarily unavailable" answer."""


# -- TwiML against the XSD ----------------------------------------------------------------


class TwimlChecker:
    """Checks documents against Twilio's XSD; thread-safe (one validation at a time)."""

    def __init__(self, xsd: Path = XSD) -> None:
        if not xsd.exists():
            raise FileNotFoundError(f"Twilio's TwiML XSD is not at {xsd}")
        import xmlschema

        self._schema = xmlschema.XMLSchema(str(xsd))
        self._lock = threading.Lock()

    def error(self, body: bytes) -> str | None:
        """Why ``body`` is not valid TwiML, or None if it is."""
        try:
            text_ = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"not UTF-8: {exc}"
        with self._lock:
            try:
                first = next(iter(self._schema.iter_errors(text_)), None)
            except Exception as exc:  # not XML at all
                return f"{type(exc).__name__}: {str(exc)[:200]}"
        return None if first is None else str(first.reason or first)[:300]


# -- statistics -----------------------------------------------------------------------------


@dataclass
class Confirmed:
    """A transaction a caller heard confirmed: it must be in the database."""

    kind: str
    """``loss_report``, ``activation`` or ``voicemail``."""
    call_sid: str
    id_number: str = ""
    reference: str = ""
    new_pin: str = ""


@dataclass
class Stats:
    """What the callers saw; one per thread, added up at the end."""

    latencies: list[float] = field(default_factory=list)
    """Seconds per answered step (``/voice`` and ``/voice/step``)."""
    steps: int = 0
    status_callbacks: int = 0
    calls: int = 0
    http_5xx: int = 0
    """5xx answers to the voice webhooks (what a caller would hear as Twilio's error)."""
    status_5xx: int = 0
    """5xx answers to the status callback (``/status`` says 503 while the store is down)."""
    http_other: int = 0
    """Answers neither 2xx nor 5xx (a 4xx, say)."""
    invalid_twiml: int = 0
    no_answer: int = 0
    """Attempts that got no HTTP answer at all (refused, reset, or slower than Twilio's 15 s)."""
    retried_ok: int = 0
    """Of those, attempts whose retry was answered."""
    apologies: int = 0
    """Answers that were the web app's polite "temporarily unavailable"."""
    service_down: int = 0
    """Answers at the menu's ``service_down`` node (a service failed; the call ends politely)."""
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    """How calls ended, by the interpreter's end reason."""
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    """By scenario and how it went: ``loss:confirmed``, ``activate:apology``..."""
    confirmed: list[Confirmed] = field(default_factory=list)
    timeline: collections.Counter[tuple[int, str]] = field(default_factory=collections.Counter)
    """Answers by (second of the run, kind): ``ok``, ``apology``, ``service_down``, ``5xx``, ``no_answer``..."""
    crashes: int = 0
    """Caller threads that died of an exception (a bug in the load generator, not the app)."""
    examples: list[str] = field(default_factory=list)
    """A few descriptions of errors and unexpected outcomes, to look into."""

    def add(self, other: Stats) -> None:
        """Add ``other``'s counts to these."""
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(mine, collections.Counter):
                mine.update(value)
            elif isinstance(mine, list):
                mine.extend(value)
            else:
                setattr(self, name, mine + value)

    def example(self, what: str) -> None:
        """Keep a description of something to look into (the first few only)."""
        if len(self.examples) < 20:
            self.examples.append(what[:600])


def percentile(data: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of ``data`` (nearest rank), in milliseconds."""
    if not data:
        return float("nan")
    ordered = sorted(data)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000


# -- the HTTP client the interpreter uses ------------------------------------------------------


@dataclass
class Answered:
    """One webhook answer of the call in progress."""

    path: str
    status: int
    node: str
    body: bytes


class LoadClient:
    """A :class:`~ivr.phone.client.WebhookClient` for load: lean HTTP, timed, every answer checked.

    - one ``http.client`` connection per request (gunicorn's sync workers close
      each connection anyway);
    - a request that gets no HTTP answer is tried again ``retries`` times, as
      Twilio can be told to with a connection override on the webhook URL
      (``#rc=1&rp=all``); the step number in the URL makes a retry safe;
    - after ``deadline`` (``time.monotonic()``) the caller hangs up instead of
      asking for the next step; the status callback still goes out.
    """

    def __init__(
        self,
        host: str,
        port: int,
        checker: TwimlChecker,
        stats: Stats,
        deadline: float,
        retries: int = 1,
        think: float = 0.0,
        start: float | None = None,
    ) -> None:
        self.start = time.monotonic() if start is None else start
        self.host = host
        self.port = port
        self.checker = checker
        self.stats = stats
        self.deadline = deadline
        self.retries = retries
        self.think = think
        self.answers: list[Answered] = []
        """The answers of the call in progress (cleared by the caller loop)."""
        self.cut = False
        """Whether the call in progress was cut short by the end of the run."""

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """POST the webhook; record latency, status and the TwiML's validity."""
        parts = urllib.parse.urlsplit(request.full_url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        is_step = parts.path.startswith("/voice")
        if is_step and time.monotonic() >= self.deadline:
            self.cut = True
            raise CallerHungUp  # the run is over: hang up rather than start another step
        if is_step and self.think and self.answers:
            time.sleep(self.think)
        body = urllib.parse.urlencode(request.params).encode() if request.method == "POST" else None
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            try:
                status, headers, data = self._exchange(request.method, path, body, dict(request.headers))
            except (OSError, http.client.HTTPException) as exc:
                self.stats.no_answer += 1
                self._tick("no_answer")
                if attempt < self.retries:
                    continue
                self.stats.example(f"no answer to {request.method} {path}: {type(exc).__name__}: {exc}")
                raise TransportError(f"no answer from {path}: {exc}") from None
            elapsed = time.perf_counter() - t0
            if attempt:
                self.stats.retried_ok += 1
            break
        if is_step:
            self._check(path, status, headers, data, elapsed)
        else:
            # Twilio's status callback: what it answers reaches no caller (the call is over), so a
            # 503 there while the store is down is by design; counted apart from the webhooks' 5xx.
            self.stats.status_callbacks += 1
            if status >= 500:
                self.stats.status_5xx += 1
        return WebhookResponse(status, data, headers)

    def _exchange(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TWILIO_TIMEOUT)
        try:
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    def _tick(self, kind: str) -> None:
        self.stats.timeline[(int(time.monotonic() - self.start), kind)] += 1

    def _check(self, path: str, status: int, headers: dict[str, str], data: bytes, elapsed: float) -> None:
        stats = self.stats
        stats.steps += 1
        stats.latencies.append(elapsed)
        node = headers.get("X-IVR-Node", "")
        kind = "ok"
        if status >= 500:
            stats.http_5xx += 1
            kind = "5xx"
            stats.example(f"HTTP {status} from {path}: {data[:300]!r}")
        elif not 200 <= status < 300:
            stats.http_other += 1
            kind = "other_status"
            stats.example(f"HTTP {status} from {path}: {data[:300]!r}")
        else:
            why = self.checker.error(data)
            if why is not None:
                stats.invalid_twiml += 1
                kind = "invalid"
                stats.example(f"invalid TwiML from {path} ({why}): {data[:300]!r}")
            elif APOLOGY_MARK.encode() in data:
                stats.apologies += 1
                kind = "apology"
            elif node == "service_down":
                stats.service_down += 1
                kind = "service_down"
        self._tick(kind)
        self.answers.append(Answered(path, status, node, data))
