"""The caller's view of ``ivr simulate``: in a real pseudo-terminal, and its rendering and timeline one by one."""

from __future__ import annotations

import io
import os
import re
import sys
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response
from rich.console import Console

from ivr.phone import events as ev
from ivr.phone.callers import SKIP, InputKind, LiveCaller
from ivr.phone.clock import VirtualClock
from ivr.phone.run import simulate
from ivr.phone.speaker import MuteSpeaker, estimate_seconds
from ivr.phone.view import LEGEND, CallerView, countdown_text, offered_keys

pexpect = pytest.importorskip("pexpect")

IVR = Path(sys.executable).parent / "ivr"
MAIN_MENU = "激活社保卡，请按1"
ACTIVATION = "电话激活社保卡"
ID_PROMPT = "请输入您的18位居民身份证号码"


# -- in a pseudo-terminal ---------------------------------------------------------------


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    children: list[Any] = []

    def start(*args: str) -> Any:
        if not IVR.exists():
            pytest.skip("the ivr command is not installed in this environment")
        env = {**os.environ, "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.db'}", "TERM": "xterm", "COLUMNS": "140"}
        env.pop("IVR_DEBUG", None)
        child = pexpect.spawn(
            str(IVR), ["simulate", "--mute", *args], env=env, dimensions=(40, 140), encoding="utf-8", timeout=8
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def _ended(child: Any) -> int:
    child.expect(pexpect.EOF, timeout=5)
    child.close()
    return int(child.exitstatus)


def test_the_view_shows_the_menu_echoes_the_keys_and_q_hangs_up(spawn: Callable[..., Any]) -> None:
    child = spawn()
    seen = ""
    child.expect_exact(MAIN_MENU)
    seen += child.before + child.after
    child.expect_exact("Enter skips the prompt")  # the legend
    seen += child.before + child.after
    child.send("1")
    child.expect_exact(ACTIVATION)
    seen += child.before + child.after
    child.send("\r")  # skip the explanation
    child.expect_exact("skips the rest of the prompt")
    seen += child.before + child.after
    child.expect_exact(ID_PROMPT)
    seen += child.before + child.after
    for typed in ("1", "11", "110"):  # each key shows as it is pressed
        child.send(typed[-1])
        child.expect(r"keys(?:\s|\x1b\[[0-9;]*m)+" + re.escape(typed) + r"\s")
        seen += child.before + child.after
    child.send("q")
    assert _ended(child) == 0
    seen += child.before
    assert "caller_hangup" in seen
    assert "POST http" not in seen and "Traceback" not in seen


def test_verbose_adds_the_http_lines(spawn: Callable[..., Any]) -> None:
    child = spawn("-v")
    child.expect(r"POST http://localhost/voice → 200")
    child.expect_exact(MAIN_MENU)
    child.send("q")
    assert _ended(child) == 0


# -- the view's rendering -----------------------------------------------------------------


def _text(view: CallerView, now: float) -> str:
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(view.render(now))
    return console.export_text()


def _quiet_view(now: float = 0.0) -> CallerView:
    return CallerView(lambda: now, Console(file=io.StringIO()))


def test_the_keys_a_prompt_offers_come_from_its_words() -> None:
    menu = "激活社保卡，请按1；挂失，请按2；For English, please press 9；重听请按*号键。"
    assert offered_keys(menu) == ["1", "2", "9", "*"]
    view = _quiet_view()
    view(ev.GatherEvent(numDigits=1, timeout=5, finishOnKey="#", action="/menu"))
    view(ev.SayEvent(text="查询，请按3；人工服务，请按0。", language="zh-CN", voice=None, seconds=4.0, t=1.0))
    text = _text(view, 3.0)
    assert re.search(r"offers\s+3 0", text)
    assert "2.0 / 4.0 s" in text
    assert LEGEND in text


def test_the_countdown_starts_when_the_prompts_end_and_typed_keys_echo() -> None:
    view = _quiet_view()
    view(ev.GatherEvent(numDigits=None, timeout=5, finishOnKey="#", action="/id"))
    view(ev.SayEvent(text="Enter your number.", language="en-US", voice=None, seconds=2.0, t=0.0))
    view.listening(2.0, prompt=True)
    assert "times out" not in _text(view, 1.0)  # Twilio's timer does not run during the prompts
    view.listening(7.0, prompt=False)
    assert countdown_text(3.5, 5) in _text(view, 3.5)
    view.heard("4")
    view.heard("2")
    assert re.search(r"keys\s+42", _text(view, 4.0))
    view(ev.Input(digits="42", finished_on_key="#", t=4.0))
    text = _text(view, 4.0)
    assert "times out" not in text and "sent 42#" in text


def test_a_key_that_goes_nowhere_is_shown_as_ignored() -> None:
    view = _quiet_view()
    view(ev.SayEvent(text="Welcome.", language="en-US", voice=None, seconds=2.0, t=0.0))
    assert "went nowhere" not in _text(view, 0.5)
    view.ignored("5")
    assert "5 went nowhere" in _text(view, 1.0)
    view.skipped(1.0)
    assert "2.0 / 2.0 s  (skipped 1.0 s)" in _text(view, 2.0)


def test_a_played_file_shows_its_url_and_length() -> None:
    view = _quiet_view()
    view(ev.PlayEvent(url="http://localhost/hold.wav", seconds=6.5, t=0.0))
    assert "http://localhost/hold.wav (6.5 s)" in _text(view, 1.0)
    assert re.search(r"offers\s+—", _text(view, 1.0))


def test_a_played_file_shows_the_words_the_app_sent_and_the_keys_they_offer() -> None:
    view = _quiet_view()
    view(ev.GatherEvent(numDigits=1, timeout=5, finishOnKey="", action="/menu"))
    view(ev.PlayEvent(url="http://localhost/audio/a.wav", seconds=3.0, t=0.0, text="查询，请按3；人工服务，请按0。"))
    text = _text(view, 1.0)
    assert "查询，请按3；人工服务，请按0。" in text and "http://localhost/audio/a.wav (3.0 s)" in text
    assert re.search(r"offers\s+3 0", text)


# -- the timeline: ignored keys and skipped prompts -------------------------------------------------

WELCOME = "Welcome to the test line, we are glad you called."


class _Person(LiveCaller):
    """A person on a virtual clock: ``script`` is (seconds after the last key, key), in order."""

    def __init__(self, script: list[tuple[float, str]]) -> None:
        self.clock = VirtualClock()
        self.script = list(script)

    def begin(self, kind: InputKind) -> str | None:
        return None

    def _next_key(self, timeout: float) -> str | None:
        if not self.script:
            self.clock.sleep_until(self.clock.now() + timeout)
            return None
        delay, key = self.script[0]
        if delay > timeout:
            self.script[0] = (delay - timeout, key)
            self.clock.sleep_until(self.clock.now() + timeout)
            return None
        self.script.pop(0)
        self.clock.sleep_until(self.clock.now() + delay)
        return key


def _app() -> Flask:
    app = Flask(__name__)

    @app.post("/voice")
    def voice() -> Response:
        body = f'<Say>{WELCOME}</Say><Gather numDigits="1" action="/done" timeout="3"><Say>Press 1.</Say></Gather>'
        return Response(f"<Response>{body}</Response>", mimetype="text/xml")

    @app.post("/done")
    def done() -> Response:
        return Response("<Response><Hangup/></Response>", mimetype="text/xml")

    return app


def test_a_skip_moves_the_clock_to_the_prompts_end_and_the_recording_keeps_it_whole(tmp_path: Path) -> None:
    length = estimate_seconds(WELCOME)
    wav = tmp_path / "call.wav"
    caller = _Person([(1.0, "5"), (0.5, SKIP), (0.2, "1")])
    result = simulate(_app(), caller=caller, speaker=MuteSpeaker(), record=wav)
    ignored = [e for e in result.events if isinstance(e, ev.KeyIgnored)]
    skipped = [e for e in result.events if isinstance(e, ev.PromptSkipped)]
    assert [(e.key, e.t) for e in ignored] == [("5", 1.0)]
    assert [(e.t, e.seconds) for e in skipped] == [(1.5, round(length - 1.5, 3))]
    press = next(e for e in result.events if isinstance(e, ev.SayEvent) and e.text == "Press 1.")
    assert press.t == pytest.approx(length)  # the next prompt starts where the skipped one would have ended
    assert any(isinstance(e, ev.Input) and e.digits == "1" for e in result.events)
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() >= length  # the whole prompt is in the recording


def test_enter_outside_a_prompt_skips_nothing() -> None:
    caller = _Person([(0.1, SKIP), (0.1, SKIP)])
    caller.clock.sleep_until(1.0)
    assert caller.wait_key(3.0) is None  # waiting for keys, not playing: Enter is no key and skips nothing
    assert caller.clock.now() == pytest.approx(3.0)
    assert caller.take_events() == []
