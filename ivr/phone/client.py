"""Webhook clients: how the simulator reaches the application, in-process or over HTTP.

Both adapters take a :class:`WebhookRequest` and give a :class:`WebhookResponse`,
or raise :class:`TransportError` when no HTTP answer came at all (refused
connection, timeout).  An HTTP error status is an answer, not an exception: the
interpreter decides what Twilio would make of it.

Requests are signed as Twilio signs them when an auth token is given: the
``X-Twilio-Signature`` header is the HMAC-SHA1 of the full URL followed by the
sorted POST parameters (see :func:`sign`).
"""

from __future__ import annotations

import http.client
import importlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from wsgiref.types import WSGIApplication

__all__ = [
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
USER_AGENT = "TwilioProxy/1.1 (ivr simulator)"


class TransportError(Exception):
    """No HTTP answer: the connection failed or timed out."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One request, as Twilio would send it: ``params`` go in the body (POST) or the query (GET)."""

    method: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def full_url(self) -> str:
        """The URL requested: for GET, with the parameters in the query string."""
        if self.method != "GET" or not self.params:
            return self.url
        joiner = "&" if urllib.parse.urlsplit(self.url).query else "?"
        return self.url + joiner + urllib.parse.urlencode(self.params)


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """An HTTP answer."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

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
    """

    def __init__(self, app: WSGIApplication, base_url: str = "http://localhost/") -> None:
        self.app = app
        self.base_url = base_url
        self._host = urllib.parse.urlsplit(base_url).netloc

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """Run the request through the app."""
        # Imported here: werkzeug comes with Flask, and only this adapter needs it.
        from werkzeug.test import EnvironBuilder, run_wsgi_app

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
            environ = builder.get_environ()
            app_iter, status, headers = run_wsgi_app(self.app, environ)
            try:
                body = b"".join(app_iter)
            finally:
                close = getattr(app_iter, "close", None)
                if close is not None:
                    close()
        except Exception as exc:
            # The app broke without answering; a real server would have sent a 500.
            return WebhookResponse(500, f"{type(exc).__name__}: {exc}".encode(), {"Content-Type": "text/plain"})
        finally:
            builder.close()
        return WebhookResponse(int(status.split()[0]), body[:MAX_BODY], dict(headers.items()))


class HttpClient:
    """Calls webhooks over HTTP(S) with the standard library, with Twilio's timeout."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """Send the request; follow redirects; an HTTP error status is returned, not raised."""
        scheme = urllib.parse.urlsplit(request.url).scheme
        if scheme not in ("http", "https"):
            raise TransportError(f"cannot fetch {request.url!r}: only http and https URLs")
        data = urllib.parse.urlencode(request.params).encode() if request.method == "POST" else None
        req = urllib.request.Request(
            request.full_url,
            data=data,
            method=request.method,
            headers={"User-Agent": USER_AGENT, **request.headers},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return WebhookResponse(resp.status, resp.read(MAX_BODY), dict(resp.headers.items()))
        except urllib.error.HTTPError as exc:
            with exc:
                body = exc.read(MAX_BODY)
            return WebhookResponse(exc.code, body, dict(exc.headers.items()))
        except TimeoutError:
            raise TransportError(f"no answer from {request.url} within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise TransportError(f"no answer from {request.url} within {self.timeout:g} s") from None
            raise TransportError(f"cannot reach {request.url}: {reason}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise TransportError(f"cannot reach {request.url}: {exc}") from None
