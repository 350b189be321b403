"""The layering of ivr's packages, checked from each file's direct imports (lazy ones included).

docs/architecture.md draws the picture these tests hold the code to.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ivr"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str | None = None) -> set[str]:
    """Every ivr module ``path`` (the module ``name``) imports, at the top or inside a function, as absolute names."""
    me = (name or _module_name(path)).split(".")
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = me if is_package else me[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            # "from ivr.phone import events" imports the module ivr.phone.events.
            found.update(f"{module}.{a.name}" for a in node.names if _exists(f"{module}.{a.name}"))
    # "from ivr import tts" counts as importing ivr.tts; the root package itself holds nothing.
    return {m for m in found if m.startswith("ivr.")}


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _files(package: str) -> list[Path]:
    path = ROOT.joinpath(*package.split("."))
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def _layer(module: str) -> str:
    """The package a module belongs to: ``ivr.phone.twiml`` → ``ivr.phone``; ``ivr.cli`` → ``ivr.cli``."""
    return ".".join(module.split(".")[:2])


def _outside(package: str, allowed: set[str]) -> list[str]:
    bad = []
    for path in _files(package):
        for module in sorted(_imports(path)):
            if _layer(module) != package and not any(module == a or module.startswith(a + ".") for a in allowed):
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    return bad


def test_the_phone_imports_only_itself_tts_and_errors() -> None:
    assert _outside("ivr.phone", {"ivr.tts", "ivr.errors"}) == []


def test_the_engine_imports_only_the_menu_model_errors_and_rules() -> None:
    # ivr.menu.patterns: the switch tests' regexes, compiled by RE2 (pure, like the model).
    assert _outside("ivr.engine", {"ivr.menu.model", "ivr.menu.patterns", "ivr.errors", "ivr.rules"}) == []


def test_the_explorer_sits_above_the_phone_and_the_simulator() -> None:
    allowed = {"ivr.phone", "ivr.simulator", "ivr.authoring", "ivr.config", "ivr.errors", "ivr.cli_common", "ivr.menu"}
    allowed |= {"ivr.web"}  # target.py: app_state, to restore the in-process app's store between calls
    assert _outside("ivr.explore", allowed) == []
    importers = [
        f"{path.relative_to(ROOT)} imports {m}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.is_relative_to(PACKAGE / "explore") and path.name != "cli.py"
        for m in _imports(path)
        if _layer(m) == "ivr.explore"
    ]
    assert importers == []


def test_storage_is_the_floor() -> None:
    # Nothing from services, menu, web, phone, authoring or the test kit: only what sits below it.
    assert _outside("ivr.storage", {"ivr.config", "ivr.errors", "ivr.rules"}) == []


def test_all_sql_lives_in_storage() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "storage"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            bad += [
                f"{path.relative_to(ROOT)} imports {n}" for n in names if n.split(".")[0] in ("sqlalchemy", "alembic")
            ]
    assert bad == []


def test_no_import_circle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = _layer(_module_name(path))
        for module in _imports(path):
            target = _layer(module)
            if target not in (source, "ivr") and source != "ivr":
                graph[source].add(target)
    circles = []
    for start in sorted(graph):
        # A package that can reach itself again sits on a circle.
        seen: set[str] = set()
        todo = [(n, [start, n]) for n in graph[start]]
        while todo:
            node, trail = todo.pop()
            if node == start:
                circles.append(" -> ".join(trail))
                break
            if node in seen:
                continue
            seen.add(node)
            todo += [(n, [*trail, n]) for n in graph.get(node, ())]
    assert circles == []


def test_the_checks_see_lazy_and_relative_imports(tmp_path: Path) -> None:
    # The layering tests are only worth something if an import inside a function counts.
    fake = tmp_path / "fake.py"
    fake.write_text("from . import events\n\ndef f():\n    from ivr.web import create_app\n", encoding="utf-8")
    assert _imports(fake, "ivr.phone.fake") == {"ivr.phone", "ivr.phone.events", "ivr.web"}


@pytest.mark.parametrize("admin", [False, True])
def test_a_webhook_worker_loads_the_phone_only_with_the_admin(tmp_path: Path, admin: bool) -> None:
    config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.db'}", "LOG_LEVEL": "WARNING"}
    if admin:
        config |= {"ADMIN_PASSWORD": "correct horse", "SECRET_KEY": "s" * 32}
    script = (
        "import json, sys\n"
        "from ivr.web import create_app\n"
        f"create_app(json.loads({json.dumps(json.dumps(config))}))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('ivr.phone', 'ivr.simulator')))))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    if admin:
        assert "ivr.phone.client" in loaded  # the browser phone calls the app through the phone
        assert not [m for m in loaded if m.startswith("ivr.simulator")]
    else:
        assert loaded == []
