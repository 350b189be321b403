"""Webhook clients: how the simulator reaches the application, in-process or over HTTP.

Both adapters take a :class:`WebhookRequest` and give a :class:`WebhookResponse`,
or raise :class:`TransportError` when no HTTP answer came at all (refused
connection, timeout).  An HTTP error status is an answer, not an exception: the
interpreter decides what Twilio would make of it.

Requests are signed as Twilio signs them when an auth token is given: the
``X-Twilio-Signature`` header is the HMAC-SHA1 of the full URL followed by the
sorted POST parameters (see :func:`sign`).  Over HTTP, each request that follows
a redirect is signed again for its own URL, and never when it goes to another
host (see :class:`HttpClient` and docs/simulator.md, "HTTP behaviour").

One client serves one call: it keeps the cookies the application sets for that
call only.  Twilio "accepts HTTP cookies and will include them in each request,
just like a normal web browser" and follows HTTP redirects
(https://www.twilio.com/docs/api/twiml/your_response).
"""

from __future__ import annotations

import importlib
import ssl
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol
from wsgiref.types import WSGIApplication

import httpcore
import httpx

__all__ = [
    "Hop",
    "HttpClient",
    "TransportError",
    "WebhookClient",
    "WebhookRequest",
    "WebhookResponse",
    "WsgiClient",
    "sign",
]

DEFAULT_TIMEOUT = 15.0
"""Twilio gives up on a webhook after 15 seconds."""
MAX_BODY = 10 * 1024 * 1024
"""Bodies are read up to this size (audio included); a longer one is cut, and is then not valid TwiML."""
MAX_REDIRECTS = 10
"""HTTP redirects followed for one request before giving up."""
USER_AGENT = "TwilioProxy/1.1 (ivr simulator)"
SIGNATURE_HEADER = "X-Twilio-Signature"

# Twilio follows only these redirect statuses ("Twilio will only follow redirects for status
# codes 301, 302, 303, and 307"; any other 3xx, or one without a Location, is error 11216):
# https://www.twilio.com/docs/api/errors/11216
_TO_GET = frozenset({301, 302, 303})  # followed with a GET and no body, as HTTP clients do (RFC 9110 15.4)
_KEEP_METHOD = frozenset({307})  # followed with the same method and body (RFC 9110 15.4.8)


class TransportError(Exception):
    """No HTTP answer: the connection failed or timed out."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One request, as Twilio would send it: ``params`` go in the body (POST) or the query (GET).

    ``auth_token``, when set, lets a client sign again each request that follows a redirect.
    """

    method: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    auth_token: str | None = field(default=None, repr=False, compare=False)

    @property
    def full_url(self) -> str:
        """The URL requested: for GET, with the parameters in the query string."""
        if self.method != "GET" or not self.params:
            return self.url
        joiner = "&" if urllib.parse.urlsplit(self.url).query else "?"
        return self.url + joiner + urllib.parse.urlencode(self.params)


@dataclass(frozen=True, slots=True)
class Hop:
    """One HTTP redirect followed: the status that sent it, and the request that followed it."""

    status: int
    method: str
    url: str
    other_host: bool
    """The redirect left the host of the first request: the request went unsigned."""


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """An HTTP answer; ``redirects`` lists the HTTP redirects followed to get it, in order."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    redirects: tuple[Hop, ...] = ()

    def header(self, name: str) -> str | None:
        """A header's value, whatever its case."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def content_type(self) -> str:
        """The media type, without parameters, in lower case."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()


class WebhookClient(Protocol):
    """Sends a webhook request and returns the answer."""

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """Send ``request``; raise :class:`TransportError` if no answer came."""
        ...


def sign(auth_token: str, request: WebhookRequest) -> str:
    """The ``X-Twilio-Signature`` Twilio would send with ``request``, computed by twilio's own validator."""
    # Looked up at run time: the twilio package ships no type information, and this keeps mypy strict here.
    validator = importlib.import_module("twilio.request_validator").RequestValidator(auth_token)
    params = dict(request.params) if request.method == "POST" else {}
    return str(validator.compute_signature(request.full_url, params))


class WsgiClient:
    """Calls a WSGI application in-process: no network, no server.

    Only URLs on ``base_url``'s host go to the app; anything else (audio on a
    CDN, say) is unreachable in-process and raises :class:`TransportError`.
    Cookies the app sets are sent back on the later requests of this client
    (one client, one call).
    """

    def __init__(self, app: WSGIApplication, base_url: str = "http://localhost/") -> None:
        # Imported here: werkzeug comes with Flask, and only this adapter needs it.
        from werkzeug.test import Client

        self.app = app
        self.base_url = base_url
        self._host = urllib.parse.urlsplit(base_url).netloc
        self._client = Client(app)  # its cookie jar is this call's

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """Run the request through the app."""
        from werkzeug.test import EnvironBuilder

        parts = urllib.parse.urlsplit(request.full_url)
        if parts.netloc != self._host:
            raise TransportError(f"{request.url} is not on the in-process app's host ({self._host})")
        builder = EnvironBuilder(
            path=parts.path or "/",
            base_url=f"{parts.scheme}://{parts.netloc}",
            query_string=parts.query,
            method=request.method,
            data=dict(request.params) if request.method == "POST" else None,
            headers=[("User-Agent", USER_AGENT), *request.headers.items()],
        )
        try:
            response = self._client.open(builder)
            try:
                body = response.get_data()
            finally:
                response.close()
        except Exception as exc:
            # The app broke without answering; a real server would have sent a 500.
            return WebhookResponse(500, f"{type(exc).__name__}: {exc}".encode(), {"Content-Type": "text/plain"})
        finally:
            builder.close()
        return WebhookResponse(response.status_code, body[:MAX_BODY], dict(response.headers.items()))


