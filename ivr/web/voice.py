"""The voice webhooks: ``POST /voice`` (incoming call), ``/voice/step`` (every later step), ``/status``.

:class:`VoiceDesk` answers a webhook from its parameters alone, with no
framework around it: the Flask views here use it, and so does the lane
(:mod:`ivr.web.lane`) that serves the two hot webhooks below Flask.  Both
write the same answer with the same headers (:meth:`VoiceDesk.headers`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, g, request

from ivr.config import Settings
from ivr.storage.db import StoreUnavailable
from ivr.web.calls import ONGOING_STATUSES, CallRunner, Reply
from ivr.web.forms import webhook_form
from ivr.web.metrics import Metrics
from ivr.web.security import require_twilio_signature
from ivr.web.twiml import apology

__all__ = ["INCOMING", "MAX_CALL_SID", "STEP", "VoiceDesk", "bp", "clean", "usable_sid"]

log = logging.getLogger("ivr.voice")

bp = Blueprint("voice", __name__)

MAX_CALL_SID = 64
"""Twilio's CallSids are 34 characters; anything much longer is not one."""

INCOMING = "incoming"
STEP = "step"
"""The two webhooks of a call's steps, named as their views (and the ``ivr_webhook_seconds`` label)."""


def usable_sid(params: Mapping[str, str]) -> str | None:
    """The request's CallSid, or None when it has none or one no Twilio call could have.

    Only a usable one is logged: a 60 KB "CallSid" must not reach the logs,
    nor the store.
    """
    sid = params.get("CallSid", "")
    if not sid or len(sid) > MAX_CALL_SID:
        return None
    return sid


class VoiceDesk:
    """Answers the voice webhooks of one app: Twilio's parameters in, a :class:`Reply` out, never an error."""

    def __init__(self, runner: CallRunner, settings: Settings, metrics: Metrics) -> None:
        self.runner = runner
        self.settings = settings
        self.metrics = metrics
        self._status_urls: dict[str, str] = {}

    def answer(self, work: str, params: Mapping[str, str], query: Mapping[str, str]) -> Reply:
        """Run ``work`` (:data:`INCOMING` or :data:`STEP`); whatever breaks, the caller hears a polite apology.

        ``params`` are the form's fields (NUL already dropped: :func:`clean`);
        ``query`` the URL's.
        """
        apologies = self.metrics.apologies
        if usable_sid(params) is None:
            log.warning("webhook without a usable CallSid (%d characters)", len(params.get("CallSid", "")))
            apologies.labels("bad request").inc()
            return Reply(apology(self.settings.voices), "")
        try:
            return self.runner.incoming(params) if work == INCOMING else self.runner.step(params, query)
        except StoreUnavailable as exc:
            log.error("store unavailable: %s", exc)
            apologies.labels("store").inc()
        except Exception:
            log.exception("webhook failed")
            apologies.labels("bug").inc()
        return Reply(apology(self.settings.voices), "")

    def headers(self, reply: Reply, script_root: str) -> list[tuple[str, str]]:
        """The answer's headers besides its type and length: for testers' tools, what the call did."""
        out = []
        if reply.node:
            # The simulator's flow coverage: where the call is, and how it got there.
            out.append(("X-IVR-Node", reply.node))
        if reply.path:
            out.append(("X-IVR-Path", ",".join(reply.path)))
        if reply.prompts:
            # The words of prompts played from files, for the simulator's caller's view (headers are ASCII).
            out.append(("X-IVR-Prompts", urlencode(reply.prompts)))
        # Where Twilio's console would send the status callback, for the simulator over --url (which cannot see it).
        out.append(("X-IVR-Status-Callback", self.status_callback_url(script_root)))
        return out

    def status_callback_url(self, script_root: str) -> str:
        """This app's status callback under ``script_root``: after ``IVR_PUBLIC_URL`` when set, else relative."""
        url = self._status_urls.get(script_root)
        if url is None:
            url = f"{self.settings.public_url or ''}{quote(script_root)}/status"
            self._status_urls[script_root] = url
        return url


def clean(form: Mapping[str, str]) -> dict[str, str]:
    """The form's parameters; NUL is never part of a real one, and PostgreSQL's text cannot hold it."""
    return {k: v.replace("\x00", "") for k, v in form.items()}


def desk() -> VoiceDesk:
    """This app's :class:`VoiceDesk`."""
    found: VoiceDesk = current_app.extensions["ivr_voice"]
    return found


def _answer(work: str) -> Response:
    params = clean(webhook_form())
    sid = usable_sid(params)
    if sid is not None:
        g.call_sid = sid  # the access log's
    d = desk()
    reply = d.answer(work, params, request.args)
    g.ivr_node, g.ivr_menu = reply.node, reply.menu_id  # the access log's, and the metrics' (observe_request)
    resp = Response(reply.twiml, status=200, mimetype="text/xml")
    for name, value in d.headers(reply, request.script_root):
        resp.headers[name] = value
    return resp


@bp.post("/voice")
@require_twilio_signature
def incoming() -> Response:
    """Twilio's incoming-call webhook: the URL to paste into the Twilio console."""
    return _answer(INCOMING)


@bp.post("/voice/step")
@require_twilio_signature
def step() -> Response:
    """A later step of a call, reached through the action and Redirect URLs the service writes."""
    return _answer(STEP)


@bp.post("/status")
@require_twilio_signature
def status() -> Response:
    """Twilio's status callback: records the call's final status and duration."""
    params = clean(webhook_form())
    sid = usable_sid(params)
    if sid is None:
        return Response("missing or malformed CallSid\n", status=400, mimetype="text/plain")
    g.call_sid = sid
    d = desk()
    try:
        known = d.runner.status(params)
        status = params.get("CallStatus", "completed")  # as the runner reads a callback without one
        if known and status not in ONGOING_STATUSES:
            # Only the final callback ends a call; the metric counts a status Twilio never sends as "other".
            d.metrics.calls_ended.labels(status).inc()
    except StoreUnavailable as exc:
        log.error("store unavailable: %s", exc)
        return Response("store unavailable\n", status=503, mimetype="text/plain")
    return Response("", status=204 if known else 404)
