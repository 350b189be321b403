"""The tests of a ``switch`` node: does a value pass a :class:`~ivr.menu.model.Condition`?

Pure functions of text.  Values to compare with may hold the call's
``{variables}``; they are filled in first.  Regular expressions run on RE2
(:mod:`ivr.menu.patterns`), whose time grows with the text, never
exponentially, so no pattern a menu or an imported flow holds can let a
caller's keys stall a worker; and at most :data:`REGEX_INPUT_LIMIT`
characters of the value are searched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ivr.engine.speech import fill
from ivr.menu.model import Condition
from ivr.menu.patterns import compiled

__all__ = ["REGEX_INPUT_LIMIT", "holds"]

REGEX_INPUT_LIMIT = 1000


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def holds(condition: Condition, value: str, variables: Mapping[str, str]) -> bool:
    """Whether ``value`` passes every test of ``condition``."""
    for test in condition.model_fields_set:
        arg = getattr(condition, test)
        if arg is None:
            continue
        if not _test(test, arg, value, variables):
            return False
    return True


def _test(test: str, arg: object, value: str, variables: Mapping[str, str]) -> bool:
    if test == "is_blank":
        return value.strip() == ""
    if test == "is_not_blank":
        return value.strip() != ""
    if test == "regex":
        assert isinstance(arg, str)
        return compiled(arg).search(value[:REGEX_INPUT_LIMIT]) is not None
    if test in ("less_than", "greater_than"):
        assert isinstance(arg, (int, float))
        number = _number(value)
        if number is None:
            return False
        return number < arg if test == "less_than" else number > arg
    if test in ("matches_any_of", "does_not_match_any_of"):
        assert isinstance(arg, list)
        found = value in {fill(one, variables) for one in arg}
        return found if test == "matches_any_of" else not found
    assert isinstance(arg, str)
    other = fill(arg, variables)
    checks = {
        "equal_to": lambda: value == other,
        "not_equal_to": lambda: value != other,
        "starts_with": lambda: value.startswith(other),
        "does_not_start_with": lambda: not value.startswith(other),
        "contains": lambda: other in value,
        "does_not_contain": lambda: other not in value,
    }
    return checks[test]()
