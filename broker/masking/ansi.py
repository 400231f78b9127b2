"""What a terminal displays, for matching: escapes and hidden controls out, string payloads in.

The detectors run on the text a terminal would show, with positions mapped back to the
original bytes (:class:`StripMap`):

* CSI and other escape sequences are removed (they display nothing);
* characters a terminal does not display (NUL, DEL, the C0 controls other than tab, CR and
  LF) are removed, so ``4111\\x001111`` is matched as ``41111111``;
* the payload of a complete string sequence (OSC: window titles, hyperlinks; DCS, SOS, PM,
  APC) stays in the text, between two line breaks standing for its introducer and its
  terminator, so a value in a title or a link target is found, but never joined to the text
  around it. A value found inside a payload is replaced there; a value that reaches across a
  payload's edge takes the whole sequence with it (:meth:`StripMap.widen`).
"""

from __future__ import annotations

import contextlib
import re
import threading
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

try:
    import hyperscan
except ImportError:  # pragma: no cover - the dependency is declared; translate is the fallback
    hyperscan = None  # type: ignore[assignment]

# CSI, OSC (BEL or ST terminated), DCS/SOS/PM/APC strings, charset selection, two-byte escapes
# (not ``ESC [``: a CSI that does not parse stays in the text, where the stream masker sees it).
ANSI_RE = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\"
    rb"|[()*+][ -~]|[ -/]+[0-~]|[0-Z\\\]-~])"
)
HIDDEN = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
"""Bytes a terminal does not display: the C0 controls other than the line movers (tab, LF,
VT, FF, CR: a terminal moves to a new line for VT and FF as for LF) and ESC; and DEL."""
_HIDDEN_RUN = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]+")
STRING_INTRO = frozenset(b"]PX^_")
"""The byte after ESC that opens a string sequence: OSC, DCS, SOS, PM, APC."""
_SEPARATOR = b"\n"
"""What a string sequence's introducer and terminator read as: no value crosses a line."""
_OSC_SELECTOR = re.compile(rb"[0-9]*;")
Token = tuple[int, int, int, int]
"""(start, end, payload start, payload end) of an escape or hidden run; payload -1 if none."""


def _escapes(data: bytes) -> Iterator[Token]:
    """The escape sequences of ``data`` (``ANSI_RE``: it starts with ESC, so ``re`` finds
    candidates at C speed), with the payload of each complete string sequence."""
    for m in ANSI_RE.finditer(data):
        start, end = m.span()
        if end - start > 2 and data[start + 1] in STRING_INTRO:  # not a bare ``ESC ]``
            b0 = start + 2
            if data[start + 1] == 0x5D:
                selector = _OSC_SELECTOR.match(data, b0, end)
                if selector is not None:
                    b0 = selector.end()
            yield start, end, b0, end - 1 if data[end - 1] == 0x07 else end - 2
        else:
            yield start, end, -1, -1


def _with_hidden(data: bytes) -> list[Token]:
    """The escape sequences and hidden-control runs of ``data``, in order, not overlapping
    (hidden controls inside a string payload are the payload's)."""
    tokens = list(_escapes(data)) if b"\x1b" in data else []
    if not tokens and not data.translate(None, HIDDEN):  # padding, /dev/zero: one run
        return [(0, len(data), -1, -1)]
    runs = [h.span() for h in _HIDDEN_RUN.finditer(data)]
    if not tokens:
        return [(a, b, -1, -1) for a, b in runs]
    merged: list[Token] = []
    i = 0
    for a, b in runs:
        while i < len(tokens) and tokens[i][1] <= a:
            merged.append(tokens[i])
            i += 1
        if i < len(tokens) and tokens[i][0] <= a:  # starts inside an escape (its payload or
            merged.append(tokens[i])  # its BEL): only what follows the escape is a run
            a = tokens[i][1]
            i += 1
        elif merged and merged[-1][1] > a:  # the rest of a run split by an escape's end
            a = merged[-1][1]
        # A run holds no ESC, so it ends before the next escape starts.
        if a < b:
            merged.append((a, b, -1, -1))
    merged.extend(tokens[i:])
    return merged


StringSpan = tuple[int, int, int, int]
"""A complete string sequence in original offsets: (start, payload start, payload end, end)."""


@dataclass(frozen=True)
class StripMap:
    """The text detectors run on, and where each of its bytes came from."""

    text: bytes
    """The visible text (string payloads included, between line breaks)."""
    positions: tuple[int, ...]
    """Stripped offsets before which bytes were removed (ascending)."""
    removed: tuple[int, ...]
    """Bytes removed up to and including each entry of ``positions``."""
    strings: tuple[StringSpan, ...] = ()
    """The complete string sequences (OSC, DCS, SOS, PM, APC), in order."""
    hidden: bool = False
    """Whether hidden controls were taken out (then :func:`strip_ansi` with ``hidden_as=b" "``
    gives the reading where each run of them separates what is around it)."""

    def orig(self, pos: int) -> int:
        """Original offset of the stripped byte at ``pos`` (escapes right before it come first)."""
        k = bisect_right(self.positions, pos)
        return pos + (self.removed[k - 1] if k else 0)

    def orig_end(self, end: int) -> int:
        """Original exclusive end of a stripped span ending at ``end`` (> 0)."""
        return self.orig(end - 1) + 1

    def widen(self, start: int, end: int) -> tuple[int, int]:
        """Widen an original span to every string sequence it cuts through.

        A span wholly inside one payload is masked in place; one that reaches across a
        payload's edge (into the introducer or terminator, or out into the text) would leave
        half a sequence, so the whole sequence goes with it.
        """
        strings = self.strings
        for s0, b0, b1, e0 in strings[bisect_right(strings, start, key=_end) :]:
            if s0 >= end:
                break
            if e0 <= start or (b0 <= start and end <= b1):
                continue
            start, end = min(start, s0), max(end, e0)
        return start, end


