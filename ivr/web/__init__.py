"""The Flask webhook service: the menu served as TwiML.

``create_app`` is the factory for ``flask --app ivr.web:create_app``,
``ivr serve`` and gunicorn (``gunicorn 'ivr.web:create_app()'``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.audio import AudioLibrary
from ivr.config import Settings
from ivr.services.handlers import build_registry
from ivr.services.registry import ServiceRegistry
from ivr.session import CallSession, agent_dialer
from ivr.storage.calls import CallStore
from ivr.storage.db import Database, StoreUnavailable
from ivr.storage.menus import PublishedMenus
from ivr.web.audio import make_blueprint as audio_blueprint
from ivr.web.calls import CallRunner
from ivr.web.lane import VoiceLane
from ivr.web.logs import JsonFormatter, log_request
from ivr.web.menus import MenuCatalog, ServedMenu
from ivr.web.metrics import install_metrics, observe_request
from ivr.web.twiml import TwimlWriter

__all__ = ["IvrState", "app_state", "create_app"]

log = logging.getLogger("ivr.web")

SCHEMA_RETRY_SECONDS = 5.0
PERIODIC_SWEEP_LIMIT = 20
"""The most calls one worker's periodic sweep abandons at once (``ivr db sweep`` takes them all)."""


@dataclass
class IvrState:
    """What the app holds for its requests, kept in ``app.extensions["ivr"]``."""

    settings: Settings
    db: Database
    menus: MenuCatalog
    registry: ServiceRegistry
    runner: CallRunner
    schema_ready: bool = False
    _last_try: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_sweep: float = 0.0
    _sweep_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The first sweep comes one interval after start-up, so short-lived apps (tests) never sweep unasked.
        self._next_sweep = time.monotonic() + self.settings.call_sweep_interval

    def current_menu(self) -> ServedMenu:
        """The menu new calls get now: the current publication, else the menu file (asks the store; not for steps).

        With the store down, the newest this worker has: a page can still be drawn.
        """
        try:
            return self.menus.latest()
        except StoreUnavailable as exc:
            log.error("cannot read the current menu publication: %s", exc)
            return self.menus.offline()

    def ensure_schema(self) -> None:
        """Migrate the database if that has not worked yet (it may have been down at start-up)."""
        if self.schema_ready:
            return
        with self._lock:
            if self.schema_ready or time.monotonic() - self._last_try < SCHEMA_RETRY_SECONDS:
                return
            self._last_try = time.monotonic()
            try:
                self.db.upgrade()
            except StoreUnavailable as exc:
                log.error("database not ready: %s", exc)
                return
            self.schema_ready = True

    def sweep_due(self) -> bool:
        """Whether this process's sweep of abandoned calls is due (``IVR_CALL_SWEEP_INTERVAL``); if so, it is taken.

        A timestamp, not a thread: it survives gunicorn's fork as it is, and
        leaves nothing running behind an app a test throws away.
        """
        interval = self.settings.call_sweep_interval
        if interval <= 0:
            return False
        with self._sweep_lock:
            now = time.monotonic()
            if now < self._next_sweep:
                return False
            self._next_sweep = now + interval
            return True

    def sweep_calls(self) -> int:
        """End the calls idle over ``IVR_CALL_IDLE_TIMEOUT`` as abandoned; how many.  Never raises: it logs."""
        try:
            # A small batch: it runs in a worker that has a caller's next step to serve; the rest comes next time.
            return len(self.runner.sweep(self.settings.call_idle_timeout, limit=PERIODIC_SWEEP_LIMIT))
        except StoreUnavailable as exc:
            log.error("the sweep of abandoned calls failed: %s", exc)
            return 0
        except Exception:  # a sweep runs after some request's answer, which must not suffer for it
            log.exception("the sweep of abandoned calls failed")
            return 0

    def seed_demo(self) -> None:
        """Load the fictional demo cardholders (docs/demo-data.md) into this app's database."""
        from ivr.services.seed import seed_demo

        seed_demo(self.db, self.settings.now(), self.settings.zone)

    def drop_tables(self, tables: Sequence[str]) -> None:
        """Take ``tables`` out of this app's database (tests of a service whose tables are gone)."""
        self.db.drop_tables(tables)

    def close(self) -> None:
        """Close this app's database connections (before a temporary SQLite file is removed)."""
        self.db.dispose()


