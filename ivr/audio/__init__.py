"""Prompt audio: a menu's prompts rendered ahead of time, and found again during calls.

- :func:`render` (the ``ivr render`` command) renders every prompt of every
  language of a menu to 8 kHz mono 16-bit WAV files, plus the clips that
  digits, numbers and dates are assembled from.  The files are content
  addressed and listed in ``manifest.json``: an unchanged menu renders
  nothing, a changed prompt renders only itself, stale files are pruned.
- :class:`AudioLibrary` answers, during a call, which files speak a
  :class:`~ivr.engine.Say` (or None: speak it live).

Speech comes from :mod:`ivr.tts`.
"""

from ivr.audio.clips import clip_ids, clip_texts
from ivr.audio.library import AudioLibrary
from ivr.audio.manifest import MANIFEST, Entry, Manifest
from ivr.audio.plan import Job, plan
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
