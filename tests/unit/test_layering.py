"""Dependencies point one way: recordings ← broker ← tui; the cores never import Textual.

The contracts live in pyproject.toml (`[tool.importlinter]`) and are checked by import-linter;
these tests run it on the tree, and on copies of the tree with one deliberate bad import each,
so a contract that could not fail would show up here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
CORE = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for base in ("broker", "recordings")
    for p in (ROOT / base).rglob("*.py")
    if p.name != "__main__.py"
)


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-cache"], capture_output=True, text=True, cwd=tree, env=env, check=False
    )


def copy_tree(dest: Path) -> Path:
    for name in ("broker", "tui", "recordings"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_contracts_kept_on_the_tree() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout or "broken" not in result.stdout.split("Contracts:")[-1]


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("recordings/store.py", "import broker.common.errors", "recordings <- broker <- tui"),
        ("broker/masking/engine.py", "import tui.app", "recordings <- broker <- tui"),
        ("recordings/replay.py", "import textual.app", "never import Textual"),
        ("broker/policy/access.py", "import textual.widgets", "never import Textual"),
        ("broker/vault/store.py", "import broker.services", "No import cycles"),
    ],
)
def test_a_deliberate_bad_import_breaks_a_contract(
    tmp_path: Path, module: str, bad_import: str, contract: str
) -> None:
    tree = copy_tree(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{bad_import}  # deliberate\n")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout


@pytest.mark.parametrize("module", [m.removesuffix(".__init__") for m in CORE])
def test_core_module_does_not_import_textual_or_tui(module: str) -> None:
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui')); "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} pulls in {result.stdout.strip()}"


@pytest.mark.parametrize(
    "module",
    sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "recordings").rglob("*.py")
    ),
)
def test_recordings_does_not_import_broker(module: str) -> None:
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('broker', 'tui', 'textual'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} pulls in {result.stdout.strip()}"
