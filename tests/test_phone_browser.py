"""The browser phone end to end, in headless Chromium.

Debian's ``chromium`` (``scripts/sysdeps.sh`` installs it) driven by
Playwright's Python package, pointed at the system browser: no browser is
ever downloaded.  The app runs in a werkzeug server thread on a free loopback
port; the test logs in, places a call, presses keys with the mouse and the
keyboard, and reads the transcript.  It saves screenshots to its tmp_path and
prints where.
"""

from __future__ import annotations

import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from ivr.web.admin.blueprint import admin_state
from tests.test_admin import PASSWORD, admin_app
from tests.webapp import AppFactory

__all__ = ["admin_app"]  # a fixture, imported for pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (scripts/sysdeps.sh)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright's Python package is missing: pip install -e '.[dev]'"
)


@pytest.fixture
def server(admin_app: AppFactory) -> Iterator[tuple[str, Flask]]:
    """The app with the dashboard on, served over HTTP on a free loopback port."""
    app = admin_app()
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="admin-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", app
    finally:
        admin_state(app).phone.shutdown()
        srv.shutdown()
        thread.join(5)
        srv.server_close()


@pytest.fixture
def page(server: tuple[str, Flask]) -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            yield context.new_page()
        finally:
            browser.close()


def test_the_browser_phone_calls_the_hotline(server: tuple[str, Flask], page: Any, tmp_path: Path) -> None:
    base, _app = server
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    speech: list[tuple[int, str]] = []
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on(
        "response",
        lambda r: speech.append((r.status, r.headers.get("content-type", ""))) if "/speech/" in r.url else None,
    )

    # Anyone opening the phone is sent to the login form first.
    page.goto(f"{base}/admin/phone")
    assert "/admin/login" in page.url
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/phone")

    transcript = page.locator("#transcript")
    page.click("#call-button")
    transcript.get_by_text("欢迎致电12333", exact=False).wait_for(timeout=WAIT_MS)
    # The page speaks the menu's language, Chinese, and names nodes by their titles.
    assert page.locator("#phone-node").inner_text() == "主菜单"

    # A click on the keypad: the e-card menu.
    page.click(".key[data-key='4']")
    transcript.get_by_text("您按了 4").wait_for(timeout=WAIT_MS)
    transcript.get_by_text("下载电子社保卡，请按1", exact=False).wait_for(timeout=WAIT_MS)
    page.wait_for_function("document.getElementById('phone-node').textContent === '电子社保卡'", timeout=WAIT_MS)

    # A key on the keyboard: the download instructions.
    page.keyboard.press("1")
    transcript.get_by_text("您按了 1").wait_for(timeout=WAIT_MS)
    transcript.get_by_text("请在手机应用商店搜索", exact=False).wait_for(timeout=WAIT_MS)
    page.wait_for_function("document.getElementById('phone-node').textContent === '电子社保卡申领'", timeout=WAIT_MS)

    shot = tmp_path / "browser-phone.png"
    page.screenshot(path=str(shot))
    print(f"\nbrowser phone screenshot: {shot}")
    assert shot.stat().st_size > 10_000

    page.click("#hangup-button")
    transcript.get_by_text("通话结束（caller hangup", exact=False).wait_for(timeout=WAIT_MS)
    assert page.locator("#call-button").is_enabled()

    # The prompts were spoken through their clips (without a speech engine: refused cleanly, text only),
    # fetched by opaque references: no prompt's words in any URL the page asked for.
    assert speech, "the page fetched no prompt audio"
    expected = {(200, "audio/wav")} if shutil.which("espeak-ng") else {(503, "application/json")}
    assert set(speech) == expected, speech
    queries = {urllib.parse.urlsplit(u).query.split("=")[0] for u in requested if urllib.parse.urlsplit(u).query}
    assert queries <= {"after", "next"}, queries  # the events poll (after=N&wait=S) and the login's next
    assert not [u for u in requested if "%" in urllib.parse.urlsplit(u).path], requested  # no words in a path

    # The call is on the dashboard like any other, with its path.
    page.goto(f"{base}/admin/calls")
    recent = page.locator("#recent")
    assert recent.locator(".path").first.inner_text().split() == ["主菜单", "→", "电子社保卡", "→", "电子社保卡申领"]
    dashboard = tmp_path / "dashboard-calls.png"
    page.screenshot(path=str(dashboard), full_page=True)
    print(f"dashboard screenshot: {dashboard}")
    assert errors == [], errors
