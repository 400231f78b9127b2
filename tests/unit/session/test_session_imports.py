"""The session core reaches neither back to the facade nor up to the front door (not even for types)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (``if TYPE_CHECKING:`` blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def offending(paths: list[Path], banned: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)}: {module}"
        for path in paths
        for module in imported_modules(path)
        if any(module == ban or module.startswith(ban + ".") for ban in banned)
    )


def python_files(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))


def test_the_session_core_imports_neither_the_facade_nor_the_front_door() -> None:
    files = python_files("broker", "session")
    assert len(files) >= 6
    banned = ("broker.services", "broker.frontdoor", "broker.runtime", "tui", "textual")
    assert offending(files, banned) == []


@pytest.mark.parametrize(
    "parts", [("broker", "services.py"), ("broker", "review"), ("broker", "session"), ("tui",)]
)
def test_principal_and_terminal_come_from_the_core_not_the_front_door(
    parts: tuple[str, ...],
) -> None:
    assert offending(python_files(*parts), ("broker.frontdoor",)) == []


def test_the_check_sees_an_import_hidden_under_type_checking(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from broker.services import Services\n"
    )
    assert imported_modules(bad) >= {"broker.services", "broker.services.Services"}
