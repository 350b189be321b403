"""Every command refuses a menu it cannot load the same way: the validator's located problems, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def missing_start(tmp_path: Path) -> Path:
    """The 12333 menu with its ``start`` naming a node that does not exist."""
    doc = json.loads((ROOT / "menus" / "12333.json").read_text(encoding="utf-8"))
    doc["start"] = "nowhere"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _commands(menu: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "simulate": ["simulate", str(menu), "--keys", "1", "--mute"],
        "test": ["test", str(ROOT / "tests" / "scenarios" / "info.yaml"), "--menu", str(menu)],
        "render": ["render", str(menu), "--out", str(tmp_path / "audio")],
        "graph": ["graph", str(menu), "-o", str(tmp_path / "menu.svg")],
        "lint": ["lint", str(menu)],
        "serve": ["serve", "--menu", str(menu), "--database-url", f"sqlite:///{tmp_path / 'ivr.db'}"],
        "demo": ["demo", str(menu)],
    }


def test_every_command_refuses_a_broken_menu_alike(missing_start: Path, tmp_path: Path) -> None:
    expected = f"{missing_start}: error: $.start: there is no node 'nowhere'\n{missing_start}: 1 error(s)\n"
    for name, args in _commands(missing_start, tmp_path).items():
        run = CliRunner().invoke(main, args)
        assert run.exit_code == 2, (name, run.output)
        # Only the located problem list: no usage banner, no repr, no traceback, nothing else.
        assert run.stderr == expected, (name, run.stderr)
        assert run.stdout == "", (name, run.stdout)
        assert not (tmp_path / "menu.svg").exists()


def test_validate_answers_with_the_same_list_and_exit_1(missing_start: Path) -> None:
    run = CliRunner().invoke(main, ["validate", str(missing_start)])
    assert run.exit_code == 1
    assert run.stderr == f"{missing_start}: error: $.start: there is no node 'nowhere'\n{missing_start}: 1 error(s)\n"


def _menu_with(tmp_path: Path, name: str, main_prompt: object) -> Path:
    doc = json.loads((ROOT / "menus" / "12333.json").read_text(encoding="utf-8"))
    doc["nodes"]["main"]["prompt"] = main_prompt
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_lint_exits_1_on_error_findings_and_with_strict_on_warnings(tmp_path: Path) -> None:
    audio = ["--audio", str(tmp_path / "no-audio")]  # estimated durations, whatever is rendered
    shipped = CliRunner().invoke(main, ["lint", str(ROOT / "menus" / "12333.json"), *audio])
    assert shipped.exit_code == 0, shipped.output
    # Options 2-9 never announced: errors.
    terse = _menu_with(tmp_path, "terse.json", {"zh-CN": "请按1。", "en-US": "Press 1."})
    run = CliRunner().invoke(main, ["lint", str(terse), *audio])
    assert run.exit_code == 1 and "error: option-not-announced" in run.stderr
    # A greeting twice as long as it should be: a warning, which fails only with --strict.
    long = _menu_with(
        tmp_path,
        "long.json",
        [
            "@welcome",
            {
                "zh-CN": "本热线为您提供社会保险、就业、劳动关系、人事人才等方面的"
                "政策咨询和业务办理服务，请您耐心收听以下菜单。",
                "en-US": "This hotline answers questions about social insurance, employment, labour relations "
                "and personnel services; please listen to the whole menu.",
            },
            "@main_options",
        ],
    )
    lenient = CliRunner().invoke(main, ["lint", str(long), *audio])
    assert lenient.exit_code == 0 and "warning: greeting-too-long" in lenient.output
    assert CliRunner().invoke(main, ["lint", str(long), "--strict", *audio]).exit_code == 1


def test_a_malformed_database_url_is_a_clear_error_everywhere(tmp_path: Path) -> None:
    for args in (["db", "upgrade"], ["serve"], ["cards", "show", "--id-number", "110101198503122354"]):
        run = CliRunner().invoke(main, [*args, "--database-url", "nonsense"])
        assert run.exit_code == 2, (args, run.output)
        assert "IVR_DATABASE_URL: 'nonsense' is not a database URL" in run.stderr and run.exception is not None
        assert isinstance(run.exception, SystemExit), (args, run.exception)
    scenario = tmp_path / "s.yaml"
    scenario.write_text('name: bad url\nconfig: {DATABASE_URL: nonsense}\nsteps: [{press: "4"}]\nend: {as: hangup}\n')
    run = CliRunner().invoke(main, ["test", str(scenario), "--menu", str(ROOT / "menus" / "12333.json")])
    assert run.exit_code == 1 and "FAIL bad url" in run.output and "is not a database URL" in run.output
