"""The menu language: models, loading and checks."""

from ivr.menu.loader import load_menu, parse_menu
from ivr.menu.model import Menu

__all__ = ["Menu", "load_menu", "parse_menu"]
