"""Settings from the environment, a TOML file and overrides, and clear errors for bad ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ivr.config import ConfigError, Settings, env_name


def test_defaults() -> None:
    s = Settings.load(environ={})
    assert s.database_url == "sqlite:///ivr.db" and s.env == "development" and s.twilio_auth_token is None
    assert s.voices["zh-CN"].language == "cmn-CN" and s.voices["zh-CN"].voice == "Polly.Zhiyu"
    assert s.voices["en-US"].language == "en-US"


def test_environment_file_and_override_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "ivr.toml"
    cfg.write_text('database_url = "sqlite:///from-file.db"\nagent_number = "+8610"\nlog_level = "DEBUG"\n')
    env = {"IVR_CONFIG": str(cfg), "IVR_AGENT_NUMBER": "+8620", "TWILIO_AUTH_TOKEN": "t0k"}
    s = Settings.load(environ=env, overrides={"LOG_LEVEL": "ERROR"})
    assert s.database_url == "sqlite:///from-file.db"  # file
    assert s.agent_number == "+8620"  # environment beats file
    assert s.log_level == "ERROR"  # override beats both
    assert s.twilio_auth_token == "t0k"


def test_fixed_clock_and_public_url() -> None:
    s = Settings.load(environ={"IVR_CLOCK": "2026-11-23T10:00:00+08:00", "IVR_PUBLIC_URL": "https://ivr.example.com/"})
    assert s.now() == dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
    assert s.public_url == "https://ivr.example.com"


def test_voice_per_language_from_environment() -> None:
    s = Settings.load(environ={"IVR_SAY_VOICE_EN_US": "Polly.Matthew"})
    assert s.voices["en-US"].voice == "Polly.Matthew" and s.voices["en-US"].language == "en-US"
    assert s.voices["zh-CN"].voice == "Polly.Zhiyu"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IVR_TRUSTED_PROXIES": "many"}, "IVR_TRUSTED_PROXIES"),
        ({"IVR_ENV": "staging"}, "IVR_ENV"),
        ({"IVR_CLOCK": "yesterday"}, "IVR_CLOCK"),
        ({"IVR_UNKNOWN_THING": "1", "IVR_MAX_BODY_BYTES": "10"}, "IVR_MAX_BODY_BYTES"),
        ({"IVR_CONFIG": "/nonexistent/ivr.toml"}, "cannot read"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.load(environ=env)


def test_bad_toml_is_reported(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("database_url = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(environ={"IVR_CONFIG": str(cfg)})
    cfg.write_text('databse_url = "x"\n')
    with pytest.raises(ConfigError, match="IVR_DATABSE_URL"):
        Settings.load(environ={"IVR_CONFIG": str(cfg)})


def test_production_needs_a_token_or_an_explicit_insecure() -> None:
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        Settings.load(environ={"IVR_ENV": "production"}).check_production()
    Settings.load(environ={"IVR_ENV": "production", "IVR_INSECURE": "1"}).check_production()
    url = {"IVR_PUBLIC_URL": "https://ivr.example.com"}
    Settings.load(environ={"IVR_ENV": "production", "TWILIO_AUTH_TOKEN": "x", **url}).check_production()


def test_production_needs_a_public_url_or_trusted_proxies() -> None:
    # Without either, the signed URL is rebuilt from the request's own Host header, which any client names.
    token = {"IVR_ENV": "production", "TWILIO_AUTH_TOKEN": "x"}
    with pytest.raises(ConfigError, match="IVR_PUBLIC_URL or IVR_TRUSTED_PROXIES"):
        Settings.load(environ=token).check_production()
    Settings.load(environ={**token, "IVR_TRUSTED_PROXIES": "1"}).check_production()
    Settings.load(environ={**token, "IVR_PUBLIC_URL": "https://ivr.example.com"}).check_production()
    Settings.load(environ={**token, "IVR_INSECURE": "1"}).check_production()
    Settings.load(environ={"TWILIO_AUTH_TOKEN": "x"}).check_production()  # development: no rule


def test_durations_are_read_in_any_unit() -> None:
    assert Settings.load(environ={"IVR_CALL_IDLE_TIMEOUT": "1s"}).call_idle_timeout == 1.0
    assert Settings.load(environ={"IVR_CALL_IDLE_TIMEOUT": "1h30m"}).call_idle_timeout == 5400.0
    assert Settings.load(environ={"IVR_CALL_SWEEP_INTERVAL": "0"}).call_sweep_interval == 0.0
    assert Settings.load(environ={}).call_idle_timeout == 4 * 3600.0
    with pytest.raises(ConfigError, match="IVR_CALL_IDLE_TIMEOUT: 'soon' is not a duration"):
        Settings.load(environ={"IVR_CALL_IDLE_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="IVR_CALL_IDLE_TIMEOUT"):
        Settings.load(environ={"IVR_CALL_IDLE_TIMEOUT": "0"})


def test_ivr_serve_refuses_production_without_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from ivr.cli import main

    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    env = {"IVR_ENV": "production", "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = CliRunner().invoke(main, ["serve", "--port", "5999"], env=env)
    assert result.exit_code == 2
    assert "refusing to start in production" in result.output and "Traceback" not in result.output


def test_the_readme_documents_every_setting_and_every_command() -> None:
    import click

    from ivr.cli import main

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        if name in ("voices", "tts_voices", "tts_rates"):
            continue  # one variable per language, documented by example (IVR_SAY_VOICE_ZH_CN...)
        assert f"`{env_name(name)}`" in readme, f"{env_name(name)} is not in the README's configuration table"
    ctx = click.Context(main)
    for command in main.list_commands(ctx):
        assert f"`ivr {command}" in readme, f"ivr {command} is not in the README's command table"
