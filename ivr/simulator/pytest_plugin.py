"""A pytest plugin: YAML call scripts in a ``scenarios`` directory are tests.

Registered through the ``pytest11`` entry point, so ``pytest`` collects
``tests/scenarios/*.yaml``: each scenario in a file is one test item, run
against the project's app in-process on a fresh database.  A failure shows what
was expected and the call's transcript.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.simulator.output import describe
from ivr.simulator.scenarios import Scenario, ScenarioError, ScenarioResult, load, run_one

__all__ = ["ScenarioFile", "ScenarioItem"]


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect ``*.yaml``/``*.yml`` files in directories named ``scenarios``."""
    if file_path.suffix in (".yaml", ".yml") and file_path.parent.name == "scenarios":
        collector: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


class ScenarioFailed(Exception):
    """A scenario's expectations did not hold."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__("; ".join(result.failures))
        self.result = result


class ScenarioFile(pytest.File):
    """One scenario file."""

    def collect(self) -> Iterator[pytest.Item]:
        """One item per scenario; a file that cannot be read is one failing item."""
        try:
            scenarios = load(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for scenario in scenarios:
            yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    """One scenario, run as a test."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        """Run the call and check it."""
        menu = self.config.rootpath / "menus" / "12333.json"
        result = run_one(self.scenario, menu=menu if menu.exists() else None)
        if not result.ok:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The failed expectations, then the call as it went."""
        if not isinstance(excinfo.value, ScenarioFailed):
            return str(super().repr_failure(excinfo))
        result = excinfo.value.result
        lines = [f"scenario {self.scenario.name!r} failed:", *(f"  {f}" for f in result.failures)]
        if result.call is not None:
            lines.append("the call:")
            for e in result.call.events:
                label, text, _ = describe(e)
                lines.append(f"  {e.t:7.1f}  {label:<8} {text}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario lives."""
        return self.path, 0, f"scenario: {self.scenario.name}"
