"""Scenario tests: declarative call scripts in YAML, run through the simulator.

A scenario file holds one scenario (a mapping) or several (a list)::

    name: e-card download, then back and hang up
    url: https://ivr.example.org/voice    # optional: call this webhook over HTTP, not the app in-process
    method: POST                          # optional: the first request's HTTP method, GET or POST (default)
    clock: "2026-11-23T10:00:00+08:00"   # optional: the app's fixed time (agent hours...)
    dial: [busy]                          # optional: how successive <Dial>s end
    seed: demo                            # optional: seed the app's database with the demo cards
    config: {AGENT_NUMBER: "+8610012333"} # optional: more app settings
    drop_tables: [cards]                  # optional: tables taken out of the app's database once it is
                                          # ready, so the service that needs them fails while the call
                                          # store works (the menu's on_error path)
    steps:
      - hear: 欢迎致电12333               # substrings heard before this answer (a string or a list)
        press: "4"                        # the answer: keys, "-" for silence, "rec:SECONDS"
      - hear_re: 下载电子社保卡.*请按1     # regular expressions, searched in what was heard
        node: ecard                       # the node the app waits at (its X-IVR-Node header)
        press: "1"
    end:                                  # how the call ends
      as: hangup                          # hangup, transfer, voicemail, caller_hangup, reject, error
      hear: 再见

Quote keys in YAML: ``"#"`` starts a comment and ``*`` an alias otherwise.
Card numbers and passwords are just keys.  Scenarios run against the project's
app in-process, each on a fresh database (an SQLite file copied from a template
made once per seed and clock, or the empty database ``run_one`` is given, such
as a fresh PostgreSQL schema), or against ``--url``.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from rich.console import Console

from ivr.config import DEFAULT_MENU
from ivr.errors import MenuError
from ivr.phone import events as ev
from ivr.phone.callers import parse_answer
from ivr.phone.client import DEFAULT_TIMEOUT
from ivr.phone.interpreter import DIAL_OUTCOMES, CallResult
from ivr.phone.output import describe
from ivr.phone.run import simulate
from ivr.phone.speaker import MuteSpeaker
from ivr.simulator.app import TargetUnavailable, project_app, seed_demo_data
from ivr.simulator.coverage import Coverage
from ivr.web import app_state

__all__ = [
    "ENDINGS",
    "END_KEYS",
    "METHODS",
    "SCENARIO_KEYS",
    "STEP_KEYS",
    "Report",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "Step",
    "check",
    "collect",
    "run_all",
    "run_one",
]

ENDINGS = ("hangup", "transfer", "voicemail", "caller_hangup", "reject", "error", "unsupported")
SCENARIO_KEYS = {"name", "menu", "url", "method", "clock", "dial", "seed", "config", "drop_tables", "steps", "end"}
"""The keys of a scenario (docs/simulator.md, "Scenario format")."""
METHODS = ("GET", "POST")
"""What ``method:`` accepts: the HTTP method of the call's first webhook request (as Twilio's Voice URL method)."""
STEP_KEYS = {"hear", "hear_re", "not_hear", "node", "press"}
"""The keys of a step; an ``end`` takes them but ``press``, and :data:`END_KEYS` (docs/simulator.md)."""
END_KEYS = {"as", "dialled"}
"""The keys only an ``end`` takes: how the call ends, and the numbers it dialled."""


class ScenarioError(ValueError):
    """A scenario file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Step:
    """What must have been heard, and then the answer (None for the end of the call)."""

    press: str | None
    hear: tuple[str, ...] = ()
    hear_re: tuple[str, ...] = ()
    not_hear: tuple[str, ...] = ()
    node: str | None = None
    dialled: tuple[str, ...] = ()
    """End only: numbers the call's ``<Dial>``s must have rung, in order."""


