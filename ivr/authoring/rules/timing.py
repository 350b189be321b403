"""Rules on how long prompts take to say: the greeting and every instruction prompt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from ivr.authoring.findings import LIMITS, Finding
from ivr.authoring.rules.context import LintContext, fmt, p
from ivr.engine.speech import render
from ivr.menu.model import Prompt

__all__ = ["prompt_lengths"]


def _say_seconds(ctx: LintContext, prompt: Prompt, language: str) -> tuple[float, Literal["measured", "estimated"]]:
    say = render(ctx.menu, prompt, language, ctx.samples)
    d = ctx.timer.duration(say)
    if d.source == "measured":
        ctx.report.measured_prompts += 1
    else:
        ctx.report.estimated_prompts += 1
    return d.seconds, d.source


def _prompt_sites(ctx: LintContext) -> Iterator[tuple[str, Prompt]]:
    d = ctx.menu.defaults
    for name in ("no_input_prompt", "invalid_prompt"):
        value = getattr(d, name)
        if value is not None:
            yield p("defaults", name), value
    for node_id, node in ctx.menu.nodes.items():
        for name in ("prompt", "short_prompt", "no_input_prompt", "invalid_prompt", "confirm"):
            value = getattr(node, name, None)
            if value is not None:
                yield p("nodes", node_id, name), value


def prompt_lengths(ctx: LintContext) -> None:
    """``greeting-too-long`` and ``prompt-too-long``, in every language."""
    menu = ctx.menu
    start = menu.nodes.get(menu.start)
    greeting_path = p("nodes", menu.start, "prompt")
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
            seconds, source = _say_seconds(ctx, greeting, language)
            if seconds > g_limit:
                what = "the greeting (before the short prompt)" if rest is not None else "the greeting"
                ctx.add(
                    Finding(
                        "greeting-too-long",
                        greeting_path,
                        f"{language}: {what} lasts {fmt(seconds)} s ({source}); a greeting should take at most "
                        f"{g_limit:g} s",
                        measured=seconds,
                        limit=g_limit,
                        language=language,
                        source=source,
                    )
                )
        for path, prompt in _prompt_sites(ctx):
            if path == greeting_path:
                continue  # the greeting, checked above; the rest is the short prompt, checked on its own
            seconds, source = _say_seconds(ctx, prompt, language)
            if seconds > p_limit:
                ctx.add(
                    Finding(
                        "prompt-too-long",
                        path,
                        f"{language}: lasts {fmt(seconds)} s ({source}); "
                        f"an instruction prompt should take at most {p_limit:g} s",
                        measured=seconds,
                        limit=p_limit,
                        language=language,
                        source=source,
                    )
                )
