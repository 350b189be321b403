"""Menu scale: a generated 10,000-node menu, validated and served, against the 12333 menu in the same run.

Usage::

    .venv/bin/python bench/scale.py [--nodes 10000] [--repeat 5] [--rounds 7] [--calls 40] [--json]

- **validate**: ``ivr.menu.load_menu`` on the generated menu (read, parse,
  check: the whole of ``ivr validate`` but the printing), ``--repeat`` times;
  the 12333 menu's time for reference.  Target: under 1 s.
- **serve**: both menus served by the project's own WSGI app in this process
  (``ivr.web.create_app``, SQLite in a temporary folder, every prompt a
  ``<Say>``).  Each call is the incoming webhook and 12 key presses chosen at
  random among the options that lead to another menu (the same walker for
  both menus; the node every answer reports is checked against the walk).
  Rounds alternate between the menus, so both see the same machine.
  Target: steps/s of the 12333 menu / steps/s of the big menu at most 1.1.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` and ``ivr`` importable
    sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402

from bench.generate import write_menu  # noqa: E402
from ivr.menu.loader import load_menu  # noqa: E402

__all__ = ["MenuWalker", "serve_rate", "serving_app", "time_validation"]

MENU_12333 = ROOT / "menus" / "12333.json"
ACTION = re.compile(rb'<Gather[^>]*action="([^"]+)"')
PRESSES = 12
"""Key presses per call, after the incoming webhook."""


class MenuWalker:
    """Walks a menu document from menu to menu, as a caller browsing it would.

    At each menu it picks one of the options whose target is, or leads through
    message nodes to, another menu; so every answer's node is known in advance.
    """

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.nodes: Mapping[str, Mapping[str, Any]] = doc["nodes"]
        self.start: str = doc["start"]
        self._moves: dict[str, list[tuple[str, str]]] = {}
        for node_id, node in self.nodes.items():
            if node["kind"] == "menu":
                moves = [(key, self._landing(target)) for key, target in node["options"].items()]
                self._moves[node_id] = [(k, t) for k, t in moves if t is not None]

    def _landing(self, target: str) -> str | None:
        seen = set()
        while self.nodes[target]["kind"] == "message" and target not in seen:
            seen.add(target)
            target = self.nodes[target]["next"]
        return target if self.nodes[target]["kind"] == "menu" else None

    def walk(self, rng: random.Random, presses: int) -> list[tuple[str, str]]:
        """``presses`` (key, node the call lands at) pairs from the start."""
        here, out = self.start, []
        for _ in range(presses):
            moves = self._moves.get(here) or [("*", here)]  # a menu with no way on: repeat it
            key, here = rng.choice(moves)
            out.append((key, here))
        return out


@contextmanager
def serving_app(menu: Path, folder: Path) -> Iterator[Flask]:
    """The project's webhook app for ``menu`` on a fresh SQLite file in ``folder``."""
    from ivr.web import app_state, create_app

    folder.mkdir(parents=True, exist_ok=True)
    app = create_app(
        {
            "MENU": str(menu),
            "DATABASE_URL": f"sqlite:///{folder / 'scale.db'}",
            "CLOCK": "2026-11-23T10:00:00+08:00",
            "LOG_LEVEL": "WARNING",
            "AUDIO_DIR": str(folder / "no-audio"),
        }
    )
    try:
        yield app
    finally:
        app_state(app).close()


def serve_rate(app: Flask, walker: MenuWalker, calls: int, seed: int) -> tuple[int, float]:
    """Place ``calls`` walks through ``app``; (steps answered, seconds).  Raises if a step lands elsewhere."""
    client = app.test_client()
    rng = random.Random(seed)
    walks = [walker.walk(rng, PRESSES) for _ in range(calls)]  # made before the clock starts
    steps = 0
    t0 = time.perf_counter()
    for n, walk in enumerate(walks):
        sid = f"CAscale{seed}x{n}"
        resp = client.post("/voice", data={"CallSid": sid, "From": "+8613800000000"})
        steps += 1
        for key, expected in walk:
            m = ACTION.search(resp.data)
            if resp.status_code != 200 or m is None:
                raise RuntimeError(f"{sid}: no Gather to answer: {resp.status_code} {resp.data[:300]!r}")
            resp = client.post(m.group(1).decode().replace("&amp;", "&"), data={"CallSid": sid, "Digits": key})
            steps += 1
            node = resp.headers.get("X-IVR-Node")
            if node != expected:
                raise RuntimeError(f"{sid}: pressed {key}, expected {expected}, the app says {node}")
    return steps, time.perf_counter() - t0


