"""The admin dashboard through Flask's test client: login, every page, the numbers they show, a store that is down.

Calls are made the way Twilio makes them: POST /voice, then the action URLs
(with their ``s=`` step numbers) the returned TwiML names, then /status.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ivr.config import ConfigError, Settings
from ivr.storage.cards import AuditEntry, Voicemail
from ivr.web import app_state
from tests.twiml_tools import WebCall
from tests.webapp import AppFactory

PASSWORD = "correct horse battery staple"
SECRET = "s" * 32
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # tests.webapp.IN_HOURS
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


def admin_config(**overrides: Any) -> dict[str, Any]:
    """The settings that turn the dashboard on (no login delay unless asked), with ``overrides``."""
    config: dict[str, Any] = {"ADMIN_PASSWORD": PASSWORD, "SECRET_KEY": SECRET, "ADMIN_LOGIN_DELAY": 0.0}
    config.update(overrides)
    return config


class EnglishClient(FlaskClient):
    """A browser that chose English with the dashboard's switch (its words are what these tests read)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_cookie("ivr_admin_ui", "en", path="/admin")


@pytest.fixture
def admin_app(make_app: AppFactory) -> AppFactory:
    """Builds apps with the dashboard on (:func:`admin_config`), each closed after the test.

    Their test clients browse in English; tests/test_admin_i18n.py reads the Chinese pages.
    """

    def make(folder: Path | None = None, /, **overrides: Any) -> Flask:
        app = make_app(folder, **admin_config(**overrides))
        app.test_client_class = EnglishClient
        return app

    return make


def form_token(resp: TestResponse) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', resp.get_data(as_text=True))
    assert m, "no CSRF token in the form"
    return m.group(1)


def page_token(client: FlaskClient) -> str:
    """The CSRF token a logged-in page carries (in its meta tag)."""
    m = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/admin/calls").get_data(as_text=True))
    assert m, "no CSRF token on the page"
    return m.group(1)


def set_cookie(resp: TestResponse, name: str = "ivr_admin") -> str:
    """The Set-Cookie header of the cookie ``name`` in ``resp``."""
    found = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert found, f"no {name} cookie set: {resp.headers.getlist('Set-Cookie')}"
    return found[0]


def login(client: FlaskClient, password: str = PASSWORD) -> TestResponse:
    token = form_token(client.get("/admin/login"))
    return client.post("/admin/login", data={"csrf_token": token, "password": password})


def logged_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    resp = login(client)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


@pytest.fixture
def busy_app(admin_app: AppFactory) -> Flask:
    """A dashboard with five calls, a voicemail from an older call, and audit rows.

    - CAa: main -> ecard, hangs up (drop-off at ecard)
    - CAb: main -> ecard -> ecard_download, hangs up (drop-off at ecard_download)
    - CAc: main -> agent -> agent_transfer, the agent answers (a planned end)
    - CAd: main, still on the line (live)
    - CAe: main -> agent -> agent_transfer (busy) -> agent_busy -> voicemail, leaves a message (a planned end)
    - CAf: main -> activate_intro (a message, passed through) -> activate_id, hangs up (drop-off at activate_id)
    """
    app = admin_app()
    client = app.test_client()
    a = WebCall(client, "CAa").press("4")
    assert a.node == "ecard"
    a.hang_up()
    b = WebCall(client, "CAb").press("4").press("1")
    assert b.node == "ecard_download"
    b.hang_up()
    c = WebCall(client, "CAc").press("0")
    assert c.node == "agent_transfer"
    c.dial_ends("completed").hang_up()
    d = WebCall(client, "CAd")
    assert d.node == "main"
    e = WebCall(client, "CAe", caller="+8613700001234").press("0").dial_ends("busy")
    assert e.node == "agent_busy"
    e.press("1").record(RECORDING, 12)
    assert e.node == "voicemail_saved"
    e.hang_up()
    f = WebCall(client, "CAf").press("1")
    assert f.node == "activate_id"
    f.hang_up()
    db = app_state(app).db
    with db.session() as s:
        # A message from three days ago: in the 7-day window, not in the 24-hour one.
        s.add(
            Voicemail(
                call_sid="CAold",
                caller="+8613600009999",
                recording_url=RECORDING + "old",
                seconds=75,
                created_at=NOW - dt.timedelta(days=3),
            )
        )
        for outcome in ("activated", "activated", "wrong_password"):
            s.add(AuditEntry(at=NOW, call_sid="CAx", service="card.activate", id_masked="110***4258", outcome=outcome))
    return app


# -- settings ------------------------------------------------------------------------------


