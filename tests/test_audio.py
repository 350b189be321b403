"""Prompt audio: rendering the real menu, the cache, failures, and finding the files for a call's prompts."""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr import tts
from ivr.audio import AudioLibrary, Manifest, clip_ids, clip_texts, plan, render
from ivr.audio import renderer as render_module
from ivr.audio.manifest import MANIFEST, file_name
from ivr.cli import main
from ivr.engine import CallStarted, Engine, Gather, Say, SayAs, Words
from ivr.engine.speech import render as render_say
from ivr.menu import Menu
from ivr.menu.model import HangupNode, MenuNode, MessageNode
from ivr.phone import events as ev
from ivr.phone.callers import parse_answers
from ivr.phone.run import simulate
from ivr.phone.speaker import MuteSpeaker
from ivr.tts import Synthesizer, TTSError, VoiceNotFound
from tests.test_tts import FakeBackend, needs_espeak, speechlike

ROOT = Path(__file__).resolve().parent.parent
MENU_JSON = json.loads((ROOT / "menus" / "12333.json").read_text("utf-8"))

VARIABLES = {
    "reference": "2026113",
    "expires_on": "2026-12-15",
    "until": "2026-12-15",
    "ready_on": "2027-01-05",
    "attempts_left": "2",
    "id_number": "11010519900307425X",
}


def changed_menu(**prompts: dict[str, str]) -> Menu:
    """The 12333 menu with some named prompts replaced."""
    data = json.loads(json.dumps(MENU_JSON))
    data["prompts"].update(prompts)
    return Menu.model_validate(data)


def copy_of(directory: Path, tmp_path: Path) -> Path:
    target = tmp_path / "audio"
    shutil.copytree(directory, target)
    return target


@pytest.fixture(scope="session")
def library(rendered: tuple[Path, render_module.RenderReport]) -> AudioLibrary:
    return AudioLibrary(rendered[0])


def fake(behave: Callable[[str, int], bytes] | None = None, version: str = "fake 1") -> Synthesizer:
    return Synthesizer(FakeBackend(behave, version))


# -- the real render ----------------------------------------------------------


def test_the_real_menu_renders_completely(rendered: tuple[Path, render_module.RenderReport]) -> None:
    _, report = rendered
    assert report.ok, [f.reason for f in report.failed]
    assert report.reused == 0 and report.pruned == []
    assert len(report.rendered) == report.planned > 300
    print(f"cold render of the 12333 menu: {report.planned} files in {report.seconds:.1f} s")


