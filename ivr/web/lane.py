"""The voice lane: a call's steps answered below Flask, the rest passed on to it.

Every step of every call is one ``POST`` of a short form to ``/voice`` or
``/voice/step``, and Flask's per-request machinery (a request context, URL
matching, a response object, the hooks) costs such a request about as much as
the step itself.  The lane is a WSGI layer in front of the Flask app that
answers exactly those requests in their usual shape: ``POST``, a form-encoded
body of a stated length within ``IVR_MAX_BODY_BYTES``, and (when a token is
set) a valid Twilio signature.  It answers with the views' own
:class:`~ivr.web.voice.VoiceDesk`, so the TwiML, the headers, the metrics,
the access log and the sweep of abandoned calls are the same.

Anything else goes on to Flask as it came (the body, once read, handed on
unchanged), which answers it as it always has: another method, a multipart
body, no length, a body too large (413), a refused signature (403).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wsgi import ClosingIterator, get_current_url

from ivr.web.calls import Reply
from ivr.web.forms import is_form, parse_form
from ivr.web.logs import log_access
from ivr.web.security import signature_valid, signed_url_of, warn_of_host_header
from ivr.web.twiml import apology
from ivr.web.voice import INCOMING, STEP, VoiceDesk, clean, usable_sid

if TYPE_CHECKING:
    from flask import Flask

    from ivr.web import IvrState

__all__ = ["VoiceLane"]

log = logging.getLogger("ivr.voice")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_WORK = {"/voice": INCOMING, "/voice/step": STEP}
"""The paths the lane answers, and the webhook each one is."""
_TYPE = ("Content-Type", "text/xml; charset=utf-8")
"""What Flask's ``Response(mimetype="text/xml")`` says."""


def _query(environ: dict[str, Any]) -> dict[str, str]:
    """The URL's query fields (WSGI gives its bytes as Latin-1 text; they are UTF-8)."""
    query: str = environ.get("QUERY_STRING", "")
    return parse_form(query if query.isascii() else query.encode("latin-1").decode("utf-8", "replace"))


class VoiceLane:
    """WSGI middleware: answers a call's steps itself with ``desk``, and passes every other request to ``inner``."""

    def __init__(self, app: Flask, inner: WsgiApp, state: IvrState, desk: VoiceDesk) -> None:
        self.app = app
        self.inner = inner
        self.state = state
        self.desk = desk
        self.settings = state.settings

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        work = _WORK.get(environ.get("PATH_INFO", ""))
        if work is None or environ.get("REQUEST_METHOD") != "POST":
            return self.inner(environ, start_response)
        started = time.perf_counter()
        body = self._body(environ)
        if body is None:
            return self.inner(environ, start_response)
        params = clean(parse_form(body.decode("utf-8", "replace")))
        if self.settings.twilio_auth_token and not self._signed(environ, params):
            return self.inner(environ, start_response)  # Flask refuses it (403), and logs why
        self.state.ensure_schema()
        try:
            query = _query(environ) if work == STEP else {}
            reply = self.desk.answer(work, params, query)
        except Exception:  # the desk answers every failure of its own; this is the lane's
            log.exception("webhook failed")
            self.desk.metrics.apologies.labels("bug").inc()
            reply = Reply(apology(self.settings.voices), "")
        return self._respond(environ, start_response, work, params, reply, started)

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The request's form body, or None when the lane does not take the request (its body still to be read)."""
        if not is_form(environ.get("CONTENT_TYPE", "")) or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 <= length <= self.settings.max_body_bytes:
            return None
        body: bytes = environ["wsgi.input"].read(length)
        # Whatever happens next, the body is there to read again for Flask.
        environ["wsgi.input"] = io.BytesIO(body)
        if len(body) != length:
            return None  # the client went away mid-body: Flask says so (400)
        return body

    def _signed(self, environ: dict[str, Any], params: dict[str, str]) -> bool:
        warn_of_host_header(self.app, self.settings)
        url = signed_url_of(get_current_url(environ), self.settings)
        return signature_valid(self.settings, url, params, environ.get("HTTP_X_TWILIO_SIGNATURE", ""))

    def _respond(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        work: str,
        params: dict[str, str],
        reply: Reply,
        started: float,
    ) -> Iterable[bytes]:
        body = reply.twiml.encode()
        headers = [_TYPE, ("Content-Length", str(len(body))), *self.desk.headers(reply, environ.get("SCRIPT_NAME", ""))]
        start_response("200 OK", headers)
        seconds = time.perf_counter() - started
        self.desk.metrics.observe_webhook(work, seconds, reply.node, reply.menu_id)
        log_access("POST", environ["PATH_INFO"], 200, round(seconds * 1000, 2), usable_sid(params) or "", reply.node)
        if self.state.sweep_due():
            # After the answer is sent, as Flask's call_on_close would: the caller does not wait for it.
            return ClosingIterator([body], self._sweep)
        return [body]

    def _sweep(self) -> None:
        self.state.sweep_calls()
