"""Usability rules for a menu, with numbers: what ``ivr lint`` checks.

``ivr validate`` asks whether a menu is *correct* (it loads, every target
exists, every call can end).  These rules ask whether it is *pleasant and
usable* on the phone, following the practice in ``docs`` and the design
notes: few options, shallow trees, the agent one key away, short prompts,
"say the service, then the key", and prompts that match what the menu does.

Each rule has a stable id and a fixed severity (see :data:`RULES`).  Every
finding carries the JSON path of the place to change and, where the rule is
a number, what was measured and the limit.  The rules, findings and report
types live in :mod:`ivr.authoring.findings` (re-exported here); the checks
themselves in :mod:`ivr.authoring.rules`; this module runs them.

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

from collections.abc import Mapping
from pathlib import Path

from ivr.authoring.durations import PromptTimer
from ivr.authoring.findings import LIMITS, RULES, Finding, LintReport, Rule
from ivr.authoring.findings import Severity as Severity
from ivr.authoring.rules import CHECKS, LintContext
from ivr.authoring.rules.context import Choice as Choice
from ivr.menu.model import Menu

__all__ = [
    "LIMITS",
    "RULES",
    "Finding",
    "LintReport",
    "Rule",
    "lint_menu",
]


def lint_menu(menu: Menu, audio_dir: Path | None = Path("audio"), timer: PromptTimer | None = None) -> LintReport:
    """Check ``menu`` (already loaded and valid) against every rule in :data:`RULES`.

    Prompt durations are measured from the rendered audio in ``audio_dir``
    where it exists and estimated otherwise (pass ``timer`` to share one audio
    library between menus).  Findings come in rule order, then document order.
    """
    ctx = LintContext(menu, timer or PromptTimer(audio_dir))
    for check in CHECKS:
        check(ctx)
    report = ctx.report
    report.findings = list(dict.fromkeys(report.findings))
    return report


def rule_table() -> Mapping[str, Rule]:
    """The rules, for ``ivr lint --rules``."""
    return RULES
