"""Finding the rendered files that speak a prompt."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path

from ivr.audio.clips import clip_ids
from ivr.audio.manifest import Entry, Manifest
from ivr.engine import Say, SayAs, Words

__all__ = ["AudioLibrary"]

log = logging.getLogger(__name__)

_MEMO_LIMIT = 4096


class AudioLibrary:
    """The rendered prompts and clips of an audio directory.

    Reads the manifest once, keeping only files that exist; every query after
    that is a dictionary lookup (or, the first time a prompt's words are seen,
    a short search, remembered).  A directory with no manifest, or a damaged
    one, is an empty library: every prompt is then spoken live.

    ``voices`` and ``rates`` are the configured ones (``Settings.tts_voices``
    and ``tts_rates``, which ``ivr render`` renders with): files rendered with
    another voice or rate still play, but :attr:`mismatches` says so, and a
    warning is logged, so that the operator knows to render again.
    """

    def __init__(
        self, path: str | Path, *, voices: Mapping[str, str] | None = None, rates: Mapping[str, int] | None = None
    ) -> None:
        self.root = Path(path)
        self.problem: str | None = None
        """Why the manifest could not be read, if it could not."""
        try:
            manifest = Manifest.load(self.root)
        except ValueError as exc:
            self.problem = str(exc)
            log.warning("audio library %s is unusable, prompts will be spoken live: %s", self.root, exc)
            manifest = Manifest()
        self._prompts: dict[str, dict[str, str]] = {}
        self._clips: dict[tuple[str, str], str] = {}
        present: list[Entry] = []
        for name, entry in manifest.files.items():
            if not (self.root / name).is_file():
                continue
            present.append(entry)
            if entry.kind == "prompt":
                self._prompts.setdefault(entry.language, {})[entry.text] = name
            else:
                for clip in entry.clips:
                    self._clips[(entry.language, clip)] = name
        # Longest first: the search below tries the longest rendered text that fits.
        self._by_length = {language: sorted(texts, key=len, reverse=True) for language, texts in self._prompts.items()}
        self._memo: dict[tuple[str, str], tuple[str, ...] | None] = {}
        self._lock = threading.Lock()
        self.mismatches = _mismatches(present, voices or {}, rates or {})
        """How the files differ from the configured voices and rates (empty when they agree)."""
        for mismatch in self.mismatches:
            log.warning("audio library %s: %s; they play until `ivr render` is run again", self.root, mismatch)

    def __len__(self) -> int:
        return sum(len(t) for t in self._prompts.values()) + len(set(self._clips.values()))

    def path(self, name: str) -> Path:
        """The file ``name`` (as :meth:`files_for` returns it) in the audio directory.

        ValueError for a name that is not a file of this library, so a URL can
        never reach outside the directory.
        """
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"not an audio file name: {name!r}")
        return self.root / name

    def files_for(self, say: Say) -> list[str] | None:
        """The files (names relative to the audio directory) that, played in order, speak ``say``.

        Fixed words are rendered prompts (a prompt of several named parts is
        several files); digits, numbers and dates are strung together from
        clips.  None when any part is not rendered (or is a ``text``
        variable): then the whole prompt is spoken live.
        """
        files: list[str] = []
        for part in say.parts:
            if isinstance(part, Words):
                found = self._words(say.language, part.text)
                if found is None:
                    return None
                files.extend(found)
            elif isinstance(part, SayAs):
                ids = clip_ids(part.value, part.how, say.language)
                if ids is None:
                    return None
                for clip in ids:
                    name = self._clips.get((say.language, clip))
                    if name is None:
                        return None
                    files.append(name)
        return files

    def _words(self, language: str, text: str) -> tuple[str, ...] | None:
        key = (language, text)
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        found = self._split(language, text)
        with self._lock:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = found
        return found

    def _split(self, language: str, text: str) -> tuple[str, ...] | None:
        # The engine joins neighbouring fixed texts of a prompt into one Words
        # (with a space between non-Chinese ones), so find rendered texts that
        # cover it end to end.  Spaces and punctuation between them need no
        # file.  cover[i]: the files that say text[i:], None when none do.
        texts = self._by_length.get(language, [])
        names = self._prompts.get(language, {})
        n = len(text)
        cover: list[tuple[str, ...] | None] = [None] * (n + 1)
        cover[n] = ()
        silent_tail = True
        for i in range(n - 1, -1, -1):
            silent_tail = silent_tail and not text[i].isalnum()
            if silent_tail:
                cover[i] = ()
                continue
            for candidate in texts:
                rest = cover[i + len(candidate)] if text.startswith(candidate, i) else None
                if rest is not None:
                    cover[i] = (names[candidate], *rest)
                    break
            else:
                if not text[i].isalnum():
                    cover[i] = cover[i + 1]
        return cover[0]


def _mismatches(entries: list[Entry], voices: Mapping[str, str], rates: Mapping[str, int]) -> list[str]:
    # Only configured languages are compared: the platform's defaults are ivr.tts's,
    # which the web app does not load (and files from before rates were recorded have none).
    found: list[str] = []
    for language in sorted({e.language for e in entries}):
        mine = [e for e in entries if e.language == language]
        if language in voices:
            other = sorted({e.voice for e in mine if e.voice != voices[language]})
            if other:
                found.append(f"{language} files were rendered by voice {', '.join(other)}, not {voices[language]}")
        if language in rates:
            other_rates = sorted({e.rate for e in mine if e.rate is not None and e.rate != rates[language]})
            if other_rates:
                said = ", ".join(map(str, other_rates))
                found.append(f"{language} files were rendered at {said} words a minute, not {rates[language]}")
    return found
