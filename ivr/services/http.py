"""``http.request``: a request a menu makes to another service, only to hosts the operator allows.

A menu that names a URL must not make the hotline's server reach anywhere by
default, inside the operator's network included: with no host in
``IVR_HTTP_ALLOW_HOSTS`` (the default) nothing is sent and the outcome is
``offline``, which an imported Studio flow routes to a spoken stand-in.  An
allowed host gets one request with Studio's own limit of 10 seconds; redirects
are not followed (they could lead off the list), and at most
:data:`MAX_BODY_BYTES` of the answer are read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ivr.engine.events import ServiceDone
from ivr.errors import ServiceUnavailable
from ivr.services.registry import Handler, ServiceContext

__all__ = ["MAX_BODY_BYTES", "TIMEOUT_SECONDS", "http_request"]

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
"""Studio's limit on one HTTP Request or Run Function widget's request."""
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 100
_METHODS = ("GET", "POST")


def _allowed(url: str, hosts: tuple[str, ...]) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    with_port = f"{host}:{parts.port}" if parts.port else host
    return host in hosts or with_port in hosts


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
            log.info("call %s: http.request to %s not sent: host not in IVR_HTTP_ALLOW_HOSTS", ctx.call_sid, url[:200])
            return ServiceDone("offline")
        if method not in _METHODS:
            return ServiceDone("failed", {"status_code": "0", "body": f"method {method} is not supported"})
        content_type = args.get("content_type") or "application/x-www-form-urlencoded"
        body = (args.get("body") or "").encode()
        http = client or httpx.Client()
        try:
            with http.stream(
                method,
                url,
                content=body if method == "POST" else None,
                headers={"Content-Type": content_type} if method == "POST" else None,
                timeout=TIMEOUT_SECONDS,
                follow_redirects=False,
            ) as answer:
                raw = b""
                for chunk in answer.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_BODY_BYTES:
                        raw = raw[:MAX_BODY_BYTES]
                        break
                status = answer.status_code
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{method} {url[:200]}: {type(exc).__name__}") from None
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