def test_settings_read_the_admin_password_and_secret_key_from_the_environment() -> None:
    s = Settings.load({"IVR_ADMIN_PASSWORD": "pw", "IVR_SECRET_KEY": "k" * 20})
    assert s.admin_password == "pw" and s.secret_key == "k" * 20
    assert "pw" not in repr(s) and "k" * 20 not in repr(s)
    off = Settings.load({"IVR_ADMIN_PASSWORD": "", "IVR_SECRET_KEY": ""})
    assert off.admin_password is None and off.secret_key is None
    with pytest.raises(ConfigError, match="IVR_SECRET_KEY"):
        Settings.load({"IVR_SECRET_KEY": "short"})


# -- login -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/", "/admin/login", "/admin/phone", "/admin/static/admin.css", "/admin/calls"])
def test_without_a_password_nothing_under_admin_exists(make_app: AppFactory, path: str) -> None:
    app = make_app(SECRET_KEY=SECRET)
    client = app.test_client()
    assert client.get(path).status_code == 404
    assert client.post("/admin/login", data={"password": ""}).status_code == 404
    assert client.post("/admin/phone/calls").status_code == 404


def test_anonymous_visitors_are_sent_to_the_login_form_and_the_api_says_401(admin_app: AppFactory) -> None:
    client = admin_app().test_client()
    resp = client.get("/admin/calls?window=24h")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/admin/login?next=")
    assert "/admin/calls" in resp.headers["Location"]
    api = client.post("/admin/phone/calls")
    assert api.status_code == 401 and "log" in api.json["error"]  # type: ignore[index]
    assert client.get("/admin/phone/calls/CA1/speech/x").status_code == 401
    # The callers' side is untouched by the login.
    assert client.post("/voice", data={"CallSid": "CA1", "From": "+8613800000000"}).status_code == 200