def time_validation(path: Path, repeat: int) -> list[float]:
    """Seconds for each of ``repeat`` ``load_menu(path)``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        load_menu(path)
        times.append(time.perf_counter() - t0)
    return times


@dataclass
class ServeFigures:
    """Steps per second of each round, for each menu."""

    small: list[float]
    big: list[float]

    @property
    def ratio(self) -> float:
        """Median steps/s of the 12333 menu over median steps/s of the big one (target: at most 1.1)."""
        return statistics.median(self.small) / statistics.median(self.big)


def compare_serving(big_menu: Path, rounds: int, calls: int, folder: Path) -> ServeFigures:
    """Alternate rounds of ``calls`` walks on the 12333 menu and on ``big_menu``; steps/s of each round."""
    small_walker = MenuWalker(json.loads(MENU_12333.read_text(encoding="utf-8")))
    big_walker = MenuWalker(json.loads(big_menu.read_text(encoding="utf-8")))
    figures = ServeFigures([], [])
    with serving_app(MENU_12333, folder / "small") as small, serving_app(big_menu, folder / "big") as big:
        serve_rate(small, small_walker, 5, seed=-1)  # warm both apps up (imports, caches, the first SQL)
        serve_rate(big, big_walker, 5, seed=-1)
        for r in range(rounds):
            # Alternate which goes first, so neither always gets the warmer turn.
            order = [(small, small_walker, figures.small), (big, big_walker, figures.big)]
            for app, walker, out in order if r % 2 == 0 else order[::-1]:
                steps, seconds = serve_rate(app, walker, calls, seed=r)
                out.append(steps / seconds)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Measure; exit 1 when a target is missed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=10_000, help="Nodes in the generated menu.")
    ap.add_argument("--repeat", type=int, default=5, help="Validations of each menu.")
    ap.add_argument("--rounds", type=int, default=7, help="Serving rounds per menu (alternating).")
    ap.add_argument("--calls", type=int, default=40, help=f"Calls per serving round (1 + {PRESSES} steps each).")
    ap.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ivr-scale-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        big = write_menu(folder / f"menu-{args.nodes}.json", args.nodes)
        generated = time.perf_counter() - t0
        big_times = time_validation(big, args.repeat)
        small_times = time_validation(MENU_12333, args.repeat)
        serving = compare_serving(big, args.rounds, args.calls, folder)
        size = big.stat().st_size
    out = {
        "nodes": args.nodes,
        "menu_bytes": size,
        "generate_s": round(generated, 3),
        "validate_s": {"min": min(big_times), "median": statistics.median(big_times), "max": max(big_times)},
        "validate_12333_s": statistics.median(small_times),
        "serve_steps_per_s_12333": [round(x, 1) for x in serving.small],
        "serve_steps_per_s_big": [round(x, 1) for x in serving.big],
        "serve_ratio": round(serving.ratio, 3),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        v = out["validate_s"]
        print(f"generated menu: {args.nodes} nodes, {size / 1e6:.2f} MB, written in {generated:.2f} s")
        print(
            f"validate (load_menu), {args.repeat} times: min {v['min']:.3f} s, median {v['median']:.3f} s, "
            f"max {v['max']:.3f} s   (12333 menu: {out['validate_12333_s'] * 1000:.1f} ms)   target < 1 s"
        )
        print(f"serve, steps/s per round, 12333:   {out['serve_steps_per_s_12333']}")
        print(f"serve, steps/s per round, {args.nodes}: {out['serve_steps_per_s_big']}")
        print(
            f"ratio of medians (12333 / {args.nodes}): {out['serve_ratio']}   target <= 1.1   "
            f"(medians {statistics.median(serving.small):.0f} and {statistics.median(serving.big):.0f} steps/s)"
        )
    ok = out["validate_s"]["median"] < 1.0 and serving.ratio <= 1.1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
