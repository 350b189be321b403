"""A small TwiML server for the simulator's tests: one route per verb or rule.

Every request it receives is logged in ``app.config["LOG"]`` (method, path,
query, form, headers), so tests can check what the simulator sent.  Run it
in-process (it is a WSGI app) or over HTTP with :func:`serve`.
"""

from __future__ import annotations

import io
import math
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

AUTH_TOKEN = "fixture-secret"
LONG_PROMPT = "This prompt is long on purpose. " * 5  # 160 characters: about 11 s at 14 characters a second

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Response><Say>&lol9;</Say></Response>"""


def tone_wav(seconds: float = 1.0, rate: int = 16000, freq: float = 440.0) -> bytes:
    """A WAV of one tone, at a rate other than 8 kHz so the simulator has to resample it."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(
            b"".join(
                int(8000 * math.sin(2 * math.pi * freq * i / rate)).to_bytes(2, "little", signed=True) for i in range(n)
            )
        )
    return buf.getvalue()


def _xml(body: str, status: int = 200, node: str | None = None) -> Response:
    resp = Response(f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{body}</Response>', status, mimetype="text/xml")
    if node:
        resp.headers["X-IVR-Node"] = node
    return resp


def create_app() -> Flask:
    """The fixture app; ``app.config["LOG"]`` lists the requests it got."""
    app = Flask(__name__)
    app.config["LOG"] = []
    app.config["SLOW_SECONDS"] = 2.0

    @app.before_request
    def _log() -> None:
        current_app.config["LOG"].append(
            {
                "method": request.method,
                "path": request.path,
                "args": request.args.to_dict(),
                "form": request.form.to_dict(),
                "headers": dict(request.headers),
                "url": request.url,
            }
        )

    def p(name: str) -> str:
        return request.values.get(name, "")

    @app.route("/voice", methods=["GET", "POST"])
    def voice() -> Response:
        return _xml(
            '<Gather numDigits="1" action="/menu" timeout="5"><Say>Press 1 for news, 2 to leave a message.</Say>'
            "</Gather><Say>We did not hear from you. Goodbye.</Say><Hangup/>",
            node="main",
        )

    @app.post("/menu")
    def menu() -> Response:
        if p("Digits") == "1":
            return _xml("<Say>Today there is no news.</Say><Redirect>/voice</Redirect>", node="news")
        return _xml('<Say>Leave a message after the tone.</Say><Record action="/record/done" maxLength="30"/>')

    @app.post("/prompts")
    def prompts() -> Response:
        return _xml(
            '<Say loop="2" language="zh-CN" voice="Polly.Zhiyu">你好</Say><Pause length="2"/>'
            '<Play>/audio/tone.wav</Play><Play digits="1w2"/><Say voice="alice">bye</Say><Hangup/><Say>never</Say>'
        )

    @app.get("/audio/tone.wav")
    def audio() -> Response:
        return Response(tone_wav(), mimetype="audio/wav")

    @app.post("/gather/<kind>")
    def gather(kind: str) -> Response:
        attrs = {
            "finish": 'action="done" timeout="3"',
            "nofinish": 'action="done" finishOnKey="" timeout="3"',
            "numdigits": 'action="done" numDigits="3"',
            "empty": 'action="done" actionOnEmptyResult="true" timeout="4"',
            "long": 'action="done" timeout="5"',
            "barge": 'action="done" numDigits="1"',
            "get": 'action="done?x=1" method="GET" numDigits="1"',
        }[kind]
        say = LONG_PROMPT if kind in ("long", "barge") else f"gather {kind}"
        extra = "<Say>second prompt</Say>" if kind == "barge" else ""
        return _xml(f"<Gather {attrs}><Say>{say}</Say>{extra}</Gather><Say>fell through</Say>")

    @app.route("/gather/done", methods=["GET", "POST"])
    def gather_done() -> Response:
        return _xml(f"<Say>digits [{p('Digits')}] finished [{p('FinishedOnKey')}]</Say><Hangup/>")

    @app.post("/noaction")
    def noaction() -> Response:
        if "Digits" in request.form:
            return _xml(f"<Say>you pressed {p('Digits')}</Say><Hangup/>")
        return _xml('<Gather numDigits="1"><Say>press a key</Say></Gather><Redirect/>')

    @app.post("/redirect-loop")
    def redirect_loop() -> Response:
        return _xml("<Redirect>/redirect-loop</Redirect>")

    @app.post("/redirect-get")
    def redirect_get() -> Response:
        return _xml('<Redirect method="GET">echo?a=b</Redirect>')

    @app.route("/echo", methods=["GET", "POST"])
    def echo() -> Response:
        return _xml(f"<Say>{request.method} a={p('a')} status={p('CallStatus')}</Say>")

    @app.post("/dial")
    def dial() -> Response:
        return _xml('<Say>connecting</Say><Dial action="/dial/done" timeout="20"><Number>+8610000</Number></Dial>')

    @app.post("/dial/noaction")
    def dial_noaction() -> Response:
        return _xml("<Dial>+8610000</Dial><Say>after the dial</Say>")

    @app.post("/dial/done")
    def dial_done() -> Response:
        return _xml(f"<Say>dial {p('DialCallStatus')} {p('DialCallDuration') or 'none'}</Say><Hangup/>")

    @app.post("/record")
    def record() -> Response:
        return _xml('<Record action="/record/done" maxLength="30" finishOnKey="#"/><Say>no message</Say>')

    @app.post("/record/done")
    def record_done() -> Response:
        has_url = "yes" if p("RecordingUrl").startswith("https://") else "no"
        return _xml(f"<Say>recorded {p('RecordingDuration')} digits [{p('Digits')}] url {has_url}</Say><Hangup/>")

    @app.post("/reject")
    def reject() -> Response:
        return _xml('<Reject reason="busy"/>')

    @app.post("/unsupported")
    def unsupported() -> Response:
        return _xml("<Say>queueing</Say><Enqueue>support</Enqueue>")

    @app.post("/unknown-verb")
    def unknown_verb() -> Response:
        return _xml("<Say>hi</Say><Dance/>")

    @app.post("/bad-attribute")
    def bad_attribute() -> Response:
        return _xml('<Gather numDigits="two"/>')

    @app.post("/html")
    def html() -> Response:
        return Response("<!DOCTYPE html><html><body><p>Welcome!<br></body></html>", mimetype="text/html")

    @app.post("/bomb")
    def bomb() -> Response:
        return Response(BOMB, mimetype="text/xml")

    @app.post("/500")
    def error500() -> Response:
        return Response("boom", status=500)

    @app.post("/slow")
    def slow() -> Response:
        time.sleep(current_app.config["SLOW_SECONDS"])
        return _xml("<Say>too late</Say>")

    @app.post("/end-of-document")
    def end_of_document() -> Response:
        return _xml("<Say>that is all</Say>")

    @app.post("/quick")
    def quick() -> Response:
        return _xml('<Gather numDigits="1" action="/quick/done" timeout="1"><Say>hi</Say></Gather><Say>bye</Say>')

    @app.post("/quick/done")
    def quick_done() -> Response:
        return _xml(f"<Say>ok {p('Digits')}</Say><Hangup/>")

    @app.route("/status", methods=["GET", "POST"])
    def status() -> Response:
        return Response("", 204)

    @app.post("/signed")
    def signed() -> Response:
        validator = RequestValidator(AUTH_TOKEN)
        if not validator.validate(request.url, request.form.to_dict(), request.headers.get("X-Twilio-Signature", "")):
            return Response("bad signature", status=403)
        return _xml('<Say>signature ok</Say><Redirect method="GET">echo?a=signed</Redirect>')

    return app


@contextmanager
def serve(app: Flask | None = None) -> Iterator[tuple[str, Any]]:
    """Serve the fixture app over HTTP on a free port: yields (base URL, app)."""
    app = app or create_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(timeout=5)
