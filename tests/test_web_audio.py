"""The webhook plays rendered prompts with <Play>, and serves the files."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ivr.audio import RenderReport
from tests.twiml_tools import WebCall, assert_valid_twiml
from tests.webapp import AppFactory

ID = "11010519491231002X"


def test_rendered_prompts_are_played_and_served(rendered: tuple[Path, RenderReport], make_app: AppFactory) -> None:
    app = make_app(AUDIO_DIR=str(rendered[0]))
    client = app.test_client()
    call = WebCall(client, xsd=True)
    root = assert_valid_twiml(call.twiml)
    plays = [p.text or "" for p in root.iterfind("Gather/Play")]
    assert plays and root.find("Gather/Say") is None
    assert all(re.fullmatch(r"/audio/[0-9A-Za-z_-]+\.wav", p) for p in plays), plays
    with client.get(plays[0]) as resp:
        assert resp.status_code == 200 and resp.mimetype == "audio/wav"
        assert resp.data[:4] == b"RIFF" and resp.data[8:12] == b"WAVE"
        assert "max-age=31536000" in resp.headers["Cache-Control"] and "immutable" in resp.headers["Cache-Control"]
        etag = resp.headers["ETag"]
    with client.get(plays[0], headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304


def test_a_read_back_is_assembled_from_digit_clips(rendered: tuple[Path, RenderReport], make_app: AppFactory) -> None:
    call = WebCall(make_app(AUDIO_DIR=str(rendered[0])).test_client(), xsd=True)
    call.press("1")
    call.press(ID[:-1] + "*")
    root = assert_valid_twiml(call.twiml)
    plays = [p.text for p in root.iterfind("Gather/Play")]
    # 18 characters, each from a clip, around the fixed words of the read-back prompt.
    assert len(plays) >= 18 and root.find("Gather/Say") is None


def test_unknown_or_escaping_audio_names_are_404(rendered: tuple[Path, RenderReport], make_app: AppFactory) -> None:
    client = make_app(AUDIO_DIR=str(rendered[0])).test_client()
    for name in ["nope.wav", "..%2Fmanifest.json", "manifest.json", ".hidden.wav"]:
        assert client.get(f"/audio/{name}").status_code == 404, name


def test_without_rendered_audio_prompts_are_said(tmp_path: Path, make_app: AppFactory) -> None:
    app = make_app(AUDIO_DIR=str(tmp_path / "empty"))
    root = assert_valid_twiml(WebCall(app.test_client(), xsd=True).twiml)
    assert root.find("Gather/Say") is not None and root.find("Gather/Play") is None
    assert app.test_client().get("/audio/x.wav").status_code == 404


def test_a_changed_prompt_falls_back_to_say(
    rendered: tuple[Path, RenderReport], tmp_path: Path, make_app: AppFactory
) -> None:
    import json

    menu = json.loads(Path("menus/12333.json").read_text(encoding="utf-8"))
    menu["prompts"]["welcome"]["zh-CN"] = "欢迎致电测试热线。"
    path = tmp_path / "menu.json"
    path.write_text(json.dumps(menu, ensure_ascii=False), encoding="utf-8")
    root = assert_valid_twiml(
        WebCall(make_app(AUDIO_DIR=str(rendered[0]), MENU=str(path)).test_client(), xsd=True).twiml
    )
    assert "测试热线" in (root.findtext("Gather/Say") or "")


def test_the_access_log_never_names_the_clips_of_a_read_back(
    rendered: tuple[Path, RenderReport], make_app: AppFactory
) -> None:
    client = make_app(AUDIO_DIR=str(rendered[0]), LOG_LEVEL="INFO").test_client()
    call = WebCall(client, xsd=True)
    call.press("1")
    call.press(ID[:-1] + "*")
    plays = [p.text or "" for p in assert_valid_twiml(call.twiml).iterfind("Gather/Play")]
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    access = logging.getLogger("ivr.access")
    access.addHandler(handler)
    try:
        for url in plays:  # what Twilio fetches, in the order it plays them
            with client.get(url) as resp:
                assert resp.status_code == 200
    finally:
        access.removeHandler(handler)
    paths = [getattr(r, "fields", {}).get("path") for r in records]
    assert paths == ["/audio/<name>"] * len(plays)
