"""Data for the load, fault and scale benchmarks (and their smoke tests): cardholders and big menus.

- :func:`id_numbers` makes valid resident ID numbers (real region code, real
  birth date, python-stdnum's check digit), none of them a demo cardholder's,
  so thousands of simulated callers can each work on a card of their own.
- :func:`seed_cards` stores such cards in bulk.  It hashes each distinct
  password once and gives every card of a pool the same hash: scrypt costs
  about 50 ms a hash, so 10,000 cards hashed one by one would take minutes.
  The hash is a real PHC string, so the service checks it as it checks any other.
- :func:`generate_menu` builds a valid menu of any size (10,000 nodes for the
  scale benchmark): every node reachable, every prompt in Mandarin and English.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from ivr.rules import is_new_password
from ivr.services.seed import DEMO_CARDS
from ivr.storage.cards import Card, hash_pin
from ivr.storage.db import Database

__all__ = [
    "ACTIVE_PIN",
    "INITIAL_PIN",
    "NEW_PINS",
    "CardPools",
    "generate_menu",
    "id_numbers",
    "keys",
    "new_pin_for",
    "seed_cards",
    "write_menu",
]

REGION = "310104"
"""Shanghai Xuhui: a region code python-stdnum accepts for every birth year used here."""
FIRST_BIRTHDAY = dt.date(1960, 1, 1)
INITIAL_PIN = "147258"
"""The initial service password of every not-yet-activated load card."""
ACTIVE_PIN = "802461"
"""The (changed) service password of every active load card."""
NEW_PINS = ("246813", "975312")
"""New passwords callers choose at activation; the second one when the first is the ID's last six."""

_DEMO_NUMBERS = frozenset(card.id_number for card in DEMO_CARDS)


