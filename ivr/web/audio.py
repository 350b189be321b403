"""Serving rendered prompt audio, so Twilio can ``<Play>`` it.

File names are content addressed (a changed prompt gets a new name), so the
files never change under a URL and may be cached for a year.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, send_file
from flask.typing import ResponseReturnValue

from ivr.audio import AudioLibrary

__all__ = ["make_blueprint"]


def make_blueprint(library: AudioLibrary, url_prefix: str) -> Blueprint:
    """A blueprint serving ``library``'s files under ``url_prefix``."""
    bp = Blueprint("audio", __name__, url_prefix=url_prefix)

    @bp.get("/<name>")
    def audio_file(name: str) -> ResponseReturnValue:
        """One rendered WAV file, as ``audio/wav`` with long-lived caching headers."""
        try:
            path = library.path(name)
        except ValueError:
            abort(404)
        if not name.endswith(".wav") or not path.is_file():
            abort(404)
        resp = send_file(path, mimetype="audio/wav", conditional=True, etag=True, max_age=365 * 24 * 3600)
        resp.cache_control.public = True
        resp.cache_control.immutable = True
        current_app.logger.debug("audio %s", name)
        return resp

    return bp
