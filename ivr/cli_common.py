"""What the commands share: one way to refuse a menu that cannot be loaded.

``ivr validate`` reports problems as its answer (exit 1).  Every other command
that needs a menu (``simulate``, ``test``, ``render``, ``graph``, ``lint``,
``serve``, ``demo``) prints the same located problem list and exits 2, the
status of a command that was given something it cannot use.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from ivr.errors import MenuError, Problem

if TYPE_CHECKING:
    from ivr.menu.model import Menu

__all__ = ["MENU_REFUSED", "echo_problems", "echo_refusal", "load_menu_or_exit", "menu_refused", "refuse_menu"]

MENU_REFUSED = 2
"""The exit status of a command given a menu it cannot load."""


def echo_problems(source: str, problems: Iterable[Problem]) -> None:
    """Print each problem located as compilers do (``file:line:col: severity: path: message``)."""
    for p in problems:
        click.echo(p.located(source), err=p.severity == "error")


def echo_refusal(exc: MenuError) -> None:
    """Print why a menu cannot be loaded: its located problems, then a count, on stderr."""
    echo_problems(exc.source, exc.problems)
    errors = sum(p.severity == "error" for p in exc.problems)
    click.echo(f"{exc.source}: {errors} error(s)", err=True)


def refuse_menu(exc: MenuError) -> NoReturn:
    """Print why the menu cannot be loaded and exit with :data:`MENU_REFUSED`."""
    echo_refusal(exc)
    sys.exit(MENU_REFUSED)


@contextmanager
def menu_refused() -> Iterator[None]:
    """Run the block; a :class:`MenuError` raised in it refuses the menu."""
    try:
        yield
    except MenuError as exc:
        refuse_menu(exc)


def load_menu_or_exit(path: Path | str) -> Menu:
    """The menu at ``path``, or its problems printed and the command ended with :data:`MENU_REFUSED`."""
    from ivr.menu.loader import load_menu

    try:
        return load_menu(path)
    except MenuError as exc:
        refuse_menu(exc)
