"""``ivr lint`` and ``ivr graph``: the menu author's views of a menu."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ivr.cli_common import MENU_REFUSED, echo_refusal, load_menu_or_exit
from ivr.errors import MenuError

__all__ = ["graph", "lint"]


@click.command()
@click.argument("menus", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document with every finding instead of text.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings as well as on errors.")
@click.option(
    "--audio",
    "audio_dir",
    default="audio",
    show_default=True,
    envvar="IVR_AUDIO_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="The rendered audio directory prompt durations are measured from (estimated where it has no audio).",
)
def lint(menus: tuple[Path, ...], as_json: bool, strict: bool, audio_dir: Path) -> None:
    """Check menus against IVR usability rules: options, depth, the agent, retries, prompt lengths, wording.

    Separate from `ivr validate`, which checks that a menu is correct.  Each
    finding names its rule, the JSON path to change and, for the numeric
    rules, what was measured and the limit.  Exit status: 0 clean, 1 on
    errors (or on warnings with --strict), 2 when a menu does not load.
    """
    from ivr.authoring.durations import PromptTimer
    from ivr.authoring.lint import lint_menu
    from ivr.menu.loader import load_menu

    timer = PromptTimer(audio_dir)
    failed = broken = False
    documents: list[dict[str, Any]] = []
    total_errors = total_warnings = 0
    for path in menus:
        try:
            menu = load_menu(path)
        except MenuError as exc:
            broken = True
            documents.append(
                {
                    "file": str(path),
                    "loaded": False,
                    "problems": [{**p.__dict__, "located": p.located(str(path))} for p in exc.problems],
                    "findings": [],
                }
            )
            if not as_json:
                echo_refusal(exc)
            continue
        report = lint_menu(menu, timer=timer)
        total_errors += report.errors
        total_warnings += report.warnings
        failed = failed or report.errors > 0 or (strict and report.warnings > 0)
        documents.append(
            {
                "file": str(path),
                "loaded": True,
                "errors": report.errors,
                "warnings": report.warnings,
                "durations": report.durations,
                "findings": [{"file": str(path), **f.to_json()} for f in report.findings],
            }
        )
        if not as_json:
            for f in report.findings:
                click.echo(f.line(str(path)), err=f.severity == "error")
            verdict = "clean" if not report.findings else f"{report.errors} error(s), {report.warnings} warning(s)"
            click.echo(f"{path}: {verdict}; {len(menu.nodes)} nodes; prompt durations {report.durations}")
    code = MENU_REFUSED if broken else 1 if failed else 0
    if as_json:
        findings = [f for doc in documents for f in doc["findings"]]
        summary = {"errors": total_errors, "warnings": total_warnings, "strict": strict, "exit": code}
        click.echo(json.dumps({"files": documents, "findings": findings, "summary": summary}, ensure_ascii=False))
    elif len(menus) > 1:
        click.echo(f"{len(menus)} menus: {total_errors} error(s), {total_warnings} warning(s)")
    sys.exit(code)


@click.command()
@click.argument("menu_path", metavar="MENU", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The file to write: .svg, .png, .mmd or .md (Mermaid), .dot.",
)
@click.option("--language", default=None, help="The language of the prompts in the labels (default: the menu's).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["svg", "png", "mermaid", "dot"]),
    default=None,
    help="The output format (default: from the file's extension).",
)
@click.option(
    "--heat",
    "heat_url",
    default=None,
    metavar="DATABASE_URL",
    help="Colour nodes by visits recorded in this call database (e.g. sqlite:///ivr.db).",
)
def graph(menu_path: Path, output: Path, language: str | None, fmt: str | None, heat_url: str | None) -> None:
    """Draw MENU's tree: SVG or PNG through Graphviz, or Mermaid or DOT text.

    Nodes show their title, kind, id and the start of their prompt; edges
    their keys and outcomes; keys every menu shares are in a legend.  With
    --heat, nodes are shaded from pale to red by the calls that visited them.
    """
    from ivr.authoring.graph import (
        GraphError,
        build_graph,
        cjk_font_missing,
        format_for,
        run_dot,
        to_dot,
        to_mermaid,
        visit_counts,
    )

    chosen = fmt or format_for(output)
    if chosen is None:
        raise click.BadParameter(
            f"cannot tell the format from {output.name!r}: name it .svg, .png, .mmd, .md or .dot, or give --format",
            param_hint="'-o'",
        )
    menu = load_menu_or_exit(menu_path)
    if language is not None and language not in menu.languages:
        raise click.BadParameter(
            f"{language!r} is not one of the menu's languages: {', '.join(menu.languages)}", param_hint="'--language'"
        )
    try:
        visits = visit_counts(heat_url) if heat_url else None
        diagram = build_graph(menu, language, visits)
        if chosen == "mermaid":
            text = to_mermaid(diagram)
            data = (f"```mermaid\n{text}```\n" if output.suffix.lower() == ".md" else text).encode("utf-8")
        elif chosen == "dot":
            data = to_dot(diagram).encode("utf-8")
        else:
            data = run_dot(to_dot(diagram), "png" if chosen == "png" else "svg")
    except GraphError as exc:
        click.echo(f"ivr graph: {exc}", err=True)
        sys.exit(1)
    try:
        output.write_bytes(data)
    except OSError as exc:
        click.echo(f"ivr graph: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    heat = ""
    if visits is not None:
        heat = f", heat from {sum(visits.values())} event(s)"
        if diagram.unknown_visits:
            heat += f" ({sum(diagram.unknown_visits.values())} at nodes not in this menu, left out)"
    click.echo(f"wrote {output} ({chosen}, {len(diagram.nodes)} nodes, {len(diagram.edges)} edges{heat})")
    if chosen == "png" and diagram.language.startswith("zh") and cjk_font_missing():
        click.echo(
            "note: no Chinese font is installed, so the PNG's Chinese text may show as boxes; install "
            "fonts-noto-cjk, or draw with --language en-US, or use SVG (the browser brings its fonts)",
            err=True,
        )
