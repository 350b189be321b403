"""Finding the keys a prompt's words offer the caller: "请按1", "press the star key"...

Both languages' phrasings are looked for in every text, because a Chinese
prompt may say "For English, press 9" and a language menu speaks both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["KeyMention", "clauses", "key_mentions"]

_ZH_KEY = r"(?:(?P<zd>[0-9])|(?P<zs>[*＊]|星)号?键?|(?P<zp>[#＃]|井)号?键?)"
_EN_KEY = r"(?:(?P<ed>[0-9])|(?P<es>star|\*)|(?P<eh>hash|pound|#))"

_MENTION = re.compile(
    # 请按1 / 按1 / 按*号键 / 按星号键 / 按#号键
    rf"(?P<zhm>(?:请)?按\s*{_ZH_KEY})"
    # press 1 / press the star key / press star / dial 0
    rf"|(?P<enm>\b(?:please\s+)?(?:press|dial)\s+(?:the\s+)?{_EN_KEY}(?:\s+key\b)?)"
    # *号键 / #号键 / 星号键 / 井号键 on their own ("以#号键结束")
    r"|(?P<zk>(?P<ks>[*＊]|星)号键|(?P<kh>[#＃]|井)号键)"
    # the star key / the hash key
    r"|(?P<ek>\bthe\s+(?:(?P<eks>star)|(?P<ekh>hash|pound))\s+key\b)",
    re.IGNORECASE,
)

_CLAUSE_END = re.compile(r"[。；;，,！？!?：…]|(?<!\d)[.:](?!\d)|[.:](?=\s|$)")


@dataclass(frozen=True)
class KeyMention:
    """One place where words offer a key: the key, and the span of the words saying it."""

    key: str
    start: int
    end: int
    phrase: str


def key_mentions(text: str) -> Iterator[KeyMention]:
    """Every key ``text`` tells the caller to press, in order."""
    for m in _MENTION.finditer(text):
        g = m.groupdict()
        digit = g["zd"] or g["ed"]
        if digit:
            key = digit
        elif g["zs"] or g["es"] or g["ks"] or g["eks"]:
            key = "*"
        else:
            key = "#"
        yield KeyMention(key, m.start(), m.end(), m.group())


def clauses(text: str) -> list[str]:
    """``text`` cut at commas and sentence ends (but not inside "8:30" or "2.5"), without blanks."""
    out = []
    pos = 0
    for m in _CLAUSE_END.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
    out.append(text[pos:])
    return [c.strip() for c in out if c.strip()]
