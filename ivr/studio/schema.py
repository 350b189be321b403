"""Studio's flow definition schema, as far as Twilio's documentation publishes it, and a check against it.

Twilio publishes a JSON Schema (draft-07) for flow definitions, with the
``$id`` ``https://schemas.twilio.com/studio/draft/2019-09/flow-definition``
(https://www.twilio.com/docs/studio/rest-api/v2/schemas); the Flows API
refuses a definition that does not pass it.  What is written here is what its
documentation states: the frame (``description``, ``states`` of 1 to 1000
widgets, ``initial_state``, ``flags.allow_concurrent_calls``), the widget
types, each voice widget's transition events and required properties, and
the split conditions' types.  ``POST /v2/Flows/Validate`` is the final word
before a deployment; :func:`check_flow` catches what can be caught offline,
and that every ``next`` names a widget.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONDITION_TYPES", "EVENTS", "FLOW_SCHEMA", "FLOW_SCHEMA_ID", "WIDGET_TYPES", "check_flow"]

FLOW_SCHEMA_ID = "https://schemas.twilio.com/studio/draft/2019-09/flow-definition"
"""The ``$id`` of Studio's published flow definition schema."""

WIDGET_TYPES = (
    "add-member-to-chat-channel",
    "add-twiml-redirect",
    "capture-payments",
    "connect-call-to",
    "create-chat-channel",
    "create-task",
    "enqueue-call",
    "fork-stream",
    "gather-input-on-call",
    "make-http-request",
    "make-outgoing-call-v1",
    "make-outgoing-call-v2",
    "record-call",
    "record-voicemail",
    "run-function",
    "run-function-v2",
    "say-play",
    "send-and-wait-for-reply",
    "send-message",
    "send-to-flex",
    "set-variables",
    "split-based-on",
    "run-subflow",
    "trigger",
    "understand",
    "update-sync-object",
    "connect-virtual-agent",
    "connect-virtual-agent-v2",
)

CONDITION_TYPES = (
    "equal_to",
    "not_equal_to",
    "matches_any_of",
    "does_not_match_any_of",
    "is_blank",
    "is_not_blank",
    "regex",
    "contains",
    "does_not_contain",
    "starts_with",
    "does_not_start_with",
    "less_than",
    "greater_than",
    "is_before_time",
    "is_after_time",
    "is_before_date",
    "is_after_date",
)

EVENTS: dict[str, tuple[str, ...]] = {
    "trigger": ("incomingMessage", "incomingCall", "incomingConversationMessage", "incomingRequest", "incomingParent"),
    "say-play": ("audioComplete",),
    "gather-input-on-call": ("keypress", "speech", "timeout"),
    "split-based-on": ("noMatch", "match"),
    "set-variables": ("next",),
    "connect-call-to": ("callCompleted", "hangup"),
    "record-voicemail": ("recordingComplete", "noAudio", "hangup"),
    "make-http-request": ("success", "failed"),
    "run-function": ("success", "fail"),
    "send-to-flex": ("callComplete", "failedToEnqueue", "callFailure"),
    "enqueue-call": ("callComplete", "failedToEnqueue", "callFailure"),
}
"""The transition events of the widgets the export writes."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    "connect-call-to": ("noun", "caller_id"),
    "make-http-request": ("method", "content_type", "url"),
    "run-function": ("url",),
    "send-to-flex": ("workflow", "channel"),
    "split-based-on": ("input",),
    "set-variables": ("variables",),
    "run-subflow": ("flow_sid", "flow_revision"),
    "add-twiml-redirect": ("url",),
}

_CONDITION = {
    "type": "object",
    "required": ["friendly_name", "arguments", "type", "value"],
    "properties": {
        "friendly_name": {"type": "string"},
        "arguments": {"type": "array", "items": {"type": "string"}},
        "type": {"enum": list(CONDITION_TYPES)},
        "value": {"type": "string"},
    },
}

_TRANSITION = {
    "type": "object",
    "required": ["event"],
    "properties": {
        "event": {"type": "string", "minLength": 1},
        "next": {"type": "string", "minLength": 1},
        "conditions": {"type": "array", "items": _CONDITION},
    },
    "additionalProperties": False,
}


def _widget_rule(kind: str) -> dict[str, Any]:
    then: dict[str, Any] = {"properties": {"properties": {"required": list(_REQUIRED.get(kind, ()))}}}
    if kind in EVENTS:
        events = {"type": "array", "items": {"properties": {"event": {"enum": list(EVENTS[kind])}}}}
        then["properties"]["transitions"] = events
    return {"if": {"properties": {"type": {"const": kind}}}, "then": then}


FLOW_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": FLOW_SCHEMA_ID,
    "type": "object",
    "required": ["description", "states", "initial_state", "flags"],
    "properties": {
        "description": {"type": "string"},
        "$schema": {"enum": [FLOW_SCHEMA_ID]},
        "flags": {
            "type": "object",
            "required": ["allow_concurrent_calls"],
            "properties": {"allow_concurrent_calls": {"type": "boolean"}},
        },
        "initial_state": {"type": "string", "minLength": 1},
        "states": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["name", "type", "transitions", "properties"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,100}$"},
                    "type": {"enum": list(WIDGET_TYPES)},
                    "transitions": {"type": "array", "items": _TRANSITION},
                    "properties": {"type": "object"},
                },
                "allOf": [_widget_rule(kind) for kind in sorted(set(_REQUIRED) | set(EVENTS))],
            },
        },
    },
}
"""The published schema's rules that Twilio's documentation states, as JSON Schema (draft-07)."""


def check_flow(flow: dict[str, Any]) -> list[str]:
    """What keeps ``flow`` from being a flow definition Studio takes: schema faults, then dangling names."""
    import jsonschema

    validator = jsonschema.Draft7Validator(FLOW_SCHEMA)
    problems = [
        f"$.{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"[:300]
        for error in sorted(validator.iter_errors(flow), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        return problems
    names = [state["name"] for state in flow["states"]]
    known = set(names)
    problems += [f"two widgets are named {n!r}" for n in sorted({n for n in names if names.count(n) > 1})]
    if flow["initial_state"] not in known:
        problems.append(f"initial_state {flow['initial_state']!r} names no widget")
    for state in flow["states"]:
        for transition in state["transitions"]:
            target = transition.get("next")
            if target is not None and target not in known:
                problems.append(f"{state['name']}: {transition['event']} leads to {target!r}, which is no widget")
    return problems
