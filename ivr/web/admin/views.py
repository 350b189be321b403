"""The dashboard pages: overview with the menu diagram, calls, nodes, transactions, voicemails.

Views are thin: they pick the time window, call :mod:`ivr.storage.reports`
and render a template.  A store that is down gives each page a banner and a
503, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, abort, g, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import InternalServerError, NotFound

from ivr.menu.model import Menu
from ivr.rules import mask_phone
from ivr.storage import reports
from ivr.storage.db import StoreUnavailable
from ivr.web.admin.auth import csrf_token
from ivr.web.admin.blueprint import admin_state, bp, ivr_state

__all__ = ["playable", "window_url"]

log = logging.getLogger("ivr.admin")

T = TypeVar("T")
DEFAULT_WINDOW = "7d"
PLANNED_END_KINDS = ("hangup", "transfer")
"""Node kinds where a call is meant to end: a goodbye, or a transfer (the call ends when the agent's does)."""
NAV = (
    ("admin.overview", "Overview"),
    ("admin.calls", "Calls"),
    ("admin.nodes", "Drop-off"),
    ("admin.transactions", "Transactions"),
    ("admin.voicemails", "Voicemails"),
    ("admin.phone", "Phone"),
)


class Page:
    """What one page request loaded, and whether the store answered."""

    def __init__(self) -> None:
        self.store_error: str | None = None

    def load(self, query: Callable[[], T], empty: T) -> T:
        """Run ``query``; if the store is down, note it and use ``empty``."""
        try:
            return query()
        except StoreUnavailable as exc:
            log.error("dashboard: store unavailable: %s", exc)
            self.store_error = "The call store is unavailable: the numbers below are missing. Check /healthz."
            return empty

    def render(self, template: str, **context: Any) -> ResponseReturnValue:
        """The page, with a 503 status when the store was down."""
        return render_template(template, store_error=self.store_error, **context), (503 if self.store_error else 200)


def _window() -> tuple[str, dt.datetime, dt.datetime]:
    name = request.args.get("window", DEFAULT_WINDOW)
    if name not in reports.WINDOWS:
        name = DEFAULT_WINDOW
    now = ivr_state().settings.now()
    return name, now, now - reports.WINDOWS[name]


def _menu() -> Menu:
    """The menu new calls get now, read once per page."""
    if "admin_menu" not in g:
        g.admin_menu = ivr_state().current_menu().menu
    menu: Menu = g.admin_menu
    return menu


def _planned_ends() -> list[str]:
    menu = _menu()
    return [node_id for node_id, node in menu.nodes.items() if node.kind in PLANNED_END_KINDS]


@bp.app_template_filter("admin_when")
def _when(value: dt.datetime | None) -> str:
    """A time as the dashboard shows it: in the zone of the webhook's clock, to the second."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        zone = ivr_state().settings.now().tzinfo
        value = value.astimezone(zone)
    return value.strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("admin_phone")
def _phone(value: str) -> str:
    # The same mask as the call events': were they different, a page showing both would show the whole number.
    return mask_phone(value or "")


@bp.app_template_filter("admin_seconds")
def _seconds(value: int | float | None) -> str:
    if value is None:
        return "—"
    whole = int(value)
    return f"{whole // 60}:{whole % 60:02d}"


@bp.app_template_filter("admin_pct")
def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


@bp.context_processor
def _context() -> dict[str, Any]:
    state = ivr_state()
    now = state.settings.now()
    offset = now.utcoffset() or dt.timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    zone = "UTC" if not offset else f"UTC{hours:+03d}:{rest // 60:02d}"
    return {
        "csrf_token": csrf_token,
        "nav": NAV,
        "menu": _menu(),
        "zone": zone,
        "windows": list(reports.WINDOWS),
        "node_title": lambda node_id: _node_title(node_id),
    }


def _node_title(node_id: str) -> str:
    node = _menu().nodes.get(node_id)
    return (node.title or "") if node is not None else "(not in this menu version)"


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    """A call or page that is not there."""
    return render_template("admin/error.html", title="Not found", message="There is nothing at this address."), 404


@bp.errorhandler(InternalServerError)
def _error(exc: InternalServerError) -> ResponseReturnValue:
    """A bug in a page: a plain apology, the details in the log only."""
    if (request.endpoint or "").startswith("admin.api_"):
        return jsonify(error="internal error (it was logged)"), 500
    return render_template("admin/error.html", title="Something went wrong", message="The error was logged."), 500


@bp.get("/")
def overview() -> ResponseReturnValue:
    """Headline numbers for the window, and the menu diagram."""
    window, now, since = _window()
    page = Page()
    numbers = page.load(
        lambda: reports.overview(ivr_state().db, since, now, _planned_ends()), reports.Overview(0, 0, 0, 0, 0)
    )
    menu = _menu()
    language = request.args.get("lang", menu.default_language)
    if language not in menu.languages:
        language = menu.default_language
    diagram = admin_state().diagrams.get(menu, language)
    return page.render(
        "admin/overview.html", window=window, numbers=numbers, diagram=diagram, language=language, page_name="overview"
    )


@bp.get("/menu.svg")
def menu_svg() -> ResponseReturnValue:
    """The menu diagram as SVG (404 when Graphviz is not there to draw it)."""
    menu = _menu()
    language = request.args.get("lang", menu.default_language)
    if language not in menu.languages:
        abort(404)
    diagram = admin_state().diagrams.get(menu, language)
    if diagram.svg is None:
        abort(404)
    resp = Response(diagram.svg, mimetype="image/svg+xml")
    # Shown through <img>, where scripts never run; the policy is for someone opening it on its own.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


@bp.get("/calls")
def calls() -> ResponseReturnValue:
    """Live calls, and the calls of the window with their paths."""
    window, now, since = _window()
    page = Page()
    db = ivr_state().db
    live: list[reports.CallRow] = page.load(lambda: reports.live_calls(db, now), [])
    recent: list[reports.CallRow] = page.load(lambda: reports.recent_calls(db, since), [])
    return page.render(
        "admin/calls.html",
        window=window,
        live=live,
        recent=recent,
        limit=reports.CALL_LIMIT,
        live_minutes=reports.LIVE_SECONDS // 60,
        page_name="calls",
    )


@bp.get("/calls/<sid>")
def call(sid: str) -> ResponseReturnValue:
    """One call: its record, path, events, voicemails and transactions."""
    if len(sid) > 64:
        abort(404)
    page = Page()
    detail = page.load(lambda: reports.call_detail(ivr_state().db, sid), None)
    if detail is None and page.store_error is None:
        abort(404)
    return page.render("admin/call.html", sid=sid, detail=detail, page_name="calls")


@bp.get("/nodes")
def nodes() -> ResponseReturnValue:
    """Visits and drop-off per node."""
    window, now, since = _window()
    page = Page()
    planned = _planned_ends()
    stats: list[reports.NodeStat] = page.load(lambda: reports.node_stats(ivr_state().db, since, now, planned), [])
    order = request.args.get("sort", "dropoff")
    if order == "visits":
        stats.sort(key=lambda s: (-s.visits, s.node))
    elif order == "rate":
        stats.sort(key=lambda s: (-s.drop_rate, -s.visits, s.node))
    else:
        order = "dropoff"
    most = max((s.visits for s in stats), default=0)
    return page.render("admin/nodes.html", window=window, stats=stats, order=order, most=most, page_name="nodes")


@bp.get("/transactions")
def transactions() -> ResponseReturnValue:
    """Service outcomes (from the calls' events) and card transactions (from the audit log)."""
    window, _now, since = _window()
    page = Page()
    db = ivr_state().db
    counts: list[reports.OutcomeCount] = page.load(lambda: reports.transactions(db, since), [])
    audit: list[reports.OutcomeCount] = page.load(lambda: reports.audit_counts(db, since), [])
    services = sorted({c.service for c in counts})
    outcomes = sorted({c.outcome for c in counts})
    table = {(c.service, c.outcome): c.count for c in counts}
    totals = {s: sum(c.count for c in counts if c.service == s) for s in services}
    return page.render(
        "admin/transactions.html",
        window=window,
        services=services,
        outcomes=outcomes,
        table=table,
        totals=totals,
        audit=audit,
        page_name="transactions",
    )


@bp.get("/voicemails")
def voicemails() -> ResponseReturnValue:
    """Messages left in the window, to listen to."""
    window, _now, since = _window()
    page = Page()
    rows: list[reports.VoicemailRow] = page.load(lambda: reports.voicemails(ivr_state().db, since), [])
    return page.render(
        "admin/voicemails.html", window=window, rows=rows, limit=reports.CALL_LIMIT, page_name="voicemails"
    )


def playable(url: str) -> bool:
    """Whether a recording URL may go in an <audio> element (http or https only, never javascript:)."""
    return url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//"))


bp.add_app_template_filter(playable, "admin_playable")


def window_url(endpoint: str, window: str, **args: Any) -> str:
    """The URL of ``endpoint`` for another window."""
    return url_for(endpoint, window=window, **args)


bp.add_app_template_global(window_url, "admin_window_url")
