"""Every screen at 80x24 and 160x45, compared with the SVGs under tests/tui/snapshots/.

The pictures are Textual's own screenshots (``App.export_screenshot``) of the scenes in
:mod:`tests.tui.scenes`. After a deliberate change of layout, rewrite them and look at the
difference before committing::

    GATEHOUSE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/tui/test_snapshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recordings.store import RecordingStore
from tests.tui.scenes import SCENES, SIZES, make_store, screenshot

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("GATEHOUSE_UPDATE_SNAPSHOTS") == "1"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RecordingStore:
    return make_store(tmp_path_factory.mktemp("recordings"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SCENES))
async def test_screen_matches_snapshot(
    name: str, size: tuple[int, int], store: RecordingStore, tmp_path: Path
) -> None:
    svg = await screenshot(name, size, store)
    expected = SNAPSHOTS / f"{name}-{size[0]}x{size[1]}.svg"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        expected.write_text(svg, encoding="utf-8")
    assert expected.exists(), f"no snapshot {expected.name}: run with GATEHOUSE_UPDATE_SNAPSHOTS=1"
    if svg != expected.read_text(encoding="utf-8"):
        actual = tmp_path / expected.name
        actual.write_text(svg, encoding="utf-8")
        pytest.fail(f"{name} at {size[0]}x{size[1]} differs from {expected}; now: {actual}")
