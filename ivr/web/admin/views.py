"""The dashboard pages: overview with the menu diagram, calls, drop-off, versions, transactions, voicemails.

Views are thin: they pick the time window (and the menu versions to show),
call :mod:`ivr.storage.reports` and render a template.  A store that is down
gives each page a banner and a 503, never a traceback.  Times are shown in
the hotline's zone (``IVR_TIMEZONE``), nodes by their titles in the
interface's language (:mod:`ivr.web.admin.i18n`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Response, abort, g, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import InternalServerError, NotFound

from ivr.errors import StaleStateError
from ivr.menu.model import Menu
from ivr.rules import mask_phone
from ivr.storage import reports
from ivr.storage.db import StoreUnavailable
from ivr.storage.menus import MenuPublication, PublishedMenus
from ivr.web.admin.auth import csrf_token
from ivr.web.admin.blueprint import admin_state, bp, ivr_state
from ivr.web.admin.i18n import LANGUAGES, menu_language, ui_language
from ivr.web.admin.levels import lay_out
from ivr.web.menus import ServedMenu

__all__ = ["playable", "served_menu", "version_param", "window_url"]

log = logging.getLogger("ivr.admin")

T = TypeVar("T")
DEFAULT_WINDOW = "7d"
PLANNED_END_KINDS = ("hangup", "transfer")
"""Node kinds where a call is meant to end: a goodbye, or a transfer (the call ends when the agent's does)."""
NAV = (
    ("admin.overview", _l("Overview")),
    ("admin.calls", _l("Calls")),
    ("admin.nodes", _l("Drop-off")),
    ("admin.versions", _l("Versions")),
    ("admin.transactions", _l("Transactions")),
    ("admin.voicemails", _l("Voicemails")),
    ("admin.phone", _l("Phone")),
)
ALL = "all"
FILE = "file"
"""How ``?version=`` names every call, and the calls that began on the menu file."""


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
            self.store_error = _("The call store is unavailable: the numbers below are missing. Check /healthz.")
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


def served_menu() -> ServedMenu:
    """The menu new calls get now, read once per page."""
    if "admin_served" not in g:
        g.admin_served = ivr_state().current_menu()
    served: ServedMenu = g.admin_served
    return served


def _menu() -> Menu:
    return served_menu().menu


def _menu_of(publication: int | None) -> Menu:
    """The menu a call began on; the current one when that can no longer be read."""
    try:
        return ivr_state().menus.keep(publication).menu
    except (StaleStateError, StoreUnavailable):
        return _menu()


def _planned_ends() -> list[str]:
    menu = _menu()
    return [node_id for node_id, node in menu.nodes.items() if node.kind in PLANNED_END_KINDS]


def _version_arg(name: str) -> int | None:
    """``?version=``-style argument: a publication number, ``file`` (the menu file) or ``all`` (None)."""
    value = request.args.get(name, ALL)
    if value == FILE:
        return reports.MENU_FILE
    if value.isdigit() and 0 < int(value) < 2**31:
        return int(value)
    return reports.ALL_VERSIONS


def version_param(publication: int | None) -> str:
    """The URL form of a version: its number, ``file`` or ``all``."""
    if publication is reports.ALL_VERSIONS:
        return ALL
    return FILE if publication == reports.MENU_FILE else str(publication)


@bp.app_template_filter("admin_when")
def _when(value: dt.datetime | None) -> str:
    """A time as the dashboard shows it: in the hotline's zone, to the second, with the zone."""
    if value is None:
        return "—"
    return ivr_state().settings.format_time(value)


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


@bp.app_template_filter("admin_span")
def _span(seconds: float) -> str:
    """A length of time as the largest whole unit it holds: ``4 h``, ``30 min``, ``90 s``."""
    whole = int(seconds)
    if whole and whole % 3600 == 0:
        return f"{whole // 3600} h"
    if whole and whole % 60 == 0:
        return f"{whole // 60} min"
    return f"{whole} s"


@bp.app_template_filter("admin_pct")
def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


@bp.app_template_filter("admin_version")
def _version(publication: int | None, label: str = "") -> str:
    """A call's menu version: ``#3 (1.0.1)``, or the menu file's label."""
    if publication is None or publication == reports.MENU_FILE:
        name: str = _("file")
        return name + (f" ({label})" if label else "")
    return f"#{publication}" + (f" ({label})" if label else "")


def _zone() -> str:
    settings = ivr_state().settings
    offset = settings.local_time(settings.now()).utcoffset() or dt.timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()), 60 * 60)
    return f"{settings.timezone} (UTC{hours:+03d}:{rest // 60:02d})"


