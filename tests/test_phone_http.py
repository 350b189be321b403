"""The phone as Twilio's HTTP client: cookies per call, redirects and their signatures, the timeout, content types.

Every test runs a real HTTP server on 127.0.0.1 (a thread, closed at the end) and places calls to it.
"""

from __future__ import annotations

import io
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner, Result
from rich.console import Console
from twilio.request_validator import RequestValidator

from ivr.phone import events as ev
from ivr.phone.output import TranscriptPrinter
from ivr.phone.run import simulate
from tests.twiml_fixture_app import tone_wav

TOKEN = "phone-http-token"
TWIML = "text/xml"


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    host: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"<Response><Hangup/></Response>"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": TWIML})
    trickle: bool = False  # send the body one byte a second
    trickle_head: float = 0.0  # send the status line and headers one byte every this many seconds


Route = Callable[[Seen], Answer]


class Server:
    """A scripted HTTP server: ``routes`` maps a path to what it answers; ``seen`` records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else parts.query
                seen = Seen(
                    self.command,
                    parts.path,
                    self.headers.get("Host", ""),
                    dict(self.headers.items()),
                    dict(urllib.parse.parse_qsl(raw)),
                )
                outer.seen.append(seen)
                route = outer.routes.get(parts.path)
                answer = route(seen) if route else Answer(404, b"not found", {"Content-Type": "text/html"})
                if answer.trickle_head:
                    self._trickle_head(answer)
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                try:
                    if not answer.trickle:
                        self.wfile.write(answer.body)
                        return
                    for byte in answer.body[:20]:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(1.0)
                except OSError:
                    pass  # the client gave up

            def _trickle_head(self, answer: Answer) -> None:
                # Written by hand: http.server buffers the head and sends it in one go.
                # "Connection: close": this handler serves one request per connection.
                lines = [f"HTTP/1.1 {answer.status} Slow", "Connection: close", f"Content-Length: {len(answer.body)}"]
                lines += [f"{name}: {value}" for name, value in answer.headers.items()]
                head = ("\r\n".join(lines) + "\r\n\r\n").encode()
                try:
                    for byte in head:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(answer.trickle_head)
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up

            do_GET = _handle
            do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


def _twiml(inner: str) -> Answer:
    return Answer(body=f"<Response>{inner}</Response>".encode())


def _said(result: object) -> list[str]:
    return [e.text for e in result.events if isinstance(e, ev.SayEvent)]  # type: ignore[attr-defined]


def test_a_cookie_set_on_one_answer_comes_back_on_the_next_request_of_that_call_only(server: Server) -> None:
    server.routes["/first"] = lambda s: Answer(
        body=b"<Response><Redirect>/second</Redirect></Response>",
        headers={"Content-Type": TWIML, "Set-Cookie": "session=abc123; Path=/"},
    )
    server.routes["/second"] = lambda s: _twiml("<Hangup/>")
    result = simulate(f"{server.base}/first", [])
    assert result.reason == "hangup"
    assert "session=abc123" in server.requests_to("/second")[0].headers.get("Cookie", "")
    simulate(f"{server.base}/first", [])  # another call starts with an empty jar
    assert "Cookie" not in server.requests_to("/first")[1].headers


def test_a_307_is_followed_with_post_the_same_body_and_a_signature_for_its_own_url(server: Server) -> None:
    server.routes["/moved"] = lambda s: Answer(307, b"", {"Location": "/landed?x=1"})
    server.routes["/landed"] = lambda s: _twiml("<Say>landed</Say>")
    result = simulate(f"{server.base}/moved", [], auth_token=TOKEN)
    first, followed = server.requests_to("/moved")[0], server.requests_to("/landed")[0]
    assert followed.method == "POST" and followed.params == first.params and first.params["CallSid"]
    validator = RequestValidator(TOKEN)
    assert validator.validate(f"{server.base}/moved", first.params, first.headers["X-Twilio-Signature"])
    landed = f"{server.base}/landed?x=1"
    assert validator.validate(landed, followed.params, followed.headers["X-Twilio-Signature"])
    assert not validator.validate(landed, followed.params, first.headers["X-Twilio-Signature"])
    hop = next(e for e in result.events if isinstance(e, ev.HttpRedirect))
    assert (hop.status, hop.method, hop.url, hop.other_host) == (307, "POST", landed, False)
    assert _said(result)[0] == "landed"


def test_urls_in_a_redirected_answer_are_relative_to_where_it_came_from(server: Server) -> None:
    server.routes["/old/menu"] = lambda s: Answer(307, b"", {"Location": "/new/menu"})
    server.routes["/new/menu"] = lambda s: _twiml("<Redirect>next</Redirect>")
    server.routes["/new/next"] = lambda s: _twiml("<Hangup/>")
    server.routes["/old/next"] = lambda s: _twiml("<Say>the old place</Say>")
    result = simulate(f"{server.base}/old/menu", [])
    assert result.reason == "hangup" and len(server.requests_to("/new/next")) == 1
    assert server.requests_to("/old/next") == []


def test_a_302_is_followed_with_a_get_without_the_body(server: Server) -> None:
    server.routes["/found"] = lambda s: Answer(302, b"", {"Location": "/got"})
    server.routes["/got"] = lambda s: _twiml("<Hangup/>")
    simulate(f"{server.base}/found", [], auth_token=TOKEN)
    got = server.requests_to("/got")[0]
    assert got.method == "GET" and got.params == {}
    assert RequestValidator(TOKEN).validate(f"{server.base}/got", {}, got.headers["X-Twilio-Signature"])


def test_a_trickling_answer_ends_within_the_timeout_with_a_failure(server: Server) -> None:
    from ivr.cli import main

    body = b"<Response><Say>slow</Say></Response>"
    server.routes["/trickle"] = lambda s: Answer(body=body, trickle=True)
    started = time.monotonic()
    run = CliRunner().invoke(
        main, ["simulate", "--url", f"{server.base}/trickle", "--timeout", "1", "--keys", "", "--mute"]
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1 + 4, elapsed
    assert run.exit_code != 0 and "within 1 s" in run.output and "Traceback" not in run.output


def _simulate_with_timeout(url: str, timeout: str = "1") -> tuple[Result, float]:
    from ivr.cli import main

    started = time.monotonic()
    run = CliRunner().invoke(main, ["simulate", "--url", url, "--timeout", timeout, "--keys", "", "--mute"])
    return run, time.monotonic() - started


def test_a_trickling_status_line_and_headers_end_within_the_timeout_with_a_failure(server: Server) -> None:
    # httpx's timeouts bound each socket read; a head arriving a byte a second never trips them.
    server.routes["/slow-head"] = lambda s: Answer(trickle_head=1.0)
    run, elapsed = _simulate_with_timeout(f"{server.base}/slow-head")
    assert elapsed < 1 + 3, elapsed  # the head alone would take over a minute
    assert run.exit_code != 0 and f"no answer from {server.base}/slow-head within 1 s" in run.output, run.output
    assert "Traceback" not in run.output and isinstance(run.exception, SystemExit), run.exception


def test_a_chain_of_slow_redirects_ends_within_the_timeout_with_a_failure(server: Server) -> None:
    # Each hop's head takes under a second to arrive, within the timeout on its own; the whole chain does not.
    hops = iter(range(1, 100))
    server.routes["/hop"] = lambda s: Answer(307, b"", {"Location": f"/hop?n={next(hops)}"}, trickle_head=0.01)
    run, elapsed = _simulate_with_timeout(f"{server.base}/hop")
    assert elapsed < 1 + 3, elapsed
    assert run.exit_code != 0 and "within 1 s" in run.output, run.output
    assert "Traceback" not in run.output
    assert 2 <= len(server.requests_to("/hop")) <= 4  # it followed the chain until the time was up


def test_a_redirect_to_ftp_is_refused_without_connecting(server: Server) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.3)
        ftp = f"ftp://127.0.0.1:{listener.getsockname()[1]}/twiml.xml"
        server.routes["/ftp"] = lambda s: Answer(302, b"", {"Location": ftp})
        result = simulate(f"{server.base}/ftp", [])
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody connected
    error = next(e for e in result.events if isinstance(e, ev.ErrorEvent))
    assert ftp in error.message and "only http and https" in error.message
    assert result.exit_code == 1


def test_a_redirect_to_another_host_is_named_and_goes_unsigned(server: Server) -> None:
    other = f"http://localhost:{server.port}/elsewhere"
    server.routes["/away"] = lambda s: Answer(307, b"", {"Location": other})
    server.routes["/elsewhere"] = lambda s: _twiml("<Say>elsewhere</Say>")
    out = io.StringIO()
    printer = TranscriptPrinter(Console(file=out, width=200, highlight=False))
    result = simulate(f"{server.base}/away", [], auth_token=TOKEN, on_event=printer)
    assert "X-Twilio-Signature" in server.requests_to("/away")[0].headers
    landed = server.requests_to("/elsewhere")[0]
    assert landed.host == f"localhost:{server.port}" and "X-Twilio-Signature" not in landed.headers
    assert f"localhost:{server.port}" in out.getvalue() and "without X-Twilio-Signature" in out.getvalue()
    hop = next(e for e in result.events if isinstance(e, ev.HttpRedirect))
    assert hop.other_host and hop.url == other
    assert _said(result)[0] == "elsewhere"


def test_a_403_says_to_pass_the_auth_token(server: Server) -> None:
    server.routes["/guarded"] = lambda s: Answer(403, b"forbidden", {"Content-Type": "text/plain"})
    unsigned = simulate(f"{server.base}/guarded", [])
    error = next(e for e in unsigned.events if isinstance(e, ev.ErrorEvent))
    assert error.status == 403 and "--auth-token" in error.message and "TWILIO_AUTH_TOKEN" in error.message
    signed = simulate(f"{server.base}/guarded", [], auth_token="wrong")
    error = next(e for e in signed.events if isinstance(e, ev.ErrorEvent))
    assert "does not match" in error.message and signed.exit_code == 1


def test_an_audio_answer_is_played_then_the_call_ends(server: Server) -> None:
    server.routes["/audio"] = lambda s: Answer(body=tone_wav(1.0), headers={"Content-Type": "audio/wav"})
    result = simulate(f"{server.base}/audio", [])
    plays = [e for e in result.events if isinstance(e, ev.PlayEvent)]
    assert [p.url for p in plays] == [f"{server.base}/audio"] and plays[0].seconds == pytest.approx(1.0, abs=0.01)
    assert result.reason == "hangup" and result.exit_code == 0  # Twilio plays it, then hangs up
    assert len(server.requests_to("/audio")) == 1  # played from the answer, not fetched again


def test_a_plain_text_answer_is_read_out(server: Server) -> None:
    server.routes["/text"] = lambda s: Answer(body=b"Hello from plain text", headers={"Content-Type": "text/plain"})
    result = simulate(f"{server.base}/text", [])
    assert _said(result) == ["Hello from plain text"]
    assert result.reason == "hangup" and result.exit_code == 0  # Twilio reads it out, then hangs up


def test_an_in_process_call_keeps_its_cookies_too() -> None:
    from flask import Flask, Response, request

    app = Flask(__name__)
    cookies: list[str | None] = []

    @app.post("/voice")
    def voice() -> Response:
        cookies.append(request.cookies.get("session"))
        response = Response("<Response><Redirect>/voice/next</Redirect></Response>", mimetype="text/xml")
        response.set_cookie("session", "in-process")
        return response

    @app.post("/voice/next")
    def after() -> Response:
        cookies.append(request.cookies.get("session"))
        return Response("<Response><Hangup/></Response>", mimetype="text/xml")

    simulate(app, [])
    simulate(app, [])
    assert cookies == [None, "in-process", None, "in-process"]  # kept within a call, not across calls
