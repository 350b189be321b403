"""Usability rules for a menu, with numbers: what ``ivr lint`` checks.

``ivr validate`` asks whether a menu is *correct* (it loads, every target
exists, every call can end).  These rules ask whether it is *pleasant and
usable* on the phone, following the practice in ``docs`` and the design
notes: few options, shallow trees, the agent one key away, short prompts,
"say the service, then the key", and prompts that match what the menu does.

Each rule has a stable id and a fixed severity (see :data:`RULES`).  Every
finding carries the JSON path of the place to change and, where the rule is
a number, what was measured and the limit.

Definitions the rules rely on:

- A *menu* is a ``menu`` or ``language`` node: a node where the caller chooses
  by key.  The *main menu* is the ``start`` node.
- A global key (``defaults.global_keys``) used as an option *does its global
  job* when the option does what the key does everywhere else: a ``goto`` key
  going to the same node, ``*`` (repeat) going back into this node or to a
  message that leads straight back to it, ``#`` (back) going to a menu the
  caller can have come from.  Such options are not counted as options, nor
  need the prompt to announce them.
- The *greeting* is what the start node says on a caller's first arrival and
  never again: its long ``prompt`` minus its ``short_prompt`` when the prompt
  ends with the short prompt (``["@welcome", "@main_options"]`` with
  ``short_prompt: "@main_options"``: the greeting is ``@welcome``), otherwise
  the whole long prompt.  The rest of the start node's prompt is an
  instruction like any other.
- *Services* are ``service``, ``transfer`` and ``voicemail`` nodes and
  ``input`` nodes (the start of a flow that collects the caller's details).
  Their *depth* is the number of menu key presses on the shortest route from
  ``start`` (language choice counts as a key press; going on after a message,
  an entry or a service's outcome does not; failing three times does not).
- Durations are measured from rendered audio when ``ivr render`` has made it
  (see :mod:`ivr.authoring.durations`) and estimated otherwise; variables are
  given sample values (an ID number of 18 digits, a 12-digit reference, a
  date, a two-digit number).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivr.authoring.durations import PromptTimer
from ivr.authoring.keys import clauses, key_mentions
from ivr.engine.speech import render
from ivr.menu.checks import edges
from ivr.menu.loader import json_path
from ivr.menu.model import (
    TEMPLATE_FIELD,
    GlobalKey,
    HangupNode,
    InputNode,
    LanguageNode,
    Menu,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    ServiceNode,
    Text,
    TransferNode,
    VoicemailNode,
)

__all__ = [
    "LIMITS",
    "RULES",
    "Finding",
    "LintReport",
    "Rule",
    "lint_menu",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """A lint rule: its stable id, its severity and what it asks for."""

    id: str
    severity: Severity
    summary: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("too-many-options", "warning", "at most 5 options in each menu below the main menu"),
        Rule("too-deep", "warning", "every service within 3 menu choices of the start"),
        Rule("no-agent-key", "error", "from every menu, one key reaches the agent"),
        Rule("no-retry-path", "error", "every menu and input has a no-input and an invalid-input prompt"),
        Rule("exhausted-hangup", "warning", "after the last failed attempt the caller goes to a person, not a hangup"),
        Rule("greeting-too-long", "warning", "the greeting takes at most 8 s to say"),
        Rule("prompt-too-long", "warning", "an instruction prompt takes at most 20 s to say"),
        Rule(
            "key-first", "warning", 'say the service, then the key: "To activate, press 1", not "Press 1 to activate"'
        ),
        Rule("global-key-inconsistent", "warning", "global keys do the same thing in every menu"),
        Rule("unhandled-key", "error", "every key a menu's prompt offers is handled by that menu"),
        Rule("option-not-announced", "error", "every option of a menu is announced in its prompts, in every language"),
    )
}
"""Every rule, by id."""

LIMITS: dict[str, float] = {
    "options": 5,
    "depth": 3,
    "greeting_seconds": 8.0,
    "prompt_seconds": 20.0,
}
"""The numbers the rules hold menus to."""

_GLOBAL_JOB = {"repeat": "repeats the prompt", "back": "goes back to the previous menu"}


@dataclass(frozen=True)
class Finding:
    """One place where a menu breaks a lint rule."""

    rule: str
    path: str
    message: str
    measured: float | None = None
    limit: float | None = None
    language: str | None = None
    source: Literal["measured", "estimated"] | None = None

    @property
    def severity(self) -> Severity:
        """``error`` or ``warning``, fixed per rule."""
        return RULES[self.rule].severity

    def line(self, file: str) -> str:
        """``FILE: SEVERITY: RULE: PATH: message``."""
        return f"{file}: {self.severity}: {self.rule}: {self.path}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON object."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "measured": self.measured,
            "limit": self.limit,
            "language": self.language,
            "source": self.source,
        }


@dataclass
class LintReport:
    """The findings for one menu, and how prompt durations were obtained."""

    findings: list[Finding] = field(default_factory=list)
    measured_prompts: int = 0
    estimated_prompts: int = 0

    @property
    def errors(self) -> int:
        """How many findings are errors."""
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        """How many findings are warnings."""
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def durations(self) -> str:
        """``measured``, ``estimated``, or ``measured N, estimated M``: where the prompt durations came from."""
        if self.measured_prompts and self.estimated_prompts:
            return f"measured {self.measured_prompts}, estimated {self.estimated_prompts}"
        return "measured" if self.measured_prompts else "estimated"


def _p(*parts: str) -> str:
    return json_path(parts)


def _short(text: str, most: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "…"


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f}"


Choice = MenuNode | LanguageNode


class _Linter:
    def __init__(self, menu: Menu, timer: PromptTimer) -> None:
        self.menu = menu
        self.timer = timer
        self.report = LintReport()
        self.menus: dict[str, Choice] = {
            n: node for n, node in menu.nodes.items() if isinstance(node, (MenuNode, LanguageNode))
        }
        self.samples = _sample_values(menu)
        self._graph: dict[str, list[str]] = {}
        for node_id, node in menu.nodes.items():
            self._graph[node_id] = [t for _, t in edges(menu, node_id, node) if t in menu.nodes]
        self._parents: dict[str, set[str]] = {}
        self._reverse: dict[str, list[str]] = {}

    def add(self, finding: Finding) -> None:
        self.report.findings.append(finding)

    # -- what keys do -----------------------------------------------------------

    def default_key(self, key: str) -> GlobalKey | None:
        return self.menu.defaults.global_keys.get(key)

    def describe(self, gk: GlobalKey) -> str:
        if gk.action == "goto":
            return f"goes to {gk.target}"
        return _GLOBAL_JOB[gk.action]

    def parents(self, node_id: str) -> set[str]:
        """The menus a caller can have come from to reach ``node_id`` (passing no other menu)."""
        if not self._reverse:
            for src, targets in self._graph.items():
                for t in targets:
                    self._reverse.setdefault(t, []).append(src)
        if node_id not in self._parents:
            reverse = self._reverse
            found: set[str] = set()
            seen = {node_id}
            todo = [node_id]
            while todo:
                for src in reverse.get(todo.pop(), ()):
                    if src in seen:
                        continue
                    seen.add(src)
                    if src in self.menus:
                        found.add(src)
                    else:
                        todo.append(src)
            self._parents[node_id] = found
        return self._parents[node_id]

    def leads_back(self, target: str, node_id: str) -> bool:
        """Whether ``target`` is ``node_id`` or messages that lead straight back to it."""
        seen: set[str] = set()
        here = target
        while here not in seen:
            if here == node_id:
                return True
            seen.add(here)
            node = self.menu.nodes.get(here)
            if not isinstance(node, MessageNode):
                return False
            here = node.next
        return False

    def does_global_job(self, node_id: str, key: str, target: str) -> bool:
        """Whether the option ``key`` -> ``target`` of ``node_id`` does what the global ``key`` does."""
        gk = self.default_key(key)
        if gk is None:
            return False
        if gk.action == "goto":
            return target == gk.target
        if gk.action == "repeat":
            return self.leads_back(target, node_id)
        return target in self.parents(node_id)

    def real_options(self, node_id: str, node: Choice) -> list[str]:
        """The option keys of a menu, without global keys that do their global job there."""
        if isinstance(node, LanguageNode):
            return list(node.options)
        return [k for k, t in node.options.items() if not self.does_global_job(node_id, k, t)]

    # -- the rules ------------------------------------------------------------

    def too_many_options(self) -> None:
        limit = int(LIMITS["options"])
        for node_id, node in self.menus.items():
            if node_id == self.menu.start:
                continue
            keys = self.real_options(node_id, node)
            if len(keys) > limit:
                self.add(
                    Finding(
                        "too-many-options",
                        _p("nodes", node_id, "options"),
                        f"{len(keys)} options ({', '.join(keys)}); a menu below the main menu should offer at most "
                        f"{limit}: split it or move the rarely used ones a level down",
                        measured=len(keys),
                        limit=limit,
                    )
                )

    def _choices(self, node_id: str, node: Node) -> Iterator[tuple[str, int, str]]:
        """(target, key presses, how) for each way on from ``node``; failing attempts do not count."""
        if isinstance(node, (MenuNode, LanguageNode)):
            if isinstance(node, MenuNode):
                for key, target in node.options.items():
                    yield target, 1, key
            else:
                yield node.next, 1, "/".join(node.options)
            for key, gk in self.menu.global_keys(node).items():
                if gk.action == "goto" and gk.target is not None:
                    yield gk.target, 1, key
        elif isinstance(node, (InputNode, MessageNode, VoicemailNode)):
            yield node.next, 0, ""
        elif isinstance(node, ServiceNode):
            ways: list[str | None] = [
                *node.outcomes.values(),
                node.default,
                node.on_error or self.menu.defaults.on_error,
            ]
            for way in ways:
                if way is not None:
                    yield way, 0, ""
        elif isinstance(node, TransferNode):
            for target in node.outcomes.values():
                yield target, 0, ""

    def too_deep(self) -> None:
        menu = self.menu
        limit = int(LIMITS["depth"])
        best: dict[str, int] = {menu.start: 0}
        came: dict[str, tuple[str, str]] = {}
        queue: list[tuple[int, int, str]] = [(0, 0, menu.start)]
        order = 0
        while queue:
            cost, _, here = heapq.heappop(queue)
            if cost > best.get(here, cost):
                continue
            node = menu.nodes.get(here)
            if node is None:
                continue
            for target, step, key in self._choices(here, node):
                if target in menu.nodes and cost + step < best.get(target, cost + step + 1):
                    best[target] = cost + step
                    came[target] = (here, key if step else "")
                    order += 1
                    heapq.heappush(queue, (cost + step, order, target))
        service_kinds = (ServiceNode, TransferNode, VoicemailNode, InputNode)
        for node_id, node in menu.nodes.items():
            depth = best.get(node_id)
            if depth is None or depth <= limit or not isinstance(node, service_kinds):
                continue
            # Report where a flow starts, not each of its later steps.
            route: list[str] = []
            here = node_id
            entry = True
            while here in came:
                prev, key = came[here]
                if key:
                    route.append(f"{prev} {key}")
                elif here != node_id and best[here] == depth and isinstance(menu.nodes[here], service_kinds):
                    entry = False
                here = prev
            if not entry:
                continue
            path = " → ".join([*reversed(route), node_id])
            self.add(
                Finding(
                    "too-deep",
                    _p("nodes", node_id),
                    f"takes {depth} menu choices to reach at the fewest ({path}); any service should be within {limit}",
                    measured=depth,
                    limit=limit,
                )
            )

    def agent_nodes(self) -> set[str]:
        d = self.menu.defaults
        found = {d.on_exhausted}
        zero = d.global_keys.get("0")
        if zero is not None and zero.action == "goto" and zero.target is not None:
            found.add(zero.target)
        found |= {n for n, node in self.menu.nodes.items() if isinstance(node, TransferNode)}
        return found

    def no_agent_key(self) -> None:
        agents = self.agent_nodes()
        names = ", ".join(sorted(agents))
        for node_id, node in self.menus.items():
            targets: dict[str, str] = {}
            if isinstance(node, MenuNode):
                targets.update(node.options)
            for key, gk in self.menu.global_keys(node).items():
                if gk.action == "goto" and gk.target is not None:
                    targets.setdefault(key, gk.target)
            if any(t in agents for t in targets.values()):
                continue
            why = ""
            off = [k for k, v in (node.global_keys or {}).items() if v is None and self.default_key(k) is not None]
            if off:
                why = f" (the global key {', '.join(off)} is switched off here)"
            self.add(
                Finding(
                    "no-agent-key",
                    _p("nodes", node_id),
                    f"no key here reaches the agent ({names}){why}; a caller must always be one key from a person",
                )
            )

    def no_retry_path(self) -> None:
        d = self.menu.defaults
        waiting = {
            n: node for n, node in self.menu.nodes.items() if isinstance(node, (MenuNode, LanguageNode, InputNode))
        }
        for name, what in (("no_input_prompt", "says nothing"), ("invalid_prompt", "presses a wrong key")):
            if getattr(d, name) is not None:
                continue
            lacking = [n for n, node in waiting.items() if getattr(node, name) is None]
            if lacking:
                self.add(
                    Finding(
                        "no-retry-path",
                        _p("defaults", name),
                        f"no default {name}, and {len(lacking)} node(s) set none of their own ({', '.join(lacking[:8])}"
                        f"{', …' if len(lacking) > 8 else ''}): a caller who {what} hears the prompt again with no "
                        "word of why",
                        measured=len(lacking),
                    )
                )
        reported: set[str] = set()
        for node_id, node in waiting.items():
            target = self.menu.dialog(node).on_exhausted
            where = _p("nodes", node_id, "on_exhausted") if node.on_exhausted else _p("defaults", "on_exhausted")
            if isinstance(self.menu.nodes.get(target), HangupNode) and where not in reported:
                reported.add(where)
                self.add(
                    Finding(
                        "exhausted-hangup",
                        where,
                        f"after the last failed attempt the call goes to {target!r}, which hangs up; send the caller "
                        "to the agent instead",
                    )
                )

    def _say_seconds(self, prompt: Prompt, language: str) -> tuple[float, Literal["measured", "estimated"]]:
        say = render(self.menu, prompt, language, self.samples)
        d = self.timer.duration(say)
        if d.source == "measured":
            self.report.measured_prompts += 1
        else:
            self.report.estimated_prompts += 1
        return d.seconds, d.source

    def _prompt_sites(self) -> Iterator[tuple[str, Prompt]]:
        d = self.menu.defaults
        for name in ("no_input_prompt", "invalid_prompt"):
            value = getattr(d, name)
            if value is not None:
                yield _p("defaults", name), value
        for node_id, node in self.menu.nodes.items():
            for name in ("prompt", "short_prompt", "no_input_prompt", "invalid_prompt", "confirm"):
                value = getattr(node, name, None)
                if value is not None:
                    yield _p("nodes", node_id, name), value

    def prompt_lengths(self) -> None:
        menu = self.menu
        start = menu.nodes.get(menu.start)
        greeting_path = _p("nodes", menu.start, "prompt")
        greeting: Prompt | None = None
        rest: Prompt | None = None
        long: Prompt | None = getattr(start, "prompt", None)
        if long is not None:
            short: Prompt | None = getattr(start, "short_prompt", None)
            if short and len(short) < len(long) and long[-len(short) :] == short:
                greeting, rest = long[: -len(short)], short
            else:
                greeting = long
        g_limit = LIMITS["greeting_seconds"]
        p_limit = LIMITS["prompt_seconds"]
        for language in menu.languages:
            if greeting is not None:
                seconds, source = self._say_seconds(greeting, language)
                if seconds > g_limit:
                    what = "the greeting (before the short prompt)" if rest is not None else "the greeting"
                    self.add(
                        Finding(
                            "greeting-too-long",
                            greeting_path,
                            f"{language}: {what} lasts {_fmt(seconds)} s ({source}); a greeting should take at most "
                            f"{g_limit:g} s",
                            measured=seconds,
                            limit=g_limit,
                            language=language,
                            source=source,
                        )
                    )
            for path, prompt in self._prompt_sites():
                if path == greeting_path:
                    continue  # the greeting, checked above; the rest is the short prompt, checked on its own
                seconds, source = self._say_seconds(prompt, language)
                if seconds > p_limit:
                    self.add(
                        Finding(
                            "prompt-too-long",
                            path,
                            f"{language}: lasts {_fmt(seconds)} s ({source}); "
                            f"an instruction prompt should take at most {p_limit:g} s",
                            measured=seconds,
                            limit=p_limit,
                            language=language,
                            source=source,
                        )
                    )

    def _texts(self, node_id: str, node: Choice, field_name: str) -> Iterator[tuple[str, str, str]]:
        """(path of the text, language, words) for each text of a menu's prompt field."""
        prompt: Prompt | None = getattr(node, field_name)
        if prompt is None:
            return
        for i, part in enumerate(prompt):
            if isinstance(part, str):
                text = self.menu.prompts.get(part[1:])
                path = _p("prompts", part[1:])
            else:
                text = part
                path = _p("nodes", node_id, field_name) + (f"[{i}]" if len(prompt) > 1 else "")
            if not isinstance(text, Text):
                continue
            for language in self.menu.languages:
                words = text.in_language(language)
                if words is not None:
                    yield path, language, words

    def key_first(self) -> None:
        seen: set[tuple[str, str, str]] = set()
        for node_id, node in self.menus.items():
            for field_name in ("prompt", "short_prompt"):
                for path, language, words in self._texts(node_id, node, field_name):
                    for clause in _key_first_clauses(words):
                        if (path, language, clause) in seen:
                            continue
                        seen.add((path, language, clause))
                        self.add(
                            Finding(
                                "key-first",
                                path,
                                f"{language}: {_short(clause)!r} gives the key before what it does; say the service, "
                                'then the key ("To activate, press 1" / "激活社保卡，请按1")',
                                language=language,
                            )
                        )

    def global_keys_consistent(self) -> None:
        for node_id, node in self.menus.items():
            own = node.global_keys or {}
            for key, value in own.items():
                default = self.default_key(key)
                if default is None or key in node.options:
                    continue
                if value is None:
                    message = f"the global key {key} is switched off here; everywhere else it {self.describe(default)}"
                elif value != default:
                    message = f"here the global key {key} {self.describe(value)}; everywhere else it " + self.describe(
                        default
                    )
                else:
                    continue
                self.add(Finding("global-key-inconsistent", _p("nodes", node_id, "global_keys", key), message))
            for key, target in node.options.items():
                default = self.default_key(key)
                if default is None:
                    continue
                if isinstance(node, MenuNode) and self.does_global_job(node_id, key, target):
                    continue
                does = f"chooses {target}" if isinstance(node, LanguageNode) else f"goes to {target}"
                self.add(
                    Finding(
                        "global-key-inconsistent",
                        _p("nodes", node_id, "options", key),
                        f"here {key} {does}; everywhere else it {self.describe(default)}",
                    )
                )

    def prompt_keys(self) -> None:
        for node_id, node in self.menus.items():
            handled = set(node.options) | set(self.menu.global_keys(node))
            options = self.real_options(node_id, node)
            for field_name in ("prompt", "short_prompt"):
                if getattr(node, field_name) is None:
                    continue
                offered: dict[str, dict[str, tuple[str, str]]] = {lang: {} for lang in self.menu.languages}
                for path, language, words in self._texts(node_id, node, field_name):
                    for m in key_mentions(words):
                        offered[language].setdefault(m.key, (path, m.phrase))
                field_path = _p("nodes", node_id, field_name)
                for language, keys in offered.items():
                    for key, (path, phrase) in keys.items():
                        if key not in handled:
                            where = "" if path.startswith(field_path) else f" (in {path})"
                            self.add(
                                Finding(
                                    "unhandled-key",
                                    field_path,
                                    f"{language}: the prompt offers {key} ({phrase!r}){where}, but {node_id} has no "
                                    f"option {key} and no global key {key} works here",
                                    language=language,
                                )
                            )
                    for key in options:
                        if key not in keys:
                            self.add(
                                Finding(
                                    "option-not-announced",
                                    _p("nodes", node_id, "options", key),
                                    f"{language}: the {field_name} never tells the caller to press {key} "
                                    f'(say "…, 请按{key}" / "…, press {key}")',
                                    language=language,
                                )
                            )


