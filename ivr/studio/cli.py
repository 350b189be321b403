"""``ivr studio``: Studio flow definitions in and out of the menu language."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

__all__ = ["studio"]

FLOW_REFUSED = 2
"""The exit status when the file given is not a Studio flow definition."""


def _write(text: str, output: Path | None) -> None:
    """``text`` to ``output``, or to standard output; a file that cannot be written ends the command (exit 1)."""
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"{output}: cannot write it: {exc.strerror}", err=True)
        sys.exit(1)


@click.group()
def studio() -> None:
    """Twilio Studio flows offline: import them as menus to validate, simulate and test, and export menus as flows."""


@studio.command("import")
@click.argument("flow_file", metavar="FLOW.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    metavar="MENU.json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the menu to this file instead of printing it.",
)
@click.option("--id", "menu_id", default=None, help="The menu's id (default: from the file's name).")
def import_command(flow_file: Path, output: Path | None, menu_id: str | None) -> None:
    """Translate a Studio flow definition (the console's Export to JSON) into a menu document.

    What runs differently offline is listed by widget name on stderr.  Exit
    status: 0 with a valid menu, 1 when the menu made fails validation (it is
    written all the same, to look at), 2 when FLOW.json is not a flow.
    """
    import re

    from ivr.cli_common import echo_problems
    from ivr.errors import MenuError
    from ivr.menu.loader import parse_menu
    from ivr.studio.flow import FlowError, read_flow
    from ivr.studio.importer import import_flow

    source = str(flow_file)
    try:
        data = flow_file.read_bytes()
    except OSError as exc:
        click.echo(f"{source}: cannot read it: {exc.strerror}", err=True)
        sys.exit(FLOW_REFUSED)
    try:
        flow = read_flow(data, source)
    except FlowError as exc:
        echo_problems(source, exc.problems)
        click.echo(f"{source}: not a Studio flow definition", err=True)
        sys.exit(FLOW_REFUSED)
    ident = menu_id or re.sub(r"[^A-Za-z0-9_.\-]", "_", flow_file.stem)[:64] or "studio"
    try:
        imported = import_flow(flow, ident)
    except Exception as exc:  # the importer's fault, never the flow author's: one line, not a traceback
        click.echo(
            f"{source}: the importer failed on this flow ({type(exc).__name__}: {exc}); please report it", err=True
        )
        sys.exit(FLOW_REFUSED)
    for note in imported.notes:
        click.echo(f"{source}: widget {note.state}: {note.message}", err=True)
    text = json.dumps(imported.menu, ensure_ascii=False, indent=2) + "\n"
    target = str(output) if output else "<menu>"
    failed = False
    try:
        menu = parse_menu(text, target)
    except MenuError as exc:
        failed = True
        echo_problems(target, exc.problems)
    _write(text, output)
    if failed:
        click.echo(f"{source}: the menu made from it does not validate (see above)", err=True)
        sys.exit(1)
    where = f" to {output}" if output else ""
    notes = len(imported.notes)
    click.echo(f"{source}: imported{where}: {len(menu.nodes)} nodes, {notes} note(s)", err=True)


@studio.command("export")
@click.argument("menu_file", metavar="MENU.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    metavar="FLOW.json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the flow definition to this file instead of printing it.",
)
def export_command(menu_file: Path, output: Path | None) -> None:
    """Write a menu as a Studio flow definition, to import in Studio's console or send to the Flows API.

    What the flow does differently from the menu, and what has no Studio
    widget, is listed by node on stderr.  Exit status: 0, or 2 when MENU.json
    is not a valid menu.
    """
    from ivr.cli_common import load_menu_or_exit
    from ivr.studio.exporter import export_menu
    from ivr.studio.schema import check_flow

    menu = load_menu_or_exit(menu_file)
    exported = export_menu(menu)
    for node_id, message in dict.fromkeys(exported.notes):
        click.echo(f"{menu_file}: node {node_id}: {message}", err=True)
    problems = check_flow(exported.flow)
    for problem in problems:  # a fault of the exporter's, never the author's: say so loudly
        click.echo(f"{menu_file}: the flow made is not valid Studio: {problem}", err=True)
    text = json.dumps(exported.flow, ensure_ascii=False, indent=2) + "\n"
    _write(text, output)
    if problems:
        sys.exit(1)
    where = f" to {output}" if output else ""
    click.echo(f"{menu_file}: exported{where}: {len(exported.flow['states'])} widgets", err=True)