def app_state(app: Flask) -> IvrState:
    """The state :func:`create_app` keeps for ``app``: settings, database, engine, call runner."""
    state: IvrState = app.extensions["ivr"]
    return state


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("ivr")
    if not any(getattr(h, "_ivr", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler._ivr = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the webhook app.

    ``config`` overrides settings by name (``{"MENU": ..., "DATABASE_URL": ...}``,
    case-insensitive); other keys (like ``TESTING``) go to Flask's config.
    Raises :class:`ivr.errors.MenuError` for a bad menu and
    :class:`ivr.config.ConfigError` for bad settings.
    """
    config = dict(config or {})
    names = set(Settings.model_fields)
    overrides = {k: v for k, v in config.items() if k.lower() in names}
    settings = Settings.load(overrides=overrides)
    settings.check_production()
    _configure_logging(settings.log_level)

    db = Database(settings.database_url)
    registry = build_registry(db, settings.http_allow_hosts)
    dialer = agent_dialer(settings.agent_number)
    menus = MenuCatalog(
        settings.menu,
        PublishedMenus(db),
        lambda engine: CallSession(engine, registry, dialer),
        watch_file=settings.menu_reload,
    )
    # Prompts rendered by ``ivr render`` are played; the rest are spoken by Twilio.  The library
    # is told the voices and rates ``ivr render`` reads from the same settings, to warn of stale files.
    library = AudioLibrary(settings.audio_dir, voices=settings.tts_voices, rates=settings.tts_rates)
    files_for = library.files_for if len(library) else None
    writer = TwimlWriter(
        settings.voices,
        files_for=files_for,
        audio_url=settings.audio_url,
        connection_override=settings.connection_override,
    )
    runner = CallRunner(menus, CallStore(db), writer, settings.now, settings.zone)

    app = Flask(__name__)
    app.config.update({k: v for k, v in config.items() if k.lower() not in names})
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    state = IvrState(settings, db, menus, registry, runner)
    app.extensions["ivr"] = state
    state.ensure_schema()

    from ivr.web import admin, ops, voice

    app.register_blueprint(voice.bp)
    app.register_blueprint(ops.bp)
    admin.init_app(app)  # /admin: only when IVR_ADMIN_PASSWORD is set
    metrics = install_metrics(app)
    desk = app.extensions["ivr_voice"] = voice.VoiceDesk(runner, settings, metrics)

    # One hook before and one after each request: every hook costs every webhook a little.
    @app.before_request
    def _before() -> None:
        state.ensure_schema()
        g.ivr_started = time.perf_counter()

    @app.after_request
    def _after(response: Response) -> Response:
        started = g.get("ivr_started")
        observe_request(metrics, started)
        log_request(response, started)
        # Every worker sweeps abandoned calls now and then, once some request's answer is sent; the
        # store's guarded update makes sweeps on every worker and host at once harmless.
        if state.sweep_due():
            response.call_on_close(state.sweep_calls)
        return response

    if len(library) and settings.audio_url.startswith("/"):
        # An absolute IVR_AUDIO_URL means the files are served elsewhere (a CDN).
        app.register_blueprint(audio_blueprint(library, settings.audio_url.rstrip("/")))
    runner.observer = metrics.observe_events
    # A call's steps are answered below Flask (ivr.web.lane), after the proxies' headers are applied.
    app.wsgi_app = VoiceLane(app, app.wsgi_app, state, desk)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    return app
