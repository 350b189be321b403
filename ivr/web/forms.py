"""Twilio's webhook parameters, read once a request.

Twilio posts ``application/x-www-form-urlencoded`` bodies of a dozen short
fields.  They are parsed here with the standard library, a tenth of what
Werkzeug's general form parser costs, which every step of every call pays;
any other body (a tester's multipart post) still goes through Werkzeug.  The
size limit is the app's (``IVR_MAX_BODY_BYTES``, 413 above it) either way.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import g, request

__all__ = ["webhook_form"]


def webhook_form() -> dict[str, str]:
    """The request's form fields, the first value of each; parsed once and kept for the request."""
    form: dict[str, str] | None = g.get("ivr_form")
    if form is None:
        content_type = request.environ.get("CONTENT_TYPE", "")
        if content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded":
            form = {}
            for key, value in parse_qsl(request.get_data(cache=True, as_text=True), keep_blank_values=True):
                form.setdefault(key, value)
        else:
            form = request.form.to_dict()
        g.ivr_form = form
    return form
