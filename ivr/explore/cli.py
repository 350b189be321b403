"""``ivr explore``: map a TwiML app by calling it, report its defects, write its scenarios.

Exit codes: 0 no finding is an error; 1 some finding is; 2 a usage problem
(a menu that cannot be loaded, a bad inputs file, an app that cannot be reached).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console
from rich.table import Table

from ivr.cli_common import load_menu_or_exit
from ivr.config import DEFAULT_MENU
from ivr.explore.findings import Finding, find, path_text
from ivr.explore.inputs import Inputs, InputsError, load_inputs
from ivr.explore.report import as_json, map_parts, write_scenarios
from ivr.explore.search import Exploration, Explorer, Limits
from ivr.explore.target import Target, http_target, project_target

__all__ = ["explore"]


class _Refused(click.ClickException):
    """A request the command cannot carry out (exit 2, one line)."""

    exit_code = 2


@contextmanager
def _target(
    menu: Path | None, url: str | None, method: Literal["GET", "POST"], auth_token: str | None,
    demo_data: bool, clock: str | None,
) -> Iterator[Target]:  # fmt: skip
    if url:
        yield http_target(url, method, auth_token or None)
        return
    from ivr.simulator.app import TargetUnavailable

    path = menu or DEFAULT_MENU
    load_menu_or_exit(path)
    try:
        with project_target(path, demo_data=demo_data, clock=clock) as target:
            yield target
    except TargetUnavailable as exc:
        raise _Refused(str(exc)) from None


def _coverage(x: Exploration, menu: Path) -> tuple[int, int]:
    from ivr.menu.loader import load_menu
    from ivr.simulator.coverage import Coverage

    cov = Coverage(load_menu(menu))
    for call in x.calls:
        cov.add_call(call.result.events)
    return cov.summary().get("node", (0, 0))


def _unreachable(x: Exploration) -> str | None:
    """Why the first call got no answer at all, if it did not (the URL is wrong or down)."""
    if not x.calls:
        return None
    events = x.calls[0].result.events
    requests = [e for e in events if e.name == "request"]
    if requests and getattr(requests[0], "status", 0) is None:
        errors = [getattr(e, "message", "") for e in events if e.name == "error"]
        return errors[0] if errors else "no answer"
    return None


def _summary(x: Exploration, findings: list[Finding], target: Target, coverage: tuple[int, int] | None) -> None:
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"[bold]{len(x.states)} states[/bold] found in {x.call_count} calls, {x.seconds:.1f} s "
        f"({x.call_count / x.seconds if x.seconds else 0:.0f} calls/s); {x.stopped}"
    )
    if target.fresh_store:
        console.print("[dim]Each call ran on a fresh copy of the seeded store.[/dim]")
    else:
        console.print("[dim]Over HTTP the app's own state is its own: calls may have changed it for later ones.[/dim]")
    if coverage is not None:
        done, total = coverage
        console.print(f"Menu nodes reached: {done}/{total} ({100 * done / total if total else 100:.0f}%)")
    if not findings:
        console.print("[green]No findings.[/green]")
        return
    table = Table("severity", "kind", "path", "message", show_lines=False)
    for f in findings:
        colour = "red" if f.severity == "error" else "yellow"
        table.add_row(f"[{colour}]{f.severity}[/{colour}]", f.kind, path_text(f.path), f.message)
    console.print(table)


_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("explore")
@click.argument("menu", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--url", help="Explore this TwiML webhook over HTTP instead of the menu in-process.")
@click.option(
    "--method",
    type=click.Choice(["GET", "POST"]),
    default="POST",
    show_default=True,
    help="The HTTP method of the first request.",
)
@click.option("--auth-token", envvar="TWILIO_AUTH_TOKEN", help="Sign requests with this token.")
@click.option("--inputs", "inputs_file", type=_FILE, help="YAML: the values to key at entries whose prompt matches.")
@click.option("--demo-data", is_flag=True, help="In-process only: seed the fictional demo cardholders first.")
@click.option("--clock", help="In-process only: the app's fixed time, ISO 8601 (default: now, fixed for the run).")
@click.option(
    "--max-calls", type=click.IntRange(min=1), default=500, show_default=True, help="At most this many calls."
)
@click.option(
    "--max-depth", type=click.IntRange(min=1), default=12, show_default=True, help="At most this many inputs a call."
)
@click.option(
    "--max-seconds", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help="Stop after this long."
)
@click.option(
    "--scenarios",
    "scenarios_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the regression suite here: a scenario per path to each ending and to each leaf of the map.",
)
@click.option(
    "-o",
    "map_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw the call-flow map (.svg, .png or .mmd).",
)
@click.option("--json", "as_json_flag", is_flag=True, help="Print one JSON object instead of the summary.")
def explore(
    menu: Path | None, url: str | None, method: Literal["GET", "POST"], auth_token: str | None,
    inputs_file: Path | None, demo_data: bool, clock: str | None, max_calls: int, max_depth: int,
    max_seconds: float, scenarios_dir: Path | None, map_out: Path | None, as_json_flag: bool,
) -> None:  # fmt: skip
    """Map a TwiML app by calling it (MENU in-process, or --url), report its defects and write its scenarios.

    In-process, each call runs on a fresh copy of the (seeded) store; over
    --url the app keeps its own state.  The crawl stops at --max-calls,
    --max-seconds or when every input found was tried.  Exit status: 0 when no
    finding is an error, 1 when one is, 2 when the menu, the inputs file or
    the URL cannot be used.  Details: docs/simulator.md, "Exploring an app".
    """
    if url and menu:
        raise click.UsageError("give either a MENU (in-process) or --url, not both")
    if url and (demo_data or clock):
        raise click.UsageError("--demo-data and --clock set up the in-process app; a --url server has its own")
    if map_out is not None:
        from ivr.explore.drawing import map_format

        map_format(map_out)  # a suffix it cannot draw is refused before any call
    try:
        inputs = load_inputs(inputs_file) if inputs_file else Inputs()
    except InputsError as exc:
        raise _Refused(str(exc)) from None
    with _target(menu, url, method, auth_token, demo_data, clock) as target:
        progress: Any = nullcontext()
        on_progress = None
        if not as_json_flag and sys.stderr.isatty():
            from rich.progress import Progress

            progress = Progress(console=Console(stderr=True), transient=True)
            task = progress.add_task("exploring", total=max_calls)

            def on_progress(states: int, calls: int) -> None:
                progress.update(task, completed=calls, description=f"exploring: {states} states")

        with progress:
            x = Explorer(target, inputs, Limits(max_calls, max_depth, max_seconds), on_progress).run()
        if url and (why := _unreachable(x)):
            raise _Refused(f"cannot reach {url}: {why}")
        findings = find(x)
        coverage = _coverage(x, menu or DEFAULT_MENU) if target.menu is not None else None
        if scenarios_dir is not None:
            written = write_scenarios(x, target, scenarios_dir)
            if not as_json_flag:
                click.echo(f"wrote {len(written)} scenario(s) to {scenarios_dir}", err=True)
        if map_out is not None:
            from ivr.explore.drawing import render_map

            nodes, edges = map_parts(x)
            render_map(nodes, edges, map_out)
    if as_json_flag:
        click.echo(json.dumps(as_json(x, findings, target, coverage), ensure_ascii=False))
    else:
        _summary(x, findings, target, coverage)
    sys.exit(1 if any(f.severity == "error" for f in findings) else 0)
