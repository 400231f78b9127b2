"""The line a terminal shows under its cursor: cells written in any order, as a person reads them.

A small emulation of one logical line (the rows a line wraps onto, when the width is known),
enough to know what the user's screen shows after the target moved the cursor within the line:
backspace, CR, tab, cursor forward/back/absolute (``CSI C D G ` a I Z``), erasures and
insertions (``CSI K X P @ J``), insert mode (``CSI 4 h``), autowrap (``CSI ? 7 l``) and
``CSI b`` (repeat). Cursor movement to other rows (``CSI A B H f d e E F``, ``ESC 7 8 D E M``,
``CSI s u``, scrolling, the alternate screen) starts a fresh row, whose earlier content is not
known here (see docs/decisions/032). Pure: ``feed(str)`` in, state out.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CELLS = 16384
"""Most cells of a line kept; a longer line keeps its end (its head is scrolled out of reach)."""
_PARTS = re.compile(
    r"[^\x00-\x1f\x7f\x1b]+|[\x00-\x07\x0e-\x1a\x1c-\x1f\x7f]+|\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b[ -/]*[0-~]?|[\x00-\x1f\x7f]"
)
_VERTICAL_CSI = frozenset("ABEFHLMSTdefrsu")
"""CSI finals that move the cursor to another row or change rows (a fresh row follows)."""
_VERTICAL_ESC = frozenset("78DEMc")


def cell_width(ch: str) -> int:
    """Columns a character takes: 2 for East Asian wide, 0 for combining marks, else 1."""
    if ch < "\u0300":
        return 1
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


class LineView:
    """One logical line of the screen: its cells and the cursor, fed the bytes shown there.

    Positions are logical: with a known ``width`` the line is the rows it wraps onto, one after
    the other, and CR, backspace and absolute moves act on the row the cursor is on.
    """

    def __init__(self, width: int = 0) -> None:
        self.width = width
        """The terminal's columns; 0 when not known (one unbounded row)."""
        self.cells: list[str] = []
        """What each cell shows (``" "`` for one never written, ``""`` for a wide
        character's second cell)."""
        self.col = 0
        """The cursor's logical position."""
        self.pending = False
        """The last character filled a row's last column: the next one wraps."""
        self.insert = False
        """Insert mode (``CSI 4 h``): a character shifts the rest of the row right."""
        self.autowrap = True
        self.writes: list[tuple[int, int, int, int]] = []
        """(text index, cell, width, count) of each run of characters of one width written
        by the last :meth:`feed` (index -1: not from the text, e.g. ``CSI b``)."""
        self.moved = False
        """The last :meth:`feed` moved the cursor within the line or edited its cells."""
        self.edited = False
        """The cursor moved within this row (or its cells were edited) since it began: what
        it shows is no longer what its bytes say in order."""
        self.stopped_at = 0
        """Where the last :meth:`feed` stopped: at a move to another row, else the end."""
        self.saved: int | None = None
        """The cursor position saved on this line (``ESC 7``, ``CSI s``), if any."""

    @property
    def behind(self) -> bool:
        """The cursor is left of cells already written: plain text now overwrites them."""
        return self.col < len(self.cells) and any(c.strip() for c in self.cells[self.col :])

    def text(self) -> str:
        """What the line shows (unwritten cells as spaces)."""
        return "".join(self.cells)

    def new_row(self, col: int = 0) -> None:
        """A line feed (or a move to another row): a fresh row, the cursor at ``col``."""
        self.cells = []
        self.col = col
        self.pending = False
        self.saved = None
        self.edited = False

    def advance(self, cells: int) -> None:
        """``cells`` characters were written at the end of the line, not kept: the cursor
        moves on (to the same column of a row further on), the cells before are dropped."""
        self.writes = []
        if not cells:
            return
        col = self.col + cells
        self.new_row(col % self.width if self.width else 0)

    def _row_start(self, at: int) -> int:
        return (at // self.width) * self.width if self.width else 0

    def _here(self) -> int:
        return self.col - 1 if self.pending else self.col

    def _row_end(self, first: int) -> int:
        return first + self.width if self.width else max(len(self.cells), self.col) + 1

    def _put(self, at: int, ch: str) -> None:
        cells = self.cells
        if at > len(cells):
            cells.extend(" " * (at - len(cells)))
        if at < len(cells):
            cells[at] = ch
        else:
            cells.append(ch)

    def _print(self, run: str, base: int) -> None:
        if run.isascii() and not self.insert and self.autowrap:
            self._print_ascii(run, base)
            return
        width = self.width
        for i, ch in enumerate(run):
            w = cell_width(ch)
            if w == 0:
                if self.col and self.col - 1 < len(self.cells):
                    self.cells[self.col - 1] += ch
                continue
            if self.pending:
                if self.autowrap:
                    self.pending = False
                else:
                    self.col -= 1
                    self.pending = False
            if width and self.col % width + w > width:  # a wide char at the last column wraps
                self.col = self._row_start(self.col) + width
            if self.insert:
                end = self._row_end(self._row_start(self.col))
                self.cells[self.col : self.col] = [" "] * w
                if width and len(self.cells) > end:
                    del self.cells[end : end + w]
            self._put(self.col, ch)
            if w == 2:
                self._put(self.col + 1, "")
            self.writes.append((base + i if base >= 0 else -1, self.col, w, 1))
            self.col += w
            if width and self.col % width == 0:
                self.pending = True

    def _print_ascii(self, run: str, base: int) -> None:
        """Characters of one cell each, overwriting (no insert mode), wrapping: row by row."""
        width = self.width
        cells = self.cells
        pos = 0
        size = len(run)
        while pos < size:
            self.pending = False
            col = self.col
            take = min(size - pos, width - col % width) if width else size - pos
            if col > len(cells):
                cells.extend(" " * (col - len(cells)))
            cells[col : col + take] = run[pos : pos + take]
            self.writes.append((base + pos if base >= 0 else -1, col, 1, take))
            self.col = col + take
            pos += take
            if width and self.col % width == 0:
                self.pending = True
            if len(cells) > MAX_CELLS:
                self._trim()

    def feed(self, text: str) -> bool:
        """Apply ``text`` (terminal output, no line feed in it) to the line.

        Returns:
            False when a movement to another row was met: the rest of ``text`` (from
            :attr:`stopped_at`) belongs to a row this view does not know.
        """
        self.writes = []
        self.moved = False
        self.stopped_at = len(text)
        for m in _PARTS.finditer(text):
            part = m.group()
            head = part[0]
            if head >= " " and head != "\x7f":
                self._print(part, m.start())
            elif head == "\x1b":
                final = m.group(2)
                if final is None:
                    if part == "\x1b7":
                        self.saved = self.col
                    elif part == "\x1b8" and self.saved is not None:
                        self.col, self.pending, self.moved = self.saved, False, True
                    elif len(part) == 2 and part[1] in _VERTICAL_ESC:
                        self.stopped_at = m.start()
                        return False
                    continue
                if not self._csi(m.group(1), final):
                    self.stopped_at = m.start()
                    self.edited = self.edited or self.moved
                    return False
            elif head == "\r":
                self.col, self.pending, self.moved = self._row_start(self._here()), False, True
            elif head == "\b":
                here = self._here()
                self.col, self.pending = max(self._row_start(here), here - 1), False
                self.moved = True
            elif head == "\t":
                here = self._here()
                first = self._row_start(here)
                stop = first + ((here - first) // 8 + 1) * 8
                self.col = min(stop, self._row_end(first) - 1) if self.width else stop
                self.pending, self.moved = False, True
            if len(self.cells) > MAX_CELLS:
                self._trim()
        self.edited = self.edited or self.moved
        return True

    def _trim(self) -> None:
        drop = len(self.cells) - MAX_CELLS // 2
        if self.width:
            drop = self._row_start(drop)
        del self.cells[:drop]
        self.col = max(0, self.col - drop)
        self.writes = [(i, c - drop, w, n) for i, c, w, n in self.writes if c >= drop]

    def _csi(self, params: str, final: str) -> bool:
        """Apply one CSI sequence; False when it leaves the line (a move to another row)."""
        if final == "m" or params.startswith((">", "=")):
            return True
        if final in "hl":
            on = final == "h"
            if params == "4":
                self.insert = on
            elif params == "?7":
                self.autowrap = on
            elif params.startswith("?") and any(
                p in ("47", "1047", "1049") for p in params[1:].split(";")
            ):
                return False
            return True
        if final == "s" and not params:
            self.saved = self.col
            return True
        if final == "u" and not params and self.saved is not None:
            self.col, self.pending, self.moved = self.saved, False, True
            return True
        if final in _VERTICAL_CSI and not params.startswith("?"):
            return False
        if final not in "@CDGIJKPXZ`ab":
            return True
        first_param = params.split(";")[0]
        n = int(first_param) if first_param.isdigit() else 0
        count = max(n, 1)
        here = self._here()
        first = self._row_start(here)
        end = self._row_end(first)
        cells = self.cells
        self.moved = True
        if final in "Ca":
            self.col = min(here + count, end - 1) if self.width else here + count
        elif final == "D":
            self.col = max(first, here - count)
        elif final in "G`":
            self.col = min(first + count - 1, end - 1) if self.width else first + count - 1
        elif final == "I":
            self.col = first + ((here - first) // 8 + count) * 8
            if self.width:
                self.col = min(self.col, end - 1)
        elif final == "Z":
            self.col = max(first, first + ((here - first - 1) // 8 - count + 1) * 8)
        elif final in "KJ":
            lo, hi = (here, end) if n == 0 else (first, here + 1) if n == 1 else (first, end)
            if final == "J" and n:  # from the screen's start, or all of it: the whole line
                lo, hi = 0, here + 1 if n == 1 else len(cells)
            if hi >= len(cells):
                del cells[lo:]
            else:
                cells[lo:hi] = [" "] * (hi - lo)
        elif final == "X":
            hi = min(here + count, end)
            if hi >= len(cells):
                del cells[here:]
            else:
                cells[here:hi] = [" "] * (hi - here)
        elif final == "P":
            if here < len(cells):
                row = cells[here:end]
                del row[:count]
                cells[here:end] = row + ([" "] * count if end <= len(cells) else [])
        elif final == "@":
            if here < len(cells):
                cells[here:here] = [" "] * count
                if self.width and len(cells) > end:
                    del cells[end : end + count]
        elif final == "b" and here > 0 and here - 1 < len(cells):
            self._print(cells[here - 1] * min(count, MAX_CELLS), -1)
        self.pending = False
        return True
