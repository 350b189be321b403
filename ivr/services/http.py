"""``http.request``: a request a menu makes to another service, only to hosts the operator allows.

A menu that names a URL must not make the hotline's server reach anywhere by
default, inside the operator's network included: with no host in
``IVR_HTTP_ALLOW_HOSTS`` (the default) nothing is sent and the outcome is
``offline``, which an imported Studio flow routes to a spoken stand-in.  An
allowed host gets one request, on its scheme's own port unless the list names
another, and the whole exchange ends within :data:`TIMEOUT_SECONDS` (below
Twilio's 15 s for the webhook answer that waits on it, however slowly the
server trickles).  Redirects are not followed (they could lead off the list),
the answer is asked for uncompressed and read raw, so at most
:data:`MAX_BODY_BYTES` are ever held, and only the scheme and host reach the
logs: a URL may carry a caller's keys.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ivr.engine.events import ServiceDone
from ivr.errors import ServiceUnavailable
from ivr.services.registry import Handler, ServiceContext

__all__ = ["MAX_BODY_BYTES", "TIMEOUT_SECONDS", "http_request"]

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 8.0
"""The whole request's deadline: under Studio's 10 s per widget, and under Twilio's 15 s for the answer it delays."""
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 100
_METHODS = ("GET", "POST")


def _allowed(url: str, hosts: tuple[str, ...]) -> bool:
    """Whether ``url`` goes to a listed host: on its scheme's port, or on the port the list names with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is no number, or out of range
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    default = 443 if parts.scheme == "https" else 80
    if port is None or port == default:
        return host in hosts or f"{host}:{default}" in hosts
    return f"{host}:{port}" in hosts


def _where(url: str) -> str:
    """The scheme and host of ``url``, for logs: its path and query may hold a caller's keys."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}"[:200]
    except ValueError:
        return "(a malformed URL)"


def _fields(value: Any, prefix: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """A JSON answer as ``parsed.a.b`` = text pairs, as Studio's ``{{widgets.X.parsed.a.b}}`` reads them."""
    if isinstance(value, dict) and depth < 3:
        for key, item in value.items():
            if isinstance(key, str) and key.replace("_", "").replace("-", "").isalnum():
                yield from _fields(item, f"{prefix}.{key}", depth + 1)
    elif isinstance(value, (str, int, float, bool)) and not isinstance(value, dict):
        yield prefix, (json.dumps(value) if isinstance(value, bool) else str(value))


def http_request(allow_hosts: tuple[str, ...], client: httpx.Client | None = None) -> Handler:
    """The ``http.request`` handler for the hosts of ``allow_hosts`` (none: every request is ``offline``)."""

    def handle(args: Mapping[str, str | None], ctx: ServiceContext) -> ServiceDone:
        url = (args.get("url") or "").strip()
        method = (args.get("method") or "GET").upper()
        if not allow_hosts or not _allowed(url, allow_hosts):
            log.info("call %s: http.request to %s not sent: not in IVR_HTTP_ALLOW_HOSTS", ctx.call_sid, _where(url))
            return ServiceDone("offline")
        if method not in _METHODS:
            return ServiceDone("failed", {"status_code": "0", "body": f"method {method} is not supported"})
        content_type = args.get("content_type") or "application/x-www-form-urlencoded"
        body = (args.get("body") or "").encode()
        headers = {"Accept-Encoding": "identity"}
        if method == "POST":
            headers["Content-Type"] = content_type
        deadline = time.monotonic() + TIMEOUT_SECONDS
        http = client or httpx.Client()
        try:
            with http.stream(
                method,
                url,
                content=body if method == "POST" else None,
                headers=headers,
                timeout=TIMEOUT_SECONDS / 2,
                follow_redirects=False,
            ) as answer:
                raw = b""
                # Raw bytes: a compressed answer could unpack to far more than it sent.
                # (A transport that read the answer ahead has it whole already.)
                chunks = [answer.content] if answer.is_stream_consumed else answer.iter_raw()
                for chunk in chunks:
                    raw += chunk
                    if len(raw) > MAX_BODY_BYTES or time.monotonic() > deadline:
                        break
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(f"{method} {_where(url)}: no whole answer in {TIMEOUT_SECONDS:g} s")
                raw = raw[:MAX_BODY_BYTES]
                status = answer.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ServiceUnavailable(f"{method} {_where(url)}: {type(exc).__name__}") from None
        finally:
            if client is None:
                http.close()
        text = raw.decode("utf-8", errors="replace")
        data = {"status_code": str(status), "body": text[:4000]}
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        for i, (name, value) in enumerate(_fields(parsed, "parsed")):
            if i >= MAX_FIELDS:
                break
            data[name] = value[:1000]
        return ServiceDone("success" if 200 <= status < 300 else "failed", data)

    return handle
