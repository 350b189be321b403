"""Rendering a menu's prompts to files: only what changed, verified, with stale files pruned."""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ivr.audio.manifest import Entry, Manifest, is_rendered_name
from ivr.audio.plan import Job, plan
from ivr.menu.model import Menu
from ivr.tts import Synthesizer, TTSError, audio_problems, wav_duration

__all__ = ["Failure", "RenderReport", "default_workers", "render"]

Progress = Callable[[int, int, "Job | None"], None]
"""Called as ``progress(done, total, job)`` before rendering starts (job None) and after each job."""


@dataclass(frozen=True)
class Failure:
    """A file that could not be rendered, and why."""

    job: Job
    reason: str


@dataclass
class RenderReport:
    """What a render did."""

    planned: int = 0
    rendered: list[str] = field(default_factory=list)
    reused: int = 0
    pruned: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    """Things worth telling the user that are not failures (a damaged manifest was replaced...)."""

    @property
    def ok(self) -> bool:
        """Whether every file the menus need is rendered and verified."""
        return not self.failed


def default_workers() -> int:
    """Parallel engines for a render: one per CPU, at most four (espeak-ng is CPU-bound)."""
    return max(1, min(4, os.cpu_count() or 1))


def _write(directory: Path, name: str, data: bytes) -> None:
    # Atomic: a web server reading the directory never serves half a file.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".render-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_problems(path: Path, job: Job) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [f"cannot be read back ({exc.strerror})"]
    return audio_problems(data, job.text, job.language)


def render(
    menus: Sequence[Menu],
    out: Path,
    *,
    workers: int | None = None,
    voice_config: Mapping[str, str] | None = None,
    rate_config: Mapping[str, int] | None = None,
    synthesizer: Callable[[], Synthesizer] | None = None,
    verify: bool = False,
    progress: Progress | None = None,
) -> RenderReport:
    """Render every prompt and clip of ``menus`` into ``out``; see :mod:`ivr.audio`.

    ``voice_config`` and ``rate_config`` map languages to voices and speaking
    rates (words a minute), over the environment's and the platform's; they
    are ignored when ``synthesizer`` makes the synthesizers.

    Files already rendered (same text, language, voice, rate and engine
    version) are kept without opening them unless ``verify``; every new file
    is verified after it is written and rendered again if it fails.  Files
    the menus no longer need are deleted.  Raises
    :class:`~ivr.tts.VoiceNotFound` before any work when a needed voice is
    missing, and :class:`~ivr.tts.TTSError` when a rate is misconfigured or
    the engine cannot start at all; a file that still fails after retries is
    listed in the report's ``failed``.
    """
    started = time.perf_counter()
    make = synthesizer or (lambda: Synthesizer(voice_config=voice_config, rate_config=rate_config))
    report = RenderReport()
    out.mkdir(parents=True, exist_ok=True)
    try:
        manifest = Manifest.load(out)
    except ValueError as exc:
        manifest = Manifest()
        report.notes.append(f"{exc}; rendering afresh")

    first = make()
    synths = [first]
    try:
        jobs = plan(menus, first.voice_name, first.backend.version, rate_for=first.rate_for)
        report.planned = len(jobs)
        kept: dict[str, Entry] = {}
        todo: list[Job] = []
        for name, job in jobs.items():
            entry = manifest.files.get(name)
            path = out / name
            try:
                fresh = entry is not None and path.stat().st_size == entry.size
            except OSError:
                fresh = False
            if fresh and verify:
                fresh = not _file_problems(path, job)
            if fresh and entry is not None:
                kept[name] = replace(entry, clips=job.clips)
            else:
                todo.append(job)
        report.reused = len(kept)

        if progress is not None:
            progress(0, len(todo), None)
        if todo:
            # A missing voice is a configuration error: say so before any work.
            for language in sorted({job.language for job in todo}):
                first.resolve(language, first.voice_name(language))
            rendered: dict[str, Entry] = {}
            try:
                _render_jobs(todo, out, make, synths, workers or default_workers(), report, progress, rendered)
            except BaseException:
                # Interrupted: keep what is done, so the next run starts from there.
                Manifest({**kept, **rendered}).save(out)
                raise
            kept.update(rendered)

        for path in sorted(out.iterdir()):
            stale = is_rendered_name(path.name) and path.name not in jobs
            leftover = path.name.startswith((".render-", ".manifest-")) and path.suffix == ".tmp"
            if stale or leftover:
                path.unlink(missing_ok=True)
                if stale:
                    report.pruned.append(path.name)
        if kept != manifest.files:
            Manifest(kept).save(out)
    finally:
        for s in synths:
            report.retries += s.retries
            s.close()
    report.seconds = time.perf_counter() - started
    return report


def _render_jobs(
    todo: list[Job],
    out: Path,
    make: Callable[[], Synthesizer],
    synths: list[Synthesizer],
    workers: int,
    report: RenderReport,
    progress: Progress | None,
    done: dict[str, Entry],
) -> None:
    # Longest first, so that no worker is left with a long prompt at the end.
    todo = sorted(todo, key=lambda j: -len(j.text))
    count = max(1, min(workers, len(todo)))
    while len(synths) < count:
        synths.append(make())
    pool: queue.Queue[Synthesizer] = queue.Queue()
    for s in synths[:count]:
        pool.put(s)
    lock = threading.Lock()
    finished = 0

    def run(job: Job) -> None:
        nonlocal finished
        synth = pool.get()
        try:
            entry, reason = _render_one(job, out, synth)
        finally:
            pool.put(synth)
        with lock:
            if entry is not None:
                done[job.file] = entry
                report.rendered.append(job.file)
            else:
                report.failed.append(Failure(job, reason))
            finished += 1
            if progress is not None:
                progress(finished, len(todo), job)

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="ivr-render") as executor:
        futures = [executor.submit(run, job) for job in todo]
        try:
            for f in futures:
                f.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _render_one(job: Job, out: Path, synth: Synthesizer) -> tuple[Entry | None, str]:
    """Render, write and verify one file; a file that fails its check on disk is rendered once more."""
    reason = ""
    for _ in range(2):
        try:
            data = synth.synthesize(job.text, job.language, job.voice, trim=job.kind == "clip", rate=job.rate)
            _write(out, job.file, data)
        except TTSError as exc:
            return None, str(exc)
        except OSError as exc:
            return None, f"cannot write {out / job.file}: {exc.strerror}"
        problems = _file_problems(out / job.file, job)
        if not problems:
            entry = Entry(
                kind=job.kind,
                language=job.language,
                text=job.text,
                voice=job.voice,
                engine=job.engine,
                duration=round(wav_duration(data), 3),
                size=len(data),
                clips=job.clips,
                rate=job.rate,
            )
            return entry, ""
        reason = "the written file " + "; ".join(problems)
        synth.retries += 1
    (out / job.file).unlink(missing_ok=True)
    return None, reason
