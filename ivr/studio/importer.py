"""``ivr studio import``: a Studio flow definition as a menu document.

Each widget becomes the node of the same name (so scenarios and coverage speak
of the flow's own names), with a few helper nodes whose ids hold a dot, which
no Studio widget name does.  The mapping, widget by widget, is in
``docs/studio.md``.  Whatever cannot run offline becomes a spoken stand-in
("This step is not available offline: send-to-flex ...") and a note in the
import's report, never a silent gap; the rest of the flow still runs.

Studio's semantics kept:

- a transition with no ``next`` ends the call (the node ``studio.end``);
- Liquid outputs are the call's variables (:mod:`ivr.studio.liquid`);
- "If the same widget runs 10 times in a row during an Execution, that
  Execution will stop" (Studio FAQ, "What limits exist in Studio?"): the
  menu's ``max_node_repeats`` is 10;
- a split takes the first match transition whose conditions all hold, else
  ``noMatch``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ivr.contracts import SPECS_BY_NAME
from ivr.menu.model import NOT_XML, VAR_NAME, template_pieces
from ivr.menu.patterns import pattern_problem
from ivr.studio.flow import Flow, State
from ivr.studio.liquid import translate

SERVICE_PARAMETER = "ivr_service"
"""The run-function parameter by which ``ivr studio export`` names one of this project's services."""

__all__ = ["END", "STUDIO_REPEAT_LIMIT", "Imported", "Note", "import_flow"]

END = "studio.end"
"""The node every transition without a ``next`` leads to: the call ends, with nothing said."""

STUDIO_REPEAT_LIMIT = 10
"""Studio stops a flow whose same widget runs this many times in a row."""

_CALLER = ("trigger.call.From", "trigger.call.Caller", "contact.channel.address")
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SERVICES = ("make-http-request", "run-function", "run-function-v2")
_AGENT = ("send-to-flex", "enqueue-call")
_GO_ON = ("completed", "success", "next", "sent", "return", "audioComplete", "callComplete", "callCompleted")
_DTMF = set("0123456789*#")


@dataclass(frozen=True)
class Note:
    """Something of the flow that the menu does differently, or not at all, named by its widget."""

    state: str
    message: str


@dataclass
class Imported:
    """The menu document made from a flow, and the notes of what changed on the way."""

    menu: dict[str, Any]
    notes: list[Note] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """Widgets no call reaches from the trigger's incomingCall, left out."""


def _node_id(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_\-]", "_", name)[:64]
    return cleaned or "widget"


