"""Strip terminal escape sequences for matching, and map positions back to the original bytes."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

# CSI, OSC (BEL or ST terminated), DCS/SOS/PM/APC strings, charset selection, two-byte escapes.
ANSI_RE = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\"
    rb"|[()*+][ -~]|[ -/]*[0-~])"
)


@dataclass(frozen=True)
class StripMap:
    """Text with escape sequences removed, and where each removal happened."""

    text: bytes
    """The visible text the detectors run on."""
    positions: tuple[int, ...]
    """Stripped offsets before which an escape sequence was removed (ascending)."""
    removed: tuple[int, ...]
    """Bytes removed up to and including each entry of ``positions``."""

    def orig(self, pos: int) -> int:
        """Original offset of the stripped byte at ``pos`` (escapes right before it come first)."""
        k = bisect_right(self.positions, pos)
        return pos + (self.removed[k - 1] if k else 0)

    def orig_end(self, end: int) -> int:
        """Original exclusive end of a stripped span ending at ``end`` (> 0)."""
        return self.orig(end - 1) + 1


def strip_ansi(data: bytes) -> StripMap:
    """Remove complete escape sequences from ``data``; incomplete ones stay as text."""
    if b"\x1b" not in data:
        return StripMap(data, (), ())
    pieces: list[bytes] = []
    positions: list[int] = []
    removed: list[int] = []
    cursor = 0
    kept = 0
    total = 0
    for m in ANSI_RE.finditer(data):
        start, end = m.span()
        pieces.append(data[cursor:start])
        kept += start - cursor
        total += end - start
        positions.append(kept)
        removed.append(total)
        cursor = end
    pieces.append(data[cursor:])
    return StripMap(b"".join(pieces), tuple(positions), tuple(removed))


def escapes_in(data: bytes, start: int, end: int) -> bytes:
    """Return the escape sequences inside ``data[start:end]``, concatenated in order."""
    if b"\x1b" not in data[start:end]:
        return b""
    return b"".join(m.group() for m in ANSI_RE.finditer(data, start, end))
