"""Patches of Textual's private code: each matches the installed source, applies, logs once."""

from __future__ import annotations

import importlib.metadata
import logging
import re
import tomllib
from pathlib import Path

import pytest

from tui import patches
from tui.patches.gate import Patch, source_fingerprint

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.name)
def test_recorded_fingerprint_matches_the_installed_source(patch: Patch) -> None:
    """Fails when the Textual source a patch relies on changes (e.g. a new pin): review it."""
    assert patch.current() == patch.fingerprint, (
        f"{patch.name}: Textual's source changed under this patch; check the patch still "
        "holds, then record the new fingerprint"
    )


def test_textual_is_pinned_exactly_to_the_installed_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if re.match(r"textual\b", d)]
    assert pins == [f"textual=={importlib.metadata.version('textual')}"]


def test_every_patch_is_active_once_applied() -> None:
    assert patches.apply_textual_patches() == {p.name: True for p in patches.PATCHES}
    assert all(p.active for p in patches.PATCHES)


def test_a_patch_whose_source_changed_is_not_installed(caplog: pytest.LogCaptureFixture) -> None:
    installed: list[str] = []

    def target() -> None:
        """The source as it is now."""

    patch = Patch("example", "0" * 64, lambda: (target,), lambda: installed.append("x"))
    with caplog.at_level(logging.INFO, logger="tui.patches.gate"):
        assert patch.apply() is False
        assert patch.apply() is False  # decided once, logged once
    assert installed == []
    assert [r.getMessage() for r in caplog.records] == [
        f"patch example: NOT active: the patched source changed (fingerprint "
        f"{source_fingerprint((target,))[:12]}, written for 000000000000); see tui/patches/"
    ]
    assert caplog.records[0].levelno == logging.WARNING


def test_a_matching_patch_is_installed_once_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    installed: list[str] = []

    def target() -> None:
        """The source the patch was written for."""

    patch = Patch(
        "example", source_fingerprint((target,)), lambda: (target,), lambda: installed.append("x")
    )
    with caplog.at_level(logging.INFO, logger="tui.patches.gate"):
        assert patch.apply() is True
        assert patch.apply() is True
    assert installed == ["x"]
    assert [r.getMessage() for r in caplog.records] == ["patch example: active"]


def test_unreadable_source_counts_as_changed() -> None:
    patch = Patch("builtin", "0" * 64, lambda: (len,), lambda: None)
    assert patch.current() == ""
    assert patch.apply() is False


def test_no_other_module_patches_textual() -> None:
    """Assignments into Textual live in tui/patches/ only."""
    offenders = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        if path.parent.name == "patches":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"setattr\(\s*(textual|XTermParser|StylesCache|ANSIToTruecolor)", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
