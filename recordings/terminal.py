"""Terminal emulation for replay: pyte Screen and Stream subclasses that behave like xterm."""

from __future__ import annotations

import unicodedata
from typing import Any

import pyte
from pyte import charsets as cs
from pyte import modes as mo
from pyte.screens import Char, Margins, StaticDefaultDict, wcwidth

from recordings.parser import Stream
from recordings.sgr import sgr_changes

__all__ = ["Screen", "Stream", "new_terminal"]

Line = StaticDefaultDict[int, Char]

#: Private modes handled here (as pyte stores them: shifted left by 5).
ALT_1049 = 1049 << 5
ALT_1047 = 1047 << 5
ALT_47 = 47 << 5
SAVE_1048 = 1048 << 5

_PRINTABLE_ASCII = [chr(c) for c in range(0x20, 0x7F)]


class Screen(pyte.Screen):
    """A pyte screen closing the gaps to xterm listed in DESIGN.md "Replay fidelity".

    Adds the alternate screen (1049/47/1047), DEC special graphics, CSI S/T, REP, CBT,
    CHT, SCOSC/SCORC, origin-mode clamping, colon SGR, wrapping of a wide character
    from the last column, and zero-width joiners/selectors kept with their cluster.
    """

    def __init__(self, columns: int, lines: int) -> None:
        self.alternate = False
        self.saved_main: dict[int, Line] | None = None
        self.last_char = ""
        self._cells: dict[Char, dict[str, Char]] = {}
        super().__init__(columns, lines)

    # -- state -------------------------------------------------------------------------

    def reset(self) -> None:
        """Full reset (RIS): also leaves the alternate screen."""
        super().reset()
        self.alternate = False
        self.saved_main = None
        self.savepoints = []
        self.last_char = ""

    def new_line(self) -> Line:
        """Return an empty line whose blanks are the screen's default character."""
        return StaticDefaultDict(self.default_char)

    @property
    def display(self) -> list[str]:
        """Screen rows as text (a wide character's stub cell is skipped)."""
        rows = []
        for y in range(self.lines):
            line = self.buffer[y]
            rows.append("".join(line[x].data for x in range(self.columns)))
        return rows

    # -- modes and the alternate screen ---------------------------------------------------

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        """Set modes; private 1049/1047/47/1048 switch screens or save the cursor."""
        if kwargs.get("private"):
            shifted = {m << 5 for m in modes}
            if SAVE_1048 in shifted or ALT_1049 in shifted:
                self.save_cursor()
            if shifted & {ALT_1049, ALT_1047, ALT_47}:
                self._enter_alternate(clear=bool(shifted & {ALT_1049}))
            rest = [m for m in modes if (m << 5) not in (ALT_1049, ALT_1047, ALT_47, SAVE_1048)]
            if rest:
                super().set_mode(*rest, private=True)
            return
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        """Reset modes; private 1049/1047/47/1048 leave the alternate screen or restore."""
        if kwargs.get("private"):
            shifted = {m << 5 for m in modes}
            if shifted & {ALT_1049, ALT_1047, ALT_47}:
                self._leave_alternate(clear=bool(shifted & {ALT_1047}))
            if SAVE_1048 in shifted or ALT_1049 in shifted:
                self.restore_cursor()
            rest = [m for m in modes if (m << 5) not in (ALT_1049, ALT_1047, ALT_47, SAVE_1048)]
            if rest:
                super().reset_mode(*rest, private=True)
            return
        super().reset_mode(*modes, **kwargs)

    def _enter_alternate(self, *, clear: bool) -> None:
        if self.alternate:
            if clear:
                self.buffer.clear()
            return
        self.saved_main = dict(self.buffer)
        self.buffer.clear()
        self.alternate = True
        self.dirty.update(range(self.lines))

    def _leave_alternate(self, *, clear: bool) -> None:
        if not self.alternate:
            return
        del clear  # the alternate buffer is discarded either way
        self.buffer.clear()
        self.buffer.update(self.saved_main or {})
        self.saved_main = None
        self.alternate = False
        self.dirty.update(range(self.lines))

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize both the shown and the saved (main) buffer."""
        lines = lines or self.lines
        columns = columns or self.columns
        if self.saved_main is not None and (lines, columns) != (self.lines, self.columns):
            saved = self.saved_main
            if lines < self.lines:
                drop = self.lines - lines
                saved = {y - drop: ln for y, ln in saved.items() if y >= drop}
            for ln in saved.values():
                for x in [x for x in ln if x >= columns]:
                    del ln[x]
            self.saved_main = saved
        super().resize(lines, columns)

    # -- charsets ----------------------------------------------------------------------------

    def define_charset(self, code: str, mode: str) -> None:
        """Designate G0 (``(``) or G1 (``)``); ``*``/``+`` (G2/G3) are accepted and ignored."""
        if code in cs.MAPS and mode in "()":
            super().define_charset(code, mode)

    # -- drawing -----------------------------------------------------------------------------

    def draw(self, data: str) -> None:
        """Draw text at the cursor like xterm (wide chars wrap, zero-width chars join)."""
        charset = self.g1_charset if self.charset else self.g0_charset
        if charset is not cs.LAT1_MAP:
            data = data.translate(charset)
        columns = self.columns
        autowrap = mo.DECAWM in self.mode
        insert = mo.IRM in self.mode
        cursor = self.cursor
        if data.isascii() and data.isprintable() and not insert and data:
            self._draw_ascii(data, columns, autowrap)
            return
        for char in data:
            width = wcwidth(char)
            if width <= 0:
                if width == 0 and (unicodedata.combining(char) or _is_joiner(char)):
                    self._append_to_previous(char)
                continue
            if cursor.x + width > columns:
                if autowrap:
                    if cursor.x < columns:  # a wide char that does not fit: blank the rest
                        line = self.buffer[cursor.y]
                        for x in range(cursor.x, columns):
                            line[x] = cursor.attrs._replace(data=" ")
                    self.dirty.add(cursor.y)
                    cursor.x = 0
                    self.linefeed()
                else:
                    cursor.x = columns - width
            if insert:
                self.insert_characters(width)
            line = self.buffer[cursor.y]
            line[cursor.x] = cursor.attrs._replace(data=char)
            if width == 2 and cursor.x + 1 < columns:
                line[cursor.x + 1] = cursor.attrs._replace(data="")
            cursor.x += width
            self.last_char = char
        self.dirty.add(cursor.y)

    def _draw_ascii(self, data: str, columns: int, autowrap: bool) -> None:
        """Fast path for printable ASCII: whole runs per line, cells cached per style."""
        cursor = self.cursor
        attrs = cursor.attrs
        cache = self._cells.get(attrs)
        if cache is None:
            if len(self._cells) > 256:
                self._cells.clear()
            cache = self._cells[attrs] = {c: attrs._replace(data=c) for c in _PRINTABLE_ASCII}
        get = cache.__getitem__
        pos, end = 0, len(data)
        while pos < end:
            if cursor.x >= columns:
                if autowrap:
                    self.dirty.add(cursor.y)
                    cursor.x = 0
                    self.linefeed()
                else:
                    cursor.x = columns - 1
                    data = data[:pos] + data[end - 1 :]
                    pos, end = pos, pos + 1
            n = min(end - pos, columns - cursor.x)
            x = cursor.x
            self.buffer[cursor.y].update(
                zip(range(x, x + n), map(get, data[pos : pos + n]), strict=True)
            )
            cursor.x = x + n
            pos += n
        self.last_char = data[end - 1]
        self.dirty.add(cursor.y)

    def _append_to_previous(self, char: str) -> None:
        x, y = self.cursor.x, self.cursor.y
        line = self.buffer[y]
        if x > 0:
            x -= 1
            if line[x].data == "" and x > 0:  # stub of a wide char
                x -= 1
        elif y > 0:
            y, x = y - 1, self.columns - 1
            line = self.buffer[y]
        else:
            return
        last = line[x]
        joined = last.data + char
        if unicodedata.combining(char):
            joined = unicodedata.normalize("NFC", joined)
        line[x] = last._replace(data=joined)
        self.dirty.add(y)

    def repeat_last(self, count: int | None = None) -> None:
        """REP (CSI b): repeat the last drawn graphic character."""
        if self.last_char:
            self.draw(self.last_char * min(count or 1, 65535))

    # -- erasing (fill every column with the current colours, like xterm's BCE) ---------------

    def _blank(self) -> Char:
        attrs = self.cursor.attrs
        return self.default_char._replace(fg=attrs.fg, bg=attrs.bg)

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        """EL: erase part or all of the cursor's line."""
        self.dirty.add(self.cursor.y)
        if how == 0:
            interval = range(min(self.cursor.x, self.columns), self.columns)
        elif how == 1:
            interval = range(min(self.cursor.x + 1, self.columns))
        elif how == 2:
            interval = range(self.columns)
        else:
            return
        line = self.buffer[self.cursor.y]
        blank = self._blank()
        for x in interval:
            line[x] = blank

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        """ED: erase part or all of the screen (3 clears only scrollback: a no-op here)."""
        if how == 0:
            interval = range(self.cursor.y + 1, self.lines)
        elif how == 1:
            interval = range(self.cursor.y)
        elif how == 2:
            interval = range(self.lines)
        else:
            return
        self.dirty.update(interval)
        blank = self._blank()
        for y in interval:
            line = self.buffer[y]
            for x in range(self.columns):
                line[x] = blank
        if how in (0, 1):
            self.erase_in_line(how)

    def insert_characters(self, count: int | None = None) -> None:
        """ICH: shift the rest of the line right; what passes the right margin is gone.

        pyte 0.8.2 keeps one cell past the margin (it shows up after a resize wider).
        """
        self.dirty.add(self.cursor.y)
        count = count or 1
        line = self.buffer[self.cursor.y]
        for x in range(self.columns - 1, self.cursor.x - 1, -1):
            if x + count < self.columns:
                line[x + count] = line[x]
            line.pop(x, None)

    def erase_characters(self, count: int | None = None) -> None:
        """ECH: erase characters from the cursor on, with the current colours."""
        self.dirty.add(self.cursor.y)
        line = self.buffer[self.cursor.y]
        blank = self._blank()
        for x in range(self.cursor.x, min(self.cursor.x + (count or 1), self.columns)):
            line[x] = blank

    # -- scrolling -----------------------------------------------------------------------------

    def scroll_up(self, count: int | None = None) -> None:
        """SU (CSI S): scroll the region up; the cursor stays."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        n = min(count or 1, bottom - top + 1)
        for y in range(top, bottom + 1):
            src = y + n
            if src <= bottom and src in self.buffer:
                self.buffer[y] = self.buffer[src]
            else:
                self.buffer.pop(y, None)
        self.dirty.update(range(top, bottom + 1))

    def scroll_down(self, count: int | None = None) -> None:
        """SD (CSI T): scroll the region down; the cursor stays."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        n = min(count or 1, bottom - top + 1)
        for y in range(bottom, top - 1, -1):
            src = y - n
            if src >= top and src in self.buffer:
                self.buffer[y] = self.buffer[src]
            else:
                self.buffer.pop(y, None)
        self.dirty.update(range(top, bottom + 1))

    # -- cursor movement -------------------------------------------------------------------

    def cursor_position(self, line: int | None = None, column: int | None = None) -> None:
        """CUP: move the cursor; in origin mode, relative to and clamped into the region."""
        column = (column or 1) - 1
        row = (line or 1) - 1
        if self.margins is not None and mo.DECOM in self.mode:
            row = min(row + self.margins.top, self.margins.bottom)
        self.cursor.x = column
        self.cursor.y = row
        self.ensure_hbounds()
        self.ensure_vbounds()

    def cursor_to_line(self, line: int | None = None) -> None:
        """VPA: move to a line; in origin mode, relative to and clamped into the region."""
        row = (line or 1) - 1
        if self.margins is not None and mo.DECOM in self.mode:
            row = min(row + self.margins.top, self.margins.bottom)
        self.cursor.y = row
        self.ensure_vbounds()

    def cursor_back(self, count: int | None = None) -> None:
        """CUB: move left, stopping at column 0."""
        if self.cursor.x >= self.columns:
            self.cursor.x = self.columns - 1
        self.cursor.x = max(0, self.cursor.x - (count or 1))

    def tab(self) -> None:
        """HT: move to the next tab stop (or the last column)."""
        self.forward_tab(1)

    def forward_tab(self, count: int | None = None) -> None:
        """CHT (CSI I): move forward ``count`` tab stops."""
        for _ in range(min(count or 1, self.columns)):
            stops = [s for s in self.tabstops if s > self.cursor.x]
            self.cursor.x = min(stops) if stops else self.columns - 1

    def backward_tab(self, count: int | None = None) -> None:
        """CBT (CSI Z): move back ``count`` tab stops (or to column 0)."""
        for _ in range(min(count or 1, self.columns)):
            x = min(self.cursor.x, self.columns - 1)
            stops = [s for s in self.tabstops if s < x]
            self.cursor.x = max(stops) if stops else 0

    def select_graphic_rendition(self, *attrs: int) -> None:
        """SGR with plain (semicolon) parameters."""
        self.sgr_groups([[a] for a in attrs] or [[0]])

    def sgr_groups(self, groups: list[list[int]]) -> None:
        """SGR where each parameter may carry colon sub-parameters (``4:3``, ``38:2::r:g:b``)."""
        replace = sgr_changes(groups, self.default_char)
        self.cursor.attrs = self.cursor.attrs._replace(**replace)


def _is_joiner(char: str) -> bool:
    return char == "\u200d" or "\ufe00" <= char <= "\ufe0f" or unicodedata.category(char) == "Mn"


def new_terminal(columns: int, lines: int) -> tuple[Screen, Stream]:
    """Return a fresh screen of the given size and a stream attached to it."""
    screen = Screen(columns, lines)
    return screen, Stream(screen)