def test_every_rendered_file_is_telephony_audio_of_its_text(rendered: tuple[Path, render_module.RenderReport]) -> None:
    out, _ = rendered
    manifest = Manifest.load(out)
    on_disk = {p.name for p in out.glob("*.wav")}
    assert on_disk == set(manifest.files)
    engine = tts.engine_version()
    for name, entry in manifest.files.items():
        data = (out / name).read_bytes()
        with wave.open(str(out / name)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert tts.audio_problems(data, entry.text, entry.language) == [], (name, entry.text)
        assert entry.engine == engine and entry.voice in ("cmn", "en-us")
        assert entry.rate == tts.default_rate(entry.language)
        assert entry.size == len(data) and entry.duration == pytest.approx(tts.wav_duration(data), abs=0.001)
        # Content-addressed: the name is the hash of what it says and who said it, how fast.
        assert name == file_name(entry.kind, entry.text, entry.language, entry.voice, entry.engine, entry.rate)
        assert name.startswith(entry.language + "-")


def test_the_manifest_lists_every_prompt_piece_and_clip(rendered: tuple[Path, render_module.RenderReport]) -> None:
    out, _ = rendered
    raw = json.loads((out / MANIFEST).read_text("utf-8"))
    entries = raw["files"].values()
    zh_prompts = {e["text"] for e in entries if e["language"] == "zh-CN" and e["kind"] == "prompt"}
    assert MENU_JSON["prompts"]["welcome"]["zh-CN"] in zh_prompts
    # The fixed parts around a variable are rendered apart.
    confirm = MENU_JSON["prompts"]["confirm_id"]["zh-CN"]
    before, _, after = confirm.partition("{id_number:digits}")
    assert before in zh_prompts and after in zh_prompts
    assert not any("{" in text for text in zh_prompts)
    en_clips = {c: e["text"] for e in entries if e["language"] == "en-US" for c in e.get("clips", [])}
    assert en_clips["digit:7"] == "seven" and en_clips["month:12"] == "December" and en_clips["day:15"] == "fifteenth"
    zh_clips = {c for e in entries if e["language"] == "zh-CN" for c in e.get("clips", [])}
    assert {"digit:X", "word:year", "number:99", "unit:ten_thousand"} <= zh_clips


# -- the cache ----------------------------------------------------------------


def test_an_unchanged_menu_renders_nothing(
    menu: Menu, rendered: tuple[Path, render_module.RenderReport], tmp_path: Path
) -> None:
    out = copy_of(rendered[0], tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    started = time.perf_counter()
    report = render(
        [menu],
        out,
        synthesizer=lambda: fake(lambda t, n: pytest.fail("nothing should be rendered"), tts.engine_version()),
    )
    elapsed = time.perf_counter() - started
    assert report.ok and report.rendered == [] and report.pruned == [] and report.reused == report.planned
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert elapsed < 0.02 * rendered[1].seconds + 0.2


def test_a_changed_prompt_renders_only_itself_and_its_old_file_goes(
    rendered: tuple[Path, render_module.RenderReport], tmp_path: Path
) -> None:
    out = copy_of(rendered[0], tmp_path)
    old = Manifest.load(out).files
    changed = changed_menu(
        welcome={"zh-CN": "您好，欢迎致电12333社保热线。", "en-US": MENU_JSON["prompts"]["welcome"]["en-US"]}
    )
    report = render([changed], out, workers=1)
    assert report.ok
    assert len(report.rendered) == 1 and len(report.pruned) == 1
    assert Manifest.load(out).files[report.rendered[0]].text == "您好，欢迎致电12333社保热线。"
    assert old[report.pruned[0]].text == MENU_JSON["prompts"]["welcome"]["zh-CN"]
    assert not (out / report.pruned[0]).exists()


def test_stale_and_missing_files_are_put_right(
    menu: Menu, rendered: tuple[Path, render_module.RenderReport], tmp_path: Path
) -> None:
    out = copy_of(rendered[0], tmp_path)
    victim = sorted(Manifest.load(out).files)[0]
    (out / victim).unlink()
    (out / "zh-CN-0123456789abcdef.wav").write_bytes(b"old")  # a file an older menu needed
    (out / ".render-abc.tmp").write_bytes(b"half")  # left by an interrupted render
    (out / "README.md").write_text("mine")  # not the renderer's: kept
    report = render([menu], out, workers=1)
    assert report.ok and report.rendered == [victim]
    assert report.pruned == ["zh-CN-0123456789abcdef.wav"]
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".wav")) == ["README.md", MANIFEST]


def test_verify_finds_a_damaged_file_that_looks_unchanged(
    menu: Menu, rendered: tuple[Path, render_module.RenderReport], tmp_path: Path
) -> None:
    out = copy_of(rendered[0], tmp_path)
    victim = sorted(Manifest.load(out).files)[-1]
    data = (out / victim).read_bytes()
    (out / victim).write_bytes(data[:44] + bytes(len(data) - 44))  # same size, silence
    assert render([menu], out, workers=1).rendered == []
    report = render([menu], out, workers=1, verify=True)
    assert report.rendered == [victim]
    assert tts.audio_problems((out / victim).read_bytes(), Manifest.load(out).files[victim].text, victim[:5]) == []


