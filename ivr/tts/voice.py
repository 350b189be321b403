"""Which voice speaks a language, how fast, and which engine: configuration and cache identity.

Both the voice and the speaking rate come, per language, from a mapping the
caller passes, else the platform's defaults.  Nothing here reads the
environment: the commands and the web app take the mappings from
:class:`ivr.config.Settings` (``IVR_TTS_VOICE_ZH_CN``, ``IVR_TTS_RATE_ZH_CN``...)
and pass them in.  None of this starts the engine: it only names things.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from ivr.tts.errors import TTSError
from ivr.tts.wav import AUDIO_VERSION

__all__ = [
    "MAX_RATE",
    "MIN_RATE",
    "PYTTSX3_RATE",
    "Voice",
    "VoiceNotFound",
    "default_rate",
    "default_voice",
    "driver_name",
    "engine_version",
    "voice_env_name",
]

_DEFAULT_VOICES: dict[str, dict[str, str]] = {
    # espeak-ng's voices, as pyttsx3 drives it on Linux and other Unixes.
    "espeak": {"zh-CN": "cmn", "en-US": "en-us"},
    "sapi5": {"zh-CN": "Huihui", "en-US": "Zira"},
    "nsss": {"zh-CN": "Ting-Ting", "en-US": "Samantha"},
}

PYTTSX3_RATE = 200
"""pyttsx3's own default speaking rate, in words a minute, on every driver."""

MIN_RATE, MAX_RATE = 80, 450
"""The rates accepted, in words a minute: espeak-ng speaks anything slower than 80 at 80 (a typo would
go unnoticed), and past 450 it only time-stretches its audio, far faster than a caller can follow."""

_DEFAULT_RATES: dict[str, dict[str, int]] = {
    # Calibrated for espeak-ng 1.51's cmn and en-us voices (pyttsx3 2.99) so
    # that rendered prompts last what ivr.authoring.durations estimates for a
    # real hotline voice (Mandarin 4.5 characters a second, English 2.7 words a
    # second, plus pauses at punctuation): `ivr render` of menus/12333.json at
    # each rate, totalled over its 39 zh-CN and 52 en-US prompt pieces of 20
    # characters or more.  "chars/s" counts every character of the Chinese
    # text, punctuation too; "words/s" English words; both per second of audio.
    #
    #   cmn    rate  rendered/estimated  chars/s     en-us  rate  rendered/estimated  words/s
    #           200        1.335           3.43              200        0.739           3.15
    #           250        1.058           4.32              175        0.853           2.73
    #           260        1.014           4.51              160        0.936           2.49
    #           265        0.998           4.58              155        0.970           2.40
    #           270        0.981           4.66              150        1.006           2.31
    #           275        0.965           4.74              145        1.041           2.23
    #
    # At pyttsx3's default of 200 words a minute espeak-ng's Mandarin lasts a
    # third longer than the estimate and its English a quarter less: the
    # engine's "words a minute" are not the same speed in every voice.  265
    # and 150 are the rates closest to the estimate.  (English at 150 is 2.78
    # words a second while speaking, pauses of 80 ms or more left out.)
    # Re-measure when the voice or the engine changes; another voice needs its
    # rate configured (IVR_TTS_RATE_*, read by ivr.config).
    "espeak": {"zh-CN": 265, "en-US": 150},
}


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice the engine offers."""

    id: str
    """What the engine calls it (espeak-ng: ``sit/cmn``; SAPI: a registry key)."""
    name: str
    languages: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        """The last part of the id: ``cmn`` for espeak-ng's ``sit/cmn``."""
        return self.id.replace("\\", "/").rsplit("/", 1)[-1]

    def speaks(self, primary: str) -> bool:
        """Whether this voice is for the primary language subtag ``primary`` (``zh``, ``en``)."""
        tags = [t.lower() for t in self.languages] + [self.short_id.lower()]
        aliases = {"zh": ("zh", "cmn", "yue")}.get(primary, (primary,))
        return any(t.split("-")[0] in aliases for t in tags)

    def matches(self, wanted: str) -> bool:
        """Whether a configured voice name ``wanted`` means this voice."""
        w = wanted.casefold()
        if w in (self.id.casefold(), self.short_id.casefold(), self.name.casefold()):
            return True
        # SAPI and macOS name voices "Microsoft Huihui Desktop - Chinese"; "Huihui" is enough.
        words = self.name.casefold().replace("(", " ").replace(")", " ").replace(",", " ").split()
        return w in words


