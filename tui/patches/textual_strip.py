"""Patch of `textual.strip`: `Strip.divide` and `Strip.crop_extend` never cache the strip itself.

A strip caches what it derives from itself. When the result is the strip itself (`divide`
at the strip's own length, the compositor's usual cut of a full-width line; `crop_extend` to
its own length), the cache holds the strip: a reference cycle, so the strip, its segments and
its seven caches are freed only by a full collection. The broker runs those on a timer
(`broker/runtime/gcpolicy.py`), so every line the compositor cut stayed in memory until the
next one: ~35 KB per page scrolled in the SQL console (decision 036).

The change Textual could take: return the strip (as a one-strip list for `divide`) before
caching when nothing is cut or extended. This patch does that in front of the original
methods, which then never meet that case.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from rich.style import Style
from textual.strip import Strip

from tui.patches.gate import Patch

FINGERPRINT = "bc0a6e3b097d1518aec18aedd5975b8752cd84c2dbd52456688a98c5c0106c86"
"""Source fingerprint of `Strip.divide`, `crop_extend`, `crop` and `extend_cell_length` (8.2.8)."""


def _targets() -> Sequence[object]:
    return (Strip.divide, Strip.crop_extend, Strip.crop, Strip.extend_cell_length)


def _install() -> None:
    divide = Strip.divide
    crop_extend = Strip.crop_extend

    @functools.wraps(divide)
    def divide_uncycled(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
        cuts = list(cuts)
        length = self.cell_length
        if [cut for cut in cuts if cut <= length] == [length]:
            return [self]  # what `divide` returns, without caching it in the strip
        return divide(self, cuts)

    @functools.wraps(crop_extend)
    def crop_extend_uncycled(self: Strip, start: int, end: int, style: Style | None) -> Strip:
        if start <= 0 and end == self.cell_length:
            return self  # `extend_cell_length` and `crop` both return the strip itself
        return crop_extend(self, start, end, style)

    setattr(Strip, "divide", divide_uncycled)  # noqa: B010
    setattr(Strip, "crop_extend", crop_extend_uncycled)  # noqa: B010


PATCH = Patch(
    "textual.strip Strip.divide/crop_extend self-caching", FINGERPRINT, _targets, _install
)
