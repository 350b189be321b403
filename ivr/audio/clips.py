"""Reusable clips: the words a variable's value is assembled from.

A prompt's fixed words are rendered whole.  Its variables (a reference number
said digit by digit, a count, a date) change on every call, so they are spoken
by stringing together short clips rendered once: ``2 0 2 6``, ``二十六``,
``December`` ``fifteenth``.  Each clip has an id (``digit:7``, ``number:26``,
``month:12``...) and, per language, the text the speech engine says for it.

:func:`clip_ids` says which clips speak a :class:`~ivr.engine.SayAs` part, the
same words :func:`ivr.engine.speech.say_value` gives a live speech engine.
"""

from __future__ import annotations

import datetime as _dt

from ivr.engine.speech import MONTHS

__all__ = ["FAMILIES", "clip_ids", "clip_texts", "family_clips"]

FAMILIES = ("digits", "number", "date")
"""The kinds of variable that are assembled from clips (``text`` ones are not)."""

_ZH_DIGITS = "零一二三四五六七八九"
_EN_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_EN_ORDINALS = [
    "_",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
]

_MAX = 10**12


def _zh_below_100(n: int) -> str:
    if n < 10:
        return _ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _ZH_DIGITS[tens]) + "十" + (_ZH_DIGITS[ones] if ones else "")


def _en_below_100(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    tens, ones = divmod(n, 10)
    return _EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else "")


def _en_ordinal(n: int) -> str:
    if n <= 20:
        return _EN_ORDINALS[n]
    tens, ones = divmod(n, 10)
    if ones == 0:
        return _EN_TENS[tens][:-1] + "ieth"
    return f"{_EN_TENS[tens]}-{_EN_ORDINALS[ones]}"


def _is_zh(language: str) -> bool:
    return language.lower().startswith("zh")


def family_clips(family: str, language: str) -> dict[str, str]:
    """The clips of one family (``digits``, ``number`` or ``date``) in ``language``: id -> text."""
    zh = _is_zh(language)
    clips: dict[str, str] = {}
    # A Chinese date reads its year digit by digit (二零二六年); an English one
    # reads it as numbers (twenty twenty-six).
    if family == "digits" or (family == "date" and zh):
        for d in range(10):
            clips[f"digit:{d}"] = _ZH_DIGITS[d] if zh else _EN_ONES[d]
        if family == "digits":
            # The check character of a resident ID number.
            clips["digit:X"] = "X"
    if family == "number" or (family == "date" and not zh):
        for n in range(100):
            clips[f"number:{n}"] = _zh_below_100(n) if zh else _en_below_100(n)
        units = {"hundred": "百", "thousand": "千", "ten_thousand": "万", "hundred_million": "亿"}
        if not zh:
            units = {"hundred": "hundred", "thousand": "thousand", "million": "million", "billion": "billion"}
        for key, text in units.items():
            clips[f"unit:{key}"] = text
        clips["word:zero"] = "零" if zh else "zero"
        clips["word:minus"] = "负" if zh else "minus"
    if family == "date":
        for m in range(1, 13):
            clips[f"month:{m}"] = f"{_zh_below_100(m)}月" if zh else MONTHS[m - 1]
        for d in range(1, 32):
            clips[f"day:{d}"] = f"{_zh_below_100(d)}日" if zh else _en_ordinal(d)
        if zh:
            clips["word:year"] = "年"
        else:
            clips["word:oh"] = "oh"
    return clips


def clip_texts(language: str, families: tuple[str, ...] = FAMILIES) -> dict[str, str]:
    """Every clip of ``families`` in ``language``: id -> the text the engine says."""
    clips: dict[str, str] = {}
    for family in families:
        clips.update(family_clips(family, language))
    return clips


def _zh_below_10000(n: int, after_higher: bool) -> list[str]:
    ids: list[str] = []
    started = False
    gap = False
    for value, unit in ((n // 1000, "unit:thousand"), (n // 100 % 10, "unit:hundred")):
        if value:
            if gap:
                ids.append("word:zero")
            ids += [f"number:{value}", unit]
            started, gap = True, False
        elif started:
            gap = True
    rest = n % 100
    if rest:
        if started and (gap or rest < 10):
            ids.append("word:zero")
        if (started or after_higher) and 10 <= rest <= 19:
            ids += ["number:1", f"number:{rest}"]  # 一百一十五, not 一百十五
        else:
            ids.append(f"number:{rest}")
    return ids


def _zh_number(n: int) -> list[str]:
    if n < 0:
        return ["word:minus", *_zh_number(-n)]
    if n < 100:
        return [f"number:{n}"]
    ids: list[str] = []
    started = gap = False
    groups = ((n // 10**8, "unit:hundred_million"), (n // 10**4 % 10**4, "unit:ten_thousand"), (n % 10**4, ""))
    for value, unit in groups:
        if not value:
            gap = gap or started
            continue
        if started and (gap or value < 1000):
            ids.append("word:zero")
        ids += _zh_below_10000(value, started)
        if unit:
            ids.append(unit)
        started, gap = True, False
    return ids


def _en_below_1000(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    ids = [f"number:{hundreds}", "unit:hundred"] if hundreds else []
    if rest:
        ids.append(f"number:{rest}")
    return ids


def _en_number(n: int) -> list[str]:
    if n < 0:
        return ["word:minus", *_en_number(-n)]
    if n < 100:
        return [f"number:{n}"]
    ids: list[str] = []
    for value, unit in (
        (n // 10**9, "unit:billion"),
        (n // 10**6 % 1000, "unit:million"),
        (n // 1000 % 1000, "unit:thousand"),
        (n % 1000, ""),
    ):
        if value:
            ids += _en_below_1000(value)
            if unit:
                ids.append(unit)
    return ids


def _en_year(year: int) -> list[str]:
    century, rest = divmod(year, 100)
    if not 1000 <= year <= 9999 or 2000 <= year <= 2009 or year % 1000 == 0:
        return _en_number(year)  # "two thousand five"
    if rest == 0:
        return [f"number:{century}", "unit:hundred"]  # "nineteen hundred"
    if rest < 10:
        return [f"number:{century}", "word:oh", f"number:{rest}"]  # "nineteen oh five"
    return [f"number:{century}", f"number:{rest}"]  # "twenty twenty-six"


def clip_ids(value: str, how: str, language: str) -> list[str] | None:
    """The clips that say ``value`` as ``how`` in ``language``, or None when clips cannot say it.

    Mirrors :func:`ivr.engine.speech.say_value`: ``digits`` one key at a time
    (a final ``X`` included), ``number`` as an integer, ``date`` from an ISO
    date.  ``text`` values, and values those rules cannot read, are None: the
    caller speaks them live instead.
    """
    zh = _is_zh(language)
    if how == "digits":
        ids: list[str] = []
        for ch in value:
            if ch.isspace():
                continue
            if ch.isascii() and ch.isdigit():
                ids.append(f"digit:{ch}")
            elif ch in "Xx":
                ids.append("digit:X")
            else:
                return None
        return ids or None
    if how == "number":
        try:
            n = int(value)
        except ValueError:
            return None
        if abs(n) >= _MAX:
            return None
        return _zh_number(n) if zh else _en_number(n)
    if how == "date":
        try:
            day = _dt.date.fromisoformat(value)
        except ValueError:
            return None
        if zh:
            year = [f"digit:{ch}" for ch in str(day.year)]
            return [*year, "word:year", f"month:{day.month}", f"day:{day.day}"]
        return [f"month:{day.month}", f"day:{day.day}", *_en_year(day.year)]
    return None