@dataclass(frozen=True)
class Scenario:
    """One scripted call and what must happen in it."""

    name: str
    path: Path
    steps: tuple[Step, ...]
    end: Step
    ending: str | None = None
    menu: Path | None = None
    url: str | None = None
    method: Literal["GET", "POST"] = "POST"
    clock: str | None = None
    dial: tuple[str, ...] = ()
    seed: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    drop_tables: tuple[str, ...] = ()

    @property
    def answers(self) -> list[str]:
        """The scripted answers, in order."""
        return [s.press for s in self.steps if s.press is not None]


@dataclass
class ScenarioResult:
    """A scenario's call and what went wrong in it."""

    scenario: Scenario
    call: CallResult | None
    failures: list[str]

    @property
    def ok(self) -> bool:
        """Whether every expectation held."""
        return not self.failures


@dataclass
class Report:
    """All the scenarios run, and the flow coverage if it was asked for."""

    results: list[ScenarioResult]
    coverage: Coverage | None = None

    @property
    def ok(self) -> bool:
        """Whether every scenario passed."""
        return all(r.ok for r in self.results)


# -- loading --------------------------------------------------------------------


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str | int | float) for v in items):
        raise ScenarioError(f"{where}: expected a string or a list of strings")
    return tuple(str(v) for v in items)


def _step(raw: Any, where: str, final: bool) -> Step:
    if isinstance(raw, str) and final:
        raw = {"as": raw}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    allowed = STEP_KEYS - {"press"} | END_KEYS if final else STEP_KEYS
    unknown = set(raw) - allowed
    if unknown:
        names, known = ", ".join(sorted(unknown)), ", ".join(sorted(allowed))
        raise ScenarioError(f"{where}: unknown key(s) {names}; allowed: {known}")
    press = None
    if not final:
        if "press" not in raw:
            raise ScenarioError(f"{where}: a step needs press (keys, '-' or rec:SECONDS)")
        press = str(raw["press"])
        try:
            parse_answer(press)
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    for pattern in _strings(raw.get("hear_re"), where):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ScenarioError(f"{where}: bad regular expression {pattern!r}: {exc}") from None
    node = raw.get("node")
    return Step(
        press,
        _strings(raw.get("hear"), where),
        _strings(raw.get("hear_re"), where),
        _strings(raw.get("not_hear"), where),
        str(node) if node is not None else None,
        _strings(raw.get("dialled"), where),
    )


def _scenario(raw: Any, path: Path, index: int | None) -> Scenario:
    where = f"{path}" + (f"[{index}]" if index is not None else "")
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: a scenario is a mapping with steps")
    unknown = set(raw) - SCENARIO_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    steps_raw = raw.get("steps") or []
    if not isinstance(steps_raw, list):
        raise ScenarioError(f"{where}: steps must be a list")
    steps = tuple(_step(s, f"{where} step {i + 1}", False) for i, s in enumerate(steps_raw))
    end = _step(raw.get("end") or {}, f"{where} end", True)
    end_raw = raw.get("end")
    ending = (end_raw if isinstance(end_raw, str) else (end_raw or {}).get("as")) if end_raw else None
    if ending is not None and ending not in ENDINGS:
        raise ScenarioError(f"{where} end: {ending!r} is not one of {', '.join(ENDINGS)}")
    dial = _strings(raw.get("dial"), f"{where} dial")
    bad = [d for d in dial if d not in DIAL_OUTCOMES]
    if bad:
        raise ScenarioError(f"{where} dial: {', '.join(bad)} not among {', '.join(DIAL_OUTCOMES)}")
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise ScenarioError(f"{where} config: expected a mapping of app settings")
    drop_tables = _strings(raw.get("drop_tables"), f"{where} drop_tables")
    bad = [t for t in drop_tables if not re.fullmatch(r"[a-z_][a-z0-9_]*", t)]
    if bad:
        raise ScenarioError(f"{where} drop_tables: {', '.join(bad)} is not a table name")
    menu = raw.get("menu")
    name = str(raw.get("name") or (path.stem if index is None else f"{path.stem}[{index}]"))
    url = raw.get("url")
    if url is not None and (not isinstance(url, str) or not url.strip()):
        raise ScenarioError(f"{where} url: scenario {name!r}: expected the webhook's URL as a string, got {url!r}")
    return Scenario(
        name=name,
        path=path,
        steps=steps,
        end=end,
        ending=ending,
        menu=(path.parent / str(menu)) if menu else None,
        url=url,
        method=_method(raw.get("method", "POST"), f"{where} method: scenario {name!r}"),
        clock=str(raw["clock"]) if raw.get("clock") else None,
        dial=dial,
        seed=str(raw["seed"]) if raw.get("seed") else None,
        config=config,
        drop_tables=drop_tables,
    )


