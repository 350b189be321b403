"""What ``ivr explore`` calls: a WSGI app in-process, the project's app on a fresh store per call, or a URL.

Every call gets its own webhook client (its own cookie jar), wrapped so that
each request's wall time is measured: Twilio gives up on an answer after 15 s.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from wsgiref.types import WSGIApplication

from ivr.phone.client import DEFAULT_TIMEOUT, HttpClient, WebhookClient, WebhookRequest, WebhookResponse, WsgiClient
from ivr.phone.run import INPROCESS_URL

__all__ = ["Target", "TimedClient", "http_target", "project_target", "wsgi_target"]


@dataclass
class TimedClient:
    """A webhook client that notes how long each request took (wall time, seconds) and what it was."""

    inner: WebhookClient
    timings: list[tuple[float, str]] = field(default_factory=list)

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """Send ``request`` through the wrapped client, timing it."""
        start = time.perf_counter()
        try:
            return self.inner.send(request)
        finally:
            self.timings.append((time.perf_counter() - start, f"{request.method} {request.url}"))

    def close(self) -> None:
        """Close the wrapped client, if it holds connections."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


@dataclass
class Target:
    """Where calls go, and what to do before each one (restore the store).

    ``menu``/``seed``/``clock`` describe the project's app in-process (what a
    scenario names to call it again); ``url``/``method`` an app over HTTP.
    """

    start_url: str
    method: Literal["GET", "POST"] = "POST"
    app: WSGIApplication | None = None
    url: str | None = None
    menu: Path | None = None
    seed: str | None = None
    clock: str | None = None
    fresh_store: bool = False
    auth_token: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    no_agent_hint: str = ""
    _reset: Any = None

    def client(self) -> TimedClient:
        """A new client for one call, after the store is restored to its seeded copy."""
        if self._reset is not None:
            self._reset()
        if self.app is not None:
            return TimedClient(WsgiClient(self.app, "http://localhost/"))
        return TimedClient(HttpClient(self.timeout))


def wsgi_target(app: WSGIApplication, url: str = INPROCESS_URL, method: Literal["GET", "POST"] = "POST") -> Target:
    """Any WSGI app, called in-process; its state is its own."""
    return Target(start_url=url, method=method, app=app)


def http_target(
    url: str, method: Literal["GET", "POST"] = "POST", auth_token: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Target:
    """An app over HTTP: its state is its own (the explorer cannot reset it between calls)."""
    return Target(start_url=url, method=method, url=url, auth_token=auth_token, timeout=timeout)


@contextmanager
def project_target(menu: Path, *, demo_data: bool, clock: str | None) -> Iterator[Target]:
    """The project's app for ``menu`` in-process, each call on a fresh copy of the (seeded) store.

    One app serves every call: its SQLite file is seeded once, kept as a
    template, and copied back over the live file before each call with the
    engine's connections closed (much faster than building an app per call).
    Without ``clock`` the app's time is fixed at now, so the scenarios written
    later replay the same day.
    """
    from ivr.simulator.app import project_app, seed_demo_data
    from ivr.web import app_state

    at = clock or dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr-explore-")))
        live, template = tmp / "live.db", tmp / "template.db"
        app = stack.enter_context(project_app(menu, {"CLOCK": at, "DATABASE_URL": f"sqlite:///{live}"}))
        state = app_state(app)
        state.ensure_schema()
        if demo_data:
            seed_demo_data(app)
        state.close()  # the last connection closed folds the WAL into the file
        shutil.copyfile(live, template)

        def reset() -> None:
            state.close()
            for suffix in ("-wal", "-shm"):
                live.with_name(live.name + suffix).unlink(missing_ok=True)
            shutil.copyfile(template, live)

        yield Target(
            start_url=INPROCESS_URL,
            app=app,
            menu=menu,
            seed="demo" if demo_data else None,
            clock=at,
            fresh_store=True,
            no_agent_hint="" if state.settings.agent_number else "IVR_AGENT_NUMBER is not set, so no transfer dials",
            _reset=reset,
        )