def _ui_url(code: str) -> str:
    """This page in another interface language."""
    args: dict[str, Any] = {**request.args.to_dict(), **(request.view_args or {}), "ui": code}
    return url_for(request.endpoint or "admin.overview", **args)


@bp.context_processor
def _context() -> dict[str, Any]:
    served = served_menu()
    language = menu_language(served.menu)
    return {
        "csrf_token": csrf_token,
        "nav": NAV,
        "menu": served.menu,
        "served": served,
        "zone": _zone(),
        "ui": ui_language(),
        "ui_languages": LANGUAGES,
        "ui_url": _ui_url,
        "windows": list(reports.WINDOWS),
        "node_title": lambda node_id: served.menu.node_title(node_id, language),
        "title_in": _title_in,
    }


def _title_in(publication: int | None, node_id: str) -> str:
    """A node's title in the menu a call began on (its publication), in the page's language."""
    menu = _menu_of(publication)
    return menu.node_title(node_id, menu_language(menu))


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    """A call or page that is not there."""
    return render_template(
        "admin/error.html", title=_("Not found"), message=_("There is nothing at this address.")
    ), 404


@bp.errorhandler(InternalServerError)
def _error(exc: InternalServerError) -> ResponseReturnValue:
    """A bug in a page: a plain apology, the details in the log only."""
    if (request.endpoint or "").startswith("admin.api_"):
        return jsonify(error="internal error (it was logged)"), 500
    page = render_template("admin/error.html", title=_("Something went wrong"), message=_("The error was logged."))
    return page, 500


@bp.get("/")
def overview() -> ResponseReturnValue:
    """Headline numbers for the window, the version served, and the menu laid out by level."""
    window, now, since = _window()
    page = Page()
    db = ivr_state().db
    planned = _planned_ends()
    numbers = page.load(lambda: reports.overview(db, since, now, planned), reports.Overview(0, 0, 0, 0, 0))
    stats: list[reports.NodeStat] = page.load(lambda: reports.node_stats(db, since, now, planned), [])
    served = served_menu()
    publication = page.load(lambda: _publication(served.publication), None)
    language = menu_language(served.menu)
    layout = lay_out(served.menu, language, {s.node: s.visits for s in stats})
    return page.render(
        "admin/overview.html",
        window=window,
        numbers=numbers,
        layout=layout,
        language=language,
        publication=publication,
        page_name="overview",
    )


def _publication(number: int | None) -> MenuPublication | None:
    return None if number is None else PublishedMenus(ivr_state().db).get(number)


@bp.get("/menu.svg")
def menu_svg() -> ResponseReturnValue:
    """The whole menu drawn by Graphviz, as SVG; without Graphviz, as Mermaid text saying why."""
    menu = _menu()
    language = request.args.get("lang", menu.default_language)
    if language not in menu.languages:
        abort(404)
    diagram = admin_state().diagrams.get(menu, language)
    if diagram.svg is None:
        return Response(f"{diagram.note}\n\n{diagram.text}\n", mimetype="text/plain")
    resp = Response(diagram.svg, mimetype="image/svg+xml")
    # Opened on its own, where scripts must not run.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


@bp.get("/calls")
def calls() -> ResponseReturnValue:
    """Calls really in progress, and the calls of the window with their paths and versions."""
    window, now, since = _window()
    page = Page()
    db = ivr_state().db
    live: list[reports.CallRow] = page.load(lambda: reports.live_calls(db, now), [])
    silent: int = page.load(lambda: reports.silent_calls(db, now), 0)
    recent: list[reports.CallRow] = page.load(lambda: reports.recent_calls(db, since, now), [])
    return page.render(
        "admin/calls.html",
        window=window,
        live=live,
        silent=silent,
        recent=recent,
        limit=reports.CALL_LIMIT,
        margin=int(reports.LIVE_MARGIN.total_seconds()),
        idle_timeout=ivr_state().settings.call_idle_timeout,
        page_name="calls",
    )


