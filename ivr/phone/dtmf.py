"""DTMF: ITU-T Q.23 tone pairs, to generate and (for tests) to decode with Goertzel.

Each key is the sum of one low-group (row) and one high-group (column) tone:

=========  ======  ======  ======  ======
           1209    1336    1477    1633
=========  ======  ======  ======  ======
**697**    1       2       3       A
**770**    4       5       6       B
**852**    7       8       9       C
**941**    \\*     0       #       D
=========  ======  ======  ======  ======

:func:`decode` is a plain Goertzel detector over 25.6 ms blocks (N = 205 at
8 kHz, the classic choice): a key is heard when one row and one column tone
together carry most of a block's energy for at least two blocks in a row.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

__all__ = ["COLS", "KEY_GAP", "ROWS", "SAMPLE_RATE", "TONE_SECONDS", "decode", "tone"]

SAMPLE_RATE = 8000
ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
_LAYOUT = ("123A", "456B", "789C", "*0#D")
_PAIRS = {key: (ROWS[r], COLS[c]) for r, line in enumerate(_LAYOUT) for c, key in enumerate(line)}
TONE_SECONDS = 0.1
"""How long each key sounds."""
KEY_GAP = 0.1
"""Silence after each key, so that "11" is heard as two presses."""
_AMPLITUDE = 0.25 * 32767  # per tone: the pair peaks at half of full scale, far from clipping
_BLOCK = 205


def tone(key: str, seconds: float = TONE_SECONDS, rate: int = SAMPLE_RATE) -> array[int]:
    """The 16-bit samples of ``key``'s tone pair."""
    if key not in _PAIRS:
        raise ValueError(f"not a DTMF key: {key!r}")
    low, high = _PAIRS[key]
    n = round(seconds * rate)
    w1, w2 = 2 * math.pi * low / rate, 2 * math.pi * high / rate
    return array("h", (round(_AMPLITUDE * (math.sin(w1 * i) + math.sin(w2 * i))) for i in range(n)))


def _power(block: Sequence[int], freq: float, rate: int) -> float:
    # Goertzel: the squared magnitude of one DFT term, in O(N) and O(1) memory.
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in block:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def _block_key(block: Sequence[int], rate: int) -> str | None:
    energy = sum(x * x for x in block)
    n = len(block)
    if energy < n * 100.0**2:  # quieter than about -50 dBFS: silence
        return None
    # A pure tone at f puts 2 * |X(f)|^2 / (N * energy) = 1 of the block's energy "at f".
    rows = [2 * _power(block, f, rate) / (n * energy) for f in ROWS]
    cols = [2 * _power(block, f, rate) / (n * energy) for f in COLS]
    r = max(range(4), key=rows.__getitem__)
    c = max(range(4), key=cols.__getitem__)
    if rows[r] < 0.2 or cols[c] < 0.2 or rows[r] + cols[c] < 0.6:
        return None
    # The runner-up in each group must be far weaker (6 dB), or this is speech or noise.
    if sorted(rows)[-2] > rows[r] / 4 or sorted(cols)[-2] > cols[c] / 4:
        return None
    return _LAYOUT[r][c]


def decode(samples: Sequence[int], rate: int = SAMPLE_RATE) -> str:
    """The keys pressed in ``samples``, in order (each heard for at least two blocks)."""
    keys: list[str] = []
    current: str | None = None
    run = 0
    for start in range(0, len(samples) - _BLOCK + 1, _BLOCK):
        key = _block_key(samples[start : start + _BLOCK], rate)
        if key is not None and key == current:
            run += 1
            if run == 2:
                keys.append(key)
        else:
            current, run = key, 1 if key is not None else 0
    return "".join(keys)
