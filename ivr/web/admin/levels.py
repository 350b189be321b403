"""The overview's menu diagram, laid out by menu level, top-down, to be read at the size it is shown.

A level is a key press: the main menu is level 0, what its keys lead to is
level 1, what the keys of those menus lead to is level 2.  Each key's
destination is a *box*, and the nodes a call passes through from there
without pressing a menu key (an ID entry, its password, the service, each
outcome's message) are the box's steps, in the order a call meets them.  So
a deep flow makes a taller box, never a wider page.

Every step carries its details (what it says in the chosen language, where
each key, outcome or entry leads), shown when it is clicked; global keys and
where failed attempts go are said once, in the legend.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ivr.authoring.graph import prompt_words
from ivr.menu.checks import edges
from ivr.menu.model import LanguageNode, Menu

__all__ = ["Box", "Exit", "Layout", "Step", "lay_out"]


@dataclass(frozen=True)
class Exit:
    """A way on from a step: ``label`` (a key, an outcome, "next") to the node ``target``."""

    label: str
    target: str
    target_title: str
    kind: str
    """``key`` (a menu option: a new level), ``flow`` (the same box), ``back`` (a node met before)."""


@dataclass
class Step:
    """A node, as the diagram shows it."""

    id: str
    title: str
    kind: str
    words: str
    exits: list[Exit] = field(default_factory=list)
    visits: int | None = None


@dataclass
class Box:
    """Where one key leads, with the steps a call goes through from there without another key."""

    id: int
    level: int
    key: str
    """The key that leads here (empty for the main menu)."""
    parent: int | None
    """The box whose menu offers that key."""
    via: str = ""
    """The title of the menu that offers it."""
    steps: list[Step] = field(default_factory=list)


@dataclass
class Layout:
    """The boxes of each level, top-down, and the legend."""

    levels: list[list[Box]]
    legend: list[tuple[str, str, str]]
    """The keys every menu shares: (key, action, the title of where it goes for a ``goto``)."""

    @property
    def boxes(self) -> Iterable[Box]:
        """Every box, level by level."""
        return (box for level in self.levels for box in level)


def _label(loc: tuple[object, ...]) -> tuple[str, str]:
    """What an edge's location in the menu says about it: (label, kind)."""
    parts = [str(p) for p in loc]
    if len(parts) > 3 and parts[2] == "options":
        return parts[3], "key"
    if "global_keys" in parts or "on_exhausted" in parts or "on_no_input" in parts:
        return parts[-1] if "global_keys" not in parts else parts[parts.index("global_keys") + 1], "global"
    if len(parts) > 3 and parts[2] == "outcomes":
        return parts[3], "flow"
    if len(parts) > 3 and parts[2] == "cases":
        return f"case {int(parts[3]) + 1}", "flow"
    return parts[-1], "flow"


def lay_out(menu: Menu, language: str, visits: Mapping[str, int] | None = None) -> Layout:
    """The diagram of ``menu`` with its words in ``language`` (``visits``: calls that reached each node)."""
    return _Builder(menu, language, visits).build()


class _Builder:
    def __init__(self, menu: Menu, language: str, visits: Mapping[str, int] | None) -> None:
        self.menu, self.language, self.visits = menu, language, visits
        self.boxes: list[Box] = []
        self.home: dict[str, int] = {}
        self.steps: dict[str, Step] = {}
        self.queue: deque[str] = deque()
        self.global_targets: dict[str, str] = {}

    def build(self) -> Layout:
        self.place(self.menu.start, self.new_box(0, "", None))
        self.walk()
        for key, target in self.global_targets.items():
            if target not in self.home:  # reached only by a key that works in every menu
                self.place(target, self.new_box(1, key, 0, self.steps[self.menu.start].title))
                self.walk()
        for node_id in self.menu.nodes:
            if node_id not in self.home:  # unreachable: ivr validate warns of it; the diagram still shows it
                self.place(node_id, self.new_box(1, "", None))
                self.walk()
        levels: list[list[Box]] = []
        for box in self.boxes:
            while len(levels) <= box.level:
                levels.append([])
            levels[box.level].append(box)
        return Layout(levels, self.legend())

    def new_box(self, level: int, key: str, parent: int | None, via: str = "") -> Box:
        box = Box(len(self.boxes), level, key, parent, via)
        self.boxes.append(box)
        return box

    def place(self, node_id: str, box: Box) -> None:
        node = self.menu.nodes[node_id]
        step = Step(
            node_id,
            self.menu.node_title(node_id, self.language),
            node.kind,
            prompt_words(self.menu, getattr(node, "prompt", None), self.language),
            visits=None if self.visits is None else self.visits.get(node_id, 0),
        )
        self.steps[node_id] = step
        self.home[node_id] = box.id
        box.steps.append(step)
        self.queue.append(node_id)

    def walk(self) -> None:
        """Place everything reachable from the queued nodes: a key opens a box a level down, the rest joins its box."""
        menu = self.menu
        while self.queue:
            node_id = self.queue.popleft()
            node = menu.nodes[node_id]
            box = self.boxes[self.home[node_id]]
            step = self.steps[node_id]
            if isinstance(node, LanguageNode):
                # The keys of a language choice are languages; the call then goes on to its next node.
                step.exits += [Exit(k, node.next, lang, "choice") for k, lang in node.options.items()]
            for loc, target in edges(menu, node_id, node):
                if target not in menu.nodes:
                    continue
                label, kind = _label(loc)
                if kind == "global":
                    if "global_keys" in [str(p) for p in loc]:
                        self.global_targets.setdefault(label, target)
                    continue
                if target in self.home:
                    kind = "back" if self.home[target] != box.id or kind == "key" else "flow"
                elif kind == "key":
                    self.place(target, self.new_box(box.level + 1, label, box.id, step.title))
                else:
                    self.place(target, box)
                if not (isinstance(node, LanguageNode) and label == "next"):
                    step.exits.append(Exit(label, target, menu.node_title(target, self.language), kind))

    def legend(self) -> list[tuple[str, str, str]]:
        """What every menu shares, said once: its global keys."""
        return [
            (key, gk.action, self.menu.node_title(gk.target, self.language) if gk.target else "")
            for key, gk in self.menu.defaults.global_keys.items()
            if gk is not None
        ]
