"""The one exception every failure of the speech engine is (or derives from)."""

from __future__ import annotations

__all__ = ["TTSError"]


class TTSError(Exception):
    """The speech engine failed: it is missing, broken, or kept producing bad audio."""