def _key_first_clauses(words: str) -> Iterator[str]:
    """The clauses of ``words`` that put the key before the service ("Press 1 to activate", "按1激活")."""
    parts = clauses(words)
    mentions = [list(key_mentions(c)) for c in parts]
    for i, clause in enumerate(parts):
        for m in mentions[i]:
            after = clause[m.end :].strip(" \t\"'“”")
            if any(ch.isalnum() for ch in after):
                yield clause  # "Press 1 to activate", "按1激活"
                break
            before = clause[: m.start].strip().lower()
            bare = before in ("", "请", "please", "then")
            lead = i == 0 or bool(mentions[i - 1])
            follows = i + 1 < len(parts) and not mentions[i + 1] and any(ch.isalnum() for ch in parts[i + 1])
            if bare and lead and follows:
                yield f"{clause}, {parts[i + 1]}"  # "按1，激活社保卡"
                break


def _sample_values(menu: Menu) -> dict[str, str]:
    """A believable value for every variable the menu's texts use, to render prompts for timing."""
    inputs = {node.var: node for node in menu.nodes.values() if isinstance(node, InputNode)}
    values: dict[str, str] = {}
    for text in _all_texts(menu):
        for words in text.root.values():
            for m in TEMPLATE_FIELD.finditer(words):
                name, how = m.group(1), m.group(2) or "text"
                if name is None or name in values:
                    continue
                if how == "date":
                    values[name] = "2026-12-15"
                elif how == "number":
                    values[name] = "15"
                elif name in inputs:
                    values[name] = ("864209" * 11)[: inputs[name].max_length]
                elif how == "digits":
                    values[name] = "202611220015"
                else:
                    values[name] = "12345678"
    return values


