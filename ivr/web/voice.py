"""The voice webhooks: ``POST /voice`` (incoming call), ``/voice/step`` (every later step), ``/status``."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, request, url_for

from ivr.storage.db import StoreUnavailable
from ivr.web.calls import ONGOING_STATUSES, CallRunner, Reply
from ivr.web.forms import webhook_form
from ivr.web.security import require_twilio_signature
from ivr.web.twiml import apology

__all__ = ["bp"]

log = logging.getLogger("ivr.voice")

bp = Blueprint("voice", __name__)

MAX_CALL_SID = 64
"""Twilio's CallSids are 34 characters; anything much longer is not one."""


def _twiml(
    body: str, node: str = "", path: tuple[str, ...] = (), prompts: tuple[tuple[str, str], ...] = ()
) -> Response:
    resp = Response(body, status=200, mimetype="text/xml")
    if node:
        # For testers' tools (the simulator's flow coverage): where the call is, and how it got there.
        resp.headers["X-IVR-Node"] = node
        g.ivr_node = node
    if path:
        resp.headers["X-IVR-Path"] = ",".join(path)
    if prompts:
        # The words of prompts played from files, for the simulator's caller's view (form-encoded: headers are ASCII).
        resp.headers["X-IVR-Prompts"] = urlencode(prompts)
    # Where Twilio's console would send the status callback, for the simulator over --url (which cannot see it).
    resp.headers["X-IVR-Status-Callback"] = _status_callback_url()
    return resp


def _status_callback_url() -> str:
    """This app's status callback: ``IVR_PUBLIC_URL`` + ``/status`` when that is set, else relative."""
    # The same for every request under one mount point: worked out once for each.
    known: dict[str, str] = current_app.extensions.setdefault("ivr_status_urls", {})
    url = known.get(request.script_root)
    if url is None:
        public_url: str | None = current_app.extensions["ivr"].settings.public_url
        path = url_for("voice.status")
        url = known[request.script_root] = f"{public_url}{path}" if public_url else path
    return url


def _runner() -> CallRunner:
    runner: CallRunner = current_app.extensions["ivr"].runner
    return runner


def _params() -> dict[str, str]:
    """The form's parameters; NUL is never part of a real one, and PostgreSQL's text cannot hold it."""
    return {k: v.replace("\x00", "") for k, v in webhook_form().items()}


def _usable_sid(params: dict[str, str]) -> str | None:
    """The request's CallSid, or None when it has none or one no Twilio call could have.

    Only a usable one becomes ``g.call_sid``, which the access log writes: a
    60 KB "CallSid" must not reach the logs, nor the store.
    """
    sid = params.get("CallSid", "")
    if not sid or len(sid) > MAX_CALL_SID:
        return None
    g.call_sid = sid
    return sid


def _answer(work: str) -> Response:
    """Run a webhook; whatever breaks, the caller hears a polite apology, never Twilio's error."""
    params = _params()
    sid = _usable_sid(params)
    voices = current_app.extensions["ivr"].settings.voices
    apologies = current_app.extensions["ivr_metrics"].apologies
    if sid is None:
        log.warning("webhook without a usable CallSid (%d characters)", len(params.get("CallSid", "")))
        apologies.labels("bad request").inc()
        return _twiml(apology(voices))
    try:
        reply: Reply = _runner().incoming(params) if work == "incoming" else _runner().step(params, request.args)
    except StoreUnavailable as exc:
        log.error("store unavailable: %s", exc)
        apologies.labels("store").inc()
        return _twiml(apology(voices))
    except Exception:
        log.exception("webhook failed")
        apologies.labels("bug").inc()
        return _twiml(apology(voices))
    if reply.menu_id:
        g.ivr_menu = reply.menu_id  # ivr_calls_started counts the call under its menu
    return _twiml(reply.twiml, reply.node, reply.path, reply.prompts)


@bp.post("/voice")
@require_twilio_signature
def incoming() -> Response:
    """Twilio's incoming-call webhook: the URL to paste into the Twilio console."""
    return _answer("incoming")


@bp.post("/voice/step")
@require_twilio_signature
def step() -> Response:
    """A later step of a call, reached through the action and Redirect URLs the service writes."""
    return _answer("step")


@bp.post("/status")
@require_twilio_signature
def status() -> Response:
    """Twilio's status callback: records the call's final status and duration."""
    params = _params()
    if _usable_sid(params) is None:
        return Response("missing or malformed CallSid\n", status=400, mimetype="text/plain")
    try:
        known = _runner().status(params)
        status = params.get("CallStatus", "completed")  # as the runner reads a callback without one
        if known and status not in ONGOING_STATUSES:
            # Only the final callback ends a call; the metric counts a status Twilio never sends as "other".
            current_app.extensions["ivr_metrics"].calls_ended.labels(status).inc()
    except StoreUnavailable as exc:
        log.error("store unavailable: %s", exc)
        return Response("store unavailable\n", status=503, mimetype="text/plain")
    return Response("", status=204 if known else 404)
