"""Each setting reaches the code that uses it, from its environment variable, and ivr.tts reads none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr import tts
from ivr.cli import main
from ivr.config import ConfigError, Settings
from ivr.web import app_state, create_app
from ivr.web.admin.blueprint import admin_state
from tests.test_tts import recording_tts
from tests.twiml_fixture_app import serve

SECRET = "s" * 32


@pytest.fixture
def built() -> Iterator[list[Flask]]:
    """Apps made by a test, closed after it."""
    apps: list[Flask] = []
    yield apps
    for app in apps:
        app_state(app).close()


def _app(tmp_path: Path, built: list[Flask]) -> Flask:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.db'}", "LOG_LEVEL": "WARNING"})
    built.append(app)
    return app


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No IVR_ variable of the developer's shell leaks into these tests."""
    import os

    for key in list(os.environ):
        if key.startswith("IVR_") or key == "TWILIO_AUTH_TOKEN":
            monkeypatch.delenv(key)
    return monkeypatch


def test_the_admins_tuning_comes_from_the_environment(
    tmp_path: Path, built: list[Flask], quiet_env: pytest.MonkeyPatch
) -> None:
    quiet_env.setenv("IVR_ADMIN_PASSWORD", "a password")
    quiet_env.setenv("IVR_SECRET_KEY", SECRET)
    quiet_env.setenv("IVR_ADMIN_LOGIN_DELAY", "0.25")
    quiet_env.setenv("IVR_ADMIN_PHONE_MAX_CALLS", "3")
    quiet_env.setenv("IVR_ADMIN_PHONE_IDLE_TIMEOUT", "45")
    quiet_env.setenv("IVR_ADMIN_PHONE_SPEECH", "0")
    admin = admin_state(_app(tmp_path, built))
    assert admin.login_delay == 0.25
    assert (admin.phone.max_calls, admin.phone.idle_timeout, admin.phone.speech) == (3, 45.0, None)


def test_the_admins_defaults() -> None:
    s = Settings.load(environ={})
    assert s.admin_login_delay == 0.5 and s.admin_phone_speech is True
    assert s.admin_phone_max_calls == 8 and s.admin_phone_idle_timeout == 120.0
    assert s.debug is False and s.tts_voices == {} and s.tts_rates == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IVR_ADMIN_LOGIN_DELAY", "-1"),
        ("IVR_ADMIN_LOGIN_DELAY", "a while"),
        ("IVR_ADMIN_PHONE_MAX_CALLS", "0"),
        ("IVR_ADMIN_PHONE_IDLE_TIMEOUT", "0"),
        ("IVR_ADMIN_PHONE_SPEECH", "perhaps"),
        ("IVR_DEBUG", "maybe"),
    ],
)
def test_bad_admin_and_debug_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"bad configuration: {name}: "):
        Settings.load(environ={name: value})


def test_the_browser_phone_speaks_with_the_configured_voices_and_rates(
    tmp_path: Path, built: list[Flask], quiet_env: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str, str | None, int | None]] = []

    def record(text: str, language: str, voice: str | None = None, *, rate: int | None = None) -> bytes:
        asked.append((text, language, voice, rate))
        return b"RIFF"

    quiet_env.setattr(tts, "synthesize", record)
    quiet_env.setenv("IVR_ADMIN_PASSWORD", "a password")
    quiet_env.setenv("IVR_SECRET_KEY", SECRET)
    quiet_env.setenv("IVR_TTS_RATE_ZH_CN", "240")
    quiet_env.setenv("IVR_TTS_VOICE_EN_US", "en-gb")
    speech = admin_state(_app(tmp_path, built)).phone.speech
    speech.wav("您好", "cmn-CN")
    speech.wav("Hello", "en-US")
    assert asked == [
        ("您好", "zh-CN", None, 240),  # None: not configured, ivr.tts takes the platform's
        ("Hello", "en-US", "en-gb", None),
    ]


def test_the_simulator_speaks_with_the_configured_rates_in_process(quiet_env: pytest.MonkeyPatch) -> None:
    asked = recording_tts(quiet_env)
    result = CliRunner().invoke(main, ["simulate", "--fresh", "--keys", "-"], env={"IVR_TTS_RATE_ZH_CN": "240"})
    assert result.exit_code == 0, result.output
    chinese = [a for a in asked if a[1] == "zh-CN"]
    assert chinese and all(rate == 240 for *_, rate in chinese)


def test_the_simulator_speaks_with_the_configured_voices_over_http(quiet_env: pytest.MonkeyPatch) -> None:
    asked = recording_tts(quiet_env)
    with serve() as (base, _):
        result = CliRunner().invoke(
            main, ["simulate", "--url", f"{base}/prompts", "--keys", "-"], env={"IVR_TTS_VOICE_ZH_CN": "yue"}
        )
    assert result.exit_code == 0, result.output
    assert ("你好", "zh-CN", "yue", None) in asked


