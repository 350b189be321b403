"""Structured request logs: one JSON line per request, carrying the CallSid.

Every log line of the ``ivr`` loggers is bounded (:data:`MAX_LINE_BYTES`):
values come from requests an outsider writes, and a 60 KB header or a long
traceback must not flood the logs nor break a collector's line limit.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Response, g, request

__all__ = ["MAX_LINE_BYTES", "JsonFormatter", "clip", "log_access", "log_request"]

access = logging.getLogger("ivr.access")

MAX_LINE_BYTES = 4096
"""No log line is longer than this, in UTF-8 bytes."""

# What each part of a line may take at first, in characters; halved while the line is too long.
_MSG_CHARS = 1000
_FIELD_CHARS = 400
_EXC_CHARS = 2400
_KEY_CHARS = 64
_SCALARS = (int, float, bool, type(None))

_LOGGED_BY_RULE = frozenset({"audio.audio_file"})
"""Endpoints whose URLs are logged as their rule (``/audio/<name>``): the order in which a read-back's
digit clips are first fetched would spell the caller's ID number."""


def clip(text: str, limit: int, *, keep_end: bool = False) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much went.

    ``keep_end`` keeps both ends (a traceback's last lines name the error).
    """
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    marker = f"…[truncated {cut} chars]"
    if keep_end:
        head = limit // 2
        return text[:head] + marker + text[len(text) - (limit - head) :]
    return text[:limit] + marker


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line, never longer than :data:`MAX_LINE_BYTES`."""

    def format(self, record: logging.LogRecord) -> str:
        base = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        message = record.getMessage()
        extra = getattr(record, "fields", None)
        fields: Mapping[str, Any] = extra if isinstance(extra, Mapping) else {}
        exc = self.formatException(record.exc_info) if record.exc_info else ""
        stack = self.formatStack(record.stack_info) if record.stack_info else ""
        scale = 1
        while True:
            out: dict[str, Any] = {**base, "msg": clip(message, _MSG_CHARS // scale)}
            for key, value in fields.items():
                out[clip(str(key), _KEY_CHARS)] = _bounded(value, _FIELD_CHARS // scale)
            if exc:
                out["exc"] = clip(exc, _EXC_CHARS // scale, keep_end=True)
            if stack:
                out["stack"] = clip(stack, _EXC_CHARS // scale, keep_end=True)
            line = _dumps(out)
            if len(line.encode("utf-8")) <= MAX_LINE_BYTES:
                return line
            if scale >= 64:
                # Many fields, each small but escaped to six bytes a character: say so, in a line that fits.
                return _dumps({**base, "msg": clip(message, 200), "truncated": "the line was too long to log whole"})
            scale *= 2


def _bounded(value: Any, limit: int) -> Any:
    """A field's value as logged: numbers as they are, anything else as text of at most ``limit`` characters."""
    if isinstance(value, _SCALARS):
        return value
    return clip(value if isinstance(value, str) else str(value), limit)


def _dumps(out: Mapping[str, Any]) -> str:
    line = json.dumps(out, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be written as UTF-8; JSON's own \uXXXX escape keeps it readable.
        line = json.dumps(out, ensure_ascii=True)
    return line


def log_request(resp: Response, started: float | None) -> None:
    """Log the request being answered with ``resp``, with its CallSid and node (``started``: its perf_counter)."""
    if not access.isEnabledFor(logging.INFO):
        return  # every request comes here: nothing is put together for a line nobody keeps
    ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    rule = request.url_rule
    path = rule.rule if rule is not None and request.endpoint in _LOGGED_BY_RULE else request.path
    log_access(request.method, path, resp.status_code, ms, g.get("call_sid", ""), g.get("ivr_node", ""))


def log_access(method: str, path: str, status: int, ms: float | None, call_sid: str, node: str) -> None:
    """The access log's line for one request (when INFO is kept): what was asked, how it ended, for which call."""
    if access.isEnabledFor(logging.INFO):
        fields = {"method": method, "path": path, "status": status, "ms": ms, "call_sid": call_sid, "node": node}
        access.info("request", extra={"fields": fields})
