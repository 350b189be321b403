"""Tools for the people who write and run the menu.

- :mod:`ivr.authoring.lint` (``ivr lint``): usability rules with numbers;
  the checks are in :mod:`ivr.authoring.rules`, the finding and report types
  in :mod:`ivr.authoring.findings`.
- :mod:`ivr.authoring.graph` (``ivr graph``): the menu tree as SVG, PNG,
  Mermaid or DOT, optionally shaded by recorded traffic.
- :mod:`ivr.authoring.durations`: how long a prompt takes to say.
"""

from ivr.authoring.durations import Duration, PromptTimer, estimate_seconds
from ivr.authoring.lint import LIMITS, RULES, Finding, LintReport, Rule, lint_menu

__all__ = [
    "LIMITS",
    "RULES",
    "Duration",
    "Finding",
    "LintReport",
    "PromptTimer",
    "Rule",
    "estimate_seconds",
    "lint_menu",
]
