"""A pytest plugin: YAML call scripts in a ``scenarios`` directory are tests.

Registered through the ``pytest11`` entry point, so ``pytest`` collects
``tests/scenarios/*.yaml``: each scenario in a file is one test item, run
against the project's app in-process on a fresh SQLite database.  A failure
shows what was expected and the call's transcript.

Each scenario is also collected a second time, as ``NAME [postgresql]``: when
``IVR_TEST_POSTGRES_URL`` is set, that item runs the same call with the app's
database in a fresh PostgreSQL schema of its own (created for the scenario,
dropped after it); when it is unset, the item is skipped and says why.
Scenarios that call a URL or set their own ``DATABASE_URL`` run once only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ivr.config import DEFAULT_MENU
from ivr.phone.output import describe
from ivr.simulator.scenarios import Scenario, ScenarioError, ScenarioResult, load, run_one

__all__ = ["POSTGRES_ENV", "ScenarioFile", "ScenarioItem", "postgres_schema"]

POSTGRES_ENV = "IVR_TEST_POSTGRES_URL"
"""The PostgreSQL server for the second run of every scenario (SQLAlchemy URL)."""


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect ``*.yaml``/``*.yml`` files in directories named ``scenarios``."""
    if file_path.suffix in (".yaml", ".yml") and file_path.parent.name == "scenarios":
        collector: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on the server at ``base_url``: yields a URL whose connections use it; dropped after.

    The schema is the connection's ``search_path`` (``?options=-csearch_path%3D...``),
    so the app's migrations create their tables in it.
    """
    from ivr.storage.db import StoreUnavailable
    from ivr.storage.scratch import ScratchSchema

    try:
        schema = ScratchSchema.create(base_url)
    except StoreUnavailable as exc:  # a URL that does not answer is a broken environment, not a pass
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL does not answer: {exc}", pytrace=False)
    try:
        yield schema.url
    finally:
        schema.drop()


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
        for scenario in scenarios:
            if not scenario.url and "DATABASE_URL" not in {str(k).upper() for k in scenario.config}:
                yield ScenarioItem.from_parent(
                    self, name=f"{scenario.name} [postgresql]", scenario=scenario, postgres=True
                )


class ScenarioItem(pytest.Item):
    """One scenario, run as a test: on SQLite, or on PostgreSQL when ``postgres`` is set."""

    def __init__(self, *, scenario: Scenario, postgres: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.postgres = postgres

    def runtest(self) -> None:
        """Run the call and check it."""
        path = self.config.rootpath / DEFAULT_MENU  # the project's menu, wherever pytest was started
        menu = path if path.exists() else None
        if not self.postgres:
            result = run_one(self.scenario, menu=menu)
        else:
            base = os.environ.get(POSTGRES_ENV)
            if not base:
                pytest.skip(
                    f"{POSTGRES_ENV} is not set (CI sets it; the PostgreSQL run of the scenarios needs a server)"
                )
            with postgres_schema(base) as url:
                result = run_one(self.scenario, menu=menu, database_url=url)
        if not result.ok:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The failed expectations, then the call as it went."""
        if not isinstance(excinfo.value, ScenarioFailed):
            return str(super().repr_failure(excinfo))
        result = excinfo.value.result
        on = " on PostgreSQL" if self.postgres else ""
        lines = [f"scenario {self.scenario.name!r} failed{on}:", *(f"  {f}" for f in result.failures)]
        if result.call is not None:
            lines.append("the call:")
            for e in result.call.events:
                label, text, _ = describe(e)
                lines.append(f"  {e.t:7.1f}  {label:<8} {text}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario lives."""
        return self.path, 0, f"scenario: {self.scenario.name}"
