"""The dashboard for a Beijing hotline: Chinese and English pages, times in the hotline's zone, live calls.

The catalog tests keep ``make translations`` honest: every word the pages
show has a Chinese translation with the same placeholders, and the compiled
catalog is the one the ``.po`` file says.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from tests.test_admin import admin_config, login
from tests.twiml_tools import WebCall
from tests.webapp import AppFactory

ROOT = Path(__file__).resolve().parents[1]
ADMIN = ROOT / "ivr" / "web" / "admin"
CATALOG = ADMIN / "translations" / "zh" / "LC_MESSAGES"
MENU = ROOT / "menus" / "12333.json"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


def _extracted() -> set[str | tuple[str, ...]]:
    methods = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(ADMIN), methods, keywords=keywords):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def test_every_word_of_the_pages_has_a_chinese_translation_with_its_placeholders() -> None:
    with (CATALOG / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    translated = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in catalog if m.id}
    extracted = _extracted()
    assert len(extracted) > 150
    missing = sorted(str(m) for m in extracted if m not in translated or not translated[m].string)
    assert missing == [], "run `make translations` and translate these in messages.po"
    for message in catalog:
        if not message.id:
            continue
        assert "fuzzy" not in message.flags, message.id
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, (message.id, text)


def test_the_compiled_catalog_is_the_po_file() -> None:
    def entries(catalog: Any) -> dict[Any, Any]:
        def key(value: Any) -> Any:
            return value if isinstance(value, str) else tuple(value)

        return {key(m.id): key(m.string) for m in catalog if m.id}

    with (CATALOG / "messages.po").open("rb") as fh:
        source = entries(read_po(fh))
    with (CATALOG / "messages.mo").open("rb") as fh:
        compiled = entries(read_mo(fh))
    assert compiled == source, "run `make translations` to compile messages.mo"


def _browser(app: Flask, **cookies: str) -> FlaskClient:
    """A logged-in browser that has made no choice of language, unless ``cookies`` say it has."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value, path="/admin")
    assert login(client).status_code == 302
    return client


def test_a_chinese_menu_gets_chinese_pages_and_the_switch_keeps_a_choice(make_app: AppFactory) -> None:
    app = make_app(**admin_config())
    client = _browser(app)
    html = client.get("/admin/", headers={"Accept-Language": "en-US,en"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "当前通话" in html and "菜单结构图" in html
    assert ">主菜单<" in html and "激活：身份证号码" in html  # node titles in Chinese
    english = client.get("/admin/calls?ui=en")
    assert "ivr_admin_ui=en" in english.headers.get("Set-Cookie", "")
    assert "Live now" in english.get_data(as_text=True)
    again = client.get("/admin/").get_data(as_text=True)
    assert '<html lang="en">' in again and "Menu diagram" in again and ">Main menu<" in again
    back = client.get("/admin/nodes?ui=zh").get_data(as_text=True)
    assert "各节点的到达与流失" in back
    assert client.get("/admin/login?ui=fr").status_code in (200, 302)  # an unknown choice is ignored


def test_an_english_menu_gets_english_pages_whatever_the_browser_prefers(make_app: AppFactory, tmp_path: Path) -> None:
    doc = json.loads(MENU.read_text(encoding="utf-8"))
    doc["default_language"] = "en-US"
    doc["languages"] = ["en-US", "zh-CN"]
    menu = tmp_path / "english.json"
    menu.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    app = make_app(MENU=str(menu), **admin_config())
    client = _browser(app)
    english = client.get("/admin/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "Menu diagram" in english and ">Main menu<" in english
    chinese = client.get("/admin/?ui=zh").get_data(as_text=True)
    assert "菜单结构图" in chinese and ">主菜单<" in chinese  # the titles follow the page's language


def _times(html: str) -> list[str]:
    return re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+", html)


def test_times_are_the_hotlines_with_their_zone(make_app: AppFactory, tmp_path: Path) -> None:
    # A clock in UTC says 02:00; the hotline is in Beijing, where it is 10:00.
    app = make_app(tmp_path, CLOCK="2026-11-23T02:00:00+00:00", **admin_config())
    WebCall(app.test_client(), "CAzone")
    html = _browser(app).get("/admin/calls").get_data(as_text=True)
    assert _times(html) == ["2026-11-23 10:00:00 CST"] * 2  # live, and recent
    assert "Asia/Shanghai (UTC+08:00)" in html
    utc = make_app(tmp_path, CLOCK="2026-11-23T02:00:00+00:00", TIMEZONE="UTC", **admin_config())
    assert _times(_browser(utc).get("/admin/calls").get_data(as_text=True)) == ["2026-11-23 02:00:00 UTC"] * 2


def _stat(html: str, name: str) -> int:
    m = re.search(rf'data-stat="{name}">(\d+)<', html)
    assert m, name
    return int(m.group(1))


def test_live_now_counts_only_the_calls_really_in_progress_after_a_burst(make_app: AppFactory, tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    def at(moment: dt.datetime, **extra: Any) -> Flask:
        return make_app(tmp_path, CLOCK=moment.isoformat(), **admin_config(**extra))

    earlier, then = at(now - dt.timedelta(minutes=10)), at(now)
    # Ten minutes ago: three callers left mid-menu without Twilio's status callback, two hung up properly.
    for i in range(3):
        WebCall(earlier.test_client(), f"CAgone{i}").press("4")
    for i in range(2):
        WebCall(earlier.test_client(), f"CAdone{i}").press("4").hang_up()
    # Now: four callers listening or keying, one mid-entry of an ID number, two who just hung up.
    live = {f"CAlive{i}" for i in range(4)}
    for sid in sorted(live):
        WebCall(then.test_client(), sid).press("2")
    WebCall(then.test_client(), "CAentry").press("1").press("11010119900307")
    live.add("CAentry")
    for i in range(2):
        WebCall(then.test_client(), f"CAbye{i}").press("3").hang_up()
    # An agent call from ten minutes ago is still live: its caller is talking to the agent.
    WebCall(earlier.test_client(), "CAagent").press("0")
    live.add("CAagent")

    client = _browser(then)
    overview = client.get("/admin/").get_data(as_text=True)
    assert _stat(overview, "live") == len(live) == 6
    calls = client.get("/admin/calls").get_data(as_text=True)
    table = calls.split('id="live"')[1].split('id="recent"')[0]
    assert set(re.findall(r'data-call="(\w+)"', table)) == live
    assert 'id="silent" data-count="3"' in calls
    # A minute later than what they wait for (and the margin), the callers at a menu are no longer live.
    later = at(now + dt.timedelta(minutes=3))
    later_live = re.findall(
        r'data-call="(\w+)"',
        _browser(later).get("/admin/calls").get_data(as_text=True).split('id="live"')[1].split('id="recent"')[0],
    )
    assert set(later_live) == {"CAagent"}


@pytest.mark.parametrize(("zone", "node"), [("Asia/Shanghai", "agent_transfer"), ("UTC", "agent_closed")])
def test_one_zone_owns_agent_hours_too(make_app: AppFactory, zone: str, node: str) -> None:
    # 02:00 UTC on a Monday: 10:00 in Beijing, when agents answer; 02:00 where the hotline keeps UTC.
    app = make_app(CLOCK="2026-11-23T02:00:00+00:00", TIMEZONE=zone)
    assert WebCall(app.test_client()).press("0").node == node
