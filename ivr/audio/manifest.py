"""The manifest: which rendered file says what.

``audio/manifest.json`` maps each file to the text it says, its language, the
voice, speaking rate and engine version that rendered it, and (for clips) the
clip ids it serves.  File names are content addresses: a hash of the kind,
text, language, voice, engine version and rate, so a file's name changes
exactly when its audio would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["MANIFEST", "Entry", "Manifest", "content_key", "file_name", "is_rendered_name"]

MANIFEST = "manifest.json"
FORMAT = 1

_NAME = re.compile(r"^[A-Za-z0-9-]{1,40}-[0-9a-f]{16}\.wav$")


def content_key(*parts: str) -> str:
    """A short stable hash of ``parts``, for content-addressed file names."""
    # Here rather than in ivr.tts: the web app reads manifests and never loads the speech engine.
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def file_name(kind: str, text: str, language: str, voice: str, engine: str, rate: int | None = None) -> str:
    """The content-addressed file name for ``text`` rendered as ``kind`` in ``language`` by ``voice`` and ``engine``.

    ``rate`` is the speaking rate in words a minute.  None (files rendered
    before rates were configurable) leaves it out of the hash, so those files
    keep the names they were given.
    """
    safe = re.sub(r"[^A-Za-z0-9-]", "-", language)[:24] or "x"
    parts = (kind, text, language, voice, engine) + (() if rate is None else (f"rate {rate}",))
    return f"{safe}-{content_key(*parts)}.wav"


def is_rendered_name(name: str) -> bool:
    """Whether ``name`` looks like a file the renderer made (and may therefore prune)."""
    return bool(_NAME.match(name))


@dataclass(frozen=True)
class Entry:
    """One rendered file."""

    kind: Literal["prompt", "clip"]
    language: str
    text: str
    voice: str
    engine: str
    duration: float
    size: int
    clips: tuple[str, ...] = field(default=())
    """For a clip: the clip ids it serves (``digit:0`` and ``word:zero`` may share a file)."""
    rate: int | None = None
    """The speaking rate in words a minute; None in manifests written before rates were configurable."""

    def to_json(self) -> dict[str, Any]:
        """The entry as it is stored."""
        data = asdict(self)
        data["clips"] = list(self.clips)
        if not self.clips:
            del data["clips"]
        if self.rate is None:
            del data["rate"]
        return data

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        """An entry from its stored form; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("an entry is not an object")
        try:
            kind = data["kind"]
            if kind not in ("prompt", "clip"):
                raise ValueError(f"unknown kind {kind!r}")
            return cls(
                kind=kind,
                language=str(data["language"]),
                text=str(data["text"]),
                voice=str(data["voice"]),
                engine=str(data["engine"]),
                duration=float(data["duration"]),
                size=int(data["size"]),
                clips=tuple(str(c) for c in data.get("clips", ())),
                rate=None if data.get("rate") is None else int(data["rate"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a malformed entry: {exc}") from exc


@dataclass
class Manifest:
    """All rendered files of an audio directory, by file name."""

    files: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        """The manifest in ``directory``; empty when there is none.

        ValueError when it exists but cannot be read (the renderer then starts
        afresh; the web service falls back to live speech).
        """
        path = directory / MANIFEST
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read it ({exc.strerror})") from exc
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
            raise ValueError(f"{path}: not a manifest of format {FORMAT}")
        files = {}
        for name, entry in data["files"].items():
            if not is_rendered_name(name):
                raise ValueError(f"{path}: {name!r} is not a rendered file's name")
            try:
                files[name] = Entry.from_json(entry)
            except ValueError as exc:
                raise ValueError(f"{path}: {name}: {exc}") from exc
        return cls(files)

    def save(self, directory: Path) -> None:
        """Write the manifest atomically: a reader sees the old one or the new one, never half."""
        data = {
            "format": FORMAT,
            "sample_rate": 8000,
            "files": {name: self.files[name].to_json() for name in sorted(self.files)},
        }
        text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".manifest-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, directory / MANIFEST)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