def _end(span: StringSpan) -> int:
    return span[3]


class ByteFinder:
    """Whether bytes hold any byte of a set: one Hyperscan pass (several GB/s) where
    Hyperscan works, else ``bytes.translate`` (about 1 GB/s)."""

    def __init__(self, members: bytes) -> None:
        self.members = members
        self._db: Any = None
        self._local = threading.local()
        if hyperscan is not None:
            pattern = b"[" + b"".join(b"\\x%02x" % b for b in members) + b"]"
            try:
                db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                db.compile(expressions=[pattern], ids=[0], flags=[hyperscan.HS_FLAG_SINGLEMATCH])
            except hyperscan.error:  # pragma: no cover - e.g. a CPU without SSSE3
                return
            self._db = db

    def __call__(self, data: bytes) -> bool:
        """Whether ``data`` holds one of the bytes."""
        if self._db is None or len(data) < 256:
            return len(data.translate(None, self.members)) != len(data)
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        found: list[int] = []

        def on_match(_id: int, _start: int, end: int, _flags: int, _ctx: object) -> bool:
            found.append(end)
            return True  # stop at the first one

        with contextlib.suppress(hyperscan.ScanTerminated):
            self._db.scan(data, match_event_handler=on_match, scratch=scratch)
        return bool(found)


has_hidden = ByteFinder(HIDDEN)
"""Whether bytes hold a byte a terminal does not display (ESC excluded)."""


def strip_ansi(data: bytes, hidden_as: bytes = b"") -> StripMap:
    """The displayed text of ``data`` (see the module docstring); incomplete escapes stay.

    Args:
        data: Terminal output.
        hidden_as: What each run of hidden controls reads as: nothing (as displayed), or one
            separator byte (``b" "``) for a second reading, where ``4111\\x001111`` reads as two
            groups of digits, as ``4111 1111`` does.
    """
    if b"\x1b" not in data and not has_hidden(data):
        return StripMap(data, (), ())
    sub = len(hidden_as)
    hidden = False
    pieces: list[bytes] = []
    put = pieces.append
    positions: list[int] = []
    removed: list[int] = []
    strings: list[StringSpan] = []
    cursor = 0
    kept = 0
    total = 0
    tokens = _with_hidden(data) if has_hidden(data) else _escapes(data)
    for start, end, b0, b1 in tokens:
        put(data[cursor:start])
        kept += start - cursor
        cursor = end
        if b0 < 0:
            if sub and data[start] != 0x1B:
                put(hidden_as)
                kept += sub
                total -= sub
            hidden = hidden or data[start] != 0x1B
            total += end - start
            positions.append(kept)
            removed.append(total)
            continue
        # The introducer reads as one line break (at its ESC), the rest of it is removed.
        put(_SEPARATOR)
        kept += 1
        total += b0 - start - 1
        positions.append(kept)
        removed.append(total)
        at = b0
        for h in _HIDDEN_RUN.finditer(data, b0, b1):
            hidden = True
            put(data[at : h.start()] + hidden_as)
            kept += h.start() - at + sub
            total += h.end() - h.start() - sub
            positions.append(kept)
            removed.append(total)
            at = h.end()
        put(data[at:b1])
        kept += b1 - at
        # The terminator reads as one line break (at its first byte).
        put(_SEPARATOR)
        kept += 1
        if end - b1 > 1:
            total += end - b1 - 1
            positions.append(kept)
            removed.append(total)
        strings.append((start, b0, b1, end))
    put(data[cursor:])
    text = b"".join(pieces)
    return StripMap(text, tuple(positions), tuple(removed), tuple(strings), hidden)


def escapes_in(data: bytes, start: int, end: int) -> bytes:
    """Return the escape sequences inside ``data[start:end]`` that keep the terminal's state
    (colours, cursor), concatenated in order; string sequences (titles, links) are left out."""
    if b"\x1b" not in data[start:end]:
        return b""
    return b"".join(
        m.group() for m in ANSI_RE.finditer(data, start, end) if m.group()[1] not in STRING_INTRO
    )


def open_string(data: bytes, lo: int = 0) -> int:
    """Where an unterminated string sequence (OSC, DCS, SOS, PM, APC) at the end of
    ``data[lo:]`` starts, or -1.

    Any ESC ends a string (as in the DEC parser every terminal follows), so only the last ESC
    can open one; BEL also ends an OSC, and CAN or SUB abort any string.
    """
    size = len(data)
    esc = data.rfind(b"\x1b", lo)
    if esc == size - 1:  # a last ESC may be the first half of a string's terminator (ST)
        esc = data.rfind(b"\x1b", lo, size - 1)
        size -= 1
    if esc < 0 or esc + 1 >= size or data[esc + 1] not in STRING_INTRO:
        return -1
    rest = data[esc + 2 : size]
    if b"\x18" in rest or b"\x1a" in rest or (data[esc + 1] == 0x5D and b"\x07" in rest):
        return -1
    return esc