def _method(value: Any, where: str) -> Literal["GET", "POST"]:
    # A lower-case "get" is taken; anything else would only fail later, as an HTTP 405 from the app.
    method = value.upper() if isinstance(value, str) else value
    if method not in METHODS:
        raise ScenarioError(f"{where}: {value!r} is not an HTTP method the webhook can get; use GET or POST")
    return "GET" if method == "GET" else "POST"


def load(path: Path) -> list[Scenario]:
    """The scenarios in one YAML (or JSON) file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read it: {exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(data, list):
        return [_scenario(item, path, i) for i, item in enumerate(data)]
    return [_scenario(data, path, None)]


def collect(paths: Iterable[Path]) -> list[Scenario]:
    """Scenarios from files and directories (``*.yaml``, ``*.yml``, ``*.json`` in them, sorted)."""
    out: list[Scenario] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        else:
            files = [path]
        for f in files:
            out.extend(load(f))
    return out


# -- checking ---------------------------------------------------------------------


def _segments(events: Sequence[ev.Event]) -> list[tuple[list[str], str | None]]:
    """What was heard before each answer (and after the last), with the node the app waited at."""
    segments: list[tuple[list[str], str | None]] = [([], None)]
    node: str | None = None
    for e in events:
        if isinstance(e, ev.Request) and e.node:
            node = e.node
        if isinstance(e, ev.SayEvent):
            segments[-1][0].append(e.text)
        elif isinstance(e, ev.PlayEvent):
            segments[-1][0].append(f"[play {e.url or e.digits}]")
        elif isinstance(e, ev.Input | ev.NoInput | ev.RecordEvent):
            segments[-1] = (segments[-1][0], node)
            segments.append(([], None))
    segments[-1] = (segments[-1][0], node)
    return segments


def _check_step(step: Step, heard: list[str], node: str | None, label: str) -> list[str]:
    text = "\n".join(heard)
    failures = [f"{label}: expected to hear {h!r}" for h in step.hear if h not in text]
    failures += [f"{label}: expected to hear /{r}/" for r in step.hear_re if not re.search(r, text)]
    failures += [f"{label}: did not expect to hear {h!r}" for h in step.not_hear if h in text]
    if step.node is not None and step.node != node:
        failures.append(f"{label}: expected the call at node {step.node!r}, it was at {node!r}")
    if failures:
        failures.append(f"{label}: heard: " + (" | ".join(heard) if heard else "(nothing)"))
    return failures


def check(scenario: Scenario, call: CallResult) -> list[str]:
    """What in ``call`` does not match ``scenario`` (empty when it passed)."""
    segments = _segments(call.events)
    answered = len(segments) - 1
    failures: list[str] = []
    for i, step in enumerate(scenario.steps):
        if i >= answered:
            failures.append(
                f"step {i + 1} (press {step.press}): the call ended ({call.reason}) after {answered} answer(s)"
            )
            break
        failures += _check_step(step, *segments[i], f"step {i + 1} (before pressing {step.press})")
    if answered >= len(scenario.steps):
        heard = [t for seg, _ in segments[len(scenario.steps) :] for t in seg]
        failures += _check_step(scenario.end, heard, segments[-1][1], "end")
    failures += _check_ending(scenario.ending, call)
    dialled = [e.number for e in call.events if isinstance(e, ev.DialEvent)]
    if scenario.end.dialled and list(scenario.end.dialled) != dialled:
        wanted = ", ".join(scenario.end.dialled)
        failures.append(f"end: expected the call to dial {wanted}; it dialled {', '.join(dialled) or 'nothing'}")
    return failures


def _check_ending(ending: str | None, call: CallResult) -> list[str]:
    if ending is None:
        return [] if call.exit_code == 0 else [f"end: the call failed ({call.reason})", *_errors(call)]
    dials = [e for e in call.events if isinstance(e, ev.DialEvent)]
    records = [e for e in call.events if isinstance(e, ev.RecordEvent) and e.seconds > 0]
    ok = {
        "hangup": call.reason in ("hangup", "end_of_document"),
        "transfer": any(d.status == "completed" for d in dials) and call.exit_code == 0,
        "voicemail": bool(records) and call.exit_code == 0,
    }.get(ending, call.reason == ending)
    if ok:
        return []
    seen = f"ended by {call.reason}" + (f", dialled {dials[-1].number} ({dials[-1].status})" if dials else "")
    return [f"end: expected the call to end as {ending}, it {seen}", *_errors(call)]


def _errors(call: CallResult) -> list[str]:
    return [f"error: {e.message}" for e in call.events if isinstance(e, ev.ErrorEvent)]


# -- running -----------------------------------------------------------------------------


SEEDS = ("demo",)
"""What ``seed:`` accepts: ``demo``, the fictional cardholders of docs/demo-data.md."""

_templates: dict[tuple[str, str | None], Path] = {}
"""Seeded SQLite files by (seed, clock): seeding hashes passwords (scrypt), so it is done once and copied."""
_template_dir: Path | None = None


def _template(seed: str, clock: str | None, menu: Path) -> Path:
    """An SQLite file migrated and seeded with ``seed`` at ``clock``, made on first use in this process."""
    global _template_dir
    key = (seed, clock)
    if key not in _templates:
        if _template_dir is None:
            _template_dir = Path(tempfile.mkdtemp(prefix="ivr-scenario-templates-"))
            atexit.register(shutil.rmtree, _template_dir, True)
        path = _template_dir / f"{len(_templates)}.db"
        config: dict[str, Any] = {"DATABASE_URL": f"sqlite:///{path}"}
        if clock:
            config["CLOCK"] = clock
        with project_app(menu, config) as app:
            seed_demo_data(app)
        _templates[key] = path
    return _templates[key]


@contextmanager
def _database(
    scenario: Scenario, clock: str | None, menu: Path, database_url: str | None
) -> Iterator[tuple[dict[str, Any], bool]]:
    """The settings that give the app a fresh database for ``scenario``, and whether it is seeded already."""
    if scenario.seed and scenario.seed not in SEEDS:
        raise ScenarioError(f"seed: {scenario.seed!r} is unknown; the only seed is {', '.join(SEEDS)}")
    if database_url or "DATABASE_URL" in {k.upper() for k in scenario.config}:
        # The caller's empty database (a fresh PostgreSQL schema), or the scenario's own: seeded in place.
        yield ({"DATABASE_URL": database_url} if database_url else {}), False
        return
    if not scenario.seed:
        yield {}, False  # project_app's own empty SQLite file
        return
    template = _template(scenario.seed, clock, menu)
    with tempfile.TemporaryDirectory(prefix="ivr-scenario-") as tmp:
        copy = Path(tmp) / "sim.db"
        shutil.copyfile(template, copy)
        wal = template.with_name(template.name + "-wal")
        if wal.exists():  # normally folded into the file when the template's app closed
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        yield {"DATABASE_URL": f"sqlite:///{copy}"}, True


def run_one(
    scenario: Scenario,
    *,
    url: str | None = None,
    auth_token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    clock: str | None = None,
    menu: Path | None = None,
    database_url: str | None = None,
) -> ScenarioResult:
    """Run one scenario: against ``url`` (or its own), else the project's app in-process on a fresh database.

    ``database_url`` names an empty database for this one call (a fresh
    PostgreSQL schema); by default each call gets a new SQLite file.
    """
    settings: dict[str, Any] = {"dial_outcomes": scenario.dial or ("completed",), "auth_token": auth_token}
    answers = [parse_answer(a) for a in scenario.answers]
    target_url = url or scenario.url
    try:
        if target_url:
            call = simulate(
                target_url, answers, speaker=MuteSpeaker(), method=scenario.method, timeout=timeout, **settings
            )
        else:
            config: dict[str, Any] = dict(scenario.config)
            at = scenario.clock or clock
            if at:
                config["CLOCK"] = at
            if auth_token:
                config["TWILIO_AUTH_TOKEN"] = auth_token
            menu_path = scenario.menu or menu or DEFAULT_MENU
            with ExitStack() as stack:
                database, seeded = stack.enter_context(_database(scenario, at, menu_path, database_url))
                app = stack.enter_context(project_app(menu_path, {**config, **database}))
                if scenario.seed and not seeded:
                    seed_demo_data(app)
                if scenario.drop_tables:
                    app_state(app).drop_tables(scenario.drop_tables)
                call = simulate(app, answers, speaker=MuteSpeaker(), method=scenario.method, **settings)
    except (TargetUnavailable, ScenarioError) as exc:
        return ScenarioResult(scenario, None, [str(exc)])
    except MenuError as exc:
        return ScenarioResult(scenario, None, [p.located(exc.source) for p in exc.problems])
    return ScenarioResult(scenario, call, check(scenario, call))


def run_all(
    scenarios: Sequence[Scenario],
    *,
    console: Console | None = None,
    verbose: bool = False,
    coverage: bool = False,
    **options: Any,
) -> Report:
    """Run ``scenarios``, print a line per scenario (and failures, and coverage if asked); return the report."""
    console = console or Console(highlight=False, soft_wrap=True)
    report = Report([])
    for scenario in scenarios:
        result = run_one(scenario, **options)
        report.results.append(result)
        mark = "[green]PASS[/green]" if result.ok else "[bold red]FAIL[/bold red]"
        console.print(f"{mark} {scenario.name}  [dim]({scenario.path})[/dim]")
        for failure in result.failures:
            console.print(f"     [red]{failure}[/red]", markup=True)
        if result.call is not None and (verbose or not result.ok):
            for e in result.call.events:
                label, text, _ = describe(e)
                console.print(f"       {e.t:7.1f}  {label:<8} {text}", markup=False)
    passed = sum(r.ok for r in report.results)
    console.print(f"{passed} passed, {len(report.results) - passed} failed")
    if coverage:
        report.coverage = flow_coverage(report.results, options.get("menu") or DEFAULT_MENU)
        if report.coverage is not None:
            print_coverage(report.coverage, console)
    return report


def flow_coverage(results: Sequence[ScenarioResult], default_menu: Path) -> Coverage | None:
    """The coverage of the menu most scenarios ran against.

    Calls over ``--url`` count when the app sends X-IVR-Path (exact) or X-IVR-Node (inferred).
    """
    from ivr.menu.loader import load_menu

    menus = [r.scenario.menu or default_menu for r in results]
    if not menus:
        return None
    path = max(set(menus), key=menus.count)
    cov = Coverage(load_menu(path))
    for r in results:
        if r.call is not None and (r.scenario.menu or default_menu) == path:
            cov.add_call(r.call.events)
    return cov


def print_coverage(cov: Coverage, console: Console) -> None:
    """The coverage report: totals, then what was never reached."""
    console.print(f"[bold]Flow coverage of menu {cov.menu.id}[/bold]")
    for section, (done, total) in cov.summary().items():
        pct = 100 * done / total if total else 100.0
        console.print(f"  {section + 's':<9} {done:>3}/{total:<3} {pct:5.1f}%")
    missed = [(s, name) for s, name, covered in cov.items() if not covered]
    if missed:
        console.print("[bold]Never reached:[/bold]")
        for section, name in missed:
            console.print(f"  [yellow]{section:<8}[/yellow] {name}", markup=True)
    if cov.no_input_at:
        console.print("[dim]Timeouts exercised at: " + ", ".join(sorted(cov.no_input_at)) + "[/dim]")
