"""The admin login: one password, a signed session cookie, CSRF tokens, and a brake on guessing.

Every ``/admin`` request except the login form and the static files needs a
logged-in session; pages redirect to the login form, the JSON endpoints of the
phone answer 401.  Every POST needs the session's CSRF token, as a form field
(``csrf_token``) or, from JavaScript, an ``X-CSRF-Token`` header.

The session cookie is Flask's signed cookie (``ivr_admin``, path ``/admin``,
HttpOnly, SameSite=Lax; Secure behind an https ``IVR_PUBLIC_URL`` and on any
request that came over https, as a trusted proxy's ``X-Forwarded-Proto``
says).  It carries a keyed hash of the password, so changing the password
ends every session.  A browser that logged in also gets a signed device cookie
(``ivr_admin_device``, path ``/admin/login``, 30 days) that spares it the
global brake on guessing (:mod:`ivr.web.admin.throttle`), a new password
or not; a new ``IVR_SECRET_KEY`` ends them all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
import unicodedata
import urllib.parse
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from ivr.web.admin.blueprint import admin_state, bp, ivr_state
from ivr.web.admin.throttle import client_key

__all__ = [
    "AdminSessionInterface",
    "csrf_token",
    "is_logged_in",
    "password_tag",
    "safe_next",
    "session_token",
    "session_uid",
]

log = logging.getLogger("ivr.admin")

PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.static"})
"""What an anonymous visitor may reach (when the dashboard is on at all)."""
CSRF_HEADER = "X-CSRF-Token"
DEVICE_COOKIE = "ivr_admin_device"
DEVICE_DAYS = 30
"""How long a browser that logged in stays known to the throttle (each login renews it)."""
MAX_NEXT = 2000
"""The longest ``next`` followed after a login; a dashboard URL is far shorter."""
_NEXT_SAFE = "/?&=%:@!$'()*+,;~-._#"
"""Characters left as they are when ``next`` becomes a Location header; the rest (unicode) is %-encoded."""


def password_tag(secret_key: str, password: str) -> str:
    """A keyed hash of the admin password, stored in sessions instead of a bare "logged in" flag."""
    return hmac.new(secret_key.encode(), b"ivr-admin\x00" + password.encode(), hashlib.sha256).hexdigest()[:32]


def session_token(name: str, nbytes: int) -> str:
    """The session's random token ``name`` (``nbytes`` bytes of randomness), made on first use."""
    token = session.get(name)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(nbytes)
        session[name] = token
    return token


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    return session_token("csrf", 32)


def session_uid() -> str:
    """This session's id, which owns its phone calls; made at login, or on first use."""
    return session_token("uid", 12)


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token") or ""
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def is_logged_in() -> bool:
    """Whether this request's session belongs to a logged-in admin (with the current password)."""
    tag = session.get("admin")
    return isinstance(tag, str) and hmac.compare_digest(tag.encode(), admin_state().password_tag.encode())


def _wants_json() -> bool:
    return (request.endpoint or "").startswith("admin.api_")


def _clean_next(target: object) -> str | None:
    """``target`` as a Location header if it is a plain path inside /admin, else None.

    Refused: anything but a string of at most :data:`MAX_NEXT` characters,
    control, format and whitespace characters (raw or %-encoded: a header must
    never carry CR or LF), backslashes, ``//``, dot segments, a scheme or a host.
    """
    if not isinstance(target, str) or not target or len(target) > MAX_NEXT:
        return None
    decoded = urllib.parse.unquote(target)
    for form in (target, decoded):
        if "\\" in form or "//" in form:
            return None
        if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in form):
            return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not (parts.path == "/admin" or parts.path.startswith("/admin/")):
        return None
    if any(segment in (".", "..") for segment in urllib.parse.unquote(parts.path).split("/")):
        return None
    return urllib.parse.quote(target.rstrip("?"), safe=_NEXT_SAFE)


def safe_next(target: object) -> str:
    """Where to go after logging in: ``target`` if it is a plain path inside /admin, else the overview."""
    return _clean_next(target) or url_for("admin.overview")


class AdminSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the cookie Secure whenever the request came over https.

    ``SESSION_COOKIE_SECURE`` (set from an https ``IVR_PUBLIC_URL``) still
    forces it; without it, a request through a TLS proxy (``X-Forwarded-Proto:
    https``, trusted with ``IVR_TRUSTED_PROXIES``) gets a Secure cookie and
    plain-http development a cookie that still comes back.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure if configured so, or if this request is https."""
        return bool(super().get_cookie_secure(app) or (has_request_context() and request.is_secure))


def _device_signer() -> URLSafeTimedSerializer:
    # Not tied to the password: changing a leaked password during an attack must not lock out the
    # operator's own browsers (the cookie spares only the global brake, never the password check).
    return URLSafeTimedSerializer(str(current_app.secret_key), salt="ivr-admin-device")


def _known_device() -> str:
    """The id of this browser if it logged in before (a valid device cookie), else ``""``."""
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    if not cookie or len(cookie) > 200:
        return ""
    try:
        device = _device_signer().loads(cookie, max_age=DEVICE_DAYS * 86400)
    except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
        return ""
    return device if isinstance(device, str) and device.isalnum() and len(device) <= 32 else ""


def _remember_device(resp: BaseResponse, device: str) -> None:
    resp.set_cookie(
        DEVICE_COOKIE,
        _device_signer().dumps(device or secrets.token_hex(8)),
        max_age=DEVICE_DAYS * 86400,
        path=url_for("admin.login"),
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure,
        httponly=True,
        samesite="Strict",
    )


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    """Log-in and CSRF checks for everything in the blueprint but the login form and static files."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not is_logged_in():
        if _wants_json():
            return jsonify(error="not logged in: open /admin/login"), 401
        # url_for %-encodes the path into the query; a path that is no plain one is not carried along.
        target = _clean_next(request.full_path if request.query_string else request.path)
        return redirect(url_for("admin.login", next=target) if target else url_for("admin.login"))
    if request.method == "POST" and not _csrf_ok():
        if _wants_json():
            return jsonify(error="missing or wrong CSRF token: reload the page"), 400
        page = render_template("admin/error.html", title=_("Form expired"), message=_("Reload the page and try again."))
        return page, 400
    return None


@bp.after_request
def _headers(resp: Response) -> Response:
    """Keep admin pages out of frames, caches and other sites' scripts."""
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; media-src 'self' https: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    # Prompts' audio is no-store too: a read-back speaks an ID number.
    if request.endpoint not in ("admin.static", "admin.menu_svg"):
        resp.headers["Cache-Control"] = "no-store"
    return resp


def _login_form(status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> ResponseReturnValue:
    page = render_template("admin/login.html", next=_clean_next(request.values.get("next")) or "", **context)
    return page, status, headers or {}


def _too_many(wait: float) -> ResponseReturnValue:
    seconds = max(1, math.ceil(wait))
    return _login_form(
        429,
        {"Retry-After": str(seconds)},
        error=_("Too many failed logins. Try again in %(seconds)d seconds.", seconds=seconds),
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form (GET) and the password check (POST)."""
    if request.method == "GET":
        if is_logged_in():
            return redirect(safe_next(request.args.get("next")))
        return _login_form(logged_out=request.args.get("logged_out") == "1")
    state = admin_state()
    client = client_key(request.remote_addr)
    if not _csrf_ok():
        return _login_form(400, error=_("The form had expired. Please enter the password again."))
    device = _known_device()
    # Judged, and counted as a failure, before the password is looked at: concurrent guesses all count.
    wait = state.throttle.admit(client, device)
    if wait > 0:
        log.warning("admin login refused: too many failures (from %s)", client)
        return _too_many(wait)
    password = request.form.get("password", "")
    expected = ivr_state().settings.admin_password or ""
    # compare_digest takes the same time wherever the strings differ; bytes, so any characters work.
    if not expected or not hmac.compare_digest(password.encode(), expected.encode()):
        log.warning("admin login failed from %s", client)
        time.sleep(state.login_delay)
        return _login_form(401, error=_("Wrong password."))
    state.throttle.succeeded(client, device)
    target = safe_next(request.form.get("next"))
    # A fresh session: nothing from before the login (a planted CSRF token) carries over.
    session.clear()
    session.permanent = True
    session["admin"] = state.password_tag
    session_uid()
    csrf_token()
    log.info("admin logged in from %s", client)
    resp = redirect(target)
    _remember_device(resp, device)
    return resp


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session (a POST with the CSRF token, so another site cannot log you out)."""
    state = admin_state()
    uid = session.get("uid")
    if isinstance(uid, str):
        state.phone.hang_up_all(uid)
    session.clear()
    return redirect(url_for("admin.login", logged_out="1"))
