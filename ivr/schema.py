"""The menu language's JSON Schema, for editors (``menus/schema.json``)."""

from __future__ import annotations

import json
from typing import Any

from ivr.menu.model import Menu

__all__ = ["menu_schema", "schema_text"]


def menu_schema() -> dict[str, Any]:
    """The JSON Schema of a menu document, as editors read it."""
    schema = Menu.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ivr.invalid/menus/schema.json"
    schema["title"] = "ivr menu"
    schema["description"] = "A hotline's menu tree; see docs/menu-language.md."
    return schema


def schema_text() -> str:
    """The schema as the text of ``menus/schema.json``."""
    return json.dumps(menu_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
