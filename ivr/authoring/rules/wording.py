"""Rules on what menus say about their keys: key-first wording, global keys, offered and announced keys."""

from __future__ import annotations

from collections.abc import Iterator

from ivr.authoring.findings import Finding
from ivr.authoring.rules.context import Choice, LintContext, p, short
from ivr.menu.model import LanguageNode, MenuNode, Prompt, Speech, Text, part_text
from ivr.phone.keys import clauses, key_mentions

__all__ = ["global_keys_consistent", "key_first", "prompt_keys"]


def _texts(ctx: LintContext, node_id: str, node: Choice, field_name: str) -> Iterator[tuple[str, str, str]]:
    """(path of the text, language, words) for each text of a menu's prompt field."""
    prompt: Prompt | None = getattr(node, field_name)
    if prompt is None:
        return
    for i, part in enumerate(prompt):
        path = p("nodes", node_id, field_name) + (f"[{i}]" if len(prompt) > 1 else "")
        if isinstance(part, Speech):
            part, path = part.say, path + ".say"
        if isinstance(part, str):
            path = p("prompts", part[1:])
        text = part_text(part, ctx.menu.prompts)
        if not isinstance(text, Text):
            continue
        for language in ctx.menu.languages:
            words = text.in_language(language)
            if words is not None:
                yield path, language, words


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


def key_first(ctx: LintContext) -> None:
    """``key-first``: say the service, then the key."""
    seen: set[tuple[str, str, str]] = set()
    for node_id, node in ctx.menus.items():
        for field_name in ("prompt", "short_prompt"):
            for path, language, words in _texts(ctx, node_id, node, field_name):
                for clause in _key_first_clauses(words):
                    if (path, language, clause) in seen:
                        continue
                    seen.add((path, language, clause))
                    ctx.add(
                        Finding(
                            "key-first",
                            path,
                            f"{language}: {short(clause)!r} gives the key before what it does; say the service, "
                            'then the key ("To activate, press 1" / "激活社保卡，请按1")',
                            language=language,
                        )
                    )


def global_keys_consistent(ctx: LintContext) -> None:
    """``global-key-inconsistent``: global keys do the same thing in every menu."""
    for node_id, node in ctx.menus.items():
        own = node.global_keys or {}
        for key, value in own.items():
            default = ctx.default_key(key)
            if default is None or key in node.options:
                continue
            if value is None:
                message = f"the global key {key} is switched off here; everywhere else it {ctx.describe(default)}"
            elif value != default:
                message = f"here the global key {key} {ctx.describe(value)}; everywhere else it " + ctx.describe(
                    default
                )
            else:
                continue
            ctx.add(Finding("global-key-inconsistent", p("nodes", node_id, "global_keys", key), message))
        for key, target in node.options.items():
            default = ctx.default_key(key)
            if default is None:
                continue
            if isinstance(node, MenuNode) and ctx.does_global_job(node_id, key, target):
                continue
            does = f"chooses {target}" if isinstance(node, LanguageNode) else f"goes to {target}"
            ctx.add(
                Finding(
                    "global-key-inconsistent",
                    p("nodes", node_id, "options", key),
                    f"here {key} {does}; everywhere else it {ctx.describe(default)}",
                )
            )


def prompt_keys(ctx: LintContext) -> None:
    """``unhandled-key`` and ``option-not-announced``: the keys a menu's prompts offer match its options."""
    for node_id, node in ctx.menus.items():
        handled = set(node.options) | set(ctx.menu.global_keys(node))
        options = ctx.real_options(node_id, node)
        for field_name in ("prompt", "short_prompt"):
            if getattr(node, field_name) is None:
                continue
            offered: dict[str, dict[str, tuple[str, str]]] = {lang: {} for lang in ctx.menu.languages}
            for path, language, words in _texts(ctx, node_id, node, field_name):
                for m in key_mentions(words):
                    offered[language].setdefault(m.key, (path, m.phrase))
            field_path = p("nodes", node_id, field_name)
            for language, keys in offered.items():
                for key, (path, phrase) in keys.items():
                    if key not in handled:
                        where = "" if path.startswith(field_path) else f" (in {path})"
                        ctx.add(
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
                        ctx.add(
                            Finding(
                                "option-not-announced",
                                p("nodes", node_id, "options", key),
                                f"{language}: the {field_name} never tells the caller to press {key} "
                                f'(say "…, 请按{key}" / "…, press {key}")',
                                language=language,
                            )
                        )
