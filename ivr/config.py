"""Settings, from ``IVR_``-prefixed environment variables and an optional TOML file.

Precedence, lowest first: defaults, the file named by ``IVR_CONFIG``, the
environment, then explicit overrides (``create_app({...})`` or CLI options).
Every setting is documented in the README's configuration table.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "DEFAULT_MENU",
    "DEFAULT_TIMEZONE",
    "DEFAULT_VOICES",
    "MAX_TTS_RATE",
    "MIN_TTS_RATE",
    "ConfigError",
    "Settings",
    "VoiceSetting",
    "env_name",
    "parse_duration",
]

DEFAULT_MENU = Path("menus/12333.json")
"""The hotline's menu: what every command serves, simulates or renders unless told otherwise."""

DEFAULT_TIMEZONE = "Asia/Shanghai"
"""The hotline's time zone unless ``IVR_TIMEZONE`` names another: Beijing time, as 12333 keeps."""

MIN_TTS_RATE, MAX_TTS_RATE = 80, 450
"""The speaking rates an operator may set, in words a minute: the range :mod:`ivr.tts` accepts.

Repeated here (tests/test_tts.py checks they agree) rather than imported,
so that reading the settings never loads the speech engine's modules.
"""

_TTS_VOICE_PREFIX = "IVR_TTS_VOICE_"
_TTS_RATE_PREFIX = "IVR_TTS_RATE_"


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


def _language_suffix(language: str) -> str:
    return language.replace("-", "_").upper()


