"""The ``admin`` blueprint, and what its views share: the app's state and the admin's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, current_app

if TYPE_CHECKING:
    from ivr.web import IvrState
    from ivr.web.admin.diagram import DiagramCache
    from ivr.web.admin.throttle import LoginThrottle
    from ivr.web.admin.webphone import PhoneManager

__all__ = ["AdminState", "admin_state", "bp", "ivr_state"]

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@dataclass
class AdminState:
    """What the dashboard keeps per app, in ``app.extensions["ivr_admin"]``."""

    password_tag: str
    """A keyed hash of the admin password: sessions carry it, so changing the password logs everyone out."""
    throttle: LoginThrottle
    diagrams: DiagramCache
    phone: PhoneManager
    login_delay: float = 0.5
    """Seconds a wrong password waits before its answer, to slow down guessing."""
    notes: list[str] = field(default_factory=list)


def ivr_state() -> IvrState:
    """The webhook app's state: settings, database, engine."""
    state: IvrState = current_app.extensions["ivr"]
    return state


def admin_state(app: Flask | None = None) -> AdminState:
    """The dashboard's own state, of ``app`` (default: the app handling the request)."""
    state: AdminState = (app or current_app).extensions["ivr_admin"]
    return state
