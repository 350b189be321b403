"""``ivr render``: render a menu's prompts to audio files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["render"]


def _preview(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@click.command()
@click.argument("menus", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="The audio directory: files, and manifest.json listing them (default: $IVR_AUDIO_DIR, else audio).",
)
@click.option(
    "--voice",
    "voices",
    multiple=True,
    metavar="LANG=VOICE",
    help="The voice for a language, e.g. zh-CN=cmn (default: $IVR_TTS_VOICE_ZH_CN..., else the platform's).",
)
@click.option(
    "--rate",
    "rates",
    multiple=True,
    metavar="LANG=WPM",
    help="The speaking rate for a language in words a minute, e.g. zh-CN=265 "
    "(default: $IVR_TTS_RATE_ZH_CN..., else the rate calibrated for the platform's voice).",
)
@click.option("--workers", type=click.IntRange(1, 16), default=None, help="Engines to run in parallel.")
@click.option("--verify", is_flag=True, help="Also decode and check every file already rendered.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def render(
    menus: tuple[Path, ...],
    out: Path | None,
    voices: tuple[str, ...],
    rates: tuple[str, ...],
    workers: int | None,
    verify: bool,
    quiet: bool,
) -> None:
    """Render every prompt of MENUS (default: $IVR_MENU, else menus/12333.json) to 8 kHz WAV files.

    Renders what changed since the last run (a new voice or speaking rate
    renders again), checks every new file, and deletes files no prompt needs
    any more.  Voices, rates, the menu and the directory come from the same
    settings the web app reads, so that it finds what was rendered; options
    override them.  Exit status: 0 when every prompt is rendered, 1 when some
    could not be, 2 for a missing voice, a bad rate, bad settings or a bad menu.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ivr.audio.renderer import render as run_render
    from ivr.cli_common import load_menu_or_exit
    from ivr.config import ConfigError, Settings
    from ivr.tts import TTSError, VoiceNotFound, default_rate

    err = Console(stderr=True)
    try:
        settings = Settings.load()
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    # The options win over the settings, language by language.
    config: dict[str, str] = dict(settings.tts_voices)
    for item in voices:
        language, sep, voice = item.partition("=")
        if not sep or not language.strip() or not voice.strip():
            raise click.BadParameter(f"{item!r} is not LANG=VOICE", param_hint="--voice")
        config[language.strip()] = voice.strip()
    rate_config: dict[str, int] = dict(settings.tts_rates)
    for item in rates:
        language, sep, wpm = item.partition("=")
        try:
            if not sep or not language.strip():
                raise ValueError(item)
            rate_config[language.strip()] = int(wpm)
        except ValueError:
            raise click.BadParameter(f"{item!r} is not LANG=WPM (words a minute)", param_hint="--rate") from None

    out = out if out is not None else settings.audio_dir
    loaded = [load_menu_or_exit(path) for path in menus or (settings.menu,)]
    # A rate out of range given here is a configuration error like a missing
    # voice (the settings' own rates were checked as they were read): say so before any work.
    for language in sorted({lang for menu in loaded for lang in menu.languages}):
        try:
            default_rate(language, rate_config)
        except TTSError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            sys.exit(2)

    progress = Progress(
        TextColumn("rendering"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
        disable=quiet,
    )
    task = progress.add_task("", total=None)

    def advance(done: int, total: int, job: object) -> None:
        text = getattr(job, "text", "")
        progress.update(task, completed=done, total=total, description=_preview(text, 32))

    try:
        with progress:
            report = run_render(
                loaded,
                out,
                workers=workers,
                voice_config=config or None,
                rate_config=rate_config or None,
                verify=verify,
                progress=advance,
            )
    except VoiceNotFound as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except TTSError as exc:
        err.print(
            f"[bold red]error:[/] the speech engine does not work: {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(1)
    except OSError as exc:
        err.print(f"[bold red]error:[/] {escape(str(out))}: {escape(str(exc.strerror or exc))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted; files rendered so far are kept and listed in the manifest")
        sys.exit(130)

    for note in report.notes:
        err.print(f"note: {note}", highlight=False, markup=False)
    summary = (
        f"{out}: {report.planned} files: {len(report.rendered)} rendered, {report.reused} unchanged, "
        f"{len(report.pruned)} stale removed"
    )
    if report.retries:
        summary += f", {report.retries} retried"
    click.echo(f"{summary} ({report.seconds:.1f} s)")
    if report.failed:
        err.print(f"[bold red]{len(report.failed)} file(s) could not be rendered:[/]")
        for failure in report.failed:
            job = failure.job
            err.print(f"  {job.language} {job.kind} {_preview(job.text)!r}: {failure.reason}", markup=False)
        err.print("They are spoken live until a render succeeds; run `ivr render` again to retry.", markup=False)
        sys.exit(1)