def test_bad_settings_stop_the_simulator_clearly(quiet_env: pytest.MonkeyPatch) -> None:
    with serve() as (base, _):
        result = CliRunner().invoke(
            main, ["simulate", "--url", f"{base}/prompts", "--keys", "-"], env={"IVR_TTS_RATE_ZH_CN": "fast"}
        )
    assert result.exit_code == 1
    assert "IVR_TTS_RATE_ZH_CN: 'fast' is not a speaking rate" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom")


@pytest.mark.parametrize("debug", [None, "0", "false"])
def test_an_unexpected_error_is_one_line_unless_ivr_debug(
    debug: str | None, quiet_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    quiet_env.setattr("ivr.simulator.cli.simulate", _boom)
    env = {"IVR_DEBUG": debug} if debug is not None else {}
    result = CliRunner().invoke(main, ["simulate", "--fresh", "--mute", "--keys", "-"], env=env)
    assert result.exit_code == 70
    assert "simulator error (a bug; IVR_DEBUG=1 shows details): RuntimeError: boom" in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("debug", ["1", "true"])
def test_ivr_debug_shows_the_traceback(debug: str, quiet_env: pytest.MonkeyPatch) -> None:
    quiet_env.setattr("ivr.simulator.cli.simulate", _boom)
    result = CliRunner().invoke(main, ["simulate", "--fresh", "--mute", "--keys", "-"], env={"IVR_DEBUG": debug})
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == "boom"
    assert "simulator error" not in result.output


def test_a_bad_ivr_debug_does_not_break_a_call_that_works(quiet_env: pytest.MonkeyPatch) -> None:
    # Over HTTP nothing else reads the settings: IVR_DEBUG is read only when an error is being handled.
    with serve() as (base, _):
        result = CliRunner().invoke(
            main, ["simulate", "--url", f"{base}/prompts", "--mute", "--keys", "-"], env={"IVR_DEBUG": "maybe"}
        )
    assert result.exit_code == 0, result.output


def test_ivr_tts_ignores_the_environment_which_the_settings_read(quiet_env: pytest.MonkeyPatch) -> None:
    quiet_env.setenv("IVR_TTS_RATE_ZH_CN", "240")
    quiet_env.setenv("IVR_TTS_VOICE_ZH_CN", "yue")
    assert tts.default_rate("zh-CN") == tts.default_rate("zh-CN", {})
    assert tts.default_voice("zh-CN") == tts.default_voice("zh-CN", {})
    assert tts.default_rate("zh-CN") != 240 and tts.default_voice("zh-CN") != "yue"
    s = Settings.load()
    assert s.tts_rates == {"zh-CN": 240} and s.tts_voices == {"zh-CN": "yue"}
    assert tts.default_rate("zh-CN", s.tts_rates) == 240 and tts.default_voice("zh-CN", s.tts_voices) == "yue"


def test_tts_settings_from_a_file_and_the_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "ivr.toml"
    cfg.write_text('[tts_rates]\n"zh-cn" = 250\n"en-US" = 160\n[tts_voices]\n"en-US" = "en-gb"\n')
    s = Settings.load(environ={"IVR_CONFIG": str(cfg), "IVR_TTS_RATE_ZH_CN": "240", "IVR_TTS_VOICE_ZH_CN": ""})
    assert s.tts_rates == {"zh-CN": 240, "en-US": 160}  # the environment beats the file, language by language
    assert s.tts_voices == {"en-US": "en-gb"}  # an empty variable is unset
    cfg.write_text('[tts_rates]\n"en-US" = 1000\n')
    with pytest.raises(ConfigError, match="IVR_TTS_RATE_EN_US: 1000 is not a speaking rate"):
        Settings.load(environ={"IVR_CONFIG": str(cfg)})


def test_one_default_menu() -> None:
    from ivr import cli, config
    from ivr.simulator import cli as simulator_cli
    from ivr.simulator import scenarios

    assert config.DEFAULT_MENU == Path("menus/12333.json") == Settings.load(environ={}).menu
    assert cli.DEFAULT_MENU is simulator_cli.DEFAULT_MENU is scenarios.DEFAULT_MENU is config.DEFAULT_MENU


def test_the_webhook_without_the_admin_never_loads_the_speech_engine(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from ivr.web import create_app; "
        f"create_app({{'DATABASE_URL': 'sqlite:///{tmp_path / 'ivr.db'}', 'LOG_LEVEL': 'WARNING'}}); "
        "print(sorted(m for m in sys.modules if m.startswith('ivr.tts') or m == 'numpy'))"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
