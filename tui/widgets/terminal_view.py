"""A pyte screen shown with the Line API: cells become Strips, only dirty rows are repainted."""

from __future__ import annotations

import functools
from typing import ClassVar

import pyte
from pyte.screens import Char
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["TerminalView", "cell_style", "pyte_color", "row_segments"]

# pyte's colour names (DESIGN.md: "brown" is yellow, bright magenta background is misspelt).
_ANSI = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
_NAMED: dict[str, int] = {name: i for i, name in enumerate(_ANSI)}
_NAMED.update({f"bright{name}": i + 8 for i, name in enumerate(_ANSI)})
_NAMED.update({"yellow": 3, "brightyellow": 11, "bfightmagenta": 13})
_HEX = frozenset("0123456789abcdefABCDEF")
_HIGHLIGHT = Style(color="black", bgcolor="yellow", bold=True)
_CURSOR = Style(reverse=True)


@functools.lru_cache(maxsize=1024)
def pyte_color(name: str) -> Color | None:
    """Turn a pyte colour (``"red"``, ``"brightbrown"``, ``"ff8700"``, ``"default"``) into Rich's.

    Returns:
        The colour, or None for the terminal default (and for anything unrecognised).
    """
    number = _NAMED.get(name)
    if number is not None:
        return Color.from_ansi(number)
    if len(name) == 6 and _HEX.issuperset(name):
        return Color.from_rgb(int(name[0:2], 16), int(name[2:4], 16), int(name[4:6], 16))
    return None


@functools.lru_cache(maxsize=4096)
def cell_style(
    fg: str, bg: str, bold: bool, italics: bool, underscore: bool, strike: bool, reverse: bool
) -> Style:
    """Return the Rich style for one combination of pyte cell attributes."""
    return Style(
        color=pyte_color(fg),
        bgcolor=pyte_color(bg),
        bold=bold or None,
        italic=italics or None,
        underline=underscore or None,
        strike=strike or None,
        reverse=reverse or None,
    )


def _style_of(c: Char) -> Style:
    return cell_style(c.fg, c.bg, c.bold, c.italics, c.underscore, c.strikethrough, c.reverse)


def row_segments(cells: list[Char], *, cursor_x: int = -1, highlight: str = "") -> list[Segment]:
    """Return the segments of one screen row (wide-character stub cells are left out).

    Args:
        cells: the row's cells, one per column; a wide character is followed by a ``""`` cell.
        cursor_x: column to draw the cursor at (reverse video), or -1 for none.
        highlight: text to mark wherever it appears in the row (ASCII case-insensitive).
    """
    marked = _marked_columns(cells, highlight) if highlight else frozenset()
    segments: list[Segment] = []
    text: list[str] = []
    style: Style | None = None
    for x, c in enumerate(cells):
        data = c.data
        if not data:
            continue  # the right half of a wide character
        s = _style_of(c)
        if x in marked:
            s = s + _HIGHLIGHT
        if x == cursor_x:
            s = s + _CURSOR
        if s is not style:
            if text:
                segments.append(Segment("".join(text), style))
            text, style = [], s
        text.append(data)
    if text:
        segments.append(Segment("".join(text), style))
    if cursor_x >= len(cells) and cells:
        segments.append(Segment(" ", _CURSOR))  # pending wrap: shown just past the last column
    return segments


def _marked_columns(cells: list[Char], needle: str) -> frozenset[int]:
    columns: list[int] = []
    chars: list[str] = []
    for x, c in enumerate(cells):
        for ch in c.data:
            chars.append(ch)
            columns.append(x)
    hay = "".join(chars).lower()
    needle = needle.lower()
    out: set[int] = set()
    start = hay.find(needle)
    while start >= 0:
        out.update(columns[start : start + len(needle)])
        start = hay.find(needle, start + 1)
    return frozenset(out)


