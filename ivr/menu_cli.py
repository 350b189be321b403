"""``ivr menu``: publishing menu versions to the store, listing, comparing and rolling them back.

A publication is immutable: ``publish`` and ``rollback`` each add one, and
the newest is what new calls hear, on every worker and host, within seconds
and without a restart.  Calls in progress keep the version they started on.
"""

from __future__ import annotations

import getpass
import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ivr.cli_common import MENU_REFUSED, echo_problems, echo_refusal
from ivr.db_cli import open_database
from ivr.errors import MenuError

if TYPE_CHECKING:
    from ivr.config import Settings
    from ivr.menu.model import Menu
    from ivr.storage.menus import MenuPublication, PublishedMenus

__all__ = ["menu"]

_DATABASE = click.option("--database-url", envvar="IVR_DATABASE_URL", help="SQLAlchemy URL of the store.")


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _publisher() -> str:
    """Who is publishing: ``user@host``, as far as this machine knows."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _describe(p: MenuPublication, settings: Settings) -> str:
    extra = f", rollback to {p.rollback_of}" if p.rollback_of is not None else ""
    when = settings.format_time(p.published_at)
    return f"version {p.number} ({p.menu_id} {p.label}{extra}) by {p.published_by} at {when}"


def _check(content: str | bytes, source: str, strict: bool) -> Menu:
    """The menu in ``content``, or the command ends with the validator's (or, ``strict``, the lint's) problems."""
    from ivr.contracts import SPECS_BY_NAME
    from ivr.menu.checks import check_menu
    from ivr.menu.loader import parse_menu

    try:
        menu = parse_menu(content, source)
    except MenuError as exc:
        echo_refusal(exc)
        click.echo(f"{source}: refused: it does not validate; nothing was published", err=True)
        sys.exit(MENU_REFUSED)
    echo_problems(source, [p for p in check_menu(menu, SPECS_BY_NAME) if p.severity == "warning"])
    if strict:
        from ivr.authoring.lint import lint_menu

        report = lint_menu(menu)
        for finding in report.findings:
            click.echo(finding.line(source), err=True)
        if report.errors:
            _fail(f"{source}: refused: {report.errors} lint error(s) (--strict); nothing was published")
    return menu


def _publish(
    store: PublishedMenus,
    settings: Settings,
    content: str,
    menu: Menu,
    note: str,
    by: str,
    rollback_of: int | None = None,
) -> None:
    from ivr.storage.menus import NOTE_LENGTH, PUBLISHER_LENGTH, content_hash

    if len(note) > NOTE_LENGTH or len(by) > PUBLISHER_LENGTH:
        limits = f"a note may have {NOTE_LENGTH} characters and a publisher's name {PUBLISHER_LENGTH}"
        _fail(f"{limits}; nothing was published", 2)
    current = store.current()
    if current is not None and current.content_hash == content_hash(content):
        click.echo(f"unchanged: version {current.number} is this menu and is current; nothing was published")
        return
    added = store.publish(
        content,
        menu_id=menu.id,
        label=menu.version,
        published_by=by,
        now=settings.now(),
        note=note,
        rollback_of=rollback_of,
    )
    click.echo(f"published {_describe(added, settings)}")
    click.echo("new calls get it within seconds, on every worker; calls in progress keep the version they began on")


@click.group()
def menu() -> None:
    """Publish menu versions to the store, list, compare, show and roll them back."""


@menu.command()
@click.argument("menu_file", metavar="MENU.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--note", default="", help="Why this version: shown in the list of versions.")
@click.option("--strict", is_flag=True, help="Refuse the menu on lint errors as well as on validation errors.")
@click.option("--by", "by", default=None, help="Who publishes it (default: user@host).")
@_DATABASE
def publish(menu_file: Path, note: str, strict: bool, by: str | None, database_url: str | None) -> None:
    """Validate MENU.json and store it as a new version, which new calls get from now on."""
    from ivr.menu.loader import MAX_MENU_BYTES

    try:
        # No more than a menu may hold: /dev/zero or a pipe has no size to check first.
        with menu_file.open("rb") as fh:
            data = fh.read(MAX_MENU_BYTES + 1)
    except OSError as exc:
        _fail(f"{menu_file}: cannot read it: {exc.strerror or exc}", MENU_REFUSED)
    checked = _check(data, str(menu_file), strict)  # the bytes: a bad one is located, a BOM dropped
    with open_database(database_url) as (settings, database):
        from ivr.storage.menus import PublishedMenus

        store = PublishedMenus(database)
        _publish(store, settings, data.decode("utf-8-sig"), checked, note, by or _publisher())


@menu.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the versions instead of a table.")
@_DATABASE
def list_(as_json: bool, database_url: str | None) -> None:
    """List the published versions, newest first, and which one is served."""
    from ivr.storage.menus import PublishedMenus

    with open_database(database_url) as (settings, database):
        history = PublishedMenus(database).history()
    current = history[0].number if history else None
    if as_json:
        rows: list[dict[str, Any]] = [
            {
                **p.summary(),
                "published_at": settings.local_time(p.published_at).isoformat(),
                "current": p.number == current,
            }
            for p in history
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not history:
        click.echo(f"no version is published: the service serves the menu file ({settings.menu})")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("", "version", "menu", "label", f"published ({settings.timezone})", "by", "note"):
        table.add_column(column)
    for p in history:
        note = " ".join(filter(None, (f"(rollback to {p.rollback_of})" if p.rollback_of is not None else "", p.note)))
        table.add_row(
            "*" if p.number == current else "",
            str(p.number),
            p.menu_id,
            p.label,
            settings.format_time(p.published_at),
            p.published_by,
            note,
        )
    Console(width=160, highlight=False).print(table)
    click.echo(f"* served to new calls: version {current}")


def _document(store: PublishedMenus, which: str) -> tuple[str, dict[str, Any]]:
    """A version (its number, or ``current``) or a menu file, as (name, parsed JSON)."""
    if which == "current" or which.isdigit():
        number = store.latest_number() if which == "current" else int(which)
        found = store.get(number) if number is not None else None
        if found is None:
            _fail("no version is published" if number is None else f"there is no version {which}")
        return f"version {found.number} ({found.label})", json.loads(found.content)
    path = Path(which)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        _fail(f"{which} is neither a version number nor a readable menu file ({exc.strerror or exc})", 2)
    except ValueError as exc:
        _fail(f"{which}: not JSON: {exc}", 2)
    if not isinstance(doc, dict):
        _fail(f"{which}: a menu is a JSON object", 2)
    return str(path), doc


@menu.command()
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as a JSON list instead of text.")
@_DATABASE
def diff(a: str, b: str, as_json: bool, database_url: str | None) -> None:
    """Show what changed from version A to version B, node by node and prompt by prompt.

    A and B are version numbers, `current`, or menu files (to see what publishing one would change).
    Exit status: 0 when they are the same, 1 when they differ.
    """
    from ivr.authoring.diff import diff_documents
    from ivr.storage.menus import PublishedMenus

    with open_database(database_url) as (_, database):
        store = PublishedMenus(database)
        name_a, doc_a = _document(store, a)
        name_b, doc_b = _document(store, b)
    changes = diff_documents(doc_a, doc_b)
    if as_json:
        click.echo(json.dumps([c.to_json() for c in changes.changes], ensure_ascii=False, indent=2))
    elif not changes:
        click.echo(f"{name_a} and {name_b} are the same menu")
    else:
        click.echo(f"--- {name_a}\n+++ {name_b}")
        for line in changes.lines():
            click.echo(line)
        nodes, prompts = changes.nodes_changed(), changes.prompts_changed()
        click.echo(f"{len(changes.changes)} change(s): {len(nodes)} node(s), {len(prompts)} named prompt(s)")
    sys.exit(1 if changes else 0)


@menu.command()
@click.argument("version", type=int)
@click.option("--note", default="", help="Why: shown in the list of versions.")
@click.option("--by", "by", default=None, help="Who rolls back (default: user@host).")
@_DATABASE
def rollback(version: int, note: str, by: str | None, database_url: str | None) -> None:
    """Make VERSION current again, as a new version with its content."""
    from ivr.storage.menus import PublishedMenus

    with open_database(database_url) as (settings, database):
        store = PublishedMenus(database)
        old = store.get(version)
        if old is None:
            _fail(f"there is no version {version}")
        checked = _check(old.content, f"version {version}", strict=False)
        _publish(store, settings, old.content, checked, note, by or _publisher(), version)


@menu.command()
@click.argument("version")
@_DATABASE
def show(version: str, database_url: str | None) -> None:
    """Print a version's menu (a number, or `current`) as it was published."""
    from ivr.storage.menus import PublishedMenus

    if version != "current" and not version.isdigit():
        _fail(f"{version!r} is not a version: give its number or 'current'", 2)
    with open_database(database_url) as (_, database):
        store = PublishedMenus(database)
        number = store.latest_number() if version == "current" else int(version)
        found = store.get(number) if number is not None else None
    if found is None:
        _fail("no version is published" if number is None else f"there is no version {version}")
    click.echo(found.content, nl=not found.content.endswith("\n"))
