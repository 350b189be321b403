"""The operator's dashboard in headless Chromium, as a Beijing operator sees it: in Chinese, Beijing time.

Debian's Chromium driven by Playwright (tests/test_phone_browser.py says how);
the test saves screenshots to its tmp_path and prints where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from ivr.storage.menus import PublishedMenus
from ivr.web import app_state
from tests.test_admin import PASSWORD, admin_app
from tests.test_phone_browser import WAIT_MS, page, server
from tests.twiml_tools import WebCall

__all__ = ["admin_app", "page", "server"]  # fixtures, imported for pytest

MENU = Path(__file__).resolve().parents[1] / "menus" / "12333.json"


def _calls(app: Flask) -> set[str]:
    """A few calls on two menu versions; the SIDs of those still on the line."""
    client = app.test_client()
    WebCall(client, "CAdone1").press("4").press("1").hang_up()
    WebCall(client, "CAdone2").press("2").hang_up()
    PublishedMenus(app_state(app).db).publish(
        MENU.read_text(encoding="utf-8"),
        menu_id="12333",
        label="1.0.0",
        published_by="ops@beijing",
        now=app_state(app).settings.now(),
        note="上线",
    )
    WebCall(client, "CAlive1").press("4")
    WebCall(client, "CAlive2")
    return {"CAlive1", "CAlive2"}


def test_the_chinese_dashboard_in_chromium(server: tuple[str, Flask], page: Any, tmp_path: Path) -> None:
    base, app = server
    live = _calls(app)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url
    assert page.locator("h1").inner_text() == "管理员登录"
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")

    # Chinese labels, Beijing times, the live count of the calls really on the line.
    assert page.locator("h1").inner_text() == "概览"
    assert page.locator(".stat.live .label").inner_text() == "当前通话"
    assert page.locator('[data-stat="live"]').inner_text() == str(len(live))
    assert "由 ops@beijing 于 2026-11-23 10:00:00 CST 发布" in page.locator("#served").inner_text()
    assert "Asia/Shanghai (UTC+08:00)" in page.locator("footer").inner_text()

    # The menu by level, top-down, fits the page: no sideways scrolling, every box wide enough to read.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    widths = page.locator(".levels .box").evaluate_all("boxes => boxes.map(b => b.getBoundingClientRect().width)")
    assert len(widths) > 10 and min(widths) >= 150
    assert page.locator('.level[data-level="0"] .step-title').all_inner_texts() == ["主菜单"]
    step = page.locator('details.step[data-node="activate_id"]')
    assert not step.locator(".words").is_visible()
    step.locator("summary").click()
    step.locator(".words").wait_for(state="visible", timeout=WAIT_MS)
    assert "身份证号码" in step.locator(".words").inner_text()
    shot = tmp_path / "dashboard-overview-zh.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\ndashboard overview screenshot: {shot}")

    # The calls: titles, not ids, and each call's version.
    page.goto(f"{base}/admin/calls")
    rows = page.locator("#live tr[data-call]")
    assert {rows.nth(i).get_attribute("data-call") for i in range(rows.count())} == live
    first = page.locator('#recent tr[data-call="CAdone1"]')
    assert first.locator(".path").inner_text().split() == ["主菜单", "→", "电子社保卡", "→", "电子社保卡申领"]
    assert first.locator('[data-col="version"]').inner_text() == "菜单文件 (1.0.0)"
    assert page.locator('#recent tr[data-call="CAlive1"] [data-col="version"]').inner_text() == "#1 (1.0.0)"
    page.screenshot(path=str(tmp_path / "dashboard-calls-zh.png"), full_page=True)

    # The switch to English is kept from page to page.
    page.click(".ui-languages a[lang=en]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Calls"
    page.goto(f"{base}/admin/")
    assert page.locator("h1").inner_text() == "Overview"
    assert errors == [], errors
