"""Structured request logs: one JSON line per request, carrying the CallSid."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, Response, g, request

__all__ = ["JsonFormatter", "install_request_logging"]

access = logging.getLogger("ivr.access")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def install_request_logging(app: Flask) -> None:
    """Time every request and log it with its CallSid and node once it is answered."""

    @app.before_request
    def _start() -> None:
        g.ivr_started = time.perf_counter()

    @app.after_request
    def _log(resp: Response) -> Response:
        started = g.get("ivr_started")
        ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        access.info(
            "request",
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "status": resp.status_code,
                    "ms": ms,
                    "call_sid": g.get("call_sid", ""),
                    "node": g.get("ivr_node", ""),
                }
            },
        )
        return resp
