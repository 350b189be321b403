"""Flow coverage: which nodes, options and outcomes of a menu the simulated calls reached.

The simulator sees only TwiML.  The project's app tags every TwiML answer with
the node the call waits at (the ``X-IVR-Node`` header) and every node the call
entered during that step, in order (``X-IVR-Path: a,b,c``); the simulator
knows what the caller did before each request (keys, silence, a recording, how
a Dial ended).  That gives observed transitions: (node, what the caller did)
-> the nodes entered -> the next waiting node.

With ``X-IVR-Path`` the count is exact: every node on the path was entered, an
option counts when the step started at the node it leads to, and a service's
or transfer's outcome counts when the path goes from that node to the one
outcome leading to the next node on the path (when several exits lead there,
none is claimed).

Without it (a server that does not send it, or a replayed answer), nodes that
never wait (messages, services) are inferred from the menu: the transition's
path runs from one of the node's successors through such pass-through nodes to
the next waiting node.  When several paths fit, only what they all share counts
as covered, so the report never claims more than the calls prove.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise

from ivr.menu.model import (
    InputNode,
    LanguageNode,
    Menu,
    MenuNode,
    MessageNode,
    ServiceNode,
    TransferNode,
    VoicemailNode,
)
from ivr.phone import events as ev

__all__ = ["Coverage", "Transition", "transitions"]

_MAX_DEPTH = 12


@dataclass(frozen=True, slots=True)
class Transition:
    """The call went from ``source`` (None: the call's start) to ``target`` after ``trigger``."""

    source: str | None
    trigger: tuple[str, str]  # ("key", "1"), ("no_input", ""), ("record", ""), ("dial", "busy"), ("redirect", "")
    target: str
    path: tuple[str, ...] = ()
    """Every node entered on the way, in order (the app's X-IVR-Path); empty when unknown."""


def transitions(events: Iterable[ev.Event]) -> Iterator[Transition]:
    """The node-to-node transitions a call's timeline shows (needs X-IVR-Node or X-IVR-Path on the answers)."""
    node: str | None = None
    trigger: tuple[str, str] = ("start", "")
    for e in events:
        if isinstance(e, ev.Input):
            trigger = ("key", e.digits)
        elif isinstance(e, ev.NoInput):
            trigger = ("no_input", "")
        elif isinstance(e, ev.RecordEvent):
            trigger = ("record", "")
        elif isinstance(e, ev.DialEvent):
            trigger = ("dial", e.status)
        elif isinstance(e, ev.RedirectEvent) and trigger[0] not in ("no_input",):
            trigger = ("redirect", "")
        elif isinstance(e, ev.Request) and (e.node or e.path):
            target = e.node or e.path[-1]
            yield Transition(node, trigger, target, e.path)
            node, trigger = target, ("redirect", "")


@dataclass
class Coverage:
    """What a set of calls reached in ``menu``."""

    menu: Menu
    nodes: set[str] = field(default_factory=set)
    options: set[tuple[str, str]] = field(default_factory=set)
    outcomes: set[tuple[str, str]] = field(default_factory=set)
    no_input_at: set[str] = field(default_factory=set)

    def add_call(self, events: Iterable[ev.Event]) -> None:
        """Count one call's timeline."""
        for t in transitions(events):
            self.add(t)

    def add(self, t: Transition) -> None:
        """Count one transition: exactly along its path when the app named it, else by inference."""
        self.nodes.add(t.target)
        node = self.menu.nodes.get(t.source) if t.source else None
        first = t.path[0] if t.path else None
        if t.source is not None and node is not None:
            self.nodes.add(t.source)
            kind, value = t.trigger
            if kind == "key" and isinstance(node, MenuNode | LanguageNode) and value in node.options:
                dest = node.options[value] if isinstance(node, MenuNode) else node.next
                if first is None or first == dest:
                    self.options.add((t.source, value))
            if kind == "no_input":
                self.no_input_at.add(t.source)
            dialled = kind == "dial" and isinstance(node, TransferNode) and value in node.outcomes
            if dialled and (first is None or first == self._exits(t.source)[value]):
                self.outcomes.add((t.source, value))
        if t.path:
            self._add_path(t.path)
        else:
            self._infer(t)

    def _add_path(self, path: tuple[str, ...]) -> None:
        """Count the nodes a step entered, and the outcomes its hops prove."""
        self.nodes.update(n for n in path if n in self.menu.nodes)
        for here, there in pairwise(path):
            exits = self._exits(here)
            leading = [outcome for outcome, dest in exits.items() if dest == there]
            if len(leading) == 1 and not leading[0].startswith("("):
                self.outcomes.add((here, leading[0]))

    def _exits(self, node_id: str) -> dict[str, str]:
        """Where a service or transfer node goes next: its outcomes, and ``(default)``/``(error)``."""
        node = self.menu.nodes.get(node_id)
        if isinstance(node, TransferNode):
            return {str(status): dest for status, dest in node.outcomes.items()}
        if not isinstance(node, ServiceNode):
            return {}
        exits = dict(node.outcomes)
        if node.default:
            exits["(default)"] = node.default
        on_error = node.on_error or self.menu.defaults.on_error
        if on_error:
            exits["(error)"] = on_error
        return exits

    def _infer(self, t: Transition) -> None:
        """Count what every path the menu allows from ``t.source`` to ``t.target`` shares."""
        primary, fallback = self._candidates(t.source, t.trigger)
        paths = [p for s in primary for p in self._paths(s, t.target, ())]
        if not paths:
            paths = [p for s in fallback for p in self._paths(s, t.target, ())]
        if not paths:
            return
        shared_nodes = set.intersection(*({n for n, _ in p} for p in paths))
        shared_edges = set.intersection(*({e for _, e in p if e is not None} for p in paths))
        self.nodes |= shared_nodes
        self.outcomes |= shared_edges

    def _candidates(self, source: str | None, trigger: tuple[str, str]) -> tuple[list[str], list[str]]:
        """Where the step after ``trigger`` at ``source`` starts: the likely nodes first, then the rest.

        The likely ones follow the trigger (an option's key, a valid-length entry, a Dial's status);
        the rest are the retry and exhaustion paths.  Without this, a wrong password and a third
        invalid entry, which both end at the agent, would be indistinguishable.
        """
        if source is None:
            return [self.menu.start], []
        node = self.menu.nodes[source]
        kind, value = trigger
        everything = list(self._successors(source))
        if isinstance(node, MenuNode | InputNode | LanguageNode):
            retry = [source, self.menu.dialog(node).on_exhausted]
            if kind == "no_input":
                return retry, []
            if kind != "key":
                return everything, []
            if isinstance(node, MenuNode) and value in node.options:
                return [node.options[value]], retry
            if isinstance(node, LanguageNode) and value in node.options:
                return [node.next], retry
            if isinstance(node, MenuNode | LanguageNode) and value in self.menu.global_keys(node):
                key = self.menu.global_keys(node)[value]
                return ([key.target] if key.target else [source]), retry
            if isinstance(node, InputNode):
                fits = node.min_length <= len(value) <= node.max_length
                return ([node.next] if fits or (node.confirm and value == "1") else []), retry
            return retry, []
        if isinstance(node, TransferNode) and kind == "dial" and value in node.outcomes:
            return [node.outcomes[value]], everything
        return everything, []

    def _successors(self, node_id: str) -> Iterator[str]:
        node = self.menu.nodes[node_id]
        if isinstance(node, MenuNode):
            yield from node.options.values()
        if isinstance(node, MenuNode | LanguageNode):
            yield from (k.target for k in self.menu.global_keys(node).values() if k.target)
        if isinstance(node, MenuNode | InputNode | LanguageNode):
            yield self.menu.dialog(node).on_exhausted
            yield node_id
        if isinstance(node, InputNode | LanguageNode | VoicemailNode | MessageNode):
            yield node.next
        if isinstance(node, TransferNode):
            yield from node.outcomes.values()

    def _paths(
        self, node_id: str, target: str, path: tuple[tuple[str, tuple[str, str] | None], ...]
    ) -> Iterator[tuple[tuple[str, tuple[str, str] | None], ...]]:
        """Paths from ``node_id`` through pass-through nodes that end at ``target``."""
        if len(path) > _MAX_DEPTH or node_id not in self.menu.nodes:
            return
        node = self.menu.nodes[node_id]
        if isinstance(node, MessageNode):
            yield from self._paths(node.next, target, (*path, (node_id, None)))
        elif isinstance(node, ServiceNode):
            for outcome, nxt in self._exits(node_id).items():
                yield from self._paths(nxt, target, (*path, (node_id, (node_id, outcome))))
        elif node_id == target:
            yield (*path, (node_id, None))

    # -- the report ----------------------------------------------------------------

    def items(self) -> Iterator[tuple[str, str, bool]]:
        """Every coverable item: (section, name, covered)."""
        for node_id in self.menu.nodes:
            yield "node", node_id, node_id in self.nodes
        for node_id, node in self.menu.nodes.items():
            if isinstance(node, MenuNode | LanguageNode):
                for key, dest in node.options.items():
                    yield "option", f"{node_id} [{key}] → {dest}", (node_id, key) in self.options
        for node_id, node in self.menu.nodes.items():
            if isinstance(node, ServiceNode | TransferNode):
                for outcome, dest in node.outcomes.items():
                    yield "outcome", f"{node_id}: {outcome} → {dest}", (node_id, outcome) in self.outcomes

    def summary(self) -> dict[str, tuple[int, int]]:
        """Covered and total items per section."""
        out: dict[str, tuple[int, int]] = {}
        for section, _, covered in self.items():
            done, total = out.get(section, (0, 0))
            out[section] = (done + covered, total + 1)
        return out
