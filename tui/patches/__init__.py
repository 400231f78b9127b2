"""Patches of Textual's private code, one module per patched class or module, each gated.

Serving many apps in one process (DESIGN.md "Serving Textual over SSH", pitfalls 3 and 4),
with full collections on a timer (decision 036), needs six changes to Textual internals. Each
module here holds one, written as the change Textual itself could make, and applies it only
while the source it relies on is the source it was written against (a fingerprint of that
source, not a version string). Each logs once whether it is active; tests/tui/test_patches.py
fails when the installed Textual's source no longer matches a recorded fingerprint.
"""

from __future__ import annotations

from tui.patches import (
    textual_app,
    textual_filter,
    textual_reactive,
    textual_strip,
    textual_styles_cache,
    textual_xterm_parser,
)
from tui.patches.gate import Patch

PATCHES: tuple[Patch, ...] = (
    textual_app.PATCH,
    textual_xterm_parser.PATCH,
    textual_styles_cache.PATCH,
    textual_filter.PATCH,
    textual_reactive.PATCH,
    textual_strip.PATCH,
)
"""Every patch of a dependency's private code that the TUI needs."""


def apply_textual_patches() -> dict[str, bool]:
    """Apply each patch whose fingerprint matches (idempotent); returns name → active."""
    return {patch.name: patch.apply() for patch in PATCHES}
