"""A Twilio Studio flow definition, as the console's "Export to JSON" and the Flows API give it.

Only the frame is checked strictly (``states``, each with a ``name``, a
``type`` and ``transitions``): widgets' ``properties`` vary by widget and
by Studio's release, so they are read leniently by the importer, which names
what it does not use.  See ``docs/studio.md``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.errors import Problem

__all__ = ["Condition", "Flow", "FlowError", "State", "Transition", "read_flow"]

MAX_FLOW_BYTES = 8 * 1024 * 1024


class FlowError(Exception):
    """A file that is not a Studio flow definition: the fault of whoever gave it."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(f"{source}: not a Studio flow definition")
        self.source = source
        self.problems = problems


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Condition(_Lenient):
    """One test of a split's ``match`` transition."""

    type: str
    value: Any = ""
    friendly_name: str = ""
    arguments: list[Any] = Field(default_factory=list)


class Transition(_Lenient):
    """An event of a widget and the widget it leads to (none: the flow ends)."""

    event: str
    next: str | None = None
    conditions: list[Condition] = Field(default_factory=list)


class State(_Lenient):
    """One widget."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: Annotated[str, Field(min_length=1, max_length=100)]
    transitions: list[Transition] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)

    def next_for(self, event: str) -> str | None:
        """Where ``event`` leads; None when it ends the flow or the widget lacks it."""
        for transition in self.transitions:
            if transition.event == event:
                return transition.next or None
        return None

    def has(self, event: str) -> bool:
        """Whether the widget has a transition for ``event`` that leads somewhere."""
        return self.next_for(event) is not None


class Flow(_Lenient):
    """A whole flow definition."""

    description: str = ""
    states: Annotated[list[State], Field(min_length=1, max_length=2000)]
    initial_state: Annotated[str, Field(min_length=1)]
    flags: dict[str, Any] = Field(default_factory=dict)

    def state(self, name: str) -> State | None:
        """The widget named ``name``, if the flow has it."""
        return next((s for s in self.states if s.name == name), None)


def read_flow(data: bytes | str, source: str) -> Flow:
    """Parse a flow definition; :class:`FlowError` naming each problem's place if it is not one."""
    if len(data) > MAX_FLOW_BYTES:
        raise FlowError(source, [Problem("$", f"the file is over {MAX_FLOW_BYTES // (1024 * 1024)} MiB")])
    try:
        doc = json.loads(data)
    except RecursionError:
        raise FlowError(source, [Problem("$", "the JSON is nested too deeply to be a flow definition")]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        raise FlowError(
            source, [Problem("$", f"not JSON: {getattr(exc, 'msg', exc)}", line=line, column=col)]
        ) from None
    if isinstance(doc, dict) and isinstance(doc.get("definition"), dict) and "states" not in doc:
        doc = doc["definition"]  # a Flows API resource, not only its definition
    if not isinstance(doc, dict):
        raise FlowError(source, [Problem("$", "a flow definition is a JSON object with states and initial_state")])
    try:
        flow = Flow.model_validate(doc)
    except ValidationError as exc:
        problems = [
            Problem("$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]), e["msg"])
            for e in exc.errors(include_url=False)
        ]
        raise FlowError(source, problems) from None
    names = [s.name for s in flow.states]
    twice = sorted({n for n in names if names.count(n) > 1})
    problems = [Problem("$.states", f"two widgets are named {n!r}") for n in twice]
    if flow.state(flow.initial_state) is None:
        problems.append(Problem("$.initial_state", f"there is no widget named {flow.initial_state!r}"))
    if problems:
        raise FlowError(source, problems)
    return flow
