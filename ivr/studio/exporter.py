"""``ivr studio export``: a menu as a Studio flow definition, to deploy what was authored and tested here.

Studio has no retry counters, no "back" and no languages, so the export
expands them into widgets, as a Studio author would build them by hand:

- **every node keeps its id as a widget name**: the widget where a call waits
  (the gather, in the menu's default language, long prompt) or that it enters
  first; the widgets that help it are named ``NODE__something``;
- **languages**: the caller's language is ``flow.variables.language``; each
  question has a gather per language, and each spoken prompt a say-play per
  language behind a split on it;
- **long and short prompts**: ``flow.variables.NODE_heard`` is set once the
  long prompt has been heard, and a split picks the gather;
- **counters**: silences and wrong keys are counted by appending ``x`` to a
  flow variable (Liquid has no arithmetic without filters), and a split sends
  the call to ``on_exhausted`` when the count reaches the limit;
- **global keys**: each menu's split routes them; "back" goes to the menu the
  node is reached from (Studio has no trail; a node reached from several is
  named in the report);
- **services**: a run-function with the parameter ``ivr_service`` naming the
  service, its result's ``outcome`` routed by a split and its values copied
  into flow variables; ``ivr studio import`` turns such a widget back into the
  service node.

What has no Studio form is named in the export's report (:class:`Exported`).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ivr.menu.checks import edges
from ivr.menu.model import (
    Audio,
    HangupNode,
    InputNode,
    LanguageNode,
    Menu,
    MenuNode,
    MessageNode,
    NewPasswordRule,
    Prompt,
    ServiceNode,
    SetNode,
    Speech,
    SwitchNode,
    TransferNode,
    VoicemailNode,
    part_text,
    template_pieces,
)
from ivr.studio.importer import SERVICE_PARAMETER

__all__ = ["SERVICE_PARAMETER", "Exported", "export_menu"]


FUNCTIONS_URL = "https://ivr-services.invalid/"
"""Where an exported service's function is expected: a placeholder the deployer replaces."""

START = "ivr__start"


@dataclass
class Exported:
    """A flow definition, and what of the menu it does differently."""

    flow: dict[str, Any]
    notes: list[tuple[str, str]] = field(default_factory=list)


def _name(node_id: str, *suffix: str) -> str:
    return "__".join([re.sub(r"[^A-Za-z0-9_]", "_", node_id), *(re.sub(r"[^A-Za-z0-9_]", "_", s) for s in suffix)])


