"""The ``ivr`` command line."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from ivr.config import DEFAULT_MENU
from ivr.errors import MenuError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivr")
def main() -> None:
    """A 12333-style hotline: a JSON menu served as TwiML, with a local voice simulator."""


@main.command()
@click.argument("menus", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON Lines instead of text.")
@click.option("--strict", is_flag=True, help="Fail on warnings as well as on errors.")
def validate(menus: tuple[Path, ...], as_json: bool, strict: bool) -> None:
    """Check menu files and report every problem with its location."""
    from ivr.cli_common import echo_problems
    from ivr.contracts import SPECS_BY_NAME
    from ivr.menu.checks import check_menu
    from ivr.menu.loader import load_menu

    failed = False
    for path in menus:
        try:
            menu = load_menu(path)
        except MenuError as exc:
            failed = True
            problems = exc.problems
            nodes = None
        else:
            problems = [p for p in check_menu(menu, SPECS_BY_NAME) if p.severity == "warning"]
            nodes = len(menu.nodes)
            failed = failed or (strict and bool(problems))
        if as_json:
            for p in problems:
                click.echo(json.dumps({"file": str(path), **p.__dict__}, ensure_ascii=False))
        else:
            echo_problems(str(path), problems)
            errors = sum(p.severity == "error" for p in problems)
            warnings = len(problems) - errors
            if nodes is not None:
                click.echo(f"{path}: ok, {nodes} nodes, {warnings} warning(s)")
            else:
                click.echo(f"{path}: {errors} error(s)", err=True)
    sys.exit(1 if failed else 0)


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the schema to this file instead of printing it.",
)
@click.option("--check", is_flag=True, help="Exit 1 if the output file differs from the schema the code defines.")
def schema(output: Path | None, check: bool) -> None:
    """Print or write the menu language's JSON Schema."""
    from ivr.schema import schema_text

    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
        return
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            click.echo(f"{output} is out of date; run: ivr schema -o {output}", err=True)
            sys.exit(1)
        click.echo(f"{output} is up to date")
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")


@main.command()
@click.argument("menu", default=DEFAULT_MENU, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--keys", default=None, help='Answers for each prompt, separated by spaces; "-" is silence.')
def demo(menu: Path, keys: str | None) -> None:
    """Call the hotline through the simulator with the demo cardholders and print the call."""
    from ivr.cli_common import menu_refused
    from ivr.simulator.app import TargetUnavailable
    from ivr.simulator.demo import DEMO_KEYS, run_demo

    try:
        with menu_refused():
            code = run_demo(menu, shlex.split(keys) if keys is not None else DEMO_KEYS)
    except TargetUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


def _register_commands() -> None:
    """Commands that live beside the feature they drive, each in its own module."""
    # Add one import and one add_command line per feature module here.
    from ivr.audio.cli import render

    main.add_command(render)
    from ivr.cards_cli import cards
    from ivr.db_cli import db
    from ivr.menu_cli import menu
    from ivr.web.cli import serve

    main.add_command(serve)
    main.add_command(db)
    main.add_command(cards)
    main.add_command(menu)
    from ivr.simulator.cli import simulate_command, test_command

    main.add_command(simulate_command)
    main.add_command(test_command)
    from ivr.authoring.cli import graph, lint

    main.add_command(lint)
    main.add_command(graph)
    from ivr.explore.cli import explore

    main.add_command(explore)
    from ivr.studio.cli import studio

    main.add_command(studio)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
