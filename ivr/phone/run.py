"""One call from start to end: the phone's pieces put together.

:func:`simulate` places a call to a TwiML app, either a WSGI application
(called in-process, no network) or an HTTP(S) URL, and plays it to its end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal
from wsgiref.types import WSGIApplication

from ivr.phone import events as ev
from ivr.phone.callers import Answer, Caller, ScriptedCaller
from ivr.phone.client import DEFAULT_TIMEOUT, HttpClient, WebhookClient, WsgiClient
from ivr.phone.clock import VirtualClock
from ivr.phone.interpreter import CallResult, CallSettings, Interpreter
from ivr.phone.recorder import CallRecorder
from ivr.phone.speaker import MuteSpeaker, Speaker, TtsSpeaker

__all__ = ["INPROCESS_URL", "simulate"]

INPROCESS_URL = "http://localhost/voice"
"""Where a WSGI app is called for the incoming call unless ``url`` says otherwise."""


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
    own_client = client is None  # one client per call: its cookie jar is this call's
    if client is None:
        client = HttpClient(timeout) if isinstance(target, str) else WsgiClient(target, "http://localhost/")
    start_url = target if isinstance(target, str) else (url or INPROCESS_URL)
    if caller is None:
        caller = ScriptedCaller(answers or (), VirtualClock())
    recorder = CallRecorder() if record is not None else None
    if speaker is None:
        speaker = TtsSpeaker() if record is not None else MuteSpeaker()
    with ExitStack() as stack:
        for closable in (speaker, client):  # the client we made holds this call's cookies and connections
            close = getattr(closable, "close", None)
            if callable(close) and (closable is speaker or own_client):
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