class TerminalView(ScrollView, can_focus=True, inherit_bindings=False):
    """Shows a pyte screen; scrolls when the widget is smaller than the emulated terminal.

    Attributes down: :meth:`attach` a screen, call :meth:`sync` after feeding it (only rows in
    ``screen.dirty`` and the cursor rows are repainted; ``dirty`` is cleared). Set
    :attr:`highlight` to mark text.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("shift+left", "pan(-8, 0)", "Pan left", show=False),
        Binding("shift+right", "pan(8, 0)", "Pan right", show=False),
        Binding("shift+up", "pan(0, -4)", "Pan up", show=False),
        Binding("shift+down", "pan(0, 4)", "Pan down", show=False),
    ]
    DEFAULT_CSS = """
    TerminalView {
        background: black;
        color: #d0d0d0;
        scrollbar-size: 1 1;
    }
    """

    def __init__(
        self,
        screen: pyte.Screen | None = None,
        *,
        show_cursor: bool = True,
        follow_cursor: bool = True,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's keyword
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.show_cursor = show_cursor
        self.follow_cursor = follow_cursor
        self.term: pyte.Screen | None = None
        self._highlight = ""
        self._cache: dict[int, Strip] = {}
        self._cursor: tuple[int, int] = (-1, -1)
        if screen is not None:
            self.attach(screen)

    # -- attributes down -------------------------------------------------------------

    def attach(self, screen: pyte.Screen) -> None:
        """Show ``screen`` (a new emulator, e.g. after a seek): everything is repainted."""
        self.term = screen
        screen.dirty.clear()
        self._cache.clear()
        self._cursor = self._cursor_pos()
        self.virtual_size = Size(screen.columns, screen.lines)
        self.refresh()
        self._follow()

    def sync(self) -> int:
        """Repaint what changed since the last call; return how many rows were repainted."""
        screen = self.term
        if screen is None:
            return 0
        if self.virtual_size != Size(screen.columns, screen.lines):
            self.attach(screen)  # resized
            return screen.lines
        rows = {y for y in screen.dirty if 0 <= y < screen.lines}
        screen.dirty.clear()
        cursor = self._cursor_pos()
        if cursor != self._cursor:
            rows.update(y for y in (self._cursor[1], cursor[1]) if 0 <= y < screen.lines)
            self._cursor = cursor
        for y in rows:
            self._cache.pop(y, None)
            self.refresh_line(y)
        self._follow()
        return len(rows)

    @property
    def highlight(self) -> str:
        """Text marked wherever it is shown (empty for none)."""
        return self._highlight

    @highlight.setter
    def highlight(self, text: str) -> None:
        if text != self._highlight:
            self._highlight = text
            self._cache.clear()
            self.refresh()

    def text_lines(self) -> list[str]:
        """Return the shown screen as text rows (trailing blanks removed)."""
        screen = self.term
        if screen is None:
            return []
        out = []
        for y in range(screen.lines):
            line = screen.buffer[y]
            out.append("".join(line[x].data for x in range(screen.columns)).rstrip())
        return out

    # -- Line API ----------------------------------------------------------------------

    def _cursor_pos(self) -> tuple[int, int]:
        screen = self.term
        if screen is None or not self.show_cursor or screen.cursor.hidden:
            return (-1, -1)
        return (screen.cursor.x, screen.cursor.y)

    def _follow(self) -> None:
        if not self.follow_cursor or self._cursor[1] < 0 or not self.size.area:
            return
        x, y = self._cursor
        sx, sy = self.scroll_offset
        width, height = self.scrollable_content_region.size
        if not (sx <= x < sx + width and sy <= y < sy + height):
            self.scroll_to_region(Region(x, y, 1, 1), animate=False, immediate=True, force=True)

    def action_pan(self, dx: int, dy: int) -> None:
        """Scroll the view by hand (stops following the cursor)."""
        self.follow_cursor = False
        self.scroll_to(self.scroll_x + dx, self.scroll_y + dy, animate=False, immediate=True)

    def _row_strip(self, y: int) -> Strip:
        strip = self._cache.get(y)
        if strip is None:
            screen = self.term
            assert screen is not None
            line = screen.buffer[y]
            cells = [line[x] for x in range(screen.columns)]
            cursor_x = self._cursor[0] if self._cursor[1] == y else -1
            segments = row_segments(cells, cursor_x=cursor_x, highlight=self._highlight)
            strip = Strip(segments).extend_cell_length(screen.columns)
            if len(self._cache) > 4 * screen.lines:
                self._cache.clear()
            self._cache[y] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        """Return row ``y`` of the visible region, cropped to the horizontal scroll."""
        scroll_x, scroll_y = self.scroll_offset
        row = y + scroll_y
        width = self.scrollable_content_region.width
        screen = self.term
        base = self.rich_style
        if screen is None or not 0 <= row < screen.lines:
            return Strip.blank(width, base)
        strip = self._row_strip(row).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width).apply_style(base)

    def notify_style_update(self) -> None:
        """Drop cached rows when the widget's own style changes."""
        super().notify_style_update()
        self._cache.clear()
