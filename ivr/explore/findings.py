"""What ``ivr explore`` reports: findings from a crawl, sorted by severity and located by the path of keys.

Errors: HTTP errors and other application failures, invalid TwiML, answers
slower than Twilio's 15 s, dead ends (the app hangs up without a word on a
caller who did nothing wrong; a state from which every input tried fails).
Warnings: loops with no exit, announced keys that do what an invalid key
does, keys that work but no prompt announces, no path to an agent, prompts
longer than the lint's limit, nondeterminism.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ivr.authoring.durations import estimate_text_seconds
from ivr.authoring.findings import LIMITS, Severity
from ivr.explore.search import SILENCE, Exploration, Path, State
from ivr.explore.states import normalise_text
from ivr.phone.client import DEFAULT_TIMEOUT

__all__ = ["TWILIO_TIMEOUT", "Finding", "find", "path_text"]

TWILIO_TIMEOUT = DEFAULT_TIMEOUT
"""Seconds Twilio waits for a webhook's answer before it gives up on the call (the phone's own timeout)."""


@dataclass(frozen=True)
class Finding:
    """One defect: how bad, what kind, the keys that reach it, and what is wrong."""

    severity: Severity
    kind: str
    path: Path
    message: str

    def as_json(self) -> dict[str, object]:
        """The ``--json`` object: severity, kind, path (a list of answers) and message."""
        return {"severity": self.severity, "kind": self.kind, "path": list(self.path), "message": self.message}


def path_text(path: Path) -> str:
    """A path as the tester would type it to ``ivr simulate --keys`` ("(start)" for none)."""
    return " ".join(path) if path else "(start)"


def find(x: Exploration) -> list[Finding]:
    """Every finding of the crawl ``x``: errors first, then warnings, each by path."""
    out: list[Finding] = []
    out += _failures(x)
    out += _dead_ends(x)
    out += _loops(x)
    out += _keys(x)
    out += _long_prompts(x)
    out += _nondeterminism(x)
    if not x.agent_reached and any(not s.ending for s in x.states.values()):  # a caller had a choice somewhere
        why = f" ({x.no_agent_hint})" if x.no_agent_hint else ""
        out.append(
            Finding("warning", "no-agent", (), f"no path reached an agent: no <Dial> or <Enqueue> anywhere{why}")
        )
    unique = list(dict.fromkeys(out))
    return sorted(unique, key=lambda f: (f.severity != "error", len(f.path), f.path, f.kind))


def _failures(x: Exploration) -> list[Finding]:
    out: list[Finding] = []
    for call in x.calls:
        for e in call.result.events:
            if e.name == "error":
                message = getattr(e, "message", "")
                kind = "invalid-twiml" if message.startswith("invalid TwiML") else "http-error"
                if getattr(e, "status", None) is None and not message.startswith("HTTP"):
                    kind = "invalid-twiml" if kind == "invalid-twiml" else "app-error"
                out.append(Finding("error", kind, call.path, message))
        for seconds, request in call.timings:
            if seconds > TWILIO_TIMEOUT:
                out.append(
                    Finding(
                        "error",
                        "slow-answer",
                        call.path,
                        f"{request} took {seconds:.1f} s; Twilio gives up after {TWILIO_TIMEOUT:g} s",
                    )
                )
    return out


def _valid(state: State | None, answer: str, x: Exploration) -> bool:
    """Whether ``answer`` is something a caller who did nothing wrong may do at ``state``."""
    if state is None:
        return True
    return answer in state.announced or answer in x.input_values or answer.startswith("rec:")


def _dead_ends(x: Exploration) -> list[Finding]:
    out: list[Finding] = []
    for call in x.calls:
        last = call.segments[-1]
        if last.wait.kind != "end" or last.wait.ending != "hangup" or not last.silent_end:
            continue
        source = x.states.get(call.states[-2]) if len(call.states) > 1 else None
        answer = call.path[len(call.states) - 2] if len(call.states) > 1 else ""
        if len(call.states) == 1 or _valid(source, answer, x):
            out.append(Finding("error", "dead-end", call.path, "the app hangs up without a word after a valid input"))
    for state in x.states.values():
        if state.ending or not state.candidates or set(state.candidates) - state.tried:
            continue
        nexts = {n for a in state.candidates for n in x.transitions.get((state.id, a), {})}
        if nexts and all(x.states[n].wait.ending == "error" for n in nexts):
            out.append(Finding("error", "dead-end", state.path, "no input leads on from here: every input tried fails"))
    return out


def _loops(x: Exploration) -> list[Finding]:
    """Sets of states, every input tried, from which every input leads back into the set."""
    graph: dict[str, set[str]] = {}
    for (source, _), nexts in x.transitions.items():
        graph.setdefault(source, set()).update(nexts)
    out: list[Finding] = []
    for component in _components(graph):
        states = [x.states[s] for s in component]
        if any(s.ending or not s.candidates or set(s.candidates) - s.tried for s in states):
            continue  # not everything was tried: no claim
        exits = {n for s in component for n in graph.get(s, ())} - component
        if exits:
            continue
        first = min(states, key=lambda s: (len(s.path), s.path))
        out.append(
            Finding(
                "warning",
                "loop",
                first.path,
                f"a loop with no exit: every input at {len(component)} state(s) leads back into it "
                "(retry limits tried)",
            )
        )
    return out


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of ``graph`` (Tarjan, iterative), those with a cycle only."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    out.append(component)
    return out


def _keys(x: Exploration) -> list[Finding]:
    """Announced keys that act as an invalid key does, and keys that work but are never announced."""
    out: list[Finding] = []
    for state in x.states.values():
        if state.ending or state.wait.kind != "gather" or state.wait.multi_digit:
            continue

        def next_of(answer: str, state: State = state) -> str | None:
            nexts = x.transitions.get((state.id, answer), {})
            return next(iter(nexts)) if len(nexts) == 1 else None

        unannounced = [a for a in state.tried if len(a) == 1 and a not in state.announced and a != SILENCE]
        results = Counter(n for a in unannounced if (n := next_of(a)) is not None)
        if not results:
            continue
        invalid, count = results.most_common(1)[0]
        if count < 2:
            continue  # no clear "invalid key" answer to compare with
        for key in state.announced:
            if key in state.tried and next_of(key) == invalid:
                out.append(
                    Finding(
                        "warning",
                        "dead-key",
                        (*state.path, key),
                        f"key {key} is announced but does what an invalid key does",
                    )
                )
        for key in sorted(unannounced):
            result = next_of(key)
            if result is not None and result != invalid:
                out.append(
                    Finding("warning", "unannounced-key", (*state.path, key), f"key {key} works but is never announced")
                )
    return out


def _long_prompts(x: Exploration) -> list[Finding]:
    """Each prompt longer than the lint's limits, once, at the shortest path that hears it.

    As in the lint, a prompt that ends with another prompt heard on its own (a
    welcome, then the main menu's options) is a greeting and that prompt, each
    held to its own limit.
    """
    limit, greeting_limit = LIMITS["prompt_seconds"], LIMITS["greeting_seconds"]
    texts = {normalise_text(t): t for state in x.states.values() for t in state.heard}
    out: list[Finding] = []
    seen: set[str] = set()
    for state in sorted(x.states.values(), key=lambda s: (len(s.path), s.path)):
        for text, language in zip(state.heard, state.languages, strict=True):
            key = normalise_text(text)
            if key in seen:
                continue
            seen.add(key)
            seconds = estimate_text_seconds(text, language or "en")
            rest = max((t for t in texts if len(t) < len(key) and key.endswith(t)), key=len, default="")
            parts = [("", text, seconds, limit)]
            if rest:
                rest_seconds = estimate_text_seconds(texts[rest], language or "en")
                greeting = text[: -len(texts[rest])] if text.endswith(texts[rest]) else text
                parts = [("the greeting ", greeting, seconds - rest_seconds, greeting_limit)]
                parts.append(("", texts[rest], rest_seconds, limit))
            for what, words, took, most in parts:
                if took > most:
                    said = f"{took:.1f}" if round(took) <= most else f"{took:.0f}"
                    out.append(
                        Finding(
                            "warning",
                            "prompt-too-long",
                            state.path,
                            f"{what}“{_clip(words)}” takes about {said} s to say; the lint's limit is {most:g} s",
                        )
                    )
    return out


def _clip(text: str, length: int = 24) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _nondeterminism(x: Exploration) -> list[Finding]:
    """One finding per state where some input led to different states on different calls."""
    by_state: dict[str, list[str]] = {}
    for (source, answer), apart in x.apart.items():
        counter = " (a retry counter: it led back here first)" if source in x.transitions[source, answer] else ""
        by_state.setdefault(source, []).append(f"{answer} → {apart} states{counter}")
    return [
        Finding(
            "warning",
            "nondeterminism",
            x.states[source].path,
            "the same input here led to different states on different calls (hidden state): " + "; ".join(inputs),
        )
        for source, inputs in by_state.items()
    ]
