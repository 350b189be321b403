"""Benchmark: rendering a menu's prompts with ``ivr render`` against calling espeak-ng directly.

Usage::

    .venv/bin/python bench/render.py [--menu menus/12333.json] [--workers N] [--repeat R]

In one run, for the same texts (every prompt piece and clip the renderer
plans, in every language of the menu):

- *direct*: the ``espeak-ng`` command once per text (``espeak-ng -v cmn -s RATE
  -w out.wav TEXT``, RATE being the words a minute the renderer gives pyttsx3 for that language), each file then
  resampled to 8 kHz by the renderer's own :func:`ivr.tts.to_telephony`.
  Sequentially, and with as many commands in parallel as the renderer has
  workers.
- *cold*: :func:`ivr.audio.render` into an empty directory (pyttsx3 in worker
  processes, every file verified).
- *warm*: the same render again, nothing changed.

Targets (issue 6): cold <= 1.5 x direct, warm <= 2 % of cold.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.audio import Job, default_workers, plan, render  # noqa: E402
from ivr.menu import load_menu  # noqa: E402
from ivr.tts import Synthesizer, engine_version, to_telephony  # noqa: E402


def _direct_one(job: Job, out: Path) -> None:
    raw = out / (job.file + ".raw.wav")
    # The same speaking rate the renderer gives pyttsx3 for this language.
    subprocess.run(["espeak-ng", "-v", job.voice, "-s", str(job.rate), "-w", str(raw), job.text], check=True)
    data = to_telephony(raw.read_bytes(), trim=job.kind == "clip")
    (out / job.file).write_bytes(data)
    raw.unlink()


def direct(jobs: list[Job], workers: int) -> float:
    """Seconds to render ``jobs`` with the espeak-ng command, ``workers`` at a time."""
    out = Path(tempfile.mkdtemp(prefix="bench-direct-"))
    try:
        start = time.perf_counter()
        if workers == 1:
            for job in jobs:
                _direct_one(job, out)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda j: _direct_one(j, out), jobs))
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def renders(menu_path: Path, workers: int) -> tuple[float, float, int]:
    """Seconds for a cold render and a warm one of the menu, and how many files were rendered."""
    menu = load_menu(menu_path)
    out = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        cold = render([menu], out, workers=workers)
        if not cold.ok:
            raise SystemExit(f"the cold render failed: {cold.failed[0].reason}")
        start = time.perf_counter()
        warm = render([menu], out, workers=workers)
        warm_seconds = time.perf_counter() - start
        if warm.rendered:
            raise SystemExit(f"the warm render rendered {len(warm.rendered)} files")
        return cold.seconds, warm_seconds, len(cold.rendered)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def median(repeat: int, measure: Callable[[], float]) -> float:
    """The median of ``repeat`` measurements."""
    return statistics.median(measure() for _ in range(repeat))


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--menu", type=Path, default=ROOT / "menus" / "12333.json")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the median is shown")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed: run scripts/sysdeps.sh")

    menu = load_menu(args.menu)
    with Synthesizer() as synth:
        jobs = list(plan([menu], synth.voice_name, synth.backend.version).values())
    chars = sum(len(j.text) for j in jobs)
    print(f"{args.menu.name}: {len(jobs)} texts ({chars} characters) in {', '.join(menu.languages)}")
    print(f"engine: {engine_version()}; {platform.machine()}, {platform.python_version()}; workers={args.workers}")

    results: dict[str, float] = {}
    for workers in sorted({1, args.workers}):
        results[f"direct, {workers} at a time"] = median(args.repeat, lambda w=workers: direct(jobs, w))
        cold_warm = [renders(args.menu, workers) for _ in range(args.repeat)]
        results[f"cold render, {workers} worker(s)"] = statistics.median(c for c, _, _ in cold_warm)
        results[f"warm render, {workers} worker(s)"] = statistics.median(w for _, w, _ in cold_warm)

    width = max(map(len, results))
    for name, seconds in results.items():
        print(f"  {name:<{width}}  {seconds:8.3f} s")
    fastest = min(v for k, v in results.items() if k.startswith("direct"))
    for workers in sorted({1, args.workers}):
        cold = results[f"cold render, {workers} worker(s)"]
        same = cold / results[f"direct, {workers} at a time"]
        warm = results[f"warm render, {workers} worker(s)"] / cold
        verdict = "ok" if cold / fastest <= 1.5 and warm <= 0.02 else "MISSED"
        print(
            f"  {workers} worker(s): cold/fastest direct = {cold / fastest:.2f}, cold/direct {workers} at a time = "
            f"{same:.2f} (target <= 1.5); warm/cold = {warm:.2%} (target <= 2 %): {verdict}"
        )


if __name__ == "__main__":
    main()
