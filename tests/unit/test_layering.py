"""Dependencies point one way: recordings ← broker ← tui; the cores never import Textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for base in ("broker", "recordings")
    for p in (ROOT / base).rglob("*.py")
    if p.name != "__main__.py"
)


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


def test_recordings_does_not_import_broker() -> None:
    for path in (ROOT / "recordings").rglob("*.py"):
        text = path.read_text()
        assert (
            "from broker" not in text.replace("from broker.common.errors", "")
            or path.name == "cli.py"
        )
