"""What ``ivr lint`` reports: the rules, their limits, findings and the report.

The rules themselves are in :mod:`ivr.authoring.rules`; :mod:`ivr.authoring.lint`
runs them and re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "LIMITS",
    "RULES",
    "Finding",
    "LintReport",
    "Rule",
    "Severity",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """A lint rule: its stable id, its severity and what it asks for."""

    id: str
    severity: Severity
    summary: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("too-many-options", "warning", "at most 5 options in each menu below the main menu"),
        Rule("too-deep", "warning", "every service within 3 menu choices of the start"),
        Rule("no-agent-key", "error", "from every menu, one key reaches the agent"),
        Rule("no-retry-path", "error", "every menu and input has a no-input and an invalid-input prompt"),
        Rule("exhausted-hangup", "warning", "after the last failed attempt the caller goes to a person, not a hangup"),
        Rule("greeting-too-long", "warning", "the greeting takes at most 8 s to say"),
        Rule("prompt-too-long", "warning", "an instruction prompt takes at most 20 s to say"),
        Rule(
            "key-first", "warning", 'say the service, then the key: "To activate, press 1", not "Press 1 to activate"'
        ),
        Rule("global-key-inconsistent", "warning", "global keys do the same thing in every menu"),
        Rule("unhandled-key", "error", "every key a menu's prompt offers is handled by that menu"),
        Rule("option-not-announced", "error", "every option of a menu is announced in its prompts, in every language"),
    )
}
"""Every rule, by id."""

LIMITS: dict[str, float] = {
    "options": 5,
    "depth": 3,
    "greeting_seconds": 8.0,
    "prompt_seconds": 20.0,
}
"""The numbers the rules hold menus to."""


@dataclass(frozen=True)
class Finding:
    """One place where a menu breaks a lint rule."""

    rule: str
    path: str
    message: str
    measured: float | None = None
    limit: float | None = None
    language: str | None = None
    source: Literal["measured", "estimated"] | None = None

    @property
    def severity(self) -> Severity:
        """``error`` or ``warning``, fixed per rule."""
        return RULES[self.rule].severity

    def line(self, file: str) -> str:
        """``FILE: SEVERITY: RULE: PATH: message``."""
        return f"{file}: {self.severity}: {self.rule}: {self.path}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON object."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "measured": self.measured,
            "limit": self.limit,
            "language": self.language,
            "source": self.source,
        }


@dataclass
class LintReport:
    """The findings for one menu, and how prompt durations were obtained."""

    findings: list[Finding] = field(default_factory=list)
    measured_prompts: int = 0
    estimated_prompts: int = 0

    @property
    def errors(self) -> int:
        """How many findings are errors."""
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        """How many findings are warnings."""
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def durations(self) -> str:
        """``measured``, ``estimated``, or ``measured N, estimated M``: where the prompt durations came from."""
        if self.measured_prompts and self.estimated_prompts:
            return f"measured {self.measured_prompts}, estimated {self.estimated_prompts}"
        return "measured" if self.measured_prompts else "estimated"
