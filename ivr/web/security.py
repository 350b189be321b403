"""Checking that a webhook really comes from Twilio.

Twilio signs each request with the auth token over the exact URL it called
plus the POST parameters.  Behind a proxy the URL Flask sees differs from the
one Twilio called (http vs https, an internal host or port), so the URL is
rebuilt from the configured public base URL when there is one, or from the
``X-Forwarded-*`` headers of trusted proxies (applied by ProxyFix).

With neither, the scheme and host come from the request itself: its ``Host``
header, which the client chooses.  Production refuses that
(:meth:`ivr.config.Settings.check_production`); in development it is logged
once per app.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, Request, abort, current_app, request
from twilio.request_validator import RequestValidator

from ivr.config import Settings
from ivr.web.forms import webhook_form

__all__ = ["require_twilio_signature", "signature_valid", "signed_url", "signed_url_of", "warn_of_host_header"]

log = logging.getLogger("ivr.security")

F = TypeVar("F", bound=Callable[..., Any])


_HOST_WARNED = "ivr_signature_host_warned"


def signed_url(req: Request, settings: Settings) -> str:
    """The URL Twilio called to make ``req``, as it signed it.

    Behind ``IVR_PUBLIC_URL``, that base with the request's path as it was
    sent (under the app's mount point, percent-encoded) and its query.
    """
    return signed_url_of(req.url, settings)


def signed_url_of(url: str, settings: Settings) -> str:
    """What :func:`signed_url` says for a request whose full URL (quoted as it came) is ``url``."""
    if settings.public_url:
        sent = urlsplit(url)
        return settings.public_url + sent.path + (f"?{sent.query}" if sent.query else "")
    return url


def signature_valid(settings: Settings, url: str, params: Mapping[str, str], signature: str) -> bool:
    """Whether ``signature`` is Twilio's for ``url`` and the POST ``params``, with the configured auth token."""
    token = settings.twilio_auth_token
    if not token or not signature:
        return False
    validator = RequestValidator(token)
    if validator.validate(url, params, signature):
        return True
    # Twilio may sign a URL with its connection-override fragment, which never reaches us.
    override = settings.connection_override
    return bool(override) and validator.validate(f"{url}#{override}", params, signature)


def warn_of_host_header(app: Flask, settings: Settings) -> None:
    """Say once per app that signatures are checked against the URL each request's ``Host`` header names."""
    if settings.public_url or settings.trusted_proxies or app.extensions.get(_HOST_WARNED):
        return
    app.extensions[_HOST_WARNED] = True
    log.warning(
        "IVR_PUBLIC_URL is not set: signatures are checked against the Host header each request names "
        "(set IVR_PUBLIC_URL to the URL Twilio calls, or IVR_TRUSTED_PROXIES behind a proxy)"
    )


def require_twilio_signature(view: F) -> F:
    """Answer 403 to a request whose X-Twilio-Signature is missing or wrong (when a token is set)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings: Settings = current_app.extensions["ivr"].settings
        token = settings.twilio_auth_token
        if token:
            warn_of_host_header(current_app, settings)
            signature = request.headers.get("X-Twilio-Signature", "")
            url = signed_url(request, settings)
            params = webhook_form() if request.method == "POST" else {}
            valid = signature_valid(settings, url, params, signature)
            if not valid:
                log.warning("forged or unsigned request refused: %s %s", request.method, url)
                abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)
