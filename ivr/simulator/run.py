"""One simulated call from start to end: the pieces put together.

:func:`simulate` is what ``ivr simulate`` and the scenario runner call.  The
target is either a WSGI application (called in-process, no network) or an
HTTP(S) URL; :func:`project_app` builds the project's own webhook app for a
menu, on a throw-away SQLite database.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Literal
from wsgiref.types import WSGIApplication

from ivr.simulator import events as ev
from ivr.simulator.callers import Answer, Caller, ScriptedCaller
from ivr.simulator.client import DEFAULT_TIMEOUT, HttpClient, WebhookClient, WsgiClient
from ivr.simulator.clock import VirtualClock
from ivr.simulator.interpreter import CallResult, CallSettings, Interpreter
from ivr.simulator.recorder import CallRecorder
from ivr.simulator.speaker import MuteSpeaker, Speaker, TtsSpeaker

__all__ = ["INPROCESS_URL", "TargetUnavailable", "project_app", "seed_demo_data", "simulate"]

INPROCESS_URL = "http://localhost/voice"
"""Where the in-process app answers the incoming call."""


class TargetUnavailable(Exception):
    """The application to call cannot be built (no web app yet, a bad menu, bad settings)."""


@contextmanager
def project_app(menu: Path, config: Mapping[str, Any] | None = None) -> Iterator[WSGIApplication]:
    """The project's webhook app (``ivr.web.create_app``) for ``menu``, on a temporary SQLite database."""
    try:
        from ivr.web import create_app
    except ImportError as exc:
        raise TargetUnavailable(f"the project's web app (ivr.web) cannot be imported: {exc}; use --url") from None
    with tempfile.TemporaryDirectory(prefix="ivr-sim-") as tmp:
        settings: dict[str, Any] = {
            "MENU": str(menu),
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'sim.db'}",
            "LOG_LEVEL": "WARNING",  # the app's access log would drown the transcript
        }
        settings.update(config or {})
        try:
            app = create_app(settings)
        except Exception as exc:  # MenuError, ConfigError...: say what is wrong, without a traceback
            detail = getattr(exc, "problems", None)
            lines = "; ".join(str(p) for p in detail) if detail else str(exc)
            raise TargetUnavailable(f"cannot start the app for {menu}: {lines}") from None
        yield app
        db = getattr(app, "extensions", {}).get("ivr")
        dispose = getattr(getattr(db, "db", None), "dispose", None)
        if callable(dispose):  # release the SQLite file before the directory goes
            dispose()


def seed_demo_data(app: Any) -> None:
    """Give the in-process app's database the fictional demo cardholders (docs/demo-data.md)."""
    from ivr.storage.seed import seed_demo

    state = app.extensions["ivr"]
    seed_demo(state.db, state.settings.now())


def simulate(
    target: str | WSGIApplication,
    answers: Sequence[Answer] | None = None,
    *,
    caller: Caller | None = None,
    speaker: Speaker | None = None,
    record: Path | None = None,
    on_event: Callable[[ev.Event], None] | None = None,
    url: str | None = None,
    method: Literal["GET", "POST"] = "POST",
    timeout: float = DEFAULT_TIMEOUT,
    client: WebhookClient | None = None,
    **settings: Any,
) -> CallResult:
    """Call ``target`` (a URL, or a WSGI app answering at ``url``) and play the call to its end.

    With ``answers`` the caller is scripted and the clock virtual; pass a
    ``caller`` instead for another kind (a terminal).  ``record`` writes the
    call as a WAV file.  Other keyword arguments go to :class:`CallSettings`
    (``dial_outcomes``, ``status_callback``, ``auth_token``...).
    """
    if client is None:
        client = HttpClient(timeout) if isinstance(target, str) else WsgiClient(target, "http://localhost/")
    start_url = target if isinstance(target, str) else (url or INPROCESS_URL)
    if caller is None:
        caller = ScriptedCaller(answers or (), VirtualClock())
    recorder = CallRecorder() if record is not None else None
    if speaker is None:
        speaker = TtsSpeaker() if record is not None else MuteSpeaker()
    with ExitStack() as stack:
        close = getattr(speaker, "close", None)
        if callable(close):
            stack.callback(close)
        interpreter = Interpreter(
            client,
            caller,
            speaker,
            CallSettings(url=start_url, method=method, **settings),
            recorder=recorder,
            on_event=on_event,
        )
        result = interpreter.run()
    if recorder is not None and record is not None:
        recorder.save(record, result.duration)
    return result