class _Exporter:
    def __init__(self, menu: Menu) -> None:
        self.menu = menu
        self.states: list[dict[str, Any]] = []
        self.notes: list[tuple[str, str]] = []
        self.parents = self._parents()
        self.recorders = [
            _name(n) if node.prompt is None else _name(n, "record")
            for n, node in menu.nodes.items()
            if isinstance(node, VoicemailNode)
        ]

    # -- frame ---------------------------------------------------------------------------

    def state(self, name: str, kind: str, transitions: list[dict[str, Any]], **properties: Any) -> str:
        y = 200 * len(self.states)
        self.states.append(
            {
                "name": name,
                "type": kind,
                "transitions": transitions,
                "properties": {**properties, "offset": {"x": 0, "y": y}},
            }
        )
        return name

    def note(self, node_id: str, message: str) -> None:
        self.notes.append((node_id, message))

    def run(self) -> Exported:
        menu = self.menu
        trigger = [
            {"event": "incomingMessage"},
            {"event": "incomingCall", "next": START},
            {"event": "incomingConversationMessage"},
            {"event": "incomingRequest"},
            {"event": "incomingParent"},
        ]
        self.state("Trigger", "trigger", trigger)
        self.set(START, {"language": menu.default_language}, self.entry(menu.start))
        for node_id, node in menu.nodes.items():
            self.node(node_id, node)
        description = ""
        if menu.title is not None:
            description = menu.title.in_language(menu.default_language) or ""
        flow = {
            "description": description or f"{menu.id} {menu.version}",
            "states": self.states,
            "initial_state": "Trigger",
            "flags": {"allow_concurrent_calls": True},
        }
        return Exported(flow, self.notes)

    def _parents(self) -> dict[str, str]:
        """For each menu, the menu "back" returns to: the nearest menu before it on the shortest way from the start.

        The engine keeps the trail of menus a call came through, cut back when a call
        returns to a menu already on it; Studio has no such list, so the export takes
        the way a call first finds each menu.
        """
        menus = (MenuNode, LanguageNode)
        nodes = self.menu.nodes
        last = {self.menu.start: self.menu.start}
        parents: dict[str, str] = {}
        queue = deque([self.menu.start])
        while queue:
            here = queue.popleft()
            for _, target in edges(self.menu, here, nodes[here]):
                if target in last or target not in nodes:
                    continue
                if isinstance(nodes[target], menus):
                    parents[target] = last[here]
                last[target] = target if isinstance(nodes[target], menus) else last[here]
                queue.append(target)
        return parents

    # -- texts ---------------------------------------------------------------------------

    def liquid(self, text: str) -> str:
        """A menu template as Liquid: ``{name}`` as the flow variable, ``{{`` as a brace."""
        out: list[str] = []
        for words, name, how in template_pieces(text):
            if name is None:
                out.append(words)
                continue
            filters = {"digits": ' | split: "" | join: " "', "url": " | url_encode"}.get(how or "", "")
            out.append("{{" + self.variable(name) + filters + "}}")
        return "".join(out)

    def variable(self, name: str) -> str:
        if name == "caller":
            return "trigger.call.From"
        if name in ("recording_url", "recording_seconds") and self.recorders:
            which = "RecordingUrl" if name == "recording_url" else "RecordingDuration"
            return f"widgets.{self.recorders[0]}.{which}"
        if name.startswith(("flow.variables.", "widgets.")):
            return name
        return f"flow.variables.{self.key(name)}"

    @staticmethod
    def key(name: str) -> str:
        """The set-variables key of a menu variable: Liquid reads a dotted name as a path, so dots become ``_``."""
        return name.removeprefix("flow.variables.").replace(".", "_")

    def words(self, prompt: Prompt | None, language: str, node_id: str) -> tuple[str, list[Audio]]:
        """A prompt's words in ``language`` as one Liquid text, and its audio parts."""
        if prompt is None:
            return "", []
        texts: list[str] = []
        audio: list[Audio] = []
        for part in prompt:
            if isinstance(part, Audio):
                audio.append(part)
                continue
            if isinstance(part, Speech) and (part.voice or part.language):
                self.note(node_id, "a part's own voice or language is spoken in the flow's voice")
            text = part_text(part, self.menu.prompts)
            if text is not None:
                words = text.in_language(language) or text.in_language(self.menu.default_language) or ""
                texts.append(self.liquid(words))
        if audio and texts:
            self.note(node_id, "a prompt of words and recordings: the recordings are played before the words")
        joiner = "" if language.startswith("zh") else " "
        return joiner.join(t for t in texts if t), audio

    def say(self, name: str, prompt: Prompt | None, node_id: str, then: str | None) -> str | None:
        """Widgets that speak ``prompt`` in the caller's language, then go to ``then``; the first one's name."""
        if prompt is None:
            return then
        languages = self.menu.languages
        targets: dict[str, str | None] = {}
        for language in languages:
            widget = name if len(languages) == 1 else _name(name, language)
            text, audio = self.words(prompt, language, node_id)
            after = then
            if text:
                after = self.state(widget, "say-play", [self.go(then, "audioComplete")], say=text, language=language)
                widget = _name(widget, "audio")
            for i, part in enumerate(reversed(audio)):
                props = {"play": part.play, "loop": part.loop} if part.play else {"digits": part.digits}
                after = self.state(_name(widget, str(i)), "say-play", [self.go(after, "audioComplete")], **props)
            targets[language] = after
        if len(languages) == 1:
            return targets[languages[0]]
        return self.by_language(name, targets)

    def by_language(self, name: str, targets: dict[str, str | None]) -> str:
        default = targets[self.menu.default_language]
        matches = [
            self.match(target, "equal_to", language)
            for language, target in targets.items()
            if language != self.menu.default_language
        ]
        return self.state(
            name, "split-based-on", [self.go(default, "noMatch"), *matches], input="{{flow.variables.language}}"
        )

    # -- transitions ---------------------------------------------------------------------

    def go(self, target: str | None, event: str) -> dict[str, Any]:
        return {"event": event, "next": target} if target else {"event": event}

    def match(self, target: str | None, kind: str, value: str, argument: str = "") -> dict[str, Any]:
        condition = {"friendly_name": f"If value {kind} {value}", "arguments": [argument], "type": kind, "value": value}
        return {**self.go(target, "match"), "conditions": [condition]}

    def set(self, name: str, variables: dict[str, str], then: str | None) -> str:
        items = [{"key": k, "value": v} for k, v in variables.items()]
        return self.state(name, "set-variables", [self.go(then, "next")], variables=items)

    def entry(self, node_id: str) -> str | None:
        """The widget a call enters ``node_id`` by; None for a hangup with nothing to say (the flow just ends)."""
        node = self.menu.nodes[node_id]
        if isinstance(node, (MenuNode, LanguageNode, InputNode)):
            return _name(node_id, "in")
        if isinstance(node, HangupNode) and node.prompt is None:
            return None
        return _name(node_id)

    # -- nodes ---------------------------------------------------------------------------

    def node(self, node_id: str, node: Any) -> None:
        n = _name(node_id)
        if n != node_id:
            self.note(node_id, f"the widget is named {n!r} (Studio names are letters, digits and '_')")
        if isinstance(node, MessageNode):
            self.speak_then(node_id, node.prompt, self.entry(node.next))
        elif isinstance(node, HangupNode):
            if node.prompt is not None:
                self.speak_then(node_id, node.prompt, None)
        elif isinstance(node, SetNode):
            self.set(
                n,
                {self.key(k): self.liquid(v) for k, v in node.vars.items()},
                self.entry(node.next),
            )
        elif isinstance(node, SwitchNode):
            self.switch(node_id, node)
        elif isinstance(node, ServiceNode):
            self.service(node_id, node)
        elif isinstance(node, TransferNode):
            self.transfer(node_id, node)
        elif isinstance(node, VoicemailNode):
            self.voicemail(node_id, node)
        else:
            self.question(node_id, node)

    def speak_then(self, node_id: str, prompt: Prompt | None, then: str | None) -> None:
        first = self.say(_name(node_id), prompt, node_id, then)
        if first != _name(node_id):
            # The node's own widget must exist (transitions name it): a split that only goes on.
            self.state(_name(node_id), "split-based-on", [self.go(first, "noMatch")], input="")

    def switch(self, node_id: str, node: SwitchNode) -> None:
        transitions = [self.go(self.entry(node.default), "noMatch")]
        for case in node.cases:
            conditions = []
            for test, value in case.if_:
                if value is None:
                    continue
                if isinstance(value, list):
                    value = ",".join(self.liquid(v) for v in value)
                elif isinstance(value, bool):
                    value = ""
                elif isinstance(value, float):
                    value = str(int(value)) if value.is_integer() else repr(value)
                elif test != "regex":
                    value = self.liquid(value)
                conditions.append(
                    {"friendly_name": f"If value {test} {value}", "arguments": [], "type": test, "value": value}
                )
            transitions.append({**self.go(self.entry(case.next), "match"), "conditions": conditions})
        self.state(_name(node_id), "split-based-on", transitions, input=self.liquid(node.value))

    def service(self, node_id: str, node: ServiceNode) -> None:
        n = _name(node_id)
        spec_outcomes = list(dict.fromkeys([*node.outcomes]))
        routed = self.state(
            _name(node_id, "outcome"),
            "split-based-on",
            [self.go(self.entry(node.default) if node.default else None, "noMatch")]
            + [self.match(self.entry(node.outcomes[o]), "equal_to", o) for o in spec_outcomes],
            input=f"{{{{widgets.{n}.parsed.outcome}}}}",
        )
        from ivr.contracts import SPECS_BY_NAME

        spec = SPECS_BY_NAME.get(node.service)
        provides = spec.provides if spec else ()
        after = routed
        if provides and node.into is None:
            copies = {v: f"{{{{widgets.{n}.parsed.{v}}}}}" for v in provides}
            after = self.set(_name(node_id, "values"), copies, routed)
        parameters = [{"key": SERVICE_PARAMETER, "value": node.service}]
        parameters += [{"key": p, "value": "{{" + self.variable(v) + "}}"} for p, v in node.args.items()]
        parameters += [{"key": p, "value": self.liquid(v)} for p, v in node.values.items()]
        error = node.on_error or self.menu.defaults.on_error
        call = self.state(
            n if node.prompt is None else _name(node_id, "run"),
            "run-function",
            [self.go(after, "success"), self.go(self.entry(error) if error else None, "fail")],
            url=FUNCTIONS_URL + node.service,
            parameters=parameters,
        )
        if node.prompt is not None:
            self.speak_then(node_id, node.prompt, call)
        self.note(node_id, f"the service {node.service} is a run-function: deploy a Function for it at its url")

    def transfer(self, node_id: str, node: TransferNode) -> None:
        n = _name(node_id)
        dial = n if node.prompt is None else _name(node_id, "dial")
        statuses = dict(node.outcomes)
        after: str | None = None
        if statuses and node.to.lstrip("+").isdigit():
            after = self.state(
                _name(node_id, "status"),
                "split-based-on",
                [self.go(None, "noMatch")] + [self.match(self.entry(t), "equal_to", s) for s, t in statuses.items()],
                input=f"{{{{widgets.{dial}.DialCallStatus}}}}",
            )
        if node.to.lstrip("+").isdigit():
            self.state(
                dial,
                "connect-call-to",
                [self.go(after, "callCompleted"), {"event": "hangup"}],
                noun="number",
                to=node.to,
                caller_id="{{contact.channel.address}}",
                timeout=node.timeout,
            )
        else:
            # A queue says only whether the call was taken: its failures go where the dial's would.
            self.note(node_id, f"the destination {node.to!r} is an enqueue-call to the queue {node.to!r}")
            failed = next((statuses[s] for s in ("failed", "busy", "no-answer") if s in statuses), None)
            done = statuses.get("completed")
            self.state(
                dial,
                "enqueue-call",
                [
                    self.go(self.entry(done) if done else None, "callComplete"),
                    self.go(self.entry(failed) if failed else None, "failedToEnqueue"),
                    self.go(self.entry(failed) if failed else None, "callFailure"),
                ],
                queue_name=node.to,
            )
        if node.prompt is not None:
            self.speak_then(node_id, node.prompt, dial)

    def voicemail(self, node_id: str, node: VoicemailNode) -> None:
        n = _name(node_id)
        record = n if node.prompt is None else _name(node_id, "record")
        transitions = [self.go(self.entry(node.next), "recordingComplete"), {"event": "hangup"}]
        transitions.append(self.go(self.entry(node.on_no_audio or node.next), "noAudio"))
        self.state(
            record,
            "record-voicemail",
            transitions,
            max_length=node.max_seconds,
            finish_on_key=node.finish_key,
            timeout=node.silence,
            play_beep="true" if node.beep else "false",
            transcribe=False,
        )
        if node.prompt is not None:
            self.speak_then(node_id, node.prompt, record)

    # -- questions: menus, languages and entries ---------------------------------------------

    def question(self, node_id: str, node: MenuNode | LanguageNode | InputNode) -> None:
        dialog = self.menu.dialog(node)
        ni, inv, heard = f"{node_id}_silences", f"{node_id}_mistakes", f"{node_id}_heard"
        pick = _name(node_id, "pick")
        self.set(_name(node_id, "in"), {ni: "", inv: ""}, pick)
        short = node.short_prompt if node.short_prompt is not None else None
        kinds = ["long", "short"] if short is not None else ["long"]
        gathers: dict[tuple[str, str], str] = {}
        keys = f"{node_id}_keys"
        check = _name(node_id, "keys")
        for language in self.menu.languages:
            for kind in kinds:
                first = language == self.menu.default_language and kind == "long"
                widget = _name(node_id) if first else _name(node_id, language, kind)
                prompt = node.prompt if kind == "long" else short
                text, audio = self.words(prompt, language, node_id)
                if audio:
                    self.note(node_id, "a question's recordings are left out: a gather plays one prompt")
                got = self.set(_name(widget, "got"), {keys: f"{{{{widgets.{widget}.Digits}}}}", heard: "1"}, check)
                props: dict[str, Any] = {
                    "say": text,
                    "language": language,
                    "loop": 1,
                    "timeout": round(dialog.timeout),
                    "stop_gather": True,
                    "gather_language": language,
                    "speech_timeout": "auto",
                    "profanity_filter": "true",
                }
                if isinstance(node, InputNode):
                    props["number_of_digits"] = node.max_length
                    props["finish_on_key"] = node.finish_key
                else:
                    props["number_of_digits"] = 1
                    props["finish_on_key"] = ""
                silence = _name(node_id, "silence")
                self.state(
                    widget,
                    "gather-input-on-call",
                    [self.go(got, "keypress"), {"event": "speech"}, self.go(silence, "timeout")],
                    **props,
                )
                gathers[(language, kind)] = widget
        # Which gather: the caller's language, and the long prompt until it has been heard.
        picks = []
        for (language, kind), widget in gathers.items():
            value = f"{language}/" if kind == "long" and len(kinds) > 1 else language
            picks.append(self.match(widget, "equal_to" if value.endswith("/") else "starts_with", value))
        default = gathers[(self.menu.default_language, "long")]
        self.state(
            pick,
            "split-based-on",
            [self.go(default, "noMatch"), *picks],
            input="{{flow.variables.language}}/{{flow.variables." + heard + "}}",
        )
        # The long prompt again (repeat): forget it was heard.
        self.set(_name(node_id, "repeat"), {heard: ""}, pick)
        again = self.say(_name(node_id, "retry_said"), dialog.invalid_prompt, node_id, pick)
        silent_again = self.say(_name(node_id, "silence_said"), dialog.no_input_prompt, node_id, pick)
        if dialog.on_no_input is not None:
            self.set(_name(node_id, "silence"), {heard: "1"}, self.entry(dialog.on_no_input))
        else:
            counted = self.state(
                _name(node_id, "silence_count"),
                "split-based-on",
                [
                    self.go(silent_again, "noMatch"),
                    self.match(self.entry(dialog.on_exhausted), "equal_to", "x" * dialog.max_no_input),
                ],
                input="{{flow.variables." + ni + "}}",
            )
            self.set(_name(node_id, "silence"), {ni: "{{flow.variables." + ni + "}}x"}, counted)
        counted = self.state(
            _name(node_id, "mistake_count"),
            "split-based-on",
            [
                self.go(again, "noMatch"),
                self.match(self.entry(dialog.on_exhausted), "equal_to", "x" * dialog.max_invalid),
            ],
            input="{{flow.variables." + inv + "}}",
        )
        mistake = self.set(_name(node_id, "mistake"), {inv: "{{flow.variables." + inv + "}}x"}, counted)
        if isinstance(node, InputNode):
            self.entry_checks(node_id, node, check, keys, mistake)
        else:
            self.choices(node_id, node, check, keys, mistake)

    def choices(self, node_id: str, node: MenuNode | LanguageNode, check: str, keys: str, mistake: str) -> None:
        routes: list[dict[str, Any]] = []
        goes: str | None
        for key, target in node.options.items():
            if isinstance(node, LanguageNode):
                chosen = {"language": target, **{f"{n}_heard": "" for n in self._questions()}}
                goes = self.set(_name(node_id, "chose", target), chosen, self.entry(node.next))
            else:
                goes = self.entry(target)
            routes.append(self.match(goes, "equal_to", key))
        for key, gk in self.menu.global_keys(node).items():
            if gk.action == "repeat":
                goes = _name(node_id, "repeat")
            elif gk.action == "goto" and gk.target is not None:
                goes = self.entry(gk.target)
            else:
                parent = self.parents.get(node_id)
                goes = self.entry(parent) if parent else _name(node_id, "repeat")
            routes.append(self.match(goes, "equal_to", key))
        self.state(
            check, "split-based-on", [self.go(mistake, "noMatch"), *routes], input="{{flow.variables." + keys + "}}"
        )

    def _questions(self) -> list[str]:
        return [n for n, node in self.menu.nodes.items() if isinstance(node, (MenuNode, LanguageNode, InputNode))]

    def entry_checks(self, node_id: str, node: InputNode, check: str, keys: str, mistake: str) -> None:
        rule = node.validate_.rule
        allowed = {"digits": "0-9", "new_password": "0-9", "cn_ric": "0-9*"}.get(rule, "0-9*#")
        pattern = f"^[{allowed}]{{{node.min_length},{node.max_length}}}$"
        value = "{{flow.variables." + keys + "}}"
        checked: str | None = None
        if rule in ("cn_ric", "new_password"):
            # No Studio widget knows the ID's check digit or the password rule: a Function does, through input.check.
            checked = _name(node_id, "rule")
            value = f"{{{{widgets.{checked}.parsed.value}}}}"
            self.note(node_id, f"the {rule} rule has no Studio widget: it is the run-function input.check")
        store = self.set(_name(node_id, "store"), {self.key(node.var): value}, self.after_entry(node_id, node))
        if checked is not None:
            verdict = self.state(
                _name(node_id, "rule_outcome"),
                "split-based-on",
                [self.go(mistake, "noMatch"), self.match(store, "equal_to", "valid")],
                input=f"{{{{widgets.{checked}.parsed.outcome}}}}",
            )
            parameters = [
                {"key": SERVICE_PARAMETER, "value": "input.check"},
                {"key": "rule", "value": rule},
                {"key": "value", "value": "{{flow.variables." + keys + "}}"},
            ]
            if isinstance(node.validate_, NewPasswordRule) and node.validate_.id_var:
                parameters.append({"key": "id_number", "value": "{{" + self.variable(node.validate_.id_var) + "}}"})
            store = self.state(
                checked,
                "run-function",
                [self.go(verdict, "success"), self.go(mistake, "fail")],
                url=FUNCTIONS_URL + "input.check",
                parameters=parameters,
            )
        conditions = [
            {"friendly_name": f"If value regex {pattern}", "arguments": [], "type": "regex", "value": pattern}
        ]
        if node.match is not None:
            conditions.append(
                {
                    "friendly_name": "If value equal_to",
                    "arguments": [],
                    "type": "equal_to",
                    "value": "{{" + self.variable(node.match) + "}}",
                }
            )
        missed = mistake
        if node.match is not None and node.on_mismatch is not None:
            missed = (
                self.say(
                    _name(node_id, "mismatch"),
                    self.menu.dialog(node).invalid_prompt,
                    node_id,
                    self.entry(node.on_mismatch),
                )
                or mistake
            )
        self.state(
            check,
            "split-based-on",
            [self.go(missed, "noMatch"), {**self.go(store, "match"), "conditions": conditions}],
            input="{{flow.variables." + keys + "}}",
        )
        if node.masked:
            self.note(node_id, "a masked entry is kept in a flow variable in Studio: Studio's logs show it")

    def after_entry(self, node_id: str, node: InputNode) -> str | None:
        if node.confirm is None:
            return self.entry(node.next)
        self.note(node_id, "the read-back is a gather of one key: 1 confirms, any other key enters again")
        texts = {}
        for language in self.menu.languages:
            text, _ = self.words(node.confirm, language, node_id)
            widget = _name(node_id, "confirm", language)
            route = self.state(
                _name(widget, "keys"),
                "split-based-on",
                [
                    self.go(_name(node_id, "repeat"), "noMatch"),
                    self.match(self.entry(node.next), "equal_to", "1", f"{{{{widgets.{widget}.Digits}}}}"),
                ],
                input=f"{{{{widgets.{widget}.Digits}}}}",
            )
            texts[language] = self.state(
                widget,
                "gather-input-on-call",
                [self.go(route, "keypress"), {"event": "speech"}, self.go(_name(node_id, "repeat"), "timeout")],
                say=text,
                language=language,
                number_of_digits=1,
                finish_on_key="",
                timeout=round(self.menu.dialog(node).timeout),
                stop_gather=True,
            )
        if len(texts) == 1:
            return next(iter(texts.values()))
        return self.by_language(_name(node_id, "confirm"), dict(texts))


def export_menu(menu: Menu) -> Exported:
    """The Studio flow definition for ``menu``, and what it does differently."""
    return _Exporter(menu).run()
