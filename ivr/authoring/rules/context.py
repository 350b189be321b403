"""What every rule works from: the menu, what its keys do, and small formatting helpers."""

from __future__ import annotations

from collections.abc import Iterable

from ivr.authoring.durations import PromptTimer
from ivr.authoring.findings import Finding, LintReport
from ivr.menu.checks import edges
from ivr.menu.loader import json_path
from ivr.menu.model import (
    TEMPLATE_FIELD,
    GlobalKey,
    InputNode,
    LanguageNode,
    Menu,
    MenuNode,
    MessageNode,
    Prompt,
    Text,
)

__all__ = ["Choice", "LintContext", "fmt", "p", "short"]

Choice = MenuNode | LanguageNode

_GLOBAL_JOB = {"repeat": "repeats the prompt", "back": "goes back to the previous menu"}


def p(*parts: str) -> str:
    """The JSON path made of ``parts``."""
    return json_path(parts)


def short(text: str, most: int = 50) -> str:
    """``text`` on one line, cut to at most ``most`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "…"


def fmt(seconds: float) -> str:
    """Seconds to one decimal place."""
    return f"{seconds:.1f}"


class LintContext:
    """One lint run over one menu: the menu, the prompt timer, the report being filled, and key semantics."""

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
