"""Twilio's webhook parameters, read once a request.

Twilio posts ``application/x-www-form-urlencoded`` bodies of a dozen short
fields.  They are parsed here with the standard library, a tenth of what
Werkzeug's general form parser costs, which every step of every call pays;
any other body (a tester's multipart post) still goes through Werkzeug.  The
size limit is the app's (``IVR_MAX_BODY_BYTES``, 413 above it) either way.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from flask import g, request

__all__ = ["FORM_TYPE", "is_form", "parse_form", "webhook_form"]

FORM_TYPE = "application/x-www-form-urlencoded"


def webhook_form() -> dict[str, str]:
    """The request's form fields, the first value of each; parsed once and kept for the request."""
    form: dict[str, str] | None = g.get("ivr_form")
    if form is None:
        if is_form(request.environ.get("CONTENT_TYPE", "")):
            form = parse_form(request.get_data(cache=True, as_text=True))
        else:
            form = request.form.to_dict()
        g.ivr_form = form
    return form


def is_form(content_type: str) -> bool:
    """Whether a ``Content-Type`` is Twilio's form encoding (whatever its parameters)."""
    return content_type.split(";", 1)[0].strip().lower() == FORM_TYPE


def parse_form(text: str) -> dict[str, str]:
    """A form-encoded body's fields, the first value of each (as Werkzeug's ``MultiDict.get`` reads them).

    What ``parse_qsl(text, keep_blank_values=True)`` reads, a few times faster:
    a field with nothing to decode (most of Twilio's) is taken as it is.
    """
    form: dict[str, str] = {}
    for field in text.split("&"):
        if not field:
            continue
        key, _, value = field.partition("=")
        if "%" in field or "+" in field:
            key, value = unquote_plus(key), unquote_plus(value)
        if key not in form:
            form[key] = value
    return form