def _items(properties: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A property that should be a list of objects (``variables``, ``parameters``): its objects, else none."""
    value = properties.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _unique_ids(names: Iterable[str]) -> dict[str, str]:
    """A node id for each widget name: the name, cleaned, and numbered when two clean to one id."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = _node_id(name)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base[:58]}_{n}"
        taken.add(candidate)
        ids[name] = candidate
    return ids


def _targets(node: dict[str, Any]) -> Iterator[str]:
    """The node ids a node of a menu document can go to."""
    for key in ("next", "default", "on_no_input", "on_no_audio", "on_error", "on_exhausted"):
        if isinstance(node.get(key), str):
            yield node[key]
    yield from (node.get("outcomes") or {}).values()
    for case in node.get("cases") or []:
        yield case["next"]


def _form_encoded(template: str) -> str:
    """A menu template as one part of a form or query: its words percent-encoded, its variables ``{name:url}``."""
    return "".join(
        quote(words, safe="") if name is None else "{" + name + ":url}" for words, name, _ in template_pieces(template)
    )


def _number(value: Any, default: float, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if not math.isfinite(number):
        return default
    return min(high, max(low, number))


class _Importer:
    def __init__(self, flow: Flow, menu_id: str) -> None:
        self.flow = flow
        self.menu_id = menu_id
        self.notes: list[Note] = []
        self.nodes: dict[str, dict[str, Any]] = {}
        self.ids = _unique_ids(s.name for s in flow.states)
        self.types = {s.name: s.type for s in flow.states}
        self.ended = False
        self.language = self._language()
        self.flow_vars = {
            str(v.get("key"))
            for s in flow.states
            if s.type == "set-variables"
            for v in _items(s.properties, "variables")
            if v.get("key")
        }

    # -- the whole flow -------------------------------------------------------------

    def _language(self) -> str:
        seen = Counter(
            str(s.properties["language"])
            for s in self.flow.states
            if s.type in ("say-play", "gather-input-on-call") and s.properties.get("language")
        )
        for language, _ in seen.most_common():
            if _LANGUAGE.match(language):
                return language
        return "en-US"

    def note(self, state: State | str, message: str) -> None:
        self.notes.append(Note(state if isinstance(state, str) else state.name, message))

    def run(self) -> Imported:
        flow = self.flow
        first = flow.state(flow.initial_state)
        assert first is not None  # read_flow checked it
        if first.type == "trigger":
            for event in ("incomingMessage", "incomingRequest", "incomingConversationMessage", "incomingParent"):
                if first.has(event):
                    self.note(first, f"{event} starts a flow without a call; only incomingCall is imported")
            start_name = first.next_for("incomingCall")
            if start_name is None:
                self.note(first, "incomingCall leads nowhere, so a call ends at once")
        else:
            start_name = first.name
        reached = self._reach(start_name)
        dropped = [s.name for s in flow.states if s.name not in reached and s.type != "trigger"]
        for name in dropped:
            self.note(name, "no call reaches this widget from incomingCall; it is left out")
        start = self.to(first, start_name)
        for state in flow.states:
            if state.name in reached:
                self.widget(state)
        self.prune(start)
        defaults: dict[str, Any] = {"on_exhausted": start, "max_node_repeats": STUDIO_REPEAT_LIMIT}
        if self.ended:
            self.nodes[END] = {"kind": "hangup", "title": "The flow ends"}
            defaults["on_exhausted"] = END
        menu: dict[str, Any] = {
            "id": self.menu_id,
            "version": "1",
            "languages": [self.language],
            "default_language": self.language,
            "start": start,
            "defaults": defaults,
            "nodes": self.nodes,
        }
        title = self.clean(flow.description).strip()[:200]
        if title:
            menu["title"] = {self.language: title}
        return Imported(menu, self.notes, dropped)

    def prune(self, start: str) -> None:
        """Leave out the nodes only a case that never holds offline led to, as the validator would refuse them."""
        seen = {start, END}
        todo = [start]
        while todo:
            node = self.nodes.get(todo.pop())
            for target in _targets(node or {}):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        used = {t for n in seen if n in self.nodes for t in _targets(self.nodes[n])}
        self.ended = self.ended and (start == END or END in used)
        for node_id in [n for n in self.nodes if n not in seen]:
            del self.nodes[node_id]
            self.note(node_id, "only a transition that cannot run offline leads here; it is left out")

    def _reach(self, start: str | None) -> set[str]:
        seen: set[str] = set()
        todo = [start] if start else []
        while todo:
            name = todo.pop()
            state = self.flow.state(name)
            if state is None or name in seen:
                continue
            seen.add(name)
            todo.extend(t.next for t in state.transitions if t.next)
        return seen

    def to(self, state: State, name: str | None) -> str:
        """The node a transition of ``state`` to ``name`` goes to (none: the end of the call)."""
        if name is None:
            self.ended = True
            return END
        if name not in self.ids:
            self.note(state, f"a transition leads to {name!r}, which the flow does not have; the call ends there")
            self.ended = True
            return END
        return self.ids[name]

    # -- texts ------------------------------------------------------------------------

    def resolve(self, path: str) -> str | None:
        if path in _CALLER:
            return "caller"
        parts = path.split(".")
        name: str | None = None
        if parts[0] == "flow" and len(parts) == 3 and parts[1] == "variables" and parts[2] in self.flow_vars:
            name = path
        elif parts[0] == "widgets" and len(parts) >= 3 and parts[1] in self.types:
            kind, widget, rest = self.types[parts[1]], self.ids[parts[1]], parts[2:]
            if kind == "gather-input-on-call" and rest == ["Digits"]:
                name = f"widgets.{widget}.Digits"
            elif kind == "record-voicemail" and rest in (["RecordingUrl"], ["RecordingDuration"]):
                name = "recording_url" if rest == ["RecordingUrl"] else "recording_seconds"
            elif kind in _SERVICES and rest[0] in ("parsed", "body", "status_code"):
                name = ".".join(["widgets", widget, *rest])
        if name is None or not re.fullmatch(VAR_NAME, name):
            return None
        return name

    def clean(self, text: str) -> str:
        return NOT_XML.sub("", text)

    def template(self, state: State, text: Any, what: str) -> str:
        result = translate(self.clean(str(text)), self.resolve)
        for message in result.notes:
            self.note(state, f"{what}: {message}")
        return result.text[:4000]

    def parts(self, state: State) -> list[Any]:
        """A say-play's or gather's say, play and digits as prompt parts."""
        props = state.properties
        loop_given = props.get("loop", 1)
        loop = int(_number(loop_given, 1, 1, 10))
        if str(loop_given) == "0":
            self.note(state, "loop 0 (for ever) is played once")
        parts: list[Any] = []
        say = props.get("say")
        words = self.template(state, say, "say") if isinstance(say, str) and say.strip() else ""
        if words.strip():
            text = {self.language: words}
            voice = props.get("voice")
            language = props.get("language")
            own: dict[str, Any] = {}
            if isinstance(voice, str) and re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", voice):
                own["voice"] = voice
            if isinstance(language, str) and language != self.language and _LANGUAGE.match(language):
                own["language"] = language
            if loop != 1:
                own["loop"] = loop
            parts.append({"say": text, **own} if own else text)
        play = props.get("play")
        if isinstance(play, str) and play.strip():
            if "{{" in play or not re.fullmatch(r"https?://[^\s<>\"]{1,2000}", play.strip()):
                self.note(state, f"play {play[:80]!r} is not a plain http(s) URL; it is left out")
            else:
                parts.append({"play": play.strip(), "loop": loop})
        digits = props.get("digits")
        if isinstance(digits, str) and digits.strip():
            if re.fullmatch(r"[0-9*#wW]{1,64}", digits.strip()):
                parts.append({"digits": digits.strip()})
            else:
                self.note(state, f"digits {digits[:40]!r} are not key tones; they are left out")
        return parts

    def standin(self, state: State, what: str, then: str) -> dict[str, Any]:
        """A spoken stand-in for a step that cannot run here: the simulator says it, then goes on."""
        words = f"This step is not available offline: {what}."
        return {
            "kind": "message",
            "title": f"Stand-in: {state.type}",
            "prompt": {self.language: words[:4000]},
            "next": then,
        }

    def go_on(self, state: State) -> str | None:
        for event in _GO_ON:
            if state.has(event):
                return state.next_for(event)
        return next((t.next for t in state.transitions if t.next), None)

    def passing(self, state: State, then: str) -> dict[str, Any]:
        # A widget that does nothing here still has its node, so its name stays on the map.
        return {
            "kind": "set",
            "title": state.name,
            "vars": {f"studio.passed.{self.ids[state.name]}": "1"},
            "next": then,
        }

    # -- widgets -------------------------------------------------------------------------

    def widget(self, state: State) -> None:
        node_id = self.ids[state.name]
        if node_id != state.name:
            self.note(state, f"the name is {node_id!r} in the menu (letters, digits, '_' and '-' only)")
        build = {
            "trigger": None,
            "say-play": self.say_play,
            "gather-input-on-call": self.gather,
            "split-based-on": self.split,
            "set-variables": self.set_variables,
            "connect-call-to": self.connect,
            "record-voicemail": self.voicemail,
        }.get(state.type, self.other)
        if build is not None:
            for extra_id, node in build(state):
                self.nodes[extra_id] = node

    def say_play(self, state: State) -> Iterator[tuple[str, dict[str, Any]]]:
        parts = self.parts(state)
        then = self.to(state, state.next_for("audioComplete"))
        if not parts:
            self.note(state, "it says and plays nothing")
            yield self.ids[state.name], self.passing(state, then)
            return
        yield self.ids[state.name], {"kind": "message", "prompt": parts, "next": then}

    def gather(self, state: State) -> Iterator[tuple[str, dict[str, Any]]]:
        props = state.properties
        node: dict[str, Any] = {
            "kind": "input",
            "var": f"widgets.{self.ids[state.name]}.Digits",
            "validate": "keys",
            "min_length": 1,
            "max_length": int(_number(props.get("number_of_digits"), 64, 1, 64)),
            "timeout": _number(props.get("timeout"), 5, 1, 60),
        }
        finish = str(props.get("finish_on_key", "#"))
        keys = [k for k in finish if k in _DTMF]
        node["finish_key"] = keys[0] if keys else ""
        if len(keys) > 1:
            self.note(state, f"finish_on_key {finish!r}: only its first key, {keys[0]}, ends the entry")
        parts = self.parts(state)
        if parts:
            node["prompt"] = parts
        if state.has("speech"):
            self.note(state, "the speech transition is not available offline; callers answer with keys")
        if props.get("stop_gather") is False:
            self.note(state, "stop_gather false: a key still interrupts the prompt here")
        node["next"] = self.to(state, state.next_for("keypress"))
        node["on_no_input"] = self.to(state, state.next_for("timeout"))
        yield self.ids[state.name], node

    def split(self, state: State) -> Iterator[tuple[str, dict[str, Any]]]:
        value = self.template(state, state.properties.get("input", ""), "input")
        cases = []
        for i, transition in enumerate(t for t in state.transitions if t.event == "match"):
            test = self.condition(state, i, transition.conditions)
            if test is not None:
                cases.append({"if": test, "next": self.to(state, transition.next)})
        default = self.to(state, state.next_for("noMatch"))
        if not cases:
            yield self.ids[state.name], self.passing(state, default)
            return
        yield self.ids[state.name], {"kind": "switch", "value": value, "cases": cases, "default": default}

    def condition(self, state: State, index: int, conditions: list[Any]) -> dict[str, Any] | None:
        test: dict[str, Any] = {}
        where = f"match {index + 1}"
        for condition in conditions:
            kind, raw = condition.type, "" if condition.value is None else str(condition.value)
            if kind in test:
                self.note(state, f"{where}: a second {kind} test in one transition is left out")
            elif kind in (
                "equal_to",
                "not_equal_to",
                "starts_with",
                "does_not_start_with",
                "contains",
                "does_not_contain",
            ):
                test[kind] = self.template(state, raw, where)
            elif kind in ("matches_any_of", "does_not_match_any_of"):
                values = [self.template(state, v.strip(), where) for v in raw.split(",") if v.strip()]
                test[kind] = values or [""]
            elif kind in ("is_blank", "is_not_blank"):
                test[kind] = True
            elif kind == "regex":
                problem = pattern_problem(raw) if 0 < len(raw) <= 500 else "an empty or over-long regex"
                if problem is not None:
                    self.note(state, f"{where}: {problem}; the match never holds")
                    return None
                test[kind] = raw
            elif kind in ("less_than", "greater_than"):
                try:
                    test[kind] = float(raw)
                    if not math.isfinite(test[kind]):
                        raise ValueError(raw)
                except ValueError:
                    self.note(state, f"{where}: {kind} {raw[:40]!r} is not a number; the match never holds")
                    return None
            else:
                self.note(state, f"{where}: the condition {kind} is not available offline; the match never holds")
                return None
        if not test:
            self.note(state, f"{where} has no conditions; it never holds")
            return None
        return test

    def set_variables(self, state: State) -> Iterator[tuple[str, dict[str, Any]]]:
        values: dict[str, str] = {}
        for item in _items(state.properties, "variables"):
            key = str(item.get("key", ""))
            name = f"flow.variables.{key}"
            if not re.fullmatch(VAR_NAME, name):
                self.note(state, f"the variable {key[:40]!r} has a name the menu cannot hold; it is left out")
                continue
            values[name] = self.template(state, item.get("value", ""), f"variable {key}")
        then = self.to(state, state.next_for("next"))
        if not values:
            yield self.ids[state.name], self.passing(state, then)
            return
        yield self.ids[state.name], {"kind": "set", "vars": values, "next": then}

    def connect(self, state: State) -> Iterator[tuple[str, dict[str, Any]]]:
        props = state.properties
        noun = str(props.get("noun", "number"))
        to = str(props.get("to", ""))
        numbers = [n.strip() for n in to.split(",") if n.strip()]
        then = state.next_for("callCompleted")
        node_id = self.ids[state.name]
        if noun not in ("number", "number-multi") or not numbers or not _NUMBER.match(numbers[0]):
            what = f"connect-call-to {noun} {to[:60]}".strip()
            self.note(state, f"{what}: only a phone number can be dialled offline")
            yield node_id, self.standin(state, f"connect-call-to {noun}", self.to(state, then))
            return
        if len(numbers) > 1:
            self.note(
                state, f"{len(numbers)} numbers ring at once in Studio; offline the first, {numbers[0]}, is dialled"
            )
        if props.get("record"):
            self.note(state, "record: the call is not recorded offline")
        node: dict[str, Any] = {
            "kind": "transfer",
            "to": numbers[0],
            "timeout": int(_number(props.get("timeout"), 30, 5, 600)),
        }
        if then is not None:
            # Studio's callCompleted follows the dial however it ended: answered, busy or unanswered.
            target = self.to(state, then)
            node["outcomes"] = dict.fromkeys(("completed", "busy", "no-answer", "failed", "canceled"), target)
        yield node_id, node

    def voicemail(self, state: State) -> Iterator[tuple[str, dict[str, Any]]]:
        props = state.properties
        finish = "".join(dict.fromkeys(k for k in str(props.get("finish_on_key", "#")) if k in _DTMF))[:12]
        node: dict[str, Any] = {
            "kind": "voicemail",
            "max_seconds": int(_number(props.get("max_length"), 3600, 1, 3600)),
            "finish_key": finish,
            "silence": int(_number(props.get("timeout"), 5, 1, 60)),
            "beep": str(props.get("play_beep", "true")).lower() != "false",
            "next": self.to(state, state.next_for("recordingComplete")),
        }
        if state.has("noAudio"):
            node["on_no_audio"] = self.to(state, state.next_for("noAudio"))
        if props.get("transcribe") in (True, "true"):
            self.note(state, "transcribe: recordings are not transcribed offline")
        yield self.ids[state.name], node

    def other(self, state: State) -> Iterator[tuple[str, dict[str, Any]]]:
        node_id = self.ids[state.name]
        if state.type in _SERVICES:
            yield from self.service(state)
            return
        if state.type in _AGENT:
            agent = f"{node_id}.agent"
            self.note(state, f"{state.type} is not available offline: a stand-in says so, then transfers to the agent")
            yield node_id, self.standin(state, f"{state.type} {state.name}. The call goes to the agent", agent)
            failed = state.next_for("failedToEnqueue") or state.next_for("callFailure")
            outcomes = {"completed": self.to(state, state.next_for("callComplete"))}
            outcomes.update(dict.fromkeys(("busy", "no-answer", "failed", "canceled"), self.to(state, failed)))
            yield agent, {"kind": "transfer", "title": f"{state.name}: the agent", "to": "agent", "outcomes": outcomes}
            return
        self.note(state, f"{state.type} is not available offline: a stand-in says so and the flow goes on")
        yield node_id, self.standin(state, f"{state.type} {state.name}", self.to(state, self.go_on(state)))

    def own_service(self, state: State, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """A run-function that ``ivr studio export`` wrote for one of this project's services: the service again."""
        node_id = self.ids[state.name]
        args: dict[str, str] = {}
        values: dict[str, str] = {}
        for item in _items(state.properties, "parameters"):
            key = str(item.get("key", ""))
            if not key or key == SERVICE_PARAMETER:
                continue
            text = self.template(state, item.get("value", ""), f"parameter {key}")
            single = re.fullmatch(r"\{(" + VAR_NAME + r")\}", text)
            if single:
                args[key] = single.group(1)
            else:
                values[key] = text
        node: dict[str, Any] = {"kind": "service", "service": name, "into": f"widgets.{node_id}.parsed"}
        if args:
            node["args"] = args
        if values:
            node["values"] = values
        node["default"] = self.to(state, state.next_for("success"))
        node["on_error"] = self.to(state, state.next_for("fail"))
        yield node_id, node

    def service(self, state: State) -> Iterator[tuple[str, dict[str, Any]]]:
        props = state.properties
        node_id = self.ids[state.name]
        own = next(
            (str(p.get("value")) for p in _items(props, "parameters") if p.get("key") == SERVICE_PARAMETER),
            None,
        )
        if state.type != "make-http-request" and own is not None and own in SPECS_BY_NAME:
            yield from self.own_service(state, own)
            return
        is_function = state.type != "make-http-request"
        method = "POST" if is_function else str(props.get("method", "GET")).upper()
        url = self.template(state, props.get("url", ""), "url")
        pairs = []
        for item in _items(props, "parameters"):
            if item.get("key"):
                value = self.template(state, item.get("value", ""), f"parameter {item['key']}")
                key = self.template(state, item["key"], "parameter")
                pairs.append(f"{_form_encoded(key)}={_form_encoded(value)}")
        body = self.template(state, props.get("body", ""), "body") if props.get("body") else "&".join(pairs)
        if method == "GET" and pairs:
            url += ("&" if "?" in url else "?") + "&".join(pairs)
            body = ""
        content_type = str(props.get("content_type") or "application/x-www-form-urlencoded")
        values = {"method": method, "url": url, "content_type": content_type, "body": body}
        failed = state.next_for("fail" if is_function else "failed")
        success = self.to(state, state.next_for("success"))
        offline = f"{node_id}.offline"
        yield (
            node_id,
            {
                "kind": "service",
                "service": "http.request",
                "values": {k: v for k, v in values.items() if v},
                "into": f"widgets.{node_id}",
                "outcomes": {"success": success, "failed": self.to(state, failed), "offline": offline},
                "on_error": self.to(state, failed),
            },
        )
        self.note(state, f"{state.type}: sent only to a host of IVR_HTTP_ALLOW_HOSTS; else a stand-in, then success")
        what = f"{state.type} {state.name}, unless IVR_HTTP_ALLOW_HOSTS allows its host. It goes on as if it succeeded"
        yield offline, self.standin(state, what, success)


def import_flow(flow: Flow, menu_id: str = "studio") -> Imported:
    """The menu document for ``flow``, with the notes of what is done differently offline."""
    return _Importer(flow, menu_id).run()
