"""The dashboard's languages: Chinese and English, through Flask-Babel.

The interface language is, in order: the one chosen with the switch in the
header (``?ui=zh`` or ``?ui=en``, then kept in a cookie), else the menu's
own (Chinese for a zh-CN menu), else the browser's preference, else English.
Node titles and prompts are shown in the menu language that matches it.

The catalogs are ``translations/<lang>/LC_MESSAGES/messages.po`` beside this
module, compiled to ``.mo`` by ``make translations`` (tests check both are
complete and current).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, request
from flask_babel import Babel, get_locale

from ivr.menu.model import Menu

__all__ = ["LANGUAGES", "TRANSLATIONS", "init_i18n", "menu_language", "ui_language"]

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = {"zh": "中文", "en": "English"}
"""The interface languages, by code, with the name each is offered under."""
COOKIE = "ivr_admin_ui"
PARAM = "ui"


def _chosen() -> str | None:
    choice = request.args.get(PARAM) or request.cookies.get(COOKIE)
    return choice if choice in LANGUAGES else None


def _select(menu_default: str) -> str:
    chosen = _chosen()
    if chosen:
        return chosen
    primary = menu_default.split("-")[0].lower()
    if primary in LANGUAGES:
        return primary
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def ui_language() -> str:
    """The interface language of this request: ``zh`` or ``en``."""
    return str(get_locale() or "en").split("_")[0]


def menu_language(menu: Menu) -> str:
    """The menu language that speaks the interface's: titles and prompts are shown in it."""
    ui = ui_language()
    for language in menu.languages:
        if language.split("-")[0].lower() == ui:
            return language
    return menu.default_language


def init_i18n(app: Flask, menu_default: Callable[[], str]) -> None:
    """Give ``app``'s admin pages their language; ``menu_default`` names the served menu's default language."""
    Babel(
        app,
        locale_selector=lambda: _select(menu_default()),
        default_translation_directories=str(TRANSLATIONS),
    )

    @app.after_request
    def _remember(response: Response) -> Response:
        # The switch's choice is kept for the pages that follow, on the admin's paths only.
        choice = request.args.get(PARAM)
        if choice in LANGUAGES and request.path.startswith("/admin") and request.cookies.get(COOKIE) != choice:
            response.set_cookie(COOKIE, choice, max_age=365 * 86400, path="/admin", samesite="Lax", httponly=True)
        return response
