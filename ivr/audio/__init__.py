"""Prompt audio: a menu's prompts rendered ahead of time, and found again during calls.

- :func:`render` (the ``ivr render`` command) renders every prompt of every
  language of a menu to 8 kHz mono 16-bit WAV files, plus the clips that
  digits, numbers and dates are assembled from.  The files are content
  addressed and listed in ``manifest.json``: an unchanged menu renders
  nothing, a changed prompt renders only itself, stale files are pruned.
- :class:`AudioLibrary` answers, during a call, which files speak a
  :class:`~ivr.engine.Say` (or None: speak it live).

Speech comes from :mod:`ivr.tts`.  The renderer (:func:`render` and its
types) is imported on first use, so that the web app, which only reads
manifests, never loads the speech engine's modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ivr.audio.clips import clip_ids, clip_texts
from ivr.audio.library import AudioLibrary
from ivr.audio.manifest import MANIFEST, Entry, Manifest
from ivr.audio.plan import Job, plan

if TYPE_CHECKING:
    from ivr.audio.renderer import Failure, RenderReport, default_workers, render

__all__ = [
    "MANIFEST",
    "AudioLibrary",
    "Entry",
    "Failure",
    "Job",
    "Manifest",
    "RenderReport",
    "clip_ids",
    "clip_texts",
    "default_workers",
    "plan",
    "render",
]

_RENDERER = ("Failure", "RenderReport", "default_workers", "render")


def __getattr__(name: str) -> Any:
    """The renderer's names, imported when first asked for."""
    if name not in _RENDERER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("ivr.audio.renderer"), name)
    globals()[name] = value
    return value
