"""Checking that a webhook really comes from Twilio.

Twilio signs each request with the auth token over the exact URL it called
plus the POST parameters.  Behind a proxy the URL Flask sees differs from the
one Twilio called (http vs https, an internal host or port), so the URL is
rebuilt from the configured public base URL when there is one, or from the
``X-Forwarded-*`` headers of trusted proxies (applied by ProxyFix).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Request, abort, current_app, request
from twilio.request_validator import RequestValidator

from ivr.config import Settings

__all__ = ["require_twilio_signature", "signed_url"]

log = logging.getLogger("ivr.security")

F = TypeVar("F", bound=Callable[..., Any])


def signed_url(req: Request, settings: Settings) -> str:
    """The URL Twilio called to make ``req``, as it signed it."""
    if settings.public_url:
        path = req.full_path if req.query_string else req.path
        return settings.public_url + path
    return req.url


def require_twilio_signature(view: F) -> F:
    """Answer 403 to a request whose X-Twilio-Signature is missing or wrong (when a token is set)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings: Settings = current_app.extensions["ivr"].settings
        token = settings.twilio_auth_token
        if token:
            signature = request.headers.get("X-Twilio-Signature", "")
            url = signed_url(request, settings)
            params = request.form.to_dict() if request.method == "POST" else {}
            validator = RequestValidator(token)
            valid = bool(signature) and validator.validate(url, params, signature)
            if not valid and signature and settings.connection_override:
                # Twilio may sign a URL with its connection-override fragment, which never reaches us.
                valid = validator.validate(f"{url}#{settings.connection_override}", params, signature)
            if not valid:
                log.warning("forged or unsigned request refused: %s %s", request.method, url)
                abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)
