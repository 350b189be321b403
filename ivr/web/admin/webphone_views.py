"""The browser phone's page and its JSON API (all behind the admin login).

- ``POST /admin/phone/calls``: place a call; 201 with its id and URLs, 429 when too many are in progress.
- ``GET /admin/phone/calls/<id>/events?after=N&wait=S``: the call's events from number N on,
  waiting up to S seconds (at most 20) for one to come; ``ended`` once the call is over.
- ``POST /admin/phone/calls/<id>/keys`` with ``{"keys": "1"}``: press keys (0-9, * and #).
- ``POST /admin/phone/calls/<id>/hangup``: hang up.
- ``GET /admin/phone/calls/<id>/speech/<clip>``: a prompt as ``audio/wav``, by the ``clip`` URL
  its event carries (an opaque id, never the prompt's words: a read-back's digits stay out of
  URLs and logs); 422 with a JSON error when this prompt cannot be spoken, 503 when speech
  synthesis is off or broken (the page then shows the text only).  Not cached by the browser.

POSTs need the ``X-CSRF-Token`` header (the page has the token in a meta tag).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr.errors import StaleStateError
from ivr.phone.callers import DTMF
from ivr.storage.db import StoreUnavailable
from ivr.web.admin.auth import session_uid
from ivr.web.admin.blueprint import admin_state, bp, ivr_state
from ivr.web.admin.i18n import menu_language
from ivr.web.admin.webphone import PhoneBusy, PhoneCall
from ivr.web.admin.webphone_clips import SayClip
from ivr.web.admin.webphone_speech import SpeechCache, SpeechUnavailable, UnspeakableText

__all__: list[str] = []

MAX_WAIT = 20.0
"""The longest a poll waits for news, so proxies do not time it out."""
MAX_KEYS = 32


def _call(call_id: str) -> PhoneCall | None:
    return admin_state().phone.get(call_id, session_uid())


def _no_call() -> ResponseReturnValue:
    return jsonify(error="no such call (it ended a while ago, or lives in another server process)"), 404


@bp.get("/phone")
def phone() -> ResponseReturnValue:
    """The phone: a keypad, the transcript, and the prompts' audio."""
    # Several processes cannot share the calls; one thread cannot wait for news and take keys at once.
    multiprocess = bool(request.environ.get("wsgi.multiprocess"))
    threaded = bool(request.environ.get("wsgi.multithread"))
    return render_template(
        "admin/phone.html",
        page_name="phone",
        multiprocess=multiprocess,
        threaded=threaded,
        speech=admin_state().phone.speech is not None,
    )


@bp.post("/phone/calls")
def api_start() -> ResponseReturnValue:
    """Place a call to the hotline."""
    try:
        call = admin_state().phone.start(session_uid(), speech_base=url_for("admin.phone") + "/calls/")
    except PhoneBusy as exc:
        return jsonify(error=str(exc)), 429
    return jsonify(
        id=call.id,
        events=url_for("admin.api_events", call_id=call.id),
        keys=url_for("admin.api_keys", call_id=call.id),
        hangup=url_for("admin.api_hangup", call_id=call.id),
    ), 201


@bp.get("/phone/calls/<call_id>/events")
def api_events(call_id: str) -> ResponseReturnValue:
    """The call's events from ``after`` on, waiting up to ``wait`` seconds for news."""
    call = _call(call_id)
    if call is None:
        return _no_call()
    try:
        after = max(0, int(request.args.get("after", "0")))
        wait = min(MAX_WAIT, max(0.0, float(request.args.get("wait", "0"))))
    except ValueError:
        return jsonify(error="after must be a whole number and wait a number of seconds"), 400
    if not request.environ.get("wsgi.multithread"):
        wait = 0.0  # a single-threaded server would take no keys while this request waits
    events, ended, reason = call.since(after, wait)
    return jsonify(
        events=_titled(events, call.call_sid),
        next=after + len(events),
        ended=ended,
        reason=reason,
        call_sid=call.call_sid,
    )


def _titled(events: list[dict[str, Any]], call_sid: str) -> list[dict[str, Any]]:
    """The events, each that names a node with its title in the page's language, from the menu the call began on."""
    if not any(e.get("node") for e in events):
        return events
    state = ivr_state()
    try:
        stored = state.runner.store.load(call_sid)
        menu = state.menus.keep(stored.publication if stored else None).menu
    except (StoreUnavailable, StaleStateError):
        menu = state.menus.offline().menu
    language = menu_language(menu)
    return [{**e, "title": menu.node_title(str(e["node"]), language)} if e.get("node") else e for e in events]


@bp.post("/phone/calls/<call_id>/keys")
def api_keys(call_id: str) -> ResponseReturnValue:
    """Press keys on the call."""
    call = _call(call_id)
    if call is None:
        return _no_call()
    body = request.get_json(silent=True)
    keys = body.get("keys") if isinstance(body, dict) else request.form.get("keys")
    if not isinstance(keys, str) or not 0 < len(keys) <= MAX_KEYS or any(k not in DTMF for k in keys):
        return jsonify(error=f"keys must be 1 to {MAX_KEYS} of 0-9, * and #"), 400
    if call.ended:
        return jsonify(error="the call has ended"), 409
    call.touch()
    call.caller.press(keys)
    return jsonify(accepted=keys), 202


@bp.post("/phone/calls/<call_id>/hangup")
def api_hangup(call_id: str) -> ResponseReturnValue:
    """Hang up the call."""
    call = _call(call_id)
    if call is None:
        return _no_call()
    call.caller.hang_up()
    return jsonify(ended=True), 202


@bp.get("/phone/calls/<call_id>/speech/<clip_id>")
def api_speech(call_id: str, clip_id: str) -> ResponseReturnValue:
    """A prompt of the call as ``audio/wav``, by its clip id."""
    call = _call(call_id)
    if call is None:
        return _no_call()
    clip = call.clips.get(clip_id)
    if clip is None:
        return jsonify(error="no such prompt in this call (or no longer kept)"), 404
    if isinstance(clip, SayClip):
        speech: SpeechCache | None = admin_state().phone.speech
        if speech is None:
            return jsonify(error="speech synthesis is turned off for the phone"), 503
        try:
            data = speech.wav(clip.text, clip.language)
        except UnspeakableText as exc:
            return jsonify(error=str(exc)), 422
        except SpeechUnavailable as exc:
            return jsonify(error=str(exc)), 503
    else:
        data = clip.wav
        if not data:
            return jsonify(error="none of this prompt's audio files could be read"), 422
    return Response(data, mimetype="audio/wav")
