"""The admin dashboard and the browser phone, at ``/admin``, behind a password.

Off unless ``IVR_ADMIN_PASSWORD`` is set: then nothing under ``/admin``
exists (404), so a deployment never shows it by accident.  Callers never
reach it: the voice webhooks do not link to it, and every page and API needs
the admin's session.

:func:`init_app` is called by :func:`ivr.web.create_app`.  It is tuned by
settings (:class:`ivr.config.Settings`): ``IVR_ADMIN_LOGIN_DELAY`` (seconds
a wrong password waits, default 0.5), ``IVR_ADMIN_PHONE_SPEECH`` (synthesise
prompts for the phone, default on), ``IVR_ADMIN_PHONE_MAX_CALLS`` (default
8), ``IVR_ADMIN_PHONE_IDLE_TIMEOUT`` (seconds, default 120), and the phone
speaks with the voices and rates of ``IVR_TTS_VOICE_*`` and ``IVR_TTS_RATE_*``.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from ivr.config import Settings

__all__ = ["init_app"]

log = logging.getLogger("ivr.admin")

SESSION_HOURS = 12
"""A login lasts a working day."""


def init_app(app: Flask) -> None:
    """Mount the dashboard on ``app`` if an admin password is set; otherwise leave ``/admin`` absent."""
    settings: Settings = app.extensions["ivr"].settings
    if not settings.admin_password:
        log.info("admin dashboard off: IVR_ADMIN_PASSWORD is not set")
        return
    # Imported only now: a webhook worker without the admin never loads the dashboard,
    # the browser phone, the TwiML phone under it or the speech engine.
    from ivr.storage.throttle import LoginFailures
    from ivr.web.admin import auth, views, webphone_views  # noqa: F401 - importing them adds their routes to bp
    from ivr.web.admin.auth import AdminSessionInterface, password_tag
    from ivr.web.admin.blueprint import AdminState, bp
    from ivr.web.admin.diagram import DiagramCache
    from ivr.web.admin.i18n import init_i18n
    from ivr.web.admin.throttle import LoginThrottle
    from ivr.web.admin.webphone import PhoneManager
    from ivr.web.admin.webphone_speech import SpeechCache

    key = settings.secret_key
    if key is None:
        key = secrets.token_hex(32)
        log.warning(
            "IVR_SECRET_KEY is not set: admin sessions use a random key made by this process, "
            "so logins will not survive a restart or work across several workers"
        )
    app.secret_key = key
    app.config.update(
        SESSION_COOKIE_NAME="ivr_admin",
        SESSION_COOKIE_PATH="/admin",  # the cookie never travels with the voice webhooks
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Always Secure behind an https public URL; otherwise per request (AdminSessionInterface).
        SESSION_COOKIE_SECURE=bool(settings.public_url and settings.public_url.startswith("https://")),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS),
    )
    app.session_interface = AdminSessionInterface()
    speech = SpeechCache(voices=settings.tts_voices, rates=settings.tts_rates) if settings.admin_phone_speech else None
    phone = PhoneManager(
        app,
        # Calls go to the app in-process under its public URL, so that Twilio signatures check out.
        settings.public_url or "http://localhost",
        auth_token=settings.twilio_auth_token,
        speech=speech,
        audio_dir=settings.audio_dir,
        max_calls=settings.admin_phone_max_calls,
        idle_timeout=settings.admin_phone_idle_timeout,
    )
    app.extensions["ivr_admin"] = AdminState(
        password_tag=password_tag(key, settings.admin_password),
        # The failure counts are in the store, so every worker and host brakes the same guesses.
        throttle=LoginThrottle(LoginFailures(app.extensions["ivr"].db)),
        diagrams=DiagramCache(),
        phone=phone,
        login_delay=settings.admin_login_delay,
    )
    init_i18n(app, lambda: views.served_menu().menu.default_language)
    app.register_blueprint(bp)