def test_a_damaged_manifest_means_a_fresh_render(menu: Menu, tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text("{not json")
    report = render([menu], tmp_path, synthesizer=fake)
    assert report.ok and report.notes and "not JSON" in report.notes[0]
    assert len(Manifest.load(tmp_path).files) == report.planned


def test_the_engine_version_is_part_of_the_address(menu: Menu) -> None:
    one = plan([menu], lambda language: "cmn", "engine 1")
    two = plan([menu], lambda language: "cmn", "engine 2")
    other_voice = plan([menu], lambda language: "yue", "engine 1")
    assert len(one) == len(two) and not set(one) & set(two) and not set(one) & set(other_voice)


def test_the_rate_is_part_of_the_address(menu: Menu, monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment is the settings' business: a plan takes only the rates it is given.
    monkeypatch.setenv("IVR_TTS_RATE_EN_US", "170")
    default = plan([menu], lambda language: "cmn", "engine 1")
    rates = {(lang, tts.default_rate(lang)) for lang in menu.languages}
    assert {(j.language, j.rate) for j in default.values()} == rates
    faster = plan([menu], lambda language: "cmn", "engine 1", rate_for=lambda language: 300)
    assert len(faster) == len(default) and not set(faster) & set(default)
    # Only the language whose rate changed is renamed.
    english_only = plan(
        [menu], lambda language: "cmn", "engine 1", rate_for=lambda language: tts.default_rate(language, {"en-US": 170})
    )
    kept = set(english_only) & set(default)
    assert kept and all(default[name].language == "zh-CN" for name in kept)
    assert all(j.rate == 170 for j in english_only.values() if j.language == "en-US")


def test_a_new_rate_renders_that_language_again(menu: Menu, tmp_path: Path) -> None:
    backends: list[FakeBackend] = []

    def make(rates: dict[str, int]) -> Callable[[], Synthesizer]:
        def synth() -> Synthesizer:
            backends.append(FakeBackend(lambda text, n: speechlike(text, "en-US" if text.isascii() else "zh-CN")))
            return Synthesizer(backends[-1], rate_config=rates)

        return synth

    first = render([menu], tmp_path, synthesizer=make({"zh-CN": 265, "en-US": 150}), workers=1)
    assert first.ok and {r for b in backends for r in b.rates.values()} == {265, 150}
    entries = Manifest.load(tmp_path).files
    assert {(e.language, e.rate) for e in entries.values()} == {("zh-CN", 265), ("en-US", 150)}
    backends.clear()
    again = render([menu], tmp_path, synthesizer=make({"zh-CN": 240, "en-US": 150}), workers=1)
    assert again.ok and again.rendered and {r for b in backends for r in b.rates.values()} == {240}
    assert {entries[name].language for name in again.pruned} == {"zh-CN"}
    assert again.reused == sum(1 for e in entries.values() if e.language == "en-US")
    assert all(e.rate == 240 for e in Manifest.load(tmp_path).files.values() if e.language == "zh-CN")


def test_a_manifest_from_before_rates_still_loads(tmp_path: Path) -> None:
    entry = {"kind": "prompt", "language": "zh-CN", "text": "您好", "voice": "cmn", "engine": "e", "duration": 1.0}
    name = file_name("prompt", "您好", "zh-CN", "cmn", "e")
    (tmp_path / MANIFEST).write_text(json.dumps({"format": 1, "files": {name: {**entry, "size": 44}}}))
    (tmp_path / name).write_bytes(b"x" * 44)
    loaded = Manifest.load(tmp_path).files[name]
    assert loaded.rate is None and "rate" not in loaded.to_json()
    assert AudioLibrary(tmp_path).files_for(Say("zh-CN", (Words("您好"),))) == [name]


# -- failures -----------------------------------------------------------------


def test_a_missing_voice_stops_the_render_before_any_work(menu: Menu, tmp_path: Path) -> None:
    backend = FakeBackend()
    synth = Synthesizer(backend, voice_config={"en-US": "en-klingon"})
    with pytest.raises(VoiceNotFound, match=r"no voice 'en-klingon' for en-US.*Voices present: cmn, yue, en-us"):
        render([menu], tmp_path, synthesizer=lambda: synth)
    assert backend.calls == {} and backend.closed
    assert list(tmp_path.glob("*.wav")) == []


def test_the_cli_reports_a_missing_voice_without_a_traceback(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    result = CliRunner().invoke(main, ["render", "--out", str(tmp_path), "--voice", "zh-CN=huihui", "-q"])
    assert result.exit_code == 2
    assert "no voice 'huihui' for zh-CN" in result.output and "cmn" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_engine_failures_are_retried_then_reported(menu: Menu, tmp_path: Path) -> None:
    def behave(text: str, n: int) -> bytes:
        if "12333" in text:
            raise TTSError("the speech engine's process died (exit code -11)")
        if n == 1:
            return b""  # the first attempt at every text is lost, as pyttsx3 loses them
        return speechlike(text, "zh-CN" if any(ord(c) > 0x2E7F for c in text) else "en-US")

    report = render([menu], tmp_path, synthesizer=lambda: fake(behave), workers=2)
    assert not report.ok
    failed = {f.job.text for f in report.failed}
    assert failed and all("12333" in t for t in failed)
    assert all("failed 3 times" in f.reason and "exit code -11" in f.reason for f in report.failed)
    assert report.retries >= len(report.rendered)
    # What did render is kept, so that the next run retries only the failures.
    assert set(Manifest.load(tmp_path).files) == set(report.rendered)
    assert not any(f.job.file in {p.name for p in tmp_path.iterdir()} for f in report.failed)


def test_the_cli_reports_failures_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def behave(text: str, n: int) -> bytes:
        if text.startswith("欢迎致电"):
            raise TTSError("the speech engine did not answer within 20 s")
        return speechlike(text, "zh-CN" if any(ord(c) > 0x2E7F for c in text) else "en-US")

    monkeypatch.setattr(render_module, "Synthesizer", lambda **config: fake(behave))
    result = CliRunner().invoke(main, ["render", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 1, result.output
    assert "could not be rendered" in result.output and "did not answer within 20 s" in result.output
    assert "zh-CN prompt '欢迎致电" in result.output
    assert "Traceback" not in result.output
    # And the next run, with a working engine, renders just those.
    monkeypatch.setattr(render_module, "Synthesizer", lambda **config: fake())
    result = CliRunner().invoke(main, ["render", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert " 1 rendered," in result.output or " 2 rendered," in result.output


def test_the_cli_takes_rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_TTS_RATE_EN_US", raising=False)
    monkeypatch.setenv("IVR_TTS_RATE_ZH_CN", "250")  # the option wins over the environment
    backend = FakeBackend(lambda text, n: speechlike(text, "en-US" if text.isascii() else "zh-CN"))
    monkeypatch.setattr(render_module, "Synthesizer", lambda **config: Synthesizer(backend, **config))
    result = CliRunner().invoke(main, ["render", "--out", str(tmp_path), "--rate", "zh-CN=240", "-q"])
    assert result.exit_code == 0, result.output
    rates = {(e.language, e.rate) for e in Manifest.load(tmp_path).files.values()}
    assert rates == {("zh-CN", 240), ("en-US", tts.default_rate("en-US"))}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--rate", "zh-CN=fast"], None, "'zh-CN=fast' is not LANG=WPM"),
        (["--rate", "265"], None, "'265' is not LANG=WPM"),
        (["--rate", "zh-CN=1000"], None, "the rate for zh-CN is 1000, not a speaking rate"),
        ([], "quick", "IVR_TTS_RATE_EN_US: 'quick' is not a speaking rate: give words a minute, 80 to 450"),
    ],
)
def test_the_cli_rejects_a_bad_rate_before_any_work(
    args: list[str], env: str | None, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is not None:
        monkeypatch.setenv("IVR_TTS_RATE_EN_US", env)
    monkeypatch.setattr(render_module, "Synthesizer", lambda **config: pytest.fail("nothing should start"))
    result = CliRunner().invoke(main, ["render", "--out", str(tmp_path / "out"), *args, "-q"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_the_cli_renders_with_the_settings_voices_rates_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(lambda text, n: speechlike(text, "en-US" if text.isascii() else "zh-CN"))
    monkeypatch.setattr(render_module, "Synthesizer", lambda **config: Synthesizer(backend, **config))
    env = {"IVR_TTS_RATE_ZH_CN": "240", "IVR_TTS_VOICE_ZH_CN": "yue", "IVR_AUDIO_DIR": str(tmp_path / "served")}
    result = CliRunner().invoke(main, ["render", "-q"], env=env)
    assert result.exit_code == 0, result.output
    entries = Manifest.load(tmp_path / "served").files.values()
    assert {(e.language, e.voice, e.rate) for e in entries} == {
        ("zh-CN", "yue", 240),
        ("en-US", tts.default_voice("en-US"), tts.default_rate("en-US")),
    }


def test_the_webhook_plays_what_render_made_from_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xml.etree import ElementTree

    from ivr.web import app_state, create_app

    backend = FakeBackend(lambda text, n: speechlike(text, "en-US" if text.isascii() else "zh-CN"))
    monkeypatch.setattr(render_module, "Synthesizer", lambda **config: Synthesizer(backend, **config))
    out = tmp_path / "served"
    monkeypatch.setenv("IVR_AUDIO_DIR", str(out))
    monkeypatch.setenv("IVR_TTS_RATE_ZH_CN", "240")
    assert CliRunner().invoke(main, ["render", "-q"]).exit_code == 0
    files = Manifest.load(out).files
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.db'}", "LOG_LEVEL": "WARNING"})
    try:
        resp = app.test_client().post("/voice", data={"CallSid": "CA" + "1" * 32, "From": "+8613800138000"})
        assert resp.status_code == 200
        urls = [p.text or "" for p in ElementTree.fromstring(resp.data).iter("Play")]
        plays = [url.rsplit("/", 1)[-1] for url in urls]
        # The prompts' words travel with their first file, for the simulator's caller's view.
        words = dict(urllib.parse.parse_qsl(resp.headers["X-IVR-Prompts"]))
        assert set(words) <= set(urls) and urls[0] in words and "欢迎致电12333" in words[urls[0]]
        # The phone shows them with the file played.
        call = simulate(app, parse_answers("-"), speaker=MuteSpeaker())
        first = next(e for e in call.events if isinstance(e, ev.PlayEvent))
        assert first.text is not None and "欢迎致电12333" in first.text
    finally:
        app_state(app).close()
    assert plays and all(name in files for name in plays), plays
    assert any(files[name].language == "zh-CN" for name in plays)
    assert all(files[name].rate == 240 for name in plays if files[name].language == "zh-CN")
    # Settings that no longer match the files: they still play, and the library says why they are stale.
    assert AudioLibrary(out, rates={"zh-CN": 240}, voices={"en-US": tts.default_voice("en-US")}).mismatches == []
    stale = AudioLibrary(out, rates={"zh-CN": 250}, voices={"en-US": "en-gb"})
    assert stale.mismatches == [
        "en-US files were rendered by voice en-us, not en-gb",
        "zh-CN files were rendered at 240 words a minute, not 250",
    ]
    assert len(stale) == len(AudioLibrary(out))


def test_the_cli_reports_bad_settings_without_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module, "Synthesizer", lambda **config: pytest.fail("nothing should start"))
    result = CliRunner().invoke(
        main, ["render", "--out", str(tmp_path / "out"), "-q"], env={"IVR_TRUSTED_PROXIES": "x"}
    )
    assert result.exit_code == 2, result.output
    assert "IVR_TRUSTED_PROXIES" in result.output and "Traceback" not in result.output


def test_the_cli_rejects_a_bad_menu(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = CliRunner().invoke(main, ["render", str(bad), "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "Traceback" not in result.output


@needs_espeak
def test_the_cli_on_a_rendered_directory_does_nothing(
    rendered: tuple[Path, render_module.RenderReport], tmp_path: Path
) -> None:
    out = copy_of(rendered[0], tmp_path)
    result = CliRunner().invoke(main, ["render", str(ROOT / "menus" / "12333.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert " 0 rendered, " in result.output and " 0 stale removed" in result.output


# -- finding the files for a call's prompts ---------------------------------------


def test_every_prompt_of_every_node_is_found(menu: Menu, library: AudioLibrary) -> None:
    for node_id, node in menu.nodes.items():
        for field in ("prompt", "short_prompt", "confirm", "no_input_prompt", "invalid_prompt"):
            prompt = getattr(node, field, None)
            if prompt is None:
                continue
            for language in menu.languages:
                say = render_say(menu, prompt, language, VARIABLES)
                files = library.files_for(say)
                assert files, (node_id, field, language, say)
                assert all(library.path(f).is_file() for f in files)


def test_a_long_prompt_of_two_named_parts_is_two_files(menu: Menu, library: AudioLibrary) -> None:
    for language in menu.languages:
        say = render_say(menu, ("@welcome", "@main_options"), language, {})
        assert len(say.parts) == 1  # the engine joined them into one Words
        files = library.files_for(say)
        assert files is not None and len(files) == 2
        assert files[0] == library.files_for(render_say(menu, ("@welcome",), language, {}))[0]  # type: ignore[index]


def test_the_first_prompts_of_a_real_call_are_found(engine: Engine, library: AudioLibrary) -> None:
    for language in ("zh-CN", "en-US"):
        step = engine.start(CallStarted(caller="+8613800000000", language=language))
        says = [a for a in step.actions if isinstance(a, Say)]
        says += [s for a in step.actions if isinstance(a, Gather) for s in a.prompts]
        assert says
        for say in says:
            assert library.files_for(say), say


def test_a_reference_number_is_said_digit_by_digit(library: AudioLibrary) -> None:
    manifest = Manifest.load(library.root).files
    for language, expected in (("zh-CN", "二零二六一一三"), ("en-US", "two zero two six one one three")):
        say = Say(language, (Words(" "), SayAs("2026113", "digits", "2 0 2 6 1 1 3")))
        files = library.files_for(say)
        assert files is not None
        spoken = [manifest[f].text for f in files]
        assert ("".join(spoken) if language == "zh-CN" else " ".join(spoken)) == expected


def test_an_id_number_ends_with_x(library: AudioLibrary) -> None:
    files = library.files_for(Say("zh-CN", (SayAs("11010519900307425X", "digits", "..."),)))
    assert files is not None and len(files) == 18
    assert Manifest.load(library.root).files[files[-1]].text == "X"


def test_a_date_and_a_count_are_assembled(menu: Menu, library: AudioLibrary) -> None:
    manifest = Manifest.load(library.root).files

    def spoken(say: Say) -> list[str]:
        files = library.files_for(say)
        assert files is not None, say
        return [manifest[f].text for f in files]

    zh = spoken(Say("zh-CN", (SayAs("2026-12-15", "date", "2026年12月15日"),)))
    assert "".join(zh) == "二零二六年十二月十五日"
    en = spoken(Say("en-US", (SayAs("2026-12-15", "date", "December 15, 2026"),)))
    assert en == ["December", "fifteenth", "twenty", "twenty-six"]
    assert spoken(Say("en-US", (SayAs("2", "number", "2"),))) == ["two"]
    # A real prompt with a reference number and a date in it.
    for node_id, raw in MENU_JSON["nodes"].items():
        if "{reference:digits}" in json.dumps(raw, ensure_ascii=False):
            node = menu.nodes[node_id]
            assert isinstance(node, MessageNode | MenuNode | HangupNode)
            assert node.prompt is not None
            words = spoken(render_say(menu, node.prompt, "zh-CN", VARIABLES))
            raw_zh = json.dumps(raw, ensure_ascii=False)
            assert words[0] in raw_zh and "{" not in words[0]
            assert {"一", "年", "十二月", "十五日"} <= set(words)
            break
    else:
        pytest.fail("the menu has no prompt with a reference number")


def test_what_is_not_rendered_is_spoken_live(library: AudioLibrary, tmp_path: Path) -> None:
    assert library.files_for(Say("zh-CN", (Words("这句话没有渲染过。"),))) is None
    assert library.files_for(Say("zh-CN", (SayAs("北京", "text", "北京"),))) is None
    assert library.files_for(Say("zh-CN", (SayAs("12-34", "digits", "1 2 - 3 4"),))) is None
    assert library.files_for(Say("zh-CN", (SayAs("not a date", "date", "not a date"),))) is None
    assert library.files_for(Say("fr-FR", (SayAs("1", "digits", "1"),))) is None
    assert library.files_for(Say("zh-CN", ())) == []
    assert AudioLibrary(tmp_path / "nothing").files_for(Say("zh-CN", (Words("您好"),))) is None
    (tmp_path / MANIFEST).write_text("[]")
    damaged = AudioLibrary(tmp_path)
    assert damaged.problem and damaged.files_for(Say("zh-CN", (Words("您好"),))) is None


def test_a_file_missing_from_disk_is_not_offered(
    rendered: tuple[Path, render_module.RenderReport], tmp_path: Path, menu: Menu
) -> None:
    out = copy_of(rendered[0], tmp_path)
    say = render_say(menu, ("@welcome",), "zh-CN", {})
    files = AudioLibrary(out).files_for(say)
    assert files
    (out / files[0]).unlink()
    assert AudioLibrary(out).files_for(say) is None


def test_paths_stay_inside_the_audio_directory(library: AudioLibrary) -> None:
    for bad in ("../secret.wav", "/etc/passwd", ".hidden", "a\\b.wav"):
        with pytest.raises(ValueError):
            library.path(bad)
    assert library.path("zh-CN-0123456789abcdef.wav").parent == library.root


def test_lookups_are_cheap(menu: Menu, library: AudioLibrary) -> None:
    says = [
        render_say(menu, n.prompt, lang, VARIABLES)
        for n in menu.nodes.values()
        if getattr(n, "prompt", None)
        for lang in menu.languages
    ]  # type: ignore[arg-type]
    for say in says:
        library.files_for(say)
    started = time.perf_counter()
    for _ in range(10):
        for say in says:
            library.files_for(say)
    assert (time.perf_counter() - started) / (10 * len(says)) < 0.001


# -- clips --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        ("0", "零", "zero"),
        ("7", "七", "seven"),
        ("15", "十五", "fifteen"),
        ("105", "一百零五", "one hundred five"),
        ("110", "一百一十", "one hundred ten"),
        ("1005", "一千零五", "one thousand five"),
        ("10015", "一万零一十五", "ten thousand fifteen"),
        ("100000", "十万", "one hundred thousand"),
        ("120000005", "一亿二千万零五", "one hundred twenty million five"),
        ("-3", "负三", "minus three"),
        ("007", "七", "seven"),
    ],
)
def test_numbers(value: str, zh: str, en: str) -> None:
    zh_clips, en_clips = clip_texts("zh-CN"), clip_texts("en-US")
    assert "".join(zh_clips[c] for c in clip_ids(value, "number", "zh-CN") or []) == zh
    assert " ".join(en_clips[c] for c in clip_ids(value, "number", "en-US") or []) == en


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        ("2026-12-15", "二零二六年十二月十五日", "December fifteenth twenty twenty-six"),
        ("2005-03-31", "二零零五年三月三十一日", "March thirty-first two thousand five"),
        ("1905-01-01", "一九零五年一月一日", "January first nineteen oh five"),
        ("1900-07-20", "一九零零年七月二十日", "July twentieth nineteen hundred"),
        ("2000-02-29", "二零零零年二月二十九日", "February twenty-ninth two thousand"),
    ],
)
def test_dates(value: str, zh: str, en: str) -> None:
    zh_clips, en_clips = clip_texts("zh-CN"), clip_texts("en-US")
    assert "".join(zh_clips[c] for c in clip_ids(value, "date", "zh-CN") or []) == zh
    assert " ".join(en_clips[c] for c in clip_ids(value, "date", "en-US") or []) == en


def test_values_clips_cannot_say() -> None:
    assert clip_ids("10" * 7, "number", "zh-CN") is None
    assert clip_ids("twelve", "number", "en-US") is None
    assert clip_ids("2026-13-01", "date", "en-US") is None
    assert clip_ids("", "digits", "en-US") is None
    assert clip_ids("Beijing", "text", "en-US") is None
