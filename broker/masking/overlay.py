"""What lines redrawn with carriage returns show, rendered with string slicing (no emulation).

The cursor guard (:mod:`broker.masking.cursor`) emulates a line whenever the output moves the
cursor within it. Output where the only moves are bare carriage returns (progress bars,
spinners, random bytes), in ASCII, with no escape sequence or backspace, on an output without
a pty whose width is not known, is far simpler: each piece after a CR overwrites the line from
its first column, a tab moves the cursor to the next multiple of eight without writing, and
other controls show nothing. :func:`overlay_rows` renders each such line as the emulation
(:class:`~broker.masking.lineview.LineView`) would, so the guard can run one detection over all
of them and emulate nothing when none shows a value (docs/decisions/039).
"""

from __future__ import annotations

_LINE_FEEDS = bytes.maketrans(b"\x0b\x0c", b"\n\n")
_HIDDEN = bytes([*range(0x09), *range(0x0E, 0x20), 0x7F])
"""Controls that take no cell (tab and CR move the cursor; LF, VT and FF end a row)."""


def simple(out: bytes) -> bool:
    """Whether ``out`` moves the cursor with carriage returns (and tabs) only, in ASCII."""
    return out.isascii() and b"\x1b" not in out and b"\x08" not in out


def overlay_rows(out: bytes, line: bytes, col: int, *, first: bool = False) -> list[bytes]:
    """What each row of ``out`` with a CR shows once drawn (``out`` is :func:`simple`).

    Args:
        out: Output about to be released; ``\\n``, VT and FF end a row (no pty: each returns
            the carriage).
        line: What the current line shows before ``out`` (its first row continues it).
        col: The cursor's column on that line.
        first: Render the first row even without a CR (the cursor moved on the current line
            before: plain text may overwrite what it shows).
    """
    head, *rest = out.translate(_LINE_FEEDS, _HIDDEN).split(b"\n")
    shown: list[bytes] = []
    if first or b"\r" in head:
        shown.append(overlay(head, line, col))
    for row in [row for row in rest if b"\r" in row]:
        drawn = b""
        for piece in row.split(b"\r"):  # each piece from the first column
            drawn = overlay(piece, drawn, 0) if b"\t" in piece else piece + drawn[len(piece) :]
        shown.append(drawn)
    return shown


def overlay(row: bytes, line: bytes, col: int) -> bytes:
    """``line`` (the cursor at ``col``) after ``row`` (printable ASCII, CR and tab) is drawn."""
    shown = line
    for n, piece in enumerate(row.split(b"\r")):
        if n:
            col = 0
        for k, seg in enumerate(piece.split(b"\t")):
            if k:
                col = (col // 8 + 1) * 8
            if seg:
                if col > len(shown):
                    shown += b" " * (col - len(shown))
                shown = shown[:col] + seg + shown[col + len(seg) :]
                col += len(seg)
    return shown
