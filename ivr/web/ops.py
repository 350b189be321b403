"""Operations endpoints: ``GET /healthz``."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from ivr.storage.db import StoreUnavailable

__all__ = ["bp"]

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the store answers, 503 when it does not."""
    state = current_app.extensions["ivr"]
    try:
        state.db.ping()
    except StoreUnavailable as exc:
        return jsonify(status="unavailable", store=str(exc)), 503
    return jsonify(status="ok", menu=state.engine.menu.id, version=state.engine.menu.version)