class VoiceNotFound(TTSError):
    """A voice configured for a language is not on this machine.

    The message names the voices that are.
    """

    def __init__(self, voice: str, language: str, available: Sequence[Voice]) -> None:
        self.voice = voice
        self.language = language
        self.available = list(available)
        primary = language.split("-")[0].lower()
        alike = [v.short_id for v in self.available if v.speaks(primary)]
        names = ", ".join(v.short_id for v in self.available) or "none"
        hint = f"; for {language}: {', '.join(alike)}" if alike else ""
        env = voice_env_name(language)
        super().__init__(
            f"no voice {voice!r} for {language} on this machine (set {env} to one that is there){hint}. "
            f"Voices present: {names}"
        )


def voice_env_name(language: str) -> str:
    """The setting that names the voice for ``language``, ``IVR_TTS_VOICE_ZH_CN`` for zh-CN: for messages only.

    The variable is read by :mod:`ivr.config`, never here; a missing voice's
    message names it so that the operator knows what to change.
    """
    return "IVR_TTS_VOICE_" + language.upper().replace("-", "_")


def driver_name() -> str:
    """pyttsx3's driver on this platform: ``espeak`` (espeak-ng), ``sapi5`` or ``nsss``."""
    if sys.platform == "win32":
        return "sapi5"
    if sys.platform == "darwin":
        return "nsss"
    return "espeak"


def _platform_default(defaults: Mapping[str, str | int], language: str) -> str | int | None:
    # The exact language, else another of the same primary language (zh-TW: zh-CN's).
    if language in defaults:
        return defaults[language]
    primary = language.split("-")[0].lower()
    for lang, value in defaults.items():
        if lang.split("-")[0].lower() == primary:
            return value
    return None


def default_voice(language: str, config: Mapping[str, str] | None = None) -> str:
    """The voice configured for ``language``.

    ``config[language]`` (the caller's configuration, e.g.
    ``Settings.tts_voices``), else the platform's default: espeak-ng's ``cmn``
    and ``en-us`` on Linux, SAPI's Huihui and Zira on Windows, Ting-Ting and
    Samantha on macOS.
    """
    if config and config.get(language):
        return config[language]
    found = _platform_default(_DEFAULT_VOICES.get(driver_name(), {}), language)
    # espeak-ng names most voices by their language tag.
    return str(found) if found is not None else language.lower()


def _checked_rate(value: object, source: str) -> int:
    """``value`` (an int, or a string from a command line) as a rate; TTSError naming ``source`` if it is not one."""
    try:
        # str() first, so that 265.7 is refused rather than truncated; bools are not numbers here.
        rate = int(str(value).strip()) if not isinstance(value, bool) else 0
    except ValueError:
        rate = 0
    if not MIN_RATE <= rate <= MAX_RATE:
        raise TTSError(f"{source} is {value!r}, not a speaking rate: give words a minute, {MIN_RATE} to {MAX_RATE}")
    return rate


def default_rate(language: str, config: Mapping[str, int] | None = None) -> int:
    """The speaking rate configured for ``language``, in words a minute (pyttsx3's ``rate``).

    ``config[language]`` (the caller's configuration, e.g.
    ``Settings.tts_rates``), else the rate calibrated for the platform's
    default voice (espeak-ng: 265 for Mandarin, 150 for English, see
    ``_DEFAULT_RATES``), else pyttsx3's default of 200.  Raises
    :class:`TTSError` for a configured rate that is not a whole number from 80
    to 450: a typo must not silently speak at another speed.
    """
    if config and config.get(language) is not None:
        return _checked_rate(config[language], f"the rate for {language}")
    found = _platform_default(_DEFAULT_RATES.get(driver_name(), {}), language)
    return int(found) if found is not None else PYTTSX3_RATE


@cache
def engine_version() -> str:
    """The engine and its version, part of every cache key: a new engine renders again."""
    try:
        pyttsx3_version = importlib.metadata.version("pyttsx3")
    except importlib.metadata.PackageNotFoundError:
        pyttsx3_version = "missing"
    driver = driver_name()
    detail = driver
    if driver == "espeak":
        detail = "espeak-ng " + (_espeak_version() or "unknown")
    return f"pyttsx3 {pyttsx3_version}; {detail}; ivr-audio {AUDIO_VERSION}"


def _espeak_version() -> str | None:
    # Asking the library itself is cheap (no synthesis is set up) and tells the
    # version that will actually speak, not the command line tool's.
    for name in ("libespeak-ng.so.1", ctypes.util.find_library("espeak-ng")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            info = lib.espeak_Info
        except (OSError, AttributeError):
            continue
        info.restype = ctypes.c_char_p
        info.argtypes = [ctypes.c_void_p]
        raw = info(None)
        return raw.decode("ascii", "replace") if raw else None
    return None