def test_login_sets_a_hardened_cookie_and_goes_where_it_was_asked(admin_app: AppFactory) -> None:
    client = admin_app().test_client()
    token = form_token(client.get("/admin/login?next=/admin/nodes"))
    resp = client.post("/admin/login", data={"csrf_token": token, "password": PASSWORD, "next": "/admin/nodes"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/nodes"
    cookie = set_cookie(resp)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http without a public https URL: a Secure cookie would never come back
    assert client.get("/admin/nodes").status_code == 200


def test_the_cookie_is_secure_behind_an_https_public_url(admin_app: AppFactory) -> None:
    client = admin_app(PUBLIC_URL="https://ivr.example.com").test_client()
    resp = login(client)
    assert "Secure" in set_cookie(resp) and "Secure" in set_cookie(resp, "ivr_admin_device")


def test_login_never_leaves_admin(admin_app: AppFactory) -> None:
    client = admin_app().test_client()
    token = form_token(client.get("/admin/login"))
    resp = client.post("/admin/login", data={"csrf_token": token, "password": PASSWORD, "next": "//evil.example/x"})
    assert resp.headers["Location"] == "/admin/"


def test_a_wrong_password_is_refused_after_a_delay(tmp_path: Path, admin_app: AppFactory) -> None:
    client = admin_app(tmp_path, ADMIN_LOGIN_DELAY=0.3).test_client()
    started = time.monotonic()
    resp = login(client, "wrong")
    assert time.monotonic() - started >= 0.3
    assert resp.status_code == 401 and "Wrong password" in resp.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    # A password that merely starts like the right one is wrong too.
    assert login(client, PASSWORD[:-1]).status_code == 401


def test_repeated_failures_lock_the_address_out_even_for_the_right_password(admin_app: AppFactory) -> None:
    client = admin_app().test_client()
    for _ in range(5):
        assert login(client, "guess").status_code == 401
    resp = login(client)
    assert resp.status_code == 429 and "Too many failed logins" in resp.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_needs_the_forms_csrf_token(admin_app: AppFactory) -> None:
    client = admin_app().test_client()
    client.get("/admin/login")
    resp = client.post("/admin/login", data={"password": PASSWORD})
    assert resp.status_code == 400
    resp = client.post("/admin/login", data={"password": PASSWORD, "csrf_token": "forged"})
    assert resp.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_posts_need_the_csrf_token_once_logged_in(admin_app: AppFactory) -> None:
    client = logged_in(admin_app())
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/").status_code == 200  # still logged in
    resp = client.post("/admin/phone/calls", headers={"X-CSRF-Token": "forged"})
    assert resp.status_code == 400 and "CSRF" in resp.json["error"]  # type: ignore[index]


def test_logout_ends_the_session(admin_app: AppFactory) -> None:
    client = logged_in(admin_app())
    resp = client.post("/admin/logout", data={"csrf_token": page_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/login?logged_out=1"
    assert "logged out" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_a_session_outlives_a_restart_with_the_same_key_but_not_a_password_change(
    tmp_path: Path, admin_app: AppFactory
) -> None:
    for name in "abc":
        (tmp_path / name).mkdir()
    client = logged_in(admin_app(tmp_path / "a"))
    cookie = client.get_cookie("ivr_admin", path="/admin")
    assert cookie is not None
    restarted = admin_app(tmp_path / "b").test_client()
    restarted.set_cookie("ivr_admin", cookie.value, path="/admin")
    assert restarted.get("/admin/").status_code == 200
    changed = admin_app(tmp_path / "c", ADMIN_PASSWORD="a new password").test_client()
    changed.set_cookie("ivr_admin", cookie.value, path="/admin")
    assert changed.get("/admin/").status_code == 302


def test_without_a_secret_key_a_random_one_is_used_with_a_warning(
    tmp_path: Path, make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("ivr")
    logger.propagate = True
    try:
        with caplog.at_level(logging.WARNING, logger="ivr"):
            app = make_app(tmp_path, ADMIN_PASSWORD=PASSWORD, ADMIN_LOGIN_DELAY=0.0)
    finally:
        logger.propagate = False
    assert "IVR_SECRET_KEY is not set" in caplog.text
    assert isinstance(app.secret_key, str) and len(app.secret_key) >= 32
    assert logged_in(app).get("/admin/").status_code == 200


def test_admin_pages_are_not_cached_or_framed(admin_app: AppFactory) -> None:
    client = logged_in(admin_app())
    resp = client.get("/admin/calls")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


# -- pages and their numbers -------------------------------------------------------------------


def _rows(html: str, attr: str) -> dict[str, str]:
    """Table rows by their ``data-<attr>`` value, as HTML."""
    return {m.group(1): m.group(2) for m in re.finditer(rf'<tr data-{attr}="([^"]+)"[^>]*>(.*?)</tr>', html, re.S)}


def _cell(row: str, col: str) -> str:
    m = re.search(rf'data-col="{col}">(.*?)</td>', row, re.S)
    assert m, f"no {col} cell in {row}"
    return re.sub(r"<[^>]+>", "", m.group(1)).strip()


def _path_of(html: str, sid: str) -> list[str]:
    """The path shown in the calls table for ``sid``: the nodes' ids (each is shown by its title)."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        if f'href="/admin/calls/{sid}"' in row:
            return re.findall(r'<span class="node" data-node="([^"]+)"', row)
    raise AssertionError(f"{sid} is not listed")


def _titles_of(html: str, sid: str) -> list[str]:
    """The path shown in the calls table for ``sid``, as the operator reads it."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        if f'href="/admin/calls/{sid}"' in row:
            return re.findall(r'<span class="node"[^>]*>([^<]+)</span>', row)
    raise AssertionError(f"{sid} is not listed")


def test_overview_shows_the_numbers_and_the_menu_diagram(busy_app: Flask) -> None:
    client = logged_in(busy_app)
    html = client.get("/admin/").get_data(as_text=True)
    stats = dict(re.findall(r'data-stat="(\w+)">(\d+)<', html))
    assert stats == {"calls": "6", "live": "1", "dropped": "3", "transactions": "3", "voicemails": "2"}
    # The menu by level: the main menu alone at the top, what its keys lead to below, each box a key's.
    levels = re.findall(r'<div class="level" data-level="(\d+)">(.*?)</div>\s*</div>\s*</div>', html, re.S)
    assert [n for n, _ in levels][:3] == ["0", "1", "2"]
    assert re.findall(r'data-node="(\w+)"', levels[0][1]) == ["main"]
    assert "<kbd>1</kbd>" in levels[1][1] and 'data-node="activate_id"' in levels[1][1]
    assert 'data-node="loss_report"' in levels[2][1]  # main, 2 (lost card), 1 (report by phone)
    assert ">Main menu<" in html and "Activation: ID number" in html  # titles, in the page's language
    assert '<a href="/admin/menu.svg?lang=en-US"' in html  # the whole graph, by Graphviz
    svg = client.get("/admin/menu.svg?lang=en-US")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert "Main menu" in svg.get_data(as_text=True)
    day = client.get("/admin/?window=24h").get_data(as_text=True)
    assert 'data-stat="voicemails">1<' in day


def test_without_graphviz_the_overview_still_draws_the_menu_and_the_graph_is_text(
    admin_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr.authoring import graph

    def no_dot(dot_text: str, fmt: str, timeout: float = 60) -> bytes:
        raise graph.GraphError("the Graphviz 'dot' command is not installed")

    monkeypatch.setattr(graph, "run_dot", no_dot)
    client = logged_in(admin_app())
    resp = client.get("/admin/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'data-node="activate_id"' in html  # the overview's diagram needs no Graphviz
    text = client.get("/admin/menu.svg")
    assert text.status_code == 200 and text.mimetype == "text/plain"
    assert text.get_data(as_text=True).startswith("the Graphviz 'dot' command is not installed")
    assert "flowchart LR" in text.get_data(as_text=True)


def test_calls_page_lists_live_and_recent_calls_with_their_paths(busy_app: Flask) -> None:
    client = logged_in(busy_app)
    html = client.get("/admin/calls").get_data(as_text=True)
    live, recent = html.split('id="recent"')
    assert _path_of(live, "CAd") == ["main"]
    assert "CAa" not in live and "CAe" not in live
    assert _path_of(recent, "CAa") == ["main", "ecard"]
    assert _path_of(recent, "CAb") == ["main", "ecard", "ecard_download"]
    assert _path_of(recent, "CAc") == ["main", "agent", "agent_transfer"]
    assert _path_of(recent, "CAe") == [
        "main",
        "agent",
        "agent_transfer",
        "agent_busy",
        "voicemail",
        "voicemail_save",
        "voicemail_saved",
    ]
    assert _path_of(recent, "CAf") == ["main", "activate_intro", "activate_id"]
    assert "+861391234****" in recent and "+8613912345678" not in html


def test_the_call_page_shows_a_calls_events_masked(busy_app: Flask) -> None:
    client = logged_in(busy_app)
    html = client.get("/admin/calls/CAe").get_data(as_text=True)
    assert "+861370000****" in html and "+8613700001234" not in html
    assert "voicemail_saved" in html and "TransferDone" in html and "status=busy" in html
    assert "service=voicemail.save, outcome=saved" in html
    assert f'<audio controls preload="none" src="{RECORDING}">' in html
    assert client.get("/admin/calls/CAnothing").status_code == 404


def test_nodes_page_counts_visits_and_drop_off(busy_app: Flask) -> None:
    client = logged_in(busy_app)
    html = client.get("/admin/nodes").get_data(as_text=True)
    rows = _rows(html, "node")
    visits = {node: _cell(row, "visits") for node, row in rows.items()}
    assert visits["main"] == "6" and visits["ecard"] == "2" and visits["ecard_download"] == "1"
    assert visits["activate_intro"] == "1" and _cell(rows["activate_intro"], "dropped") == "0"
    assert visits["agent"] == "2" and visits["agent_transfer"] == "2" and visits["voicemail"] == "1"
    assert _cell(rows["ecard"], "dropped") == "1" and _cell(rows["ecard"], "rate") == "50%"
    assert _cell(rows["ecard_download"], "dropped") == "1" and _cell(rows["ecard_download"], "rate") == "100%"
    assert _cell(rows["main"], "dropped") == "0"  # CAd is still on the line
    # Ending at a transfer or a goodbye is the plan, not a drop-off.
    assert "planned" in _cell(rows["agent_transfer"], "dropped")
    assert "planned" in _cell(rows["voicemail_saved"], "dropped")
    # Sorted by drop-offs, then visits: the three nodes where callers hung up come first.
    assert list(rows)[:3] == ["ecard", "activate_id", "ecard_download"]
    by_visits = list(_rows(client.get("/admin/nodes?sort=visits").get_data(as_text=True), "node"))
    assert by_visits[0] == "main"
    by_rate = list(_rows(client.get("/admin/nodes?sort=rate").get_data(as_text=True), "node"))
    assert by_rate[:3] == ["activate_id", "ecard_download", "ecard"]


def test_transactions_page_counts_outcomes_per_service(busy_app: Flask) -> None:
    client = logged_in(busy_app)
    html = client.get("/admin/transactions").get_data(as_text=True)
    services = _rows(html.split('id="audit"')[0], "service")
    hours = re.findall(r'data-outcome="(\w+)">(\d*)</td>', services["agent.hours"])
    assert ("open", "2") in hours  # CAc and CAe
    saved = re.findall(r'data-outcome="(\w+)">(\d*)</td>', services["voicemail.save"])
    assert ("saved", "1") in saved
    audit = re.findall(r'data-service="([\w.]+)" data-outcome="(\w+)">.*?<td class="num">(\d+)</td>', html)
    assert ("card.activate", "activated", "2") in audit
    assert ("card.activate", "wrong_password", "1") in audit
    assert ("voicemail.save", "saved", "1") in audit


def test_voicemails_page_plays_recordings_with_masked_callers(busy_app: Flask) -> None:
    client = logged_in(busy_app)
    html = client.get("/admin/voicemails").get_data(as_text=True)
    assert f'<audio controls preload="none" src="{RECORDING}">' in html
    assert f'src="{RECORDING}old"' in html
    assert "+861370000****" in html and "+861360000****" in html and "1234" not in html
    assert "1:15" in html  # the older message's 75 seconds
    day = client.get("/admin/voicemails?window=24h").get_data(as_text=True)
    assert f'src="{RECORDING}"' in day and f'src="{RECORDING}old"' not in day


def test_a_recording_url_that_is_not_http_is_not_played(admin_app: AppFactory) -> None:
    app = admin_app()
    with app_state(app).db.session() as s:
        s.add(Voicemail(call_sid="CAj", caller="+8613", recording_url="javascript:alert(1)", seconds=3, created_at=NOW))
    html = logged_in(app).get("/admin/voicemails").get_data(as_text=True)
    assert "javascript:" not in html and "no playable recording" in html


def test_a_store_that_is_down_gives_a_banner_not_a_500(tmp_path: Path, admin_app: AppFactory) -> None:
    (tmp_path / "ivr.db").mkdir()  # SQLite cannot open a directory
    app = admin_app()
    client = logged_in(app)  # logging in needs no database
    for path in [
        "/admin/",
        "/admin/calls",
        "/admin/calls/CA1",
        "/admin/nodes",
        "/admin/transactions",
        "/admin/voicemails",
    ]:
        resp = client.get(path)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 503, path
        assert "Store unavailable" in html and "Traceback" not in html, path
    assert "Menu diagram" in client.get("/admin/").get_data(as_text=True)  # what needs no store is still there


def test_a_path_follows_the_nodes_entered_even_through_chained_services() -> None:
    from ivr.storage.reports import build_path

    # One step stores its keys and service outcomes first, then the nodes it entered.
    step = [("Digits", "main"), ("service", "s1"), ("service", "s2"), ("enter", "s1"), ("enter", "m"), ("enter", "s2")]
    assert build_path([("start", "main"), ("enter", "main"), *step], "end") == ["main", "s1", "m", "s2", "end"]
    # Calls recorded before there were "enter" events: every event's node.
    assert build_path([("start", "main"), ("Digits", "main"), ("service", "agent")], "agent_busy") == [
        "main",
        "agent",
        "agent_busy",
    ]


def test_drop_off_per_version_and_two_versions_side_by_side(admin_app: AppFactory) -> None:
    from ivr.storage.menus import PublishedMenus

    app = admin_app()
    client = app.test_client()
    for i in range(4):  # on the menu file: half hang up at the e-card menu
        call = WebCall(client, f"CAold{i}").press("4")
        (call.hang_up() if i % 2 else call.press("1").hang_up())
    PublishedMenus(app_state(app).db).publish(
        (Path(__file__).resolve().parents[1] / "menus" / "12333.json").read_text(encoding="utf-8"),
        menu_id="12333",
        label="1.0.0",
        published_by="ops",
        now=NOW,
        note="same words, new number",
    )
    for i in range(2):  # on version 1: nobody hangs up at the e-card menu
        WebCall(client, f"CAnew{i}").press("4").press("1").hang_up()
    admin = logged_in(app)

    one = _rows(admin.get("/admin/nodes?version=1").get_data(as_text=True), "node")
    assert _cell(one["main"], "visits") == "2" and _cell(one["ecard"], "dropped") == "0"
    old = _rows(admin.get("/admin/nodes?version=file").get_data(as_text=True), "node")
    assert _cell(old["main"], "visits") == "4" and _cell(old["ecard"], "rate") == "50%"

    html = admin.get("/admin/nodes?a=file&b=1").get_data(as_text=True)
    rows = _rows(html, "node")
    assert _cell(rows["ecard"], "rate-a") == "50%" and _cell(rows["ecard"], "rate-b") == "0%"
    assert _cell(rows["ecard"], "change") == "-50 pts"
    assert next(iter(rows)) == "ecard"  # the biggest change first
    assert "2 on version #1" in html and "4 on version file" in html

    versions = admin.get("/admin/versions").get_data(as_text=True)
    assert 'data-version="1"' in versions and "same words, new number" in versions
    assert "4 calls in this window began on the menu file" in versions
