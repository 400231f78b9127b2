"""Unicode spaces and dashes read as ASCII ones by the detectors: ``4111\u00a01111…`` is a card.

A number written with a no-break space (U+00A0), a figure or thin space (U+2007, U+2009,
U+202F), an ideographic space, or a Unicode dash or minus (U+2010–U+2015, U+2212, U+FE63,
U+FF0D) reads to a person as one written with ASCII separators. The detectors' patterns use
ASCII separators, so the text they run on has each of these characters replaced by one ASCII
space or hyphen, and the values found are mapped back to the original bytes. Proofs drop them
as they drop ASCII separators, so a card has one proof however it is written.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from broker.masking.ansi import ByteFinder

SPACES = (
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000"
)
"""Unicode spaces read as an ASCII space."""
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe63\uff0d"
"""Unicode dashes, hyphens and minus signs read as an ASCII hyphen."""
_SEP = re.compile(
    b"|".join(re.escape(c.encode()) for c in SPACES)
    + b"|("
    + b"|".join(re.escape(c.encode()) for c in DASHES)
    + b")"
)
has_lead = ByteFinder(bytes(sorted({c.encode()[0] for c in SPACES + DASHES})))
"""Whether bytes may hold one of them (the first byte of its UTF-8 form)."""


@dataclass(frozen=True)
class SepMap:
    """Text with Unicode separators made ASCII, and where its bytes came from."""

    text: bytes
    """The text, each separator one byte."""
    at: tuple[int, ...]
    """Where each separator is in ``text`` (ascending)."""
    removed: tuple[int, ...]
    """Bytes removed before ``text``'s byte after each separator (cumulative)."""
    sizes: tuple[int, ...]
    """The length of each separator in the original."""

    def orig(self, pos: int) -> int:
        """Original offset of ``text``'s byte at ``pos``."""
        k = bisect_right(self.at, pos)
        if k and self.at[k - 1] == pos:  # the separator itself: where it starts
            return pos + (self.removed[k - 2] if k > 1 else 0)
        return pos + (self.removed[k - 1] if k else 0)

    def orig_end(self, end: int) -> int:
        """Original exclusive end of a span of ``text`` ending at ``end`` (> 0)."""
        k = bisect_right(self.at, end - 1)
        if k and self.at[k - 1] == end - 1:
            return self.orig(end - 1) + self.sizes[k - 1]
        return self.orig(end - 1) + 1


def ascii_separators(text: bytes) -> SepMap | None:
    """``text`` with its Unicode separators as ASCII ones, or None when it has none."""
    if not has_lead(text):
        return None
    pieces: list[bytes] = []
    at: list[int] = []
    removed: list[int] = []
    sizes: list[int] = []
    prev = 0
    gone = 0
    size = 0
    for m in _SEP.finditer(text):
        start, end = m.span()
        pieces.append(text[prev:start])
        size += start - prev
        pieces.append(b"-" if m.group(1) else b" ")
        at.append(size)
        size += 1
        gone += end - start - 1
        removed.append(gone)
        sizes.append(end - start)
        prev = end
    if not at:
        return None
    pieces.append(text[prev:])
    return SepMap(b"".join(pieces), tuple(at), tuple(removed), tuple(sizes))


def without_separators(value: bytes) -> bytes:
    """``value`` without its Unicode separators (a numeric value's proof drops them)."""
    return value if value.isascii() else _SEP.sub(b"", value)
