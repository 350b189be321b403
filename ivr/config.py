"""Settings, from ``IVR_``-prefixed environment variables and an optional TOML file.

Precedence, lowest first: defaults, the file named by ``IVR_CONFIG``, the
environment, then explicit overrides (``create_app({...})`` or CLI options).
Every setting is documented in the README's configuration table.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["DEFAULT_VOICES", "ConfigError", "Settings", "VoiceSetting"]


class ConfigError(Exception):
    """The operator's configuration is wrong; the message says which setting and why."""


class VoiceSetting(BaseModel):
    """How Twilio should speak one menu language."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    language: str
    voice: str | None = None


DEFAULT_VOICES: dict[str, VoiceSetting] = {
    "zh-CN": VoiceSetting(language="cmn-CN", voice="Polly.Zhiyu"),
    "en-US": VoiceSetting(language="en-US", voice="Polly.Joanna"),
}


class Settings(BaseModel):
    """Everything an operator can set.  Field names are the env names without ``IVR_``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    menu: Path = Field(default=Path("menus/12333.json"), description="The menu file to serve.")
    database_url: str = Field(default="sqlite:///ivr.db", description="SQLAlchemy URL of the shared store.")
    public_url: str | None = Field(
        default=None, description="The public base URL Twilio calls, e.g. https://ivr.example.com."
    )
    twilio_auth_token: str | None = Field(default=None, description="Validates X-Twilio-Signature when set.")
    env: Literal["development", "production"] = "development"
    insecure: bool = Field(default=False, description="Allow production without an auth token.")
    trusted_proxies: int = Field(default=0, ge=0, le=5, description="How many proxies' X-Forwarded-* headers to trust.")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    agent_number: str | None = Field(default=None, description="The number <Dial> rings for the agent.")
    voices: dict[str, VoiceSetting] = Field(default_factory=lambda: dict(DEFAULT_VOICES))
    clock: dt.datetime | None = Field(default=None, description="A fixed time for tests and demos (ISO 8601).")
    connection_override: str = Field(
        default="",
        pattern=r"^([a-z]{2}=[A-Za-z0-9,._-]+(&[a-z]{2}=[A-Za-z0-9,._-]+)*)?$",
        description="Twilio connection overrides for every step URL, e.g. rc=2&rp=all (retries).",
    )
    audio_dir: Path = Field(default=Path("audio"), description="Where rendered prompt audio lives.")
    audio_url: str = Field(default="/audio", description="URL prefix the audio files are served under.")
    log_level: str = "INFO"
    admin_password: str | None = Field(
        default=None,
        repr=False,
        description="Password of the admin dashboard and browser phone at /admin; unset: they are off (404).",
    )
    secret_key: str | None = Field(
        default=None,
        repr=False,
        description="Signs the admin session cookie; unset: a random key per process (logins do not survive restarts).",
    )

    @field_validator("admin_password", "secret_key")
    @classmethod
    def _empty_is_unset(cls, v: str | None) -> str | None:
        # IVR_ADMIN_PASSWORD= (empty) must mean "off", never "the empty password".
        return v or None

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, v: str | None) -> str | None:
        if v is not None and len(v) < 16:
            raise ValueError(
                "use at least 16 random characters, e.g. from: python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        return v

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("clock")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-11-23T10:00:00+08:00")
        return v

    def now(self) -> dt.datetime:
        """The current time, or the fixed clock when one is set."""
        return self.clock or dt.datetime.now(dt.UTC)

    def check_production(self) -> None:
        """Refuse to run production without request signing unless told it is insecure."""
        if self.env == "production" and not self.twilio_auth_token and not self.insecure:
            raise ConfigError(
                "refusing to start in production without TWILIO_AUTH_TOKEN: anyone could forge calls. "
                "Set TWILIO_AUTH_TOKEN, or IVR_INSECURE=1 if you really mean it."
            )

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Settings from defaults, ``IVR_CONFIG``'s TOML file, the environment and ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config_file = env.get("IVR_CONFIG")
        if config_file:
            try:
                with open(config_file, "rb") as fh:
                    values.update(tomllib.load(fh))
            except OSError as exc:
                raise ConfigError(f"IVR_CONFIG={config_file}: cannot read it: {exc.strerror}") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"IVR_CONFIG={config_file}: not valid TOML: {exc}") from None
        for name in cls.model_fields:
            key = "TWILIO_AUTH_TOKEN" if name == "twilio_auth_token" else f"IVR_{name.upper()}"
            if key in env and name != "voices":
                values[name] = env[key]
        for lang, default in DEFAULT_VOICES.items():
            suffix = lang.replace("-", "_").upper()
            language = env.get(f"IVR_SAY_LANGUAGE_{suffix}")
            voice = env.get(f"IVR_SAY_VOICE_{suffix}")
            if language or voice:
                voices = dict(values.get("voices") or DEFAULT_VOICES)
                voices[lang] = VoiceSetting(language=language or default.language, voice=voice or default.voice)
                values["voices"] = voices
        for k, v in (overrides or {}).items():
            values[k.lower()] = v
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            lines = []
            for e in exc.errors(include_url=False):
                name = ".".join(str(p) for p in e["loc"])
                env_name = "TWILIO_AUTH_TOKEN" if name == "twilio_auth_token" else f"IVR_{name.upper()}"
                lines.append(f"{env_name}: {e['msg']}")
            raise ConfigError("bad configuration: " + "; ".join(lines)) from None
