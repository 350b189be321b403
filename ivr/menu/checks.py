"""What a menu means: the checks that need the whole document at once.

The models in :mod:`ivr.menu.model` check each value's shape.  These checks
find what only the whole graph shows: targets that do not exist, nodes no call
can reach, nodes from which a call can never end, loops that never wait for the
caller, prompts missing a language, unknown variables, and services that are
not registered or whose outcomes are not routed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ivr.contracts import ServiceSpec
from ivr.errors import Problem
from ivr.menu.model import (
    FILL_AS,
    SAY_AS,
    TEMPLATE_FIELD,
    GlobalKey,
    HangupNode,
    InputNode,
    LanguageNode,
    Menu,
    MenuNode,
    MessageNode,
    NewPasswordRule,
    Node,
    Prompt,
    ServiceNode,
    SetNode,
    Speech,
    SwitchNode,
    Text,
    Title,
    TransferNode,
    VoicemailNode,
)

__all__ = ["SYSTEM_VARS", "check_menu", "edges"]

SYSTEM_VARS = frozenset({"caller", "language"})
"""Variables every call has without a node setting them."""

RECORDING_VARS = frozenset({"recording_url", "recording_seconds"})


Loc = tuple[str | int, ...]
"""A place in the menu document, as the keys of its JSON path."""


def _p(*parts: str | int) -> str:
    from ivr.menu.loader import json_path

    return json_path(parts)


def _loc(*parts: str) -> Loc:
    return parts


def edges(menu: Menu, node_id: str, node: Node) -> Iterator[tuple[Loc, str]]:
    """Every (location of the field, target node id) the call can go to from ``node``.

    A location is the JSON path as a tuple of keys; :func:`ivr.menu.loader.json_path`
    formats it, which is left until a problem needs it (a large menu has tens of thousands).
    """
    base: tuple[str, ...] = ("nodes", node_id)
    where: tuple[str, ...]
    if isinstance(node, (MenuNode, LanguageNode)):
        if isinstance(node, MenuNode):
            for key, target in node.options.items():
                yield _loc(*base, "options", key), target
        else:
            yield _loc(*base, "next"), node.next
        for key, gk in menu.global_keys(node).items():
            if gk.action == "goto" and gk.target is not None:
                own = key in (node.global_keys or {})
                where = (*base, "global_keys", key) if own else ("defaults", "global_keys", key)
                yield _loc(*where, "target"), gk.target
    if isinstance(node, (MenuNode, InputNode, LanguageNode)):
        where = (*base, "on_exhausted") if node.on_exhausted else ("defaults", "on_exhausted")
        yield _loc(*where), menu.dialog(node).on_exhausted
        on_no_input = menu.dialog(node).on_no_input
        if on_no_input is not None:
            where = (*base, "on_no_input") if node.on_no_input else ("defaults", "on_no_input")
            yield _loc(*where), on_no_input
    if isinstance(node, (InputNode, MessageNode, VoicemailNode, SetNode)):
        yield _loc(*base, "next"), node.next
    if isinstance(node, VoicemailNode) and node.on_no_audio:
        yield _loc(*base, "on_no_audio"), node.on_no_audio
    if isinstance(node, SwitchNode):
        for i, case in enumerate(node.cases):
            yield (*base, "cases", i, "next"), case.next
        yield _loc(*base, "default"), node.default
    if isinstance(node, InputNode) and node.on_mismatch:
        yield _loc(*base, "on_mismatch"), node.on_mismatch
    if isinstance(node, ServiceNode):
        for outcome, target in node.outcomes.items():
            yield _loc(*base, "outcomes", outcome), target
        if node.default:
            yield _loc(*base, "default"), node.default
        on_error = node.on_error or menu.defaults.on_error
        if on_error:
            yield _loc(*base, "on_error") if node.on_error else _loc("defaults", "on_error"), on_error
    if isinstance(node, TransferNode):
        for status, target in node.outcomes.items():
            yield _loc(*base, "outcomes", status), target


def _prompts(menu: Menu) -> Iterator[tuple[Loc, Prompt]]:
    d = menu.defaults
    for name in ("no_input_prompt", "invalid_prompt"):
        value = getattr(d, name)
        if value is not None:
            yield _loc("defaults", name), value
    for node_id, node in menu.nodes.items():
        for name in ("prompt", "short_prompt", "no_input_prompt", "invalid_prompt", "confirm"):
            value = getattr(node, name, None)
            if value is not None:
                yield _loc("nodes", node_id, name), value


def _texts(menu: Menu) -> Iterator[tuple[Loc, Text]]:
    if menu.title is not None:
        yield _loc("title"), menu.title
    for name, text in menu.prompts.items():
        yield _loc("prompts", name), text
    for path, prompt in _prompts(menu):
        for i, part in enumerate(prompt):
            where = path if len(prompt) == 1 else (*path, i)
            if isinstance(part, Speech):
                part, where = part.say, (*where, "say")
            if isinstance(part, Text):
                yield where, part


def _check_languages(menu: Menu) -> Iterator[Problem]:
    langs = menu.languages
    if len(set(langs)) != len(langs):
        yield Problem(_p("languages"), "a language is listed twice")
    if menu.default_language not in langs:
        yield Problem(_p("default_language"), f"{menu.default_language!r} is not one of the menu's languages {langs}")
    for path, text in _texts(menu):
        for lang in langs:
            if lang not in text.root:
                yield Problem(_p(*path), f"the prompt has no {lang} text, and the menu declares {lang}")
        for lang in text.root:
            if lang not in langs:
                yield Problem(_p(*path), f"{lang!r} is not one of the menu's languages {langs}")
    for node_id, node in menu.nodes.items():
        if isinstance(node.title, Title):
            for lang in node.title.root:
                if lang not in langs:
                    yield Problem(_p("nodes", node_id, "title", lang), f"{lang!r} is not one of the menu's languages")
        if isinstance(node, LanguageNode):
            for key, lang in node.options.items():
                if lang not in langs:
                    yield Problem(_p("nodes", node_id, "options", key), f"{lang!r} is not one of the menu's languages")


def _check_prompt_refs(menu: Menu) -> Iterator[Problem]:
    used: set[str] = set()
    for path, prompt in _prompts(menu):
        for i, part in enumerate(prompt):
            loc = path if len(prompt) == 1 else (*path, i)
            if isinstance(part, Speech):
                part, loc = part.say, (*loc, "say")
            if isinstance(part, str):
                name = part[1:]
                used.add(name)
                if name not in menu.prompts:
                    yield Problem(_p(*loc), f'there is no prompt named {name!r} in "prompts"')
    for name in menu.prompts:
        if name not in used:
            yield Problem(_p("prompts", name), "this named prompt is never used", "warning")


class _Produced:
    """The variables some node of a menu sets: names, and the namespaces services fill."""

    def __init__(self, menu: Menu, services: Mapping[str, ServiceSpec]) -> None:
        self.names = set(SYSTEM_VARS)
        self.spaces: set[str] = set()
        for node in menu.nodes.values():
            if isinstance(node, InputNode):
                self.names.add(node.var)
            elif isinstance(node, VoicemailNode):
                self.names |= RECORDING_VARS
            elif isinstance(node, SetNode):
                self.names.update(node.vars)
            elif isinstance(node, ServiceNode) and node.service in services:
                if node.into is not None:
                    self.spaces.add(node.into + ".")
                else:
                    self.names.update(services[node.service].provides)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.names or any(name.startswith(s) for s in self.spaces))


def _template_problems(
    words: str, produced: _Produced, lang: str = "", ways: tuple[str, ...] = SAY_AS
) -> Iterator[str]:
    """What is wrong with the ``{variables}`` of one text: lone braces, unknown ways to say, unset names."""
    label = f"{lang}: " if lang else ""
    for m in TEMPLATE_FIELD.finditer(words):
        token = m.group(0)
        if token in ("{{", "}}"):
            continue
        if m.group(1) is None:
            yield f"{label}a lone {token!r}; write {token * 2} for a literal brace"
            continue
        name, how = m.group(1), m.group(2) or "text"
        if how not in ways:
            yield f"{label}{{{name}:{how}}}: {'say' if ways == SAY_AS else 'put'} it as one of {', '.join(ways)}"
        if name not in produced:
            yield f"{label}no input node or service sets the variable {name!r}"


def _node_templates(node_id: str, node: Node) -> Iterator[tuple[Loc, str]]:
    """The texts with ``{variables}`` a node holds outside its prompts."""
    base = ("nodes", node_id)
    if isinstance(node, SetNode):
        for name, value in node.vars.items():
            yield (*base, "vars", name), value
    elif isinstance(node, ServiceNode):
        for name, value in node.values.items():
            yield (*base, "values", name), value
    elif isinstance(node, SwitchNode):
        yield (*base, "value"), node.value
        for i, case in enumerate(node.cases):
            for test, value in case.if_:
                values = value if isinstance(value, list) else [value]
                if test == "regex":
                    continue
                for j, one in enumerate(values):
                    if isinstance(one, str):
                        where = (*base, "cases", i, "if", test) + ((j,) if isinstance(value, list) else ())
                        yield where, one


def _check_vars(menu: Menu, services: Mapping[str, ServiceSpec]) -> Iterator[Problem]:
    produced = _Produced(menu, services)
    for path, text in _texts(menu):
        for lang, words in text.root.items():
            for message in _template_problems(words, produced, lang):
                yield Problem(_p(*path), message)
    for node_id, node in menu.nodes.items():
        for path, words in _node_templates(node_id, node):
            for message in _template_problems(words, produced, ways=FILL_AS):
                yield Problem(_p(*path), message)
    for node_id, node in menu.nodes.items():
        if isinstance(node, InputNode):
            if node.on_mismatch and not node.match:
                yield Problem(_p("nodes", node_id, "on_mismatch"), 'only an entry with "match" can mismatch')
            if node.match and node.match not in produced:
                yield Problem(_p("nodes", node_id, "match"), f"no input node sets the variable {node.match!r}")
            rule = node.validate_
            if isinstance(rule, NewPasswordRule) and rule.id_var and rule.id_var not in produced:
                yield Problem(
                    _p("nodes", node_id, "validate", "id_var"), f"no input node sets the variable {rule.id_var!r}"
                )
        if isinstance(node, ServiceNode):
            for param, var in node.args.items():
                if var not in produced:
                    yield Problem(_p("nodes", node_id, "args", param), f"no node sets the variable {var!r}")


def _check_services(menu: Menu, services: Mapping[str, ServiceSpec]) -> Iterator[Problem]:
    for node_id, node in menu.nodes.items():
        if not isinstance(node, ServiceNode):
            continue
        base = ("nodes", node_id)
        spec = services.get(node.service)
        if spec is None:
            known = ", ".join(sorted(services)) or "none"
            yield Problem(_p(*base, "service"), f"no service named {node.service!r} is registered (known: {known})")
            continue
        for field in ("args", "values"):
            for param in getattr(node, field):
                if param not in spec.params:
                    takes = ", ".join(spec.params) or "none"
                    message = f"{spec.name} takes no parameter {param!r} (it takes {takes})"
                    yield Problem(_p(*base, field, param), message)
        for param in set(node.args) & set(node.values):
            yield Problem(_p(*base, "values", param), f"{param!r} is given twice, in args and in values")
        for param in spec.params:
            if param not in node.args and param not in node.values and param not in spec.optional:
                yield Problem(_p(*base, "args"), f"{spec.name} needs the parameter {param!r}")
        for outcome in node.outcomes:
            if outcome not in spec.outcomes:
                returns = ", ".join(spec.outcomes)
                yield Problem(
                    _p(*base, "outcomes", outcome), f"{spec.name} never returns {outcome!r} (it returns {returns})"
                )
        if node.default is None:
            for outcome in spec.outcomes:
                if outcome not in node.outcomes:
                    message = f'the outcome {outcome!r} of {spec.name} goes nowhere: route it or give a "default"'
                    yield Problem(_p(*base, "outcomes"), message)
        if not (node.on_error or menu.defaults.on_error):
            yield Problem(
                _p(*base), 'where should the call go if the service fails? Set "on_error" here or in "defaults"'
            )


def _check_graph(menu: Menu) -> Iterator[Problem]:
    nodes = menu.nodes
    graph: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        graph[node_id] = []
        for path, target in edges(menu, node_id, node):
            if target not in nodes:
                yield Problem(_p(*path), f"there is no node {target!r}")
            else:
                graph[node_id].append(target)
    # Targets no node may use, but which are wrong all the same: the defaults every node
    # overrides, a global key in a menu without menu nodes, a node's own key shadowed by
    # one of its options.
    for name in ("on_exhausted", "on_error"):
        target = getattr(menu.defaults, name)
        if target is not None and target not in nodes:
            yield Problem(_p("defaults", name), f"there is no node {target!r}")
    global_keys: list[tuple[tuple[str, ...], Mapping[str, GlobalKey | None]]] = [
        (("defaults",), menu.defaults.global_keys)
    ]
    for node_id, node in nodes.items():
        if isinstance(node, (MenuNode, LanguageNode)) and node.global_keys:
            global_keys.append((("nodes", node_id), node.global_keys))
    for base, keys in global_keys:
        for key, gk in keys.items():
            if gk is not None and gk.target is not None and gk.target not in nodes:
                yield Problem(_p(*base, "global_keys", key, "target"), f"there is no node {gk.target!r}")
    if menu.start not in nodes:
        yield Problem(_p("start"), f"there is no node {menu.start!r}")
        return

    reached = _reach([menu.start], graph)
    for node_id in nodes:
        if node_id not in reached:
            yield Problem(_p("nodes", node_id), "no call can reach this node")

    # A call ends at a hangup, or when the agent it was put through to hangs up.
    reverse: dict[str, list[str]] = {n: [] for n in nodes}
    for src, targets in graph.items():
        for t in targets:
            reverse[t].append(src)
    ends = [n for n, node in nodes.items() if isinstance(node, (HangupNode, TransferNode))]
    can_end = _reach(ends, reverse)
    for node_id in nodes:  # in document order
        if node_id in reached and node_id not in can_end:
            message = "a call that gets here can never end: no path leads to a hangup or a transfer"
            yield Problem(_p("nodes", node_id), message)

    # Message, service, set and switch nodes pass on without waiting for the caller; a cycle
    # made only of them would spin for ever.
    passing = {n for n, node in nodes.items() if isinstance(node, (MessageNode, ServiceNode, SetNode, SwitchNode))}
    for cycle in _cycles_within([n for n in nodes if n in passing], graph):
        loop = " -> ".join([*cycle, cycle[0]])
        yield Problem(_p("nodes", cycle[0]), f"this node is on a loop that never waits for the caller: {loop}")


def _reach(starts: list[str], graph: Mapping[str, list[str]]) -> set[str]:
    """Every node reachable from any of ``starts`` (one search, however many starts)."""
    seen = set(starts)
    todo = list(starts)
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _cycles_within(order: list[str], graph: Mapping[str, list[str]]) -> list[list[str]]:
    """A cycle through each back edge of a DFS that uses only the nodes in ``order`` (iterative).

    Every cycle among those nodes has at least one back edge, so none is missed.
    """
    allowed = set(order)
    colour: dict[str, int] = {}
    found: list[list[str]] = []
    for root in order:
        if root in colour:
            continue
        colour[root] = 1
        stack = [(root, iter(graph.get(root, ())))]
        while stack:
            node, it = stack[-1]
            for nxt in it:
                if nxt not in allowed:
                    continue
                state = colour.get(nxt, 0)
                if state == 1:
                    on_stack = [n for n, _ in stack]
                    found.append(on_stack[on_stack.index(nxt) :])
                elif state == 0:
                    colour[nxt] = 1
                    stack.append((nxt, iter(graph.get(nxt, ()))))
                    break
            else:
                colour[node] = 2
                stack.pop()
    return found


def check_menu(menu: Menu, services: Mapping[str, ServiceSpec]) -> list[Problem]:
    """Every problem with the meaning of ``menu``, errors and warnings, in document order."""
    found: list[Problem] = []
    found += _check_languages(menu)
    found += _check_prompt_refs(menu)
    found += _check_vars(menu, services)
    found += _check_services(menu, services)
    found += _check_graph(menu)
    # The defaults reach every node: a bad default target is found once per node but said once.
    return list(dict.fromkeys(found))