# -- the whole answer's deadline, down to each socket operation ---------------------------------------
#
# httpx's timeouts bound each socket operation, not an answer: a server sending its status
# line, its headers or its body a byte a second never trips them (encode/httpx#1450).  So the
# sockets themselves keep the deadline: HttpClient.send sets it for the exchange, and every
# connect, read and write waits at most until then.  Twilio, likewise, gives up on the whole
# answer after 15 seconds however it trickles in.

_DEADLINE: ContextVar[float | None] = ContextVar("ivr_phone_deadline", default=None)
"""When the answer being fetched in this thread must be complete (``time.monotonic()``), if any."""


@contextmanager
def _deadline(at: float) -> Iterator[None]:
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _until_deadline(timeout: float | None, late: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to the time left before the deadline; ``late`` raised once it has passed."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:  # never 0 to a socket: that would make it non-blocking, not a timeout
        raise late("the answer did not complete before its deadline")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _until_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _until_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _until_deadline(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, each connection a :class:`_DeadlineStream`."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _until_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _until_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport on :class:`_DeadlineBackend`.

    httpx takes no network backend, so its connection pool is replaced by an equal one
    (httpx's default limits) that has it.  Should httpx stop keeping its pool there, this
    fails at once rather than quietly losing the deadline.
    """

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx.HTTPTransport no longer keeps its pool in _pool; see ivr.phone.client")
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_DeadlineBackend(),
        )


class HttpClient:
    """Calls webhooks over HTTP(S) with httpx, as Twilio does.

    - one cookie jar per client, that is per call;
    - redirects followed hop by hop (301/302/303 as a GET without body, 307 with the same
      method and body), each hop signed for its own URL, and never signed off the first
      request's host; a scheme other than http(s) is refused before connecting;
    - ``timeout`` bounds the whole answer, redirects included, however slowly its status
      line, headers or body trickle in: every socket operation ends by the deadline.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._client = httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
            transport=_DeadlineTransport(),
        )

    def close(self) -> None:
        """Close the connections; the cookies go with them."""
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """Send the request; follow redirects; an HTTP error status is returned, not raised."""
        deadline = time.monotonic() + self.timeout
        with _deadline(deadline):
            return self._send(request, deadline)

    def _send(self, request: WebhookRequest, deadline: float) -> WebhookResponse:
        origin = _origin(request.url)
        current = request
        hops: list[Hop] = []
        while True:
            _check_scheme(current.url, redirected=bool(hops))
            other_host = _origin(current.url) != origin
            headers = {k: v for k, v in request.headers.items() if k.lower() != SIGNATURE_HEADER.lower()}
            if not other_host and request.auth_token:
                # Twilio signs each request with the URL it is sent to:
                # https://www.twilio.com/docs/usage/security#validating-requests
                headers[SIGNATURE_HEADER] = sign(request.auth_token, current)
            elif not other_host and not hops:
                headers = dict(request.headers)  # a signature the caller computed itself, first hop only
            status, body, response_headers = self._exchange(current, headers, deadline)
            location = response_headers.get("location")
            if status not in _TO_GET | _KEEP_METHOD or not location:
                return WebhookResponse(status, body, dict(response_headers.items()), tuple(hops))
            if len(hops) >= MAX_REDIRECTS:
                raise TransportError(f"more than {MAX_REDIRECTS} redirects from {request.url}")
            target = urllib.parse.urljoin(current.full_url, location)
            if status in _TO_GET:
                current = WebhookRequest("GET", target, {}, auth_token=request.auth_token)
            else:
                current = WebhookRequest(current.method, target, current.params, auth_token=request.auth_token)
            hops.append(Hop(status, current.method, target, _origin(target) != origin))

    def _exchange(
        self, request: WebhookRequest, headers: Mapping[str, str], deadline: float
    ) -> tuple[int, bytes, httpx.Headers]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportError(f"no complete answer from {request.url} within {self.timeout:g} s")
        data = dict(request.params) if request.method == "POST" else None
        try:
            with self._client.stream(
                request.method, request.full_url, data=data, headers=dict(headers), timeout=httpx.Timeout(remaining)
            ) as resp:
                chunks: list[bytes] = []
                size = 0
                try:
                    for chunk in resp.iter_bytes():  # each read ends by the deadline (_DeadlineStream)
                        chunks.append(chunk)
                        size += len(chunk)
                        if size >= MAX_BODY:
                            break
                except httpx.TimeoutException:  # the answer began, and came too slowly
                    raise TransportError(f"no complete answer from {request.url} within {self.timeout:g} s") from None
                return resp.status_code, b"".join(chunks)[:MAX_BODY], resp.headers
        except httpx.TimeoutException:  # no status line and headers in time: no HTTP answer at all
            raise TransportError(f"no answer from {request.url} within {self.timeout:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            raise TransportError(f"cannot reach {request.url}: {exc}") from None


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _check_scheme(url: str, *, redirected: bool) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        what = "refused a redirect to" if redirected else "cannot fetch"
        raise TransportError(f"{what} {url!r}: only http and https URLs are fetched")
