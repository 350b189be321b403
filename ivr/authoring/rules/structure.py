"""Rules on the shape of the menu: options per menu, depth, the agent key, retries and exhaustion."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from ivr.authoring.findings import LIMITS, Finding
from ivr.authoring.rules.context import LintContext, p
from ivr.menu.model import (
    HangupNode,
    InputNode,
    LanguageNode,
    MenuNode,
    MessageNode,
    Node,
    ServiceNode,
    TransferNode,
    VoicemailNode,
)

__all__ = ["no_agent_key", "no_retry_path", "too_deep", "too_many_options"]


def too_many_options(ctx: LintContext) -> None:
    """``too-many-options``: at most ``LIMITS["options"]`` options in each menu below the main menu."""
    limit = int(LIMITS["options"])
    for node_id, node in ctx.menus.items():
        if node_id == ctx.menu.start:
            continue
        keys = ctx.real_options(node_id, node)
        if len(keys) > limit:
            ctx.add(
                Finding(
                    "too-many-options",
                    p("nodes", node_id, "options"),
                    f"{len(keys)} options ({', '.join(keys)}); a menu below the main menu should offer at most "
                    f"{limit}: split it or move the rarely used ones a level down",
                    measured=len(keys),
                    limit=limit,
                )
            )


def _choices(ctx: LintContext, node_id: str, node: Node) -> Iterator[tuple[str, int, str]]:
    """(target, key presses, how) for each way on from ``node``; failing attempts do not count."""
    if isinstance(node, (MenuNode, LanguageNode)):
        if isinstance(node, MenuNode):
            for key, target in node.options.items():
                yield target, 1, key
        else:
            yield node.next, 1, "/".join(node.options)
        for key, gk in ctx.menu.global_keys(node).items():
            if gk.action == "goto" and gk.target is not None:
                yield gk.target, 1, key
    elif isinstance(node, (InputNode, MessageNode, VoicemailNode)):
        yield node.next, 0, ""
    elif isinstance(node, ServiceNode):
        ways: list[str | None] = [
            *node.outcomes.values(),
            node.default,
            node.on_error or ctx.menu.defaults.on_error,
        ]
        for way in ways:
            if way is not None:
                yield way, 0, ""
    elif isinstance(node, TransferNode):
        for target in node.outcomes.values():
            yield target, 0, ""


def too_deep(ctx: LintContext) -> None:
    """``too-deep``: every service within ``LIMITS["depth"]`` menu choices of the start."""
    menu = ctx.menu
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
        for target, step, key in _choices(ctx, here, node):
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
        ctx.add(
            Finding(
                "too-deep",
                p("nodes", node_id),
                f"takes {depth} menu choices to reach at the fewest ({path}); any service should be within {limit}",
                measured=depth,
                limit=limit,
            )
        )


def _agent_nodes(ctx: LintContext) -> set[str]:
    d = ctx.menu.defaults
    found = {d.on_exhausted}
    zero = d.global_keys.get("0")
    if zero is not None and zero.action == "goto" and zero.target is not None:
        found.add(zero.target)
    found |= {n for n, node in ctx.menu.nodes.items() if isinstance(node, TransferNode)}
    return found


def no_agent_key(ctx: LintContext) -> None:
    """``no-agent-key``: from every menu, one key reaches the agent."""
    agents = _agent_nodes(ctx)
    names = ", ".join(sorted(agents))
    for node_id, node in ctx.menus.items():
        targets: dict[str, str] = {}
        if isinstance(node, MenuNode):
            targets.update(node.options)
        for key, gk in ctx.menu.global_keys(node).items():
            if gk.action == "goto" and gk.target is not None:
                targets.setdefault(key, gk.target)
        if any(t in agents for t in targets.values()):
            continue
        why = ""
        off = [k for k, v in (node.global_keys or {}).items() if v is None and ctx.default_key(k) is not None]
        if off:
            why = f" (the global key {', '.join(off)} is switched off here)"
        ctx.add(
            Finding(
                "no-agent-key",
                p("nodes", node_id),
                f"no key here reaches the agent ({names}){why}; a caller must always be one key from a person",
            )
        )


def _any_keys(node: InputNode) -> bool:
    """Whether every entry the node can get is good: any keys, no match to make."""
    return node.validate_.rule == "keys" and node.match is None and node.min_length == 1


def no_retry_path(ctx: LintContext) -> None:
    """``no-retry-path`` and ``exhausted-hangup``: what a caller hears after a failed attempt, and after the last."""
    d = ctx.menu.defaults
    waiting = {n: node for n, node in ctx.menu.nodes.items() if isinstance(node, (MenuNode, LanguageNode, InputNode))}
    # A silence that goes on at once (on_no_input) is never asked again, and an entry of any keys is never wrong.
    silent_again = {n for n, node in waiting.items() if ctx.menu.dialog(node).on_no_input is None}
    wrong_again = {n for n, node in waiting.items() if not (isinstance(node, InputNode) and _any_keys(node))}
    for name, what, asks in (
        ("no_input_prompt", "says nothing", silent_again),
        ("invalid_prompt", "presses a wrong key", wrong_again),
    ):
        if getattr(d, name) is not None:
            continue
        lacking = [n for n, node in waiting.items() if getattr(node, name) is None and n in asks]
        if lacking:
            ctx.add(
                Finding(
                    "no-retry-path",
                    p("defaults", name),
                    f"no default {name}, and {len(lacking)} node(s) set none of their own ({', '.join(lacking[:8])}"
                    f"{', …' if len(lacking) > 8 else ''}): a caller who {what} hears the prompt again with no "
                    "word of why",
                    measured=len(lacking),
                )
            )
    reported: set[str] = set()
    for node_id, node in waiting.items():
        if node_id not in silent_again and node_id not in wrong_again:
            continue  # neither counter can run out here
        target = ctx.menu.dialog(node).on_exhausted
        where = p("nodes", node_id, "on_exhausted") if node.on_exhausted else p("defaults", "on_exhausted")
        if isinstance(ctx.menu.nodes.get(target), HangupNode) and where not in reported:
            reported.add(where)
            ctx.add(
                Finding(
                    "exhausted-hangup",
                    where,
                    f"after the last failed attempt the call goes to {target!r}, which hangs up; send the caller "
                    "to the agent instead",
                )
            )
