"""``--inputs FILE``: the values ``ivr explore`` keys at multi-digit entries (ID numbers, passwords).

The file is YAML::

    inputs:
      - when: "身份证|ID number"          # a regular expression, searched in what the caller just heard
        keys: ["310104199007181241#", "61011319950621122*#"]
      - when: "密码|password"
        keys: ["802461#"]

Entries are tried in order; the first whose ``when`` matches what the caller
has just heard gives the values tried at that input.  What was heard is the
``<Say>`` texts and, for a ``<Play>``, its URL or the prompt words the app sent
in its optional ``X-IVR-Prompts`` header; the latest prompt is matched first,
then the ones before it.  A value is a scripted answer: keys, a trailing finish
key included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ivr.phone.callers import Keys, parse_answer

__all__ = ["InputEntry", "Inputs", "InputsError", "load_inputs"]


class InputsError(ValueError):
    """An inputs file that cannot be used (the user's to fix); the message names the file and the place."""


class InputEntry(BaseModel):
    """One entry: where it applies (``when``) and the values to key there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: str
    keys: list[str] = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("keys")
    @classmethod
    def _keys(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                answer = parse_answer(str(value))
            except ValueError as exc:
                raise ValueError(str(exc)) from None
            if not isinstance(answer, Keys):
                raise ValueError(f"{value!r}: a value is keys (0-9 * #), not silence or a recording")
        return [str(v) for v in values]


class Inputs(BaseModel):
    """The whole file: its entries, in the order they are tried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[InputEntry] = Field(default_factory=list)

    def values_for(self, heard: Sequence[str]) -> list[str]:
        """The values of the first entry whose ``when`` matches what was heard (none: an empty list).

        The latest prompt counts first (the question itself, not the explanation before it), then
        the ones before it.
        """
        for text in reversed(heard):
            for entry in self.inputs:
                if re.search(entry.when, text):
                    return list(entry.keys)
        return []


def load_inputs(path: Path) -> Inputs:
    """The inputs file at ``path``; :class:`InputsError` with the file and the place of each problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputsError(f"{path}: cannot read it: {exc}") from None
    except yaml.YAMLError as exc:
        raise InputsError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputsError(f"{path}: expected a mapping with an 'inputs' list")
    try:
        return Inputs.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top)"
            lines.append(f"{path}: {where}: {err['msg']}")
        raise InputsError("\n".join(lines)) from None
