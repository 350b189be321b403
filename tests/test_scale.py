"""Menu scale (bench/scale.py): a generated 10,000-node menu is valid, and a 1,000-node one is served.

The speed figures (validation under 1 s, serving as fast as the 12333 menu)
are measured by the benchmark; here only a generous bound guards against a
hang.  Also the load data generators of bench/generate.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from stdnum.cn import ric

from bench.generate import ACTIVE_PIN, INITIAL_PIN, generate_menu, id_numbers, keys, new_pin_for, write_menu
from bench.scale import MENU_12333, MenuWalker, compare_serving
from ivr.menu.checks import check_menu
from ivr.menu.loader import load_menu, parse_menu
from ivr.menu.model import InputNode, MenuNode, MessageNode
from ivr.rules import is_new_password
from ivr.services.registry import default_registry
from ivr.services.seed import DEMO_CARDS

HANG_GUARD = 30.0
"""Seconds: not a speed target (that is 1 s, in bench/scale.py), only a guard against a hang."""


def test_a_generated_10000_node_menu_validates_with_no_problem_at_all(tmp_path: Path) -> None:
    path = write_menu(tmp_path / "big.json", 10_000)
    t0 = time.perf_counter()
    menu = load_menu(path)
    assert time.perf_counter() - t0 < HANG_GUARD
    assert len(menu.nodes) == 10_000
    # No warning either: every node reachable, every prompt in both languages, every named prompt used.
    assert check_menu(menu, default_registry()) == []
    texts = [part for node in menu.nodes.values() for part in getattr(node, "prompt", ()) if not isinstance(part, str)]
    assert texts and all(set(t.root) == {"zh-CN", "en-US"} for t in texts)
    kinds = {type(node) for node in menu.nodes.values()}
    assert {MenuNode, InputNode, MessageNode} <= kinds


@pytest.mark.parametrize(("nodes", "fanout"), [(6, 9), (7, 1), (100, 9), (1000, 3), (1234, 9)])
def test_generated_menus_of_any_size_are_valid(nodes: int, fanout: int) -> None:
    doc = generate_menu(nodes, fanout)
    menu = parse_menu(json.dumps(doc, ensure_ascii=False))
    assert len(menu.nodes) == nodes
    assert check_menu(menu, default_registry()) == []


def test_too_small_or_too_wide_a_menu_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_menu(5)
    with pytest.raises(ValueError, match="fanout"):
        generate_menu(100, fanout=10)


def test_the_walker_only_presses_keys_that_lead_to_menus() -> None:
    import random

    for doc in (json.loads(MENU_12333.read_text(encoding="utf-8")), generate_menu(500)):
        walker = MenuWalker(doc)
        for key, node in walker.walk(random.Random(7), 50):
            assert doc["nodes"][node]["kind"] == "menu" and key in "123456789*#0"


def test_a_1000_node_menu_is_served_step_by_step(tmp_path: Path) -> None:
    """The serving benchmark in small: every answer lands on the node the walk expects (checked inside)."""
    big = write_menu(tmp_path / "menu-1000.json", 1000)
    figures = compare_serving(big, rounds=2, calls=4, folder=tmp_path)
    assert len(figures.small) == len(figures.big) == 2
    assert min(figures.small + figures.big) > 0


def test_load_id_numbers_are_valid_distinct_and_not_the_demo_cards() -> None:
    numbers = id_numbers(3000)
    assert len(set(numbers)) == 3000
    assert not set(numbers) & {c.id_number for c in DEMO_CARDS}
    for n in numbers[::97]:
        assert ric.validate(n) == n
    assert id_numbers(5, start=10) == numbers[10:15]
    x = next(n for n in numbers if n.endswith("X"))
    plain = next(n for n in numbers if not n.endswith("X"))
    assert keys(x) == x[:-1] + "*" and keys(plain) == plain


def test_new_passwords_for_load_cards_are_accepted_by_the_line() -> None:
    for n in id_numbers(500):
        pin = new_pin_for(n)
        assert is_new_password(pin, n) and pin not in (INITIAL_PIN, ACTIVE_PIN)
