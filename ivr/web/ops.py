"""Operations endpoints: ``GET /healthz``."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from ivr.storage.db import StoreUnavailable

__all__ = ["bp"]

log = logging.getLogger("ivr.ops")

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the store answers, 503 when it does not."""
    state = current_app.extensions["ivr"]
    try:
        state.db.ping()
    except StoreUnavailable as exc:
        # The driver's words name the database's host, port or file: for the log, never for whoever asks.
        log.error("health check: store unavailable: %s", exc)
        return jsonify(status="unavailable", store="store unavailable"), 503
    served = state.current_menu()
    return jsonify(status="ok", menu=served.menu.id, version=served.menu.version, publication=served.publication)
