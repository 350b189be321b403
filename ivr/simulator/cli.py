"""``ivr simulate`` and ``ivr test``: the simulator's commands.

Exit codes: 0 the call ran its course (or every scenario passed); 1 the
application failed (HTTP error, timeout, invalid TwiML, loop guard) or a
scenario failed; 2 a usage problem (bad option, no app to call); 3 the call
used a verb the simulator does not play.  No traceback reaches the user.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from ivr.cli_common import load_menu_or_exit, menu_refused
from ivr.config import DEFAULT_MENU, ConfigError, Settings
from ivr.phone import events as ev
from ivr.phone.callers import parse_answers
from ivr.phone.client import DEFAULT_TIMEOUT
from ivr.phone.interpreter import DIAL_OUTCOMES
from ivr.phone.output import JsonLinesPrinter, TranscriptPrinter
from ivr.phone.run import simulate
from ivr.phone.speaker import LiveSpeaker, MuteSpeaker, Speaker, TtsSpeaker
from ivr.simulator.app import TargetUnavailable, project_app, seed_demo_data, store_url

__all__ = ["simulate_command", "test_command"]

F = TypeVar("F", bound=Callable[..., Any])

PROJECT_STATUS_CALLBACK = "/status"
"""The project app's status callback, which in-process calls notify when they end."""


class _Refused(click.ClickException):
    """A request the command will not carry out (exit 2, one line)."""

    exit_code = 2


def _debug() -> bool:
    """Whether the settings ask for tracebacks (``IVR_DEBUG``)."""
    try:
        return Settings.load().debug
    except ConfigError:
        return False  # the one line is the safe answer to settings that cannot be read


@contextmanager
def _no_traceback() -> Iterator[None]:
    """Turn an unexpected exception into one clear line and exit code 70 (set IVR_DEBUG=1 for the traceback)."""
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        # The settings are read only now, while handling the error: a bad one cannot break a call that works.
        if _debug():
            raise
        click.echo(f"simulator error (a bug; IVR_DEBUG=1 shows details): {type(exc).__name__}: {exc}", err=True)
        sys.exit(70)


