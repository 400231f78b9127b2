"""Values a target draws on a line out of order (cursor moves, overwrites) masked on screen.

The stream masker matches the bytes in the order they come. A target can draw a value so
that the screen shows it while the bytes never hold it in one piece: ``4111 1111 1111 111X``
then backspace and ``1``; the tail first, then ``CSI 1 G`` and the head; pieces after CR and
``CSI n C``. :class:`CursorGuard` follows the line the user's terminal shows
(:class:`~broker.masking.lineview.LineView`) over the masked output, and when the output moves
the cursor within a line, or writes over cells already shown, it runs the detectors on the
line as rendered. A value found there is masked on screen: the characters of the output that
drew it become ``*``, and the cells drawn earlier are overwritten with the replacement, the
cursor put back where it was (docs/decisions/032).

Output that writes plain text at the end of its line (the common case) is only noted: no
emulation, no second detection.
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_right
from collections.abc import Callable

from broker.masking.ansi import ByteFinder
from broker.masking.events import MaskEvent, new_event
from broker.masking.lineview import LineView
from broker.masking.overlay import overlay_rows, simple
from broker.masking.scan import Hit

_IN_LINE = rb"[\x08\x0b\x0c]|\r(?!\n)|\x1b(?:\[[0-?]*[ -/]*[@-HJ-LPSTXZ`a-fhlsu]|[78DEMc])"
_MOVES = re.compile(_IN_LINE + rb"|(?<!\r)\n")
"""Output the emulation must see: cursor moves and edits, mode changes, a bare line feed."""
_MOVES_TAB = re.compile(_IN_LINE + rb"|(?<!\r)\n|\t")
"""The same where the width is known (a tab stops at the row's last column, then overwrites)."""
_MOVES_CRLF = re.compile(_IN_LINE)
"""The same where a line feed returns the carriage (output without a pty)."""
_MOVE_BYTES = ByteFinder(b"\x1b\x08\x0b\x0c\r")
"""Bytes without which output moves nothing (a line feed aside): one pass over them."""
_LINE_FEED = re.compile(r"[\n\x0b\x0c]")
_TEXT_IN_LINE = r"[\x08]|\r(?!$)|\x1b(?:\[[0-?]*[ -/]*[@-HJ-LPSTXZ`a-fhlsu]|[78DEMc])"
_TEXT_MOVES = re.compile(_TEXT_IN_LINE)
"""What moves the cursor within one line's text (no line feed in it; a CR at its end is the
CR of CR LF, or is seen as a move with the next output)."""
_TEXT_MOVES_TAB = re.compile(_TEXT_IN_LINE + r"|\t")
RAW_MAX = 65536
"""Bytes of a line noted without emulation before they are applied to the view."""
RAW_KEEP = 8192
"""Of a longer line, the bytes applied (the ones before only move the cursor)."""
_NOT_A_CELL = bytes([*range(0x20), 0x7F, *range(0x80, 0xC0)])
"""Controls and UTF-8 continuation bytes: no cell of their own (a long line's cells are
counted as its other bytes; escape sequences are rare in one and counted too)."""
MAX_PATCHES = 3
"""Rounds of masking a rendered line (a replacement next to digits left may form another)."""

Find = Callable[[bytes], list[Hit]]
"""The engine's detection on one text (``MaskingEngine.find_hits``)."""
Shown = tuple[int, int, Hit, bytes]
"""A value on a rendered line: (first cell, end cell, the hit, the value)."""
Prove = Callable[[Hit, bytes], tuple[str, str, bytes]]
"""(strategy, value proof, replacement) of a value found on a rendered line."""


class _Row:
    """A part of the output on one row, and the view of that row when it must be checked."""

    __slots__ = ("text", "view")

    def __init__(self, text: str, view: LineView | None = None) -> None:
        self.text = text
        self.view = view


class CursorGuard:
    """Follows one output stream's current line as shown; masks values drawn out of order."""

    def __init__(self, find: Find, prove: Prove, *, width: int = 0, crlf: bool = True) -> None:
        """Follow a stream.

        Args:
            find: The detection to run on a rendered line.
            prove: Proof and replacement of a value found.
            width: The terminal's columns, 0 if not known.
            crlf: A line feed also returns the carriage (the output reaches a terminal
                without a pty, whose own line discipline adds the CR).
        """
        self._find = find
        self._prove = prove
        self._crlf = crlf
        self._view = LineView(width)
        self._raw = b""
        """Output noted on the current line and not yet applied to the view."""
        self._moves = _MOVES_CRLF if crlf else _MOVES_TAB if width else _MOVES
        self._last_cr = False

    @property
    def width(self) -> int:
        return self._view.width

    def resize(self, width: int) -> None:
        """The terminal's width changed (0: not known)."""
        self._apply_raw()
        self._view.width = width
        if not self._crlf:
            self._moves = _MOVES_TAB if width else _MOVES

    def _needs_view(self, out: bytes) -> bool:
        """Whether ``out`` moves the cursor within its line, or lands behind it (a few
        ``memchr``-speed passes; the regular expression only when ESC or BS is there)."""
        if self._view.edited or self._view.behind:
            return True
        if self._crlf and not _MOVE_BYTES(out):
            return False
        if b"\x1b" in out or b"\x08" in out or b"\x0b" in out or b"\x0c" in out:
            m = self._moves.search(out)
            if m is not None and m.start() == 0 and out[:1] == b"\n" and self._last_cr:
                m = self._moves.search(out, 1)
            return m is not None
        crlfs = out.count(b"\r\n")
        if out.count(b"\r") != crlfs:
            return True
        if self._crlf:
            return False
        lfs = out.count(b"\n") - (self._last_cr and out[:1] == b"\n")
        return lfs != crlfs or (self._view.width > 0 and b"\t" in out)

    def apply(self, out: bytes, offset: int, stream: str, events: list[MaskEvent]) -> bytes:
        """``out`` (masked output about to be released) as it may be shown.

        Args:
            out: The bytes.
            offset: Stream offset of ``out`` (for the events).
            stream: The stream's name (for the events).
            events: Gets one event per value masked on screen.
        """
        if not out:
            return out
        if not self._needs_view(out):
            self.note(out)
            return out
        if self._crlf and not self._view.width and simple(out) and self._drawn_plainly(out):
            return out
        self._apply_raw()
        text = out.decode("utf-8", "surrogateescape")
        moves = _TEXT_MOVES_TAB if self._view.width and not self._crlf else _TEXT_MOVES
        view = self._view
        rows: list[_Row] = []
        at = 0
        first = True
        for lf in _LINE_FEED.finditer(text):
            seg = text[at : lf.start()]
            after_cr = seg.endswith("\r") or (first and not seg and self._last_cr)
            bare = not self._crlf and not after_cr
            if bare or (first and (view.edited or view.behind)) or moves.search(seg):
                self._line(seg, rows)
            else:  # plain text on a line of its own: nothing drawn out of order
                if first:
                    view.feed(seg)
                rows.append(_Row(seg))
            rows.append(_Row(lf.group()))
            if rows[-2].view is view:  # a row left behind: keep what it shows (to mask it)
                rows[-2].view = copy.copy(view)
            view.new_row(0 if self._crlf else self._row_col())
            at = lf.end()
            first = False
        seg = text[at:]
        if (first and (view.edited or view.behind)) or moves.search(seg):
            self._line(seg, rows)
        else:
            view.feed(seg)
            rows.append(_Row(seg))
        self._last_cr = out[-1:] == b"\r"
        checks = [row for row in rows if row.view is not None]
        if checks and self._any_value(checks):
            for row in checks:
                assert row.view is not None
                row.text = self._mask_line(row.text, row.view, offset, stream, events)
        return "".join(row.text for row in rows).encode("utf-8", "surrogateescape")

    def _drawn_plainly(self, out: bytes) -> bool:
        """For output whose only moves are bare CRs (:func:`~broker.masking.overlay.simple`):
        True when no line it draws shows a value; the view is then left as the emulation
        would leave it. False: nothing changed but the noted output applied, emulate it."""
        view = self._view
        self._apply_raw()
        line = "".join(view.cells).encode("utf-8", "surrogateescape")
        if len(line) != len(view.cells):  # a wide, combining or non-ASCII character on it
            return False
        rows = overlay_rows(out, line, view.col, first=view.edited or view.behind)
        if rows and self._find(b"\n".join(rows)):
            return False
        ends = max(out.rfind(b"\n"), out.rfind(b"\x0b"), out.rfind(b"\x0c"))
        if ends >= 0:
            view.new_row(0)
        view.feed(out[ends + 1 :].decode("ascii"))
        self._last_cr = out[-1:] == b"\r"
        return True

    def _any_value(self, checks: list[_Row]) -> bool:
        """Whether any of the rows shows a value (one detection over all of them)."""
        texts: list[str] = []
        for row in checks:
            assert row.view is not None
            cells, width = row.view.cells, row.view.width
            texts.append("".join(cells))
            if width and len(cells) > width:
                texts.extend("".join(cells[i : i + width]) for i in range(0, len(cells), width))
        return bool(self._find("\n".join(texts).encode("utf-8", "surrogateescape")))

    def note(self, out: bytes) -> None:
        """``out`` was released as it is (plain text at the end of the line): remember it."""
        if not out:
            return
        self._last_cr = out[-1:] == b"\r"
        lf = out.rfind(b"\n")
        if lf >= 0:
            self._view.new_row(0)
            self._raw = out[lf + 1 :]
        elif len(self._raw) + len(out) > RAW_MAX:  # a long line: followed from its end
            self._apply_raw()
            self._view.advance(len(out[:-RAW_KEEP].translate(None, _NOT_A_CELL)))
            self._raw = out[-RAW_KEEP:]
        else:
            self._raw += out

    def _apply_raw(self) -> None:
        """Apply the noted output of the current line to the view (of a long line, its end:
        the cells before it are counted, not kept)."""
        raw, self._raw = self._raw, b""
        if len(raw) > RAW_KEEP:
            head, raw = raw[:-RAW_KEEP], raw[-RAW_KEEP:]
            self._view.advance(len(head.translate(None, _NOT_A_CELL)))
        if raw:
            self._view.feed(raw.decode("utf-8", "surrogateescape"))

    def _row_col(self) -> int:
        view = self._view
        here = view.col - 1 if view.pending else view.col
        return here % view.width if view.width else here

    def _line(self, piece: str, rows: list[_Row]) -> None:
        """Feed one line's part of the output (no line feed) to the view; each row it draws
        on goes to ``rows``, with the view to check when it moved within the row."""
        view = self._view
        while True:
            edited = view.edited or view.behind
            whole = view.feed(piece)
            done, rest = piece[: view.stopped_at], piece[view.stopped_at :]
            rows.append(_Row(done, view if view.moved or edited else None))
            if whole:
                return
            # A move to another row: the view starts a fresh row (its content is not known).
            if rows[-1].view is not None:
                rows[-1].view = copy.copy(view)
            seq_end = _seq_end(rest)
            rows.append(_Row(rest[:seq_end]))
            view.new_row(_col_after(rest[:seq_end], self._row_col()))
            piece = rest[seq_end:]

    def _mask_line(
        self, done: str, view: LineView, offset: int, stream: str, events: list[MaskEvent]
    ) -> str:
        """``done`` (output just fed to ``view``) with the values its row shows masked: its
        own characters that drew them starred, then the cells drawn before overwritten."""
        patches: list[str] = []
        for _ in range(MAX_PATCHES + 1):
            spans = self._spans(view.cells)
            width = view.width
            if width and len(view.cells) > width:  # each row too: a person reads rows
                for first in range(0, len(view.cells), width):
                    spans.extend(
                        (lo + first, hi + first, hit, value)
                        for lo, hi, hit, value in self._spans(view.cells[first : first + width])
                    )
            if not spans:
                break
            done = _star(done, view.writes, spans)  # its characters of a value never show
            for lo, hi, hit, value in spans:
                strategy, digest, shown = self._prove(hit, value)
                events.append(new_event(hit[2].name, strategy, stream, offset, hi - lo, digest))
                room = _room(view, hi) - lo
                patches.append(_overwrite(view, lo, hi, _fit(shown, hi - lo, room)))
        else:  # still a value after the rounds: blank the line's cells (fail closed)
            patches.append(_overwrite(view, 0, len(view.cells), " " * len(view.cells)))
        return done + "".join(patches)

    def _spans(self, cells: list[str]) -> list[Shown]:
        """The values ``cells`` (a line, or one of its rows) show, as (first cell, end cell,
        hit, value) relative to the first of them."""
        data = "".join(cells).encode("utf-8", "surrogateescape")
        hits = self._find(data)
        if not hits:
            return []
        if len(data) == len(cells):
            return [(s, e, h, data[s:e]) for h in hits for s, e in [(h[0], h[1])]]
        starts: list[int] = []
        pos = 0
        for cell in cells:
            starts.append(pos)
            pos += len(cell.encode("utf-8", "surrogateescape"))
        found: list[Shown] = []
        for hit in hits:
            lo = bisect_right(starts, hit[0]) - 1
            hi = bisect_right(starts, hit[1] - 1)
            found.append((lo, hi, hit, data[hit[0] : hit[1]]))
        return found


def _room(view: LineView, hi: int) -> int:
    """Where blank cells after a value ending at ``hi`` end (a written cell, or the row's end)."""
    cells = view.cells
    end = hi
    limit = hi + 64
    if view.width:
        limit = min(limit, (max(hi - 1, 0) // view.width + 1) * view.width)
    while end < limit and (end >= len(cells) or not cells[end].strip()):
        end += 1
    return end


def _overwrite(view: LineView, lo: int, hi: int, text: str) -> str:
    """Bytes that write ``text`` over cells ``lo:hi`` and put the cursor back."""
    width = view.width
    here = view.col - 1 if view.pending else view.col
    seq: list[str] = []
    if width:
        up = here // width - lo // width
        if up > 0:
            seq.append(f"\x1b[{up}A")
        elif up < 0:
            seq.append(f"\x1b[{-up}B")
        seq.append(f"\x1b[{lo % width + 1}G")
    else:
        seq.append(f"\x1b[{lo + 1}G")
    seq.append(text)
    end = lo + len(text)
    last = end - 1  # the cursor stays on the row of the last cell written
    if width:
        down = here // width - last // width
        if down > 0:
            seq.append(f"\x1b[{down}B")
        elif down < 0:
            seq.append(f"\x1b[{-down}A")
        seq.append(f"\x1b[{here % width + 1}G")
    else:
        seq.append(f"\x1b[{here + 1}G")
    cells = view.cells
    if end > len(cells):
        cells.extend(" " * (end - len(cells)))
    cells[lo:end] = list(text)
    view.col, view.pending = here, False
    return "".join(seq)


def _fit(shown: bytes, size: int, room: int) -> str:
    """The replacement in ``size`` cells, or up to ``room`` (blank cells after them): as it
    is, or shortened, or stars."""
    text = shown.decode("ascii", "replace")
    if len(text) <= room:
        return text.ljust(size)
    return "[MASKED]".ljust(size, "*") if size >= 8 else "*" * size


def _star(done: str, writes: list[tuple[int, int, int, int]], spans: list[Shown]) -> str:
    """``done`` with each character it wrote into a masked cell replaced by ``*``."""
    chars: list[str] | None = None
    for index, cell, width, count in writes:
        if index < 0 or not any(lo < cell + width * count and cell < hi for lo, hi, *_ in spans):
            continue
        for k in range(count):
            at = cell + k * width
            if index + k < len(done) and any(lo < at + width and at < hi for lo, hi, *_ in spans):
                if chars is None:
                    chars = list(done)
                chars[index + k] = "*" * width
    return "".join(chars) if chars is not None else done


_SEQ = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[ -/]*[0-~])")
_CUP = re.compile(r"\x1b\[(?:[0-9]*;)?([0-9]*)[Hf]")


def _seq_end(rest: str) -> int:
    m = _SEQ.match(rest)
    return m.end() if m is not None else 1


def _col_after(seq: str, col: int) -> int:
    """The cursor's column after a move to another row (CUP names it; E and F go to 0)."""
    m = _CUP.fullmatch(seq)
    if m is not None:
        return max(int(m.group(1) or 1) - 1, 0)
    if seq[-1:] in ("E", "F") or seq == "\x1bE" or seq == "\x1bc":
        return 0
    return col