def _language_tag(raw: str) -> str:
    """``raw`` (``ZH_CN``, ``zh-cn``...) cased as a BCP 47 tag: ``zh-CN``, ``zh-Hant-TW``."""
    parts = [p for p in raw.strip().replace("_", "-").split("-") if p]
    if not parts:
        return ""
    tag = [parts[0].lower()]
    for part in parts[1:]:
        if (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            tag.append(part.upper())  # a region: CN, US, 419
        elif len(part) == 4 and part.isalpha():
            tag.append(part.title())  # a script: Hant
        else:
            tag.append(part.lower())
    return "-".join(tag)


def env_name(*loc: str | int) -> str:
    """The environment variable for the setting at ``loc``: ``IVR_TTS_RATE_ZH_CN`` for ``("tts_rates", "zh-CN")``."""
    name = str(loc[0]) if loc else ""
    if name == "twilio_auth_token":
        return "TWILIO_AUTH_TOKEN"
    if name in ("tts_voices", "tts_rates") and len(loc) > 1:
        prefix = _TTS_VOICE_PREFIX if name == "tts_voices" else _TTS_RATE_PREFIX
        return prefix + _language_suffix(str(loc[1]))
    return "IVR_" + ".".join(str(p) for p in loc).upper()


def _speaking_rate(value: object) -> int:
    # str() first, so that 265.7 is refused rather than truncated; a bool is not a number here.
    try:
        rate = int(str(value).strip()) if not isinstance(value, bool) else 0
    except ValueError:
        rate = 0
    if not MIN_TTS_RATE <= rate <= MAX_TTS_RATE:
        raise PydanticCustomError(
            "speaking_rate",
            "{value} is not a speaking rate: give words a minute, {low} to {high}",
            {"value": repr(value), "low": MIN_TTS_RATE, "high": MAX_TTS_RATE},
        )
    return rate


SpeakingRate = Annotated[int, BeforeValidator(_speaking_rate)]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | float) -> dt.timedelta:
    """``30d``, ``12h``, ``1h30m``, ``90s`` or a bare number of seconds, as a time span.

    Raises ValueError, with the forms it accepts, for anything else (negative spans included).
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = text.strip().lower()
        try:
            seconds = float(raw)
        except ValueError:
            parts = _DURATION_PART.findall(raw)
            if not parts or _DURATION_PART.sub("", raw).strip():
                raise ValueError(f"{text!r} is not a duration: give e.g. 30d, 12h, 1h30m, 90s or seconds") from None
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if not 0 <= seconds < 100 * 365 * 86400:
        raise ValueError(f"{text!r} is not a duration: give a span of 0 up to a hundred years")
    return dt.timedelta(seconds=seconds)


def _duration_seconds(value: object) -> float:
    try:
        return parse_duration(value if isinstance(value, str | int | float) else str(value)).total_seconds()
    except ValueError as exc:
        raise PydanticCustomError("duration", "{reason}", {"reason": str(exc)}) from None


Seconds = Annotated[float, BeforeValidator(_duration_seconds)]
"""A setting in seconds that may also be written as a duration (``4h``, ``30m``)."""


class Settings(BaseModel):
    """Everything an operator can set.

    Field names are the env names without ``IVR_`` (see :func:`env_name`);
    the mappings come one variable per language: ``IVR_SAY_VOICE_ZH_CN`` into
    ``voices``, ``IVR_TTS_VOICE_ZH_CN`` into ``tts_voices``,
    ``IVR_TTS_RATE_ZH_CN`` into ``tts_rates``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    menu: Path = Field(
        default=DEFAULT_MENU,
        description="The menu file to serve while no version is published (and `ivr render`'s default).",
    )
    menu_reload: bool = Field(
        default=False,
        description="Serve the menu file's new content to new calls when it changes (`ivr serve --reload`); "
        "for development, while no version is published.",
    )
    database_url: str = Field(default="sqlite:///ivr.db", description="SQLAlchemy URL of the shared store.")
    public_url: str | None = Field(
        default=None, description="The public base URL Twilio calls, e.g. https://ivr.example.com."
    )
    twilio_auth_token: str | None = Field(default=None, description="Validates X-Twilio-Signature when set.")
    env: Literal["development", "production"] = Field(
        default="development", description="production refuses to start without TWILIO_AUTH_TOKEN."
    )
    insecure: bool = Field(default=False, description="Allow production without an auth token.")
    trusted_proxies: int = Field(default=0, ge=0, le=5, description="How many proxies' X-Forwarded-* headers to trust.")
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=10 * 1024 * 1024, description="The largest request body accepted (413 above)."
    )
    agent_number: str | None = Field(default=None, description="The number <Dial> rings for the agent.")
    voices: dict[str, VoiceSetting] = Field(
        default_factory=lambda: dict(DEFAULT_VOICES),
        description="Twilio's <Say> language and voice per menu language "
        "(IVR_SAY_LANGUAGE_ZH_CN, IVR_SAY_VOICE_ZH_CN...).",
    )
    clock: dt.datetime | None = Field(default=None, description="A fixed time for tests and demos (ISO 8601).")
    timezone: str = Field(
        default=DEFAULT_TIMEZONE,
        description="The hotline's time zone (IANA name): agent hours, working days, dates of loss reports, "
        "and every time the dashboard shows.",
    )
    connection_override: str = Field(
        default="",
        pattern=r"^([a-z]{2}=[A-Za-z0-9,._-]+(&[a-z]{2}=[A-Za-z0-9,._-]+)*)?$",
        description="Twilio connection overrides for every step URL, e.g. rc=2&rp=all (retries).",
    )
    audio_dir: Path = Field(
        default=Path("audio"), description="Where rendered prompt audio lives (and `ivr render` writes it)."
    )
    audio_url: str = Field(default="/audio", description="URL prefix the audio files are served under.")
    log_level: str = Field(default="INFO", description="The log level; logs are JSON lines.")
    debug: bool = Field(
        default=False, description="Show tracebacks of unexpected errors instead of one line (the simulator)."
    )
    tts_voices: dict[str, str] = Field(
        default_factory=dict,
        description="The local speech engine's voice per language (IVR_TTS_VOICE_ZH_CN...); "
        "unset: the platform's (espeak-ng: cmn, en-us).",
    )
    tts_rates: dict[str, SpeakingRate] = Field(
        default_factory=dict,
        description=f"The local speech engine's speaking rate per language in words a minute, "
        f"{MIN_TTS_RATE} to {MAX_TTS_RATE} (IVR_TTS_RATE_ZH_CN...); unset: calibrated for the platform's voice.",
    )
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

    admin_login_delay: float = Field(
        default=0.5, ge=0.0, le=10.0, description="Seconds a wrong admin password waits before it is answered."
    )
    admin_phone_speech: bool = Field(
        default=True, description="Whether the admin's browser phone synthesises its prompts (else text only)."
    )
    admin_phone_max_calls: int = Field(
        default=8, ge=1, le=100, description="How many browser phone calls may be open at once."
    )
    admin_phone_idle_timeout: float = Field(
        default=120.0,
        gt=0.0,
        le=3600.0,
        description="Seconds a browser phone call goes on after its page stops polling it, then it hangs up.",
    )

    http_allow_hosts: tuple[str, ...] = Field(
        default=(),
        description="Hosts a menu's HTTP request (an imported Studio make-http-request or run-function) may reach, "
        "comma-separated; unset: none, and such a request is a stand-in.",
    )

    call_idle_timeout: Seconds = Field(
        default=4 * 3600.0,
        gt=0.0,
        description="A call idle this long (seconds, or 30m, 4h) is abandoned by the sweep: its secrets and "
        "full ID numbers are dropped. Default: Twilio's longest call, 4 hours.",
    )
    call_sweep_interval: Seconds = Field(
        default=300.0,
        ge=0.0,
        description="How often each worker sweeps abandoned calls (seconds, or 5m); 0: only `ivr db sweep` does.",
    )

    @field_validator("tts_voices", "tts_rates", mode="before")
    @classmethod
    def _language_keys(cls, v: Any) -> Any:
        # IVR_TTS_RATE_ZH_CN and a file's "zh-cn" both mean zh-CN, the tag menus use; empty values mean unset.
        if not isinstance(v, Mapping):
            return v
        return {_language_tag(str(k)): val for k, val in v.items() if str(val).strip() and _language_tag(str(k))}

    @field_validator("tts_voices")
    @classmethod
    def _stripped(cls, v: dict[str, str]) -> dict[str, str]:
        return {k: val.strip() for k, val in v.items()}

    @field_validator("http_allow_hosts", mode="before")
    @classmethod
    def _host_list(cls, v: Any) -> Any:
        # One variable, "api.example.com, hooks.example.com"; hosts compare in lower case, as DNS does.
        items = v.split(",") if isinstance(v, str) else v
        if not isinstance(items, (list, tuple)):
            return v
        hosts = tuple(str(h).strip().lower() for h in items if str(h).strip())
        for host in hosts:
            if not re.fullmatch(r"[a-z0-9.-]{1,253}(:[0-9]{1,5})?", host):
                raise ValueError(f"{host!r} is not a host name (give names like api.example.com, no scheme or path)")
        return hosts

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

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        name = v.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone: give an IANA name such as Asia/Shanghai") from None
        return name

    @field_validator("clock")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-11-23T10:00:00+08:00")
        return v

    @cached_property
    def zone(self) -> ZoneInfo:
        """The hotline's time zone (``IVR_TIMEZONE``)."""
        return ZoneInfo(self.timezone)

    def now(self) -> dt.datetime:
        """The current time, or the fixed clock when one is set."""
        return self.clock or dt.datetime.now(dt.UTC)

    def local_time(self, value: dt.datetime) -> dt.datetime:
        """``value`` in the hotline's zone (a naive time is taken as UTC, as the store keeps times)."""
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(self.zone)

    def format_time(self, value: dt.datetime) -> str:
        """``value`` as the hotline shows a moment: its local time, to the second, with the zone's name."""
        return self.local_time(value).strftime("%Y-%m-%d %H:%M:%S %Z")

    def check_production(self) -> None:
        """Refuse to run production without request signing, or with a signed URL taken from the
        client's ``Host`` header, unless told it is insecure."""
        if self.env != "production" or self.insecure:
            return
        if not self.twilio_auth_token:
            raise ConfigError(
                "refusing to start in production without TWILIO_AUTH_TOKEN: anyone could forge calls. "
                "Set TWILIO_AUTH_TOKEN, or IVR_INSECURE=1 if you really mean it."
            )
        if not self.public_url and not self.trusted_proxies:
            raise ConfigError(
                "refusing to start in production without IVR_PUBLIC_URL or IVR_TRUSTED_PROXIES: signatures "
                "would be checked against whatever Host header a request names. Set IVR_PUBLIC_URL to the URL "
                "Twilio calls (or IVR_TRUSTED_PROXIES behind a proxy), or IVR_INSECURE=1 if you really mean it."
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
            key = env_name(name)
            # Mappings come one variable per language (below), never as one variable.
            if key in env and name not in ("voices", "tts_voices", "tts_rates"):
                values[name] = env[key]
        for mapping, prefix in (("tts_voices", _TTS_VOICE_PREFIX), ("tts_rates", _TTS_RATE_PREFIX)):
            # Every language's variable, not only the menus' languages: settings do not know the menus.
            found = {key[len(prefix) :]: value for key, value in env.items() if key.startswith(prefix)}
            if found:
                values[mapping] = {**dict(values.get(mapping) or {}), **found}
        for lang, default in DEFAULT_VOICES.items():
            suffix = _language_suffix(lang)
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
            lines = [f"{env_name(*e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
            raise ConfigError("bad configuration: " + "; ".join(lines)) from None