def _target_options(f: F) -> F:
    """Options shared by ``simulate`` and ``test``: what to call and how the world behaves."""
    options = [
        click.option("--url", help="Call this TwiML webhook over HTTP instead of the menu in-process."),
        click.option(
            "--auth-token",
            envvar="TWILIO_AUTH_TOKEN",
            help="Sign requests with X-Twilio-Signature using this token (env: TWILIO_AUTH_TOKEN).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.01),
            default=DEFAULT_TIMEOUT,
            show_default=True,
            help="Seconds to wait for an HTTP answer before it counts as an application error.",
        ),
        click.option("--clock", help="In-process only: the app's fixed time, ISO 8601 (e.g. 2026-11-23T10:00+08:00)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command("simulate")
@click.argument("menu", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_target_options
@click.option("--keys", help='Scripted answers, one per input: keys ("1", "123#"), "-" for silence, "rec:SECONDS".')
@click.option("--json", "as_json", is_flag=True, help="Print the call as JSON Lines, one event a line.")
@click.option("--mute", is_flag=True, help="No speech synthesis: prompts are text, timed from their length.")
@click.option("-v", "--verbose", is_flag=True, help="Interactive: also show HTTP lines (method, URL, status, node).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), help="Write the call as an 8 kHz WAV file.")
@click.option(
    "--dial-outcome",
    "dial_outcomes",
    type=click.Choice(DIAL_OUTCOMES),
    multiple=True,
    help="How a <Dial> ends (default completed); repeat it for successive dials.",
)
@click.option("--status-callback", help="URL to notify when the call ends (relative to the first URL).")
@click.option("--from", "from_number", default="+8613800138000", show_default=True, help="The caller's number.")
@click.option("--to", "to_number", default="+8612333", show_default=True, help="The number called.")
@click.option("--method", type=click.Choice(["GET", "POST"]), default="POST", show_default=True, help="First request.")
@click.option("--max-hops", type=click.IntRange(min=1), default=25, show_default=True, help="Loop guard limit.")
@click.option(
    "--demo-data",
    is_flag=True,
    help="In-process only: load the fictional demo cardholders first (cards already there are kept; "
    "refused for a store with IVR_ENV=production).",
)
@click.option(
    "--database-url",
    help="In-process only: the store the call uses (default: IVR_DATABASE_URL, else sqlite:///ivr.db).",
)
@click.option(
    "--fresh",
    is_flag=True,
    help="In-process only: a throw-away database instead of IVR_DATABASE_URL / --database-url "
    "(default sqlite:///ivr.db).",
)
def simulate_command(
    menu: Path | None,
    url: str | None,
    auth_token: str | None,
    timeout: float,
    clock: str | None,
    keys: str | None,
    as_json: bool,
    mute: bool,
    verbose: bool,
    record: Path | None,
    dial_outcomes: tuple[str, ...],
    status_callback: str | None,
    from_number: str,
    to_number: str,
    method: Literal["GET", "POST"],
    max_hops: int,
    demo_data: bool,
    database_url: str | None,
    fresh: bool,
) -> None:
    """Call the hotline as Twilio would: MENU in-process (default menus/12333.json), or --url over HTTP.

    With --keys the call is scripted and runs on a virtual clock; without it, in a
    terminal, you are the caller: prompts are spoken and keys act at once.

    In-process calls use IVR_DATABASE_URL / --database-url (default sqlite:///ivr.db);
    --fresh for a throw-away one.  They notify the app's /status when they end.
    """
    if url and menu:
        raise click.UsageError("give either a MENU (in-process) or --url, not both")
    if url and (demo_data or clock or database_url or fresh):
        raise click.UsageError(
            "--demo-data, --clock, --database-url and --fresh set up the in-process app; a --url server has its own"
        )
    if fresh and database_url:
        raise click.UsageError("give either --database-url or --fresh (a throw-away database), not both")
    if demo_data and not fresh:
        _refuse_production_demo_data(database_url)
    try:
        answers = parse_answers(keys) if keys is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--keys") from None
    if answers is None and not sys.stdin.isatty():
        raise click.UsageError("no --keys and no terminal to press keys in: give --keys for a scripted call")
    printer: Callable[[ev.Event], None] = JsonLinesPrinter() if as_json else TranscriptPrinter()
    settings: dict[str, Any] = {
        "dial_outcomes": dial_outcomes or ("completed",),
        "status_callback": status_callback,
        "auth_token": auth_token or None,
        "from_number": from_number,
        "to_number": to_number,
        "max_hops": max_hops,
    }
    with _no_traceback(), ExitStack() as stack:
        target: Any = url
        if not url:
            config: dict[str, Any] = {"TWILIO_AUTH_TOKEN": auth_token} if auth_token else {}
            if clock:
                config["CLOCK"] = clock
            if database_url:
                config["DATABASE_URL"] = database_url
            try:
                with menu_refused():
                    target = stack.enter_context(project_app(menu or DEFAULT_MENU, config, fresh=fresh))
            except TargetUnavailable as exc:
                raise click.ClickException(str(exc)) from None
            if not as_json:
                _announce_store(target, fresh)
            if demo_data:
                seed_demo_data(target)
            # The project's status callback, as the Twilio console would name it: the dashboard's live calls end.
            settings["status_callback"] = status_callback or PROJECT_STATUS_CALLBACK
        if answers is not None:
            speaker: Speaker = MuteSpeaker()
            if not mute:
                speech = _speech_settings(target)
                speaker = TtsSpeaker(speech.tts_voices, speech.tts_rates)
            result = simulate(
                target, answers, speaker=speaker, record=record, on_event=printer, method=method, timeout=timeout,
                **settings,
            )  # fmt: skip
        else:
            result = _interactive(target, mute, record, printer, method, timeout, settings, verbose=verbose)
    sys.exit(result.exit_code)


def _refuse_production_demo_data(database_url: str | None) -> None:
    """Refuse ``--demo-data`` for a production store: fictional cardholders have no place there."""
    try:
        settings = Settings.load(overrides={"database_url": database_url} if database_url else None)
    except ConfigError:
        return  # the app's start-up reports settings that cannot be read
    if settings.env == "production":
        raise _Refused(
            "refusing to load the fictional demo cardholders into a production store (IVR_ENV=production); "
            "use --fresh for a throw-away database"
        )


def _announce_store(app: Any, fresh: bool) -> None:
    """One dim line on stderr, in the transcript's style: the store this call reads and writes."""
    where = "a throw-away SQLite database (--fresh)" if fresh else store_url(app)
    Console(highlight=False, soft_wrap=True, stderr=True).print(f"[dim]{0.0:7.1f}  {'store':<8} {escape(where)}[/dim]")


def _speech_settings(target: Any) -> Settings:
    """The settings the local speech engine speaks with: the in-process app's, else the environment's."""
    from flask import Flask

    from ivr.web import app_state

    if isinstance(target, Flask):
        return app_state(target).settings
    try:
        return Settings.load()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _interactive(
    target: Any,
    mute: bool,
    record: Path | None,
    printer: Callable[[ev.Event], None],
    method: Literal["GET", "POST"],
    timeout: float,
    settings: dict[str, Any],
    *,
    verbose: bool = False,
) -> Any:
    """You are the caller: the caller's view (HTTP lines with ``verbose``), or with --json the events alone."""
    from rich.live import Live

    from ivr.phone.clock import RealClock
    from ivr.phone.interactive import TerminalCaller
    from ivr.phone.view import CallerView

    console = Console(highlight=False, stderr=True)

    def notify(message: str) -> None:
        console.print(f"[dim]{message}[/dim]")

    speaker: Speaker = MuteSpeaker()
    if not mute:
        speech = _speech_settings(target)
        speaker = LiveSpeaker(speech.tts_voices, speech.tts_rates)
    clock = RealClock()
    view = CallerView(clock.now, Console(highlight=False), verbose=verbose)
    with_view = isinstance(printer, TranscriptPrinter)  # --json: the events alone, as they come
    with ExitStack() as stack:
        caller = stack.enter_context(
            TerminalCaller(clock=clock, notify=view.note, view=view) if with_view else TerminalCaller(notify=notify)
        )
        if with_view and view.console.is_terminal:
            stack.enter_context(Live(view, console=view.console, refresh_per_second=10))
        return simulate(
            target, caller=caller, speaker=speaker, record=record, on_event=view if with_view else printer,
            method=method, timeout=timeout, **settings,
        )  # fmt: skip


@click.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_target_options
@click.option("--coverage", "show_coverage", is_flag=True, help="Report which menu nodes, options and outcomes ran.")
@click.option("--menu", type=click.Path(dir_okay=False, path_type=Path), help="Menu for scenarios that name none.")
@click.option("-v", "--verbose", is_flag=True, help="Print each scenario's transcript.")
def test_command(
    paths: tuple[Path, ...],
    url: str | None,
    auth_token: str | None,
    timeout: float,
    clock: str | None,
    show_coverage: bool,
    menu: Path | None,
    verbose: bool,
) -> None:
    """Run scenario files (YAML call scripts) against the menu in-process, or --url."""
    from ivr.simulator.scenarios import ScenarioError, collect, run_all

    console = Console(highlight=False, soft_wrap=True)
    with _no_traceback():
        try:
            scenarios = collect(paths)
        except ScenarioError as exc:
            raise click.ClickException(str(exc)) from None
        if not scenarios:
            raise click.ClickException("no scenarios found in " + ", ".join(map(str, paths)))
        if not url:
            # A menu that cannot be loaded is refused before any call, as every command refuses it.
            for path in sorted({s.menu or menu or DEFAULT_MENU for s in scenarios if not s.url}):
                load_menu_or_exit(path)
        with menu_refused():  # the coverage report loads the menu too, even for calls over --url
            report = run_all(
                scenarios, url=url, auth_token=auth_token, timeout=timeout, clock=clock, menu=menu, console=console,
                verbose=verbose, coverage=show_coverage,
            )  # fmt: skip
    sys.exit(0 if report.ok else 1)
