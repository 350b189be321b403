"""Fictional demo cardholders, one for every state a card can be in (``ivr db seed --demo``).

The people are made up.  Their ID numbers have real region codes and birth
dates and a check digit computed by python-stdnum, so the menu's ID validation
accepts them; docs/demo-data.md lists them with what to try on each.
Dates are relative to the day the data is seeded, so the demo works whenever
it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from stdnum.cn import ric

from ivr.rules import keyed_id_number, local_date
from ivr.services.cards import add_card
from ivr.storage.db import Database
from ivr.storage.transactions import transaction

__all__ = ["DEMO_CARDS", "DemoCard", "demo_card", "seed_demo"]


@dataclass(frozen=True)
class DemoCard:
    """A fictional cardholder and the state of their card."""

    holder: str
    holder_en: str
    body: str
    """The first 17 digits of the ID number; the check digit is computed."""
    pin: str
    status: str
    pin_changed: bool = False
    kind: str = "standard"
    locked: bool = False
    days_ago: int | None = None
    """For a loss report or a replacement application: how many days before the seed date it was made."""
    note: str = ""

    @property
    def id_number(self) -> str:
        """The whole ID number, with its check digit."""
        # calc_check_digit takes the whole number and ignores its last character.
        return self.body + str(ric.calc_check_digit(self.body + "0"))

    @property
    def keys(self) -> str:
        """The ID number as a caller keys it: a final X is ``*``."""
        return keyed_id_number(self.id_number)


# fmt: off
DEMO_CARDS: tuple[DemoCard, ...] = (
    DemoCard(
        "张伟", "Zhang Wei", "11010119850312235", "147258", "not_activated", note="activate it (key 1)"
    ),
    DemoCard(
        "李娜", "Li Na", "31010419900718124", "802461", "active", pin_changed=True,
        note="report it lost (key 2, 1), check its status (key 3)",
    ),
    DemoCard(
        "王芳", "Wang Fang", "44030519930905226", "369258", "active",
        note="activated at a bank, initial password kept: a phone loss report is refused",
    ),
    DemoCard(
        "刘洋", "Liu Yang", "51010719921126153", "520131", "reported_lost", pin_changed=True, days_ago=3,
        note="status: temporarily reported lost until a date",
    ),
    DemoCard(
        "陈静", "Chen Jing", "33010619870214268", "640827", "replacing", pin_changed=True, days_ago=5,
        note="status: replacement ready from a date",
    ),
    DemoCard(
        "杨磊", "Yang Lei", "42010619961030177", "975310", "active", pin_changed=True, locked=True,
        note="locked after 6 wrong passwords: every transaction sends the caller to an agent",
    ),
    DemoCard(
        "赵敏", "Zhao Min", "61011319950621122", "258036", "not_activated", kind="rural",
        note="rural card, ID ends in X (key *): the demo call activates it",
    ),
    DemoCard(
        "黄强", "Huang Qiang", "37010219830409195", "731904", "reported_lost", pin_changed=True, days_ago=60,
        note="reported lost by phone 60 days ago and never made formal: the report lapsed, it reads as active",
    ),
)
# fmt: on


def demo_card(holder_en: str) -> DemoCard:
    """The demo card of the holder named ``holder_en`` (e.g. ``"Zhao Min"``)."""
    for card in DEMO_CARDS:
        if card.holder_en == holder_en:
            return card
    raise KeyError(holder_en)


def seed_demo(
    db: Database, now: dt.datetime, zone: dt.tzinfo, cards: Sequence[DemoCard] = DEMO_CARDS
) -> list[tuple[DemoCard, bool]]:
    """Add the demo cards that are missing, in one transaction; (card, whether it was added) for each.

    The schema must exist (:meth:`Database.upgrade`).  Cards already there are
    left as they are, so seeding twice is harmless.
    """
    today = local_date(now, zone)
    done: list[tuple[DemoCard, bool]] = []
    with transaction(db) as tx:
        for demo in cards:
            if tx.has_card(demo.id_number):
                done.append((demo, False))
                continue
            add_card(
                tx,
                id_number=demo.id_number,
                pin=demo.pin,
                now=now,
                zone=zone,
                status=demo.status,
                pin_changed=demo.pin_changed,
                holder=demo.holder,
                kind=demo.kind,
                locked=demo.locked,
                since=today - dt.timedelta(days=demo.days_ago) if demo.days_ago is not None else None,
            )
            done.append((demo, True))
    return done