def _all_texts(menu: Menu) -> Iterable[Text]:
    yield from menu.prompts.values()
    d = menu.defaults
    prompts: list[Prompt | None] = [d.no_input_prompt, d.invalid_prompt]
    for node in menu.nodes.values():
        for name in ("prompt", "short_prompt", "no_input_prompt", "invalid_prompt", "confirm"):
            prompts.append(getattr(node, name, None))
    for prompt in prompts:
        for part in prompt or ():
            if isinstance(part, Text):
                yield part


def lint_menu(menu: Menu, audio_dir: Path | None = Path("audio"), timer: PromptTimer | None = None) -> LintReport:
    """Check ``menu`` (already loaded and valid) against every rule in :data:`RULES`.

    Prompt durations are measured from the rendered audio in ``audio_dir``
    where it exists and estimated otherwise (pass ``timer`` to share one audio
    library between menus).  Findings come in rule order, then document order.
    """
    linter = _Linter(menu, timer or PromptTimer(audio_dir))
    linter.too_many_options()
    linter.too_deep()
    linter.no_agent_key()
    linter.no_retry_path()
    linter.prompt_lengths()
    linter.key_first()
    linter.global_keys_consistent()
    linter.prompt_keys()
    report = linter.report
    report.findings = list(dict.fromkeys(report.findings))
    return report


def rule_table() -> Mapping[str, Rule]:
    """The rules, for ``ivr lint --rules``."""
    return RULES