def id_numbers(count: int, start: int = 0) -> list[str]:
    """``count`` distinct valid ID numbers, the ``start``-th onwards of a fixed sequence (never a demo card's)."""
    out: list[str] = []
    i = start
    while len(out) < count:
        # 999 sequence numbers a birthday, then the next day: unique and deterministic.
        born = FIRST_BIRTHDAY + dt.timedelta(days=i // 999)
        body = f"{REGION}{born:%Y%m%d}{i % 999 + 1:03d}"
        i += 1
        number = body + ric.calc_check_digit(body + "0")
        if number in _DEMO_NUMBERS:
            continue
        try:
            ric.validate(number)
        except StdnumError:  # pragma: no cover - the region is valid for these years
            continue
        out.append(number)
    return out


def keys(id_number: str) -> str:
    """The ID number as a caller keys it: a final X is ``*``."""
    return id_number[:-1] + "*" if id_number.endswith("X") else id_number


def new_pin_for(id_number: str) -> str:
    """A new password the line accepts for this card (not trivial, not the initial one)."""
    return next(p for p in NEW_PINS if is_new_password(p, id_number) and p != INITIAL_PIN)


@dataclass
class CardPools:
    """The load cards by what callers may do with them; each list holds ID numbers."""

    to_activate: list[str] = field(default_factory=list)
    """Not activated, initial password :data:`INITIAL_PIN`."""
    to_report: list[str] = field(default_factory=list)
    """Active, password changed to :data:`ACTIVE_PIN`: a loss report by phone is accepted."""
    to_check: list[str] = field(default_factory=list)
    """Active, password :data:`ACTIVE_PIN`: for status calls (some key a wrong password first)."""

    def __len__(self) -> int:
        return len(self.to_activate) + len(self.to_report) + len(self.to_check)


def _rows(
    numbers: Sequence[str], status: str, pin_hash: str, changed: bool, now: dt.datetime
) -> Iterator[dict[str, Any]]:
    for n in numbers:
        yield {
            "id_number": n,
            "holder": "",
            "kind": "standard",
            "status": status,
            "pin_hash": pin_hash,
            "pin_changed": changed,
            "failed_attempts": 0,
            "created_at": now,
            "updated_at": now,
        }


def seed_cards(db: Database, per_pool: int, now: dt.datetime, start: int = 0) -> CardPools:
    """Store ``per_pool`` cards in each pool (schema must exist); IDs from the ``start``-th of :func:`id_numbers`."""
    numbers = id_numbers(3 * per_pool, start)
    pools = CardPools(
        to_activate=numbers[:per_pool],
        to_report=numbers[per_pool : 2 * per_pool],
        to_check=numbers[2 * per_pool :],
    )
    initial, active = hash_pin(INITIAL_PIN), hash_pin(ACTIVE_PIN)
    rows = [
        *_rows(pools.to_activate, "not_activated", initial, False, now),
        *_rows(pools.to_report, "active", active, True, now),
        *_rows(pools.to_check, "active", active, True, now),
    ]
    with db.session() as s:
        for i in range(0, len(rows), 2000):  # bounded statements: SQLite caps the bound parameters
            s.execute(insert(Card), rows[i : i + 2000])
    return pools


# -- menus ----------------------------------------------------------------------------

_ZH_DIGITS = "〇一二三四五六七八九"


def _zh_number(n: int) -> str:
    return "".join(_ZH_DIGITS[int(d)] for d in str(n))


def _text(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en-US": en}


def generate_menu(nodes: int, fanout: int = 9) -> dict[str, Any]:
    """A valid menu document of exactly ``nodes`` nodes, as JSON data.

    A tree of menus in breadth-first order (node ``i``'s children are
    ``fanout*i+1`` to ``fanout*i+fanout``) under ``main``, with the 12333 line's
    global keys (``*`` repeats, ``#`` goes back, ``0`` reaches the agent).  A
    node with no children is a leaf: mostly information menus (``1`` for the
    main menu), and every seventh a message, every eleventh a four-digit entry,
    so more than one kind is checked.  Four fixed nodes (the agent transfer,
    its busy menu, a voicemail and the goodbye) end calls.  Prompts are in
    Mandarin and English and about as long as the 12333 menu's.
    """
    fixed = 4
    if nodes < fixed + 2:
        raise ValueError(f"a generated menu needs at least {fixed + 2} nodes")
    if not 1 <= fanout <= 9:
        raise ValueError("fanout is 1 to 9: options are keys 1-9 (0, * and # are global keys)")
    tree = nodes - fixed
    out: dict[str, Any] = {}

    def nid(i: int) -> str:
        return "main" if i == 0 else f"n{i:05d}"

    for i in range(tree):
        children = [c for c in range(fanout * i + 1, fanout * i + fanout + 1) if c < tree]
        zh_title, en_title = f"第{_zh_number(i)}项业务", f"service {i}"
        if children:
            zh_opts = "；".join(f"{zh_title}第{_zh_number(k)}项，请按{k}" for k in range(1, len(children) + 1))
            en_opts = " ".join(f"For {en_title}, item {k}, press {k}." for k in range(1, len(children) + 1))
            prompt: list[Any] = [_text(f"{zh_title}。{zh_opts}。", f"This is {en_title}. {en_opts}"), "@nav"]
            if i == 0:
                prompt.insert(0, "@welcome")
            out[nid(i)] = {
                "kind": "menu",
                "title": f"Menu {i}",
                "prompt": prompt,
                "short_prompt": _text(zh_opts, en_opts),
                "options": {str(k): nid(c) for k, c in enumerate(children, start=1)},
            }
        elif i % 11 == 0:
            out[nid(i)] = {
                "kind": "input",
                "title": f"Code entry {i}",
                "var": "code",
                "prompt": _text(
                    f"请输入{zh_title}的4位查询码，以#号键结束。", f"Enter the 4-digit code for {en_title}, then hash."
                ),
                "min_length": 4,
                "max_length": 4,
                "next": "goodbye",
            }
        elif i % 7 == 0:
            out[nid(i)] = {
                "kind": "message",
                "title": f"Notice {i}",
                "prompt": _text(
                    f"{zh_title}的办理说明：请携带身份证到就近的服务网点办理，办理时间为工作日。",
                    f"How {en_title} works: bring your ID card to a nearby service outlet on a working day.",
                ),
                "next": "main",
            }
        else:
            out[nid(i)] = {
                "kind": "menu",
                "title": f"Information {i}",
                "prompt": [
                    _text(
                        f"{zh_title}的办理说明：请携带身份证到就近的服务网点办理，办理时间为工作日。",
                        f"How {en_title} works: bring your ID card to a nearby service outlet on a working day.",
                    ),
                    "@leaf_nav",
                ],
                "options": {"1": "main"},
            }
    out["agent"] = {
        "kind": "transfer",
        "title": "Agent",
        "to": "agent",
        "prompt": _text("正在为您转接人工服务，请稍候。", "Connecting you to an agent. Please hold."),
        "outcomes": {"busy": "agent_busy", "no-answer": "agent_busy", "failed": "agent_busy"},
    }
    out["agent_busy"] = {
        "kind": "menu",
        "title": "Agents busy",
        "prompt": _text(
            "对不起，人工座席忙。留言请按1，返回主菜单请按#号键。",
            "Sorry, all agents are busy. To leave a message, press 1. For the main menu, press hash.",
        ),
        "options": {"1": "voicemail", "#": "main"},
    }
    out["voicemail"] = {
        "kind": "voicemail",
        "title": "Voicemail",
        "prompt": _text("请在提示音后留言，以#号键结束。", "Please leave a message after the tone, then press hash."),
        "max_seconds": 60,
        "next": "goodbye",
    }
    out["goodbye"] = {
        "kind": "hangup",
        "title": "Goodbye",
        "prompt": _text("感谢您的来电，再见。", "Thank you for calling. Goodbye."),
    }
    return {
        "id": f"generated-{nodes}",
        "version": "1.0.0",
        "languages": ["zh-CN", "en-US"],
        "default_language": "zh-CN",
        "start": "main",
        "defaults": {
            "timeout": 5,
            "max_no_input": 3,
            "max_invalid": 3,
            "on_exhausted": "agent",
            "no_input_prompt": "@no_input",
            "invalid_prompt": "@invalid",
            "global_keys": {
                "*": {"action": "repeat"},
                "0": {"action": "goto", "target": "agent"},
                "#": {"action": "back"},
            },
        },
        "prompts": {
            "welcome": _text("欢迎致电生成的测试热线。", "Welcome to the generated test hotline."),
            "nav": _text(
                "重听请按*号键，返回上一级请按#号键，人工服务请按0。",
                "To repeat, press star. To go back, press hash. For an agent, press 0.",
            ),
            "leaf_nav": _text(
                "重听请按*号键，返回上一级请按#号键，主菜单请按1，人工服务请按0。",
                "To repeat, press star. To go back, press hash. For the main menu, press 1. For an agent, press 0.",
            ),
            "no_input": _text("对不起，没有收到您的按键。", "Sorry, we did not receive your entry."),
            "invalid": _text("对不起，您的输入有误。", "Sorry, that entry is not valid."),
        },
        "nodes": out,
    }


def write_menu(path: Path, nodes: int, fanout: int = 9) -> Path:
    """Write :func:`generate_menu` to ``path`` as UTF-8 JSON; returns ``path``."""
    path.write_text(json.dumps(generate_menu(nodes, fanout), ensure_ascii=False), encoding="utf-8")
    return path