@bp.get("/calls/<sid>")
def call(sid: str) -> ResponseReturnValue:
    """One call: its record, path, events, voicemails and transactions."""
    if len(sid) > 64:
        abort(404)
    page = Page()
    now = ivr_state().settings.now()
    detail = page.load(lambda: reports.call_detail(ivr_state().db, sid, now), None)
    if detail is None and page.store_error is None:
        abort(404)
    own = _menu_of(detail.call.publication) if detail is not None else _menu()
    language = menu_language(own)
    return page.render(
        "admin/call.html",
        sid=sid,
        detail=detail,
        page_name="calls",
        node_title=lambda node_id: own.node_title(node_id, language),
    )


@dataclass(frozen=True)
class Comparison:
    """One node's traffic under version A and version B."""

    node: str
    a: reports.NodeStat | None
    b: reports.NodeStat | None

    @property
    def change(self) -> float | None:
        """B's drop-off rate minus A's, in points (None when either version never reached it)."""
        if self.a is None or self.b is None or self.a.planned_end:
            return None
        return (self.b.drop_rate - self.a.drop_rate) * 100

    @property
    def visits(self) -> int:
        """Visits under both versions."""
        return (self.a.visits if self.a else 0) + (self.b.visits if self.b else 0)


def _compare(a: list[reports.NodeStat], b: list[reports.NodeStat]) -> list[Comparison]:
    by_a, by_b = {s.node: s for s in a}, {s.node: s for s in b}
    rows = [Comparison(node, by_a.get(node), by_b.get(node)) for node in by_a.keys() | by_b.keys()]
    # The biggest changes first, then the nodes only one version reached, then the rest by traffic.
    rows.sort(key=lambda r: (-abs(r.change or 0.0), r.change is not None, -r.visits))
    return rows


@bp.get("/nodes")
def nodes() -> ResponseReturnValue:
    """Visits and drop-off per node, for one version or all; with ``a`` and ``b``, two versions side by side."""
    window, now, since = _window()
    page = Page()
    db = ivr_state().db
    planned = _planned_ends()
    versions: list[reports.VersionCount] = page.load(lambda: reports.version_counts(db, since), [])
    a, b = _version_arg("a"), _version_arg("b")
    if a is not reports.ALL_VERSIONS and b is not reports.ALL_VERSIONS:
        none: list[reports.NodeStat] = []
        stats_a = page.load(lambda: reports.node_stats(db, since, now, planned, a), none)
        stats_b = page.load(lambda: reports.node_stats(db, since, now, planned, b), none)
        return page.render(
            "admin/compare.html",
            window=window,
            versions=versions,
            a=a,
            b=b,
            rows=_compare(stats_a, stats_b),
            calls_a=sum(v.calls for v in versions if (v.publication or reports.MENU_FILE) == a),
            calls_b=sum(v.calls for v in versions if (v.publication or reports.MENU_FILE) == b),
            page_name="nodes",
        )
    version = _version_arg("version")
    stats: list[reports.NodeStat] = page.load(lambda: reports.node_stats(db, since, now, planned, version), [])
    order = request.args.get("sort", "dropoff")
    if order == "visits":
        stats.sort(key=lambda s: (-s.visits, s.node))
    elif order == "rate":
        stats.sort(key=lambda s: (-s.drop_rate, -s.visits, s.node))
    else:
        order = "dropoff"
    most = max((s.visits for s in stats), default=0)
    return page.render(
        "admin/nodes.html",
        window=window,
        stats=stats,
        order=order,
        most=most,
        versions=versions,
        version=version_param(version),
        page_name="nodes",
    )


@bp.get("/versions")
def versions() -> ResponseReturnValue:
    """The menu versions published, which one new calls get, and the calls each took in the window."""
    window, _now, since = _window()
    page = Page()
    db = ivr_state().db
    history: list[MenuPublication] = page.load(lambda: PublishedMenus(db).history(), [])
    counts: list[reports.VersionCount] = page.load(lambda: reports.version_counts(db, since), [])
    calls_of = {c.publication: c.calls for c in counts}
    return page.render(
        "admin/versions.html",
        window=window,
        history=history,
        calls_of=calls_of,
        file_calls=calls_of.get(None, 0),
        page_name="versions",
    )


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
bp.add_app_template_global(version_param, "admin_version_param")
