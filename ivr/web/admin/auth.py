"""The admin login: one password, a signed session cookie, CSRF tokens, and a brake on guessing.

Every ``/admin`` request except the login form and the static files needs a
logged-in session; pages redirect to the login form, the JSON endpoints of the
phone answer 401.  Every POST needs the session's CSRF token, as a form field
(``csrf_token``) or, from JavaScript, an ``X-CSRF-Token`` header.

The session cookie is Flask's signed cookie (``ivr_admin``, path ``/admin``,
HttpOnly, SameSite=Lax, Secure behind an https ``IVR_PUBLIC_URL``).  It
carries a keyed hash of the password, so changing the password ends every
session.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import secrets
import threading
import time
from typing import Any

from flask import Response, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ivr.web.admin.blueprint import admin_state, bp, ivr_state

__all__ = ["LoginThrottle", "csrf_token", "is_logged_in", "password_tag", "session_token", "session_uid"]

log = logging.getLogger("ivr.admin")

PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.static"})
"""What an anonymous visitor may reach (when the dashboard is on at all)."""
CSRF_HEADER = "X-CSRF-Token"


def password_tag(secret_key: str, password: str) -> str:
    """A keyed hash of the admin password, stored in sessions instead of a bare "logged in" flag."""
    return hmac.new(secret_key.encode(), b"ivr-admin\x00" + password.encode(), hashlib.sha256).hexdigest()[:32]


class LoginThrottle:
    """Counts failed logins per client address and refuses more than ``limit`` in ``window`` seconds.

    In memory, per process: enough to make guessing slow from one address
    (every wrong password also waits :attr:`AdminState.login_delay`).
    """

    def __init__(self, limit: int = 5, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> collections.deque[float]:
        times = self._failures.get(client)
        if times is None:
            return collections.deque()
        while times and now - times[0] > self.window:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                return 0.0
            return max(0.0, self.window - (now - times[0]))

    def failed(self, client: str) -> None:
        """Count a wrong password from ``client``."""
        now = time.monotonic()
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.max_clients:
                # Forget the quietest clients rather than grow without bound.
                for old in sorted(self._failures, key=lambda c: self._failures[c][-1])[: self.max_clients // 10]:
                    del self._failures[old]
            self._failures.setdefault(client, collections.deque(maxlen=self.limit)).append(now)

    def succeeded(self, client: str) -> None:
        """A right password: forget ``client``'s failures."""
        with self._lock:
            self._failures.pop(client, None)


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


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path inside /admin, never another site."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target.rstrip("?")
    return url_for("admin.overview")


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    """Log-in and CSRF checks for everything in the blueprint but the login form and static files."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not is_logged_in():
        if _wants_json():
            return jsonify(error="not logged in: open /admin/login"), 401
        return redirect(url_for("admin.login", next=request.full_path if request.query_string else request.path))
    if request.method == "POST" and not _csrf_ok():
        if _wants_json():
            return jsonify(error="missing or wrong CSRF token: reload the page"), 400
        return render_template("admin/error.html", title="Form expired", message="Reload the page and try again."), 400
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
    if request.endpoint not in ("admin.static", "admin.api_tts", "admin.menu_svg"):
        resp.headers["Cache-Control"] = "no-store"
    return resp


def _login_form(status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_template("admin/login.html", next=request.values.get("next", ""), **context), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form (GET) and the password check (POST)."""
    if request.method == "GET":
        if is_logged_in():
            return redirect(_safe_next(request.args.get("next")))
        return _login_form(logged_out=request.args.get("logged_out") == "1")
    state = admin_state()
    client = request.remote_addr or "?"
    wait = state.throttle.retry_after(client)
    if wait > 0:
        log.warning("admin login refused: too many failures from %s", client)
        return _login_form(429, error=f"Too many failed logins. Try again in {int(wait) + 1} seconds.")
    if not _csrf_ok():
        return _login_form(400, error="The form had expired. Please enter the password again.")
    password = request.form.get("password", "")
    expected = ivr_state().settings.admin_password or ""
    # compare_digest takes the same time wherever the strings differ; bytes, so any characters work.
    if not expected or not hmac.compare_digest(password.encode(), expected.encode()):
        state.throttle.failed(client)
        log.warning("admin login failed from %s", client)
        time.sleep(state.login_delay)
        return _login_form(401, error="Wrong password.")
    state.throttle.succeeded(client)
    target = _safe_next(request.form.get("next"))
    # A fresh session: nothing from before the login (a planted CSRF token) carries over.
    session.clear()
    session.permanent = True
    session["admin"] = state.password_tag
    session_uid()
    csrf_token()
    log.info("admin logged in from %s", client)
    return redirect(target)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session (a POST with the CSRF token, so another site cannot log you out)."""
    state = admin_state()
    uid = session.get("uid")
    if isinstance(uid, str):
        state.phone.hang_up_all(uid)
    session.clear()
    return redirect(url_for("admin.login", logged_out="1"))
