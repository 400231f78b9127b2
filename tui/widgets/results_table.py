"""A result table that holds a few pages, whatever the result's size (Line API).

Rows are drawn from a small cache of pages; a row that is not in it is drawn as ``…`` and asked
for with :class:`ResultsTable.PageNeeded` (the screen reads it from the broker and hands it
back with :meth:`ResultsTable.add_page`). The table's height is the result's row count once
known, else the rows read so far plus one page, so scrolling on reads on. Cells the masking
changed are drawn marked (their text already says ``[MASKED:…]``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from broker.common.text import escape_controls
from broker.session.sqlresult import Page

MAX_WIDTH = 40
"""A column is at most this wide (a longer cell is cut with …)."""
KEPT_PAGES = 6
"""Pages kept in memory: a screen or two either way of what is shown."""

HEAD = Style(bold=True, underline=True)
NULL = Style(dim=True, italic=True)
MASKED = Style(color="black", bgcolor="yellow")
PENDING = Style(dim=True)


def _fit(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text + " " * (width - cell_len(text))
    out = ""
    for char in text:
        if cell_len(out + char) > width - 1:
            break
        out += char
    return out + "…" + " " * (width - 1 - cell_len(out))


class ResultsTable(ScrollView, can_focus=True):
    """Rows of the current result, read from the broker a page at a time."""

    BINDINGS = [
        Binding("up", "scroll_up", "Up", show=False),
        Binding("down", "scroll_down", "Down", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "End", show=False),
    ]

    DEFAULT_CSS = """
    ResultsTable { background: $surface; }
    """

    class PageNeeded(Message):
        """Rows from ``start`` are to be shown and are not held."""

        def __init__(self, start: int) -> None:
            super().__init__()
            self.start = start

    def __init__(self, *, page_rows: int = 200, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.page_rows = page_rows
        self.columns: tuple[str, ...] = ()
        self.numeric: tuple[bool, ...] = ()
        self.widths: list[int] = []
        self.total: int | None = None
        self.loaded = 0
        """Rows known to exist (read so far)."""
        self._pages: OrderedDict[int, Page] = OrderedDict()
        self._asked: set[int] = set()

    def show(
        self,
        columns: Sequence[str],
        numeric: Sequence[bool],
        first: Page | None,
        total: int | None,
    ) -> None:
        """Show a new result (its first page), dropping the last one."""
        self.columns = tuple(columns)
        self.numeric = tuple(numeric) or (False,) * len(self.columns)
        self.total = total
        self._pages.clear()
        self._asked.clear()
        self.loaded = 0
        rows = first.rows if first else []
        self.widths = [
            min(MAX_WIDTH, max([cell_len(c), *(cell_len(_text(r[i])) for r in rows)]))
            for i, c in enumerate(self.columns)
        ]
        if first is not None:
            self.add_page(first)
        self.scroll_to(0, 0, animate=False)
        self._resize()

    def add_page(self, page: Page) -> None:
        """Hold ``page`` (the oldest held page is dropped past :data:`KEPT_PAGES`)."""
        self._asked.discard(page.start)
        self._pages[page.start] = page
        self._pages.move_to_end(page.start)
        while len(self._pages) > KEPT_PAGES:
            self._pages.popitem(last=False)
        self.loaded = max(self.loaded, page.start + len(page.rows))
        if len(page.rows) < self.page_rows:
            self.total = page.start + len(page.rows)
        self._resize()
        self.refresh()

    def set_total(self, total: int) -> None:
        self.total = total
        self._resize()
        self.refresh()

    @property
    def held_rows(self) -> int:
        """Rows held in memory now (a few pages at most)."""
        return sum(len(p.rows) for p in self._pages.values())

    @property
    def row_count(self) -> int:
        """Rows the table is tall: all of them once known, else those read and a page more."""
        if self.total is not None:
            return self.total
        return self.loaded + self.page_rows if self.columns else 0

    def _resize(self) -> None:
        width = sum(w + 3 for w in self.widths)
        self.virtual_size = Size(width, self.row_count + 1 if self.columns else 0)

    def cell(self, row: int, column: int) -> tuple[str | None, bool] | None:
        """The value shown at ``row``/``column`` and whether it was masked (None: not held)."""
        start = row - row % self.page_rows
        page = self._pages.get(start)
        if page is None or row - start >= len(page.rows):
            return None
        return page.rows[row - start][column], page.marks[row - start][column]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self.columns:
            return Strip.blank(width)
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            segments = [
                Segment(_fit(escape_controls(c), w) + " │ ", HEAD)
                for c, w in zip(self.columns, self.widths, strict=True)
            ]
        else:
            row = scroll_y + y - 1
            if row >= self.row_count:
                return Strip.blank(width)
            segments = self._row(row)
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width)

    def _row(self, row: int) -> list[Segment]:
        start = row - row % self.page_rows
        page = self._pages.get(start)
        if page is None:
            if start not in self._asked:
                self._asked.add(start)
                self.post_message(self.PageNeeded(start))
            return [Segment("…", PENDING)]
        self._pages.move_to_end(start)
        index = row - start
        if index >= len(page.rows):
            return []
        segments = []
        for i, w in enumerate(self.widths):
            value = page.rows[index][i]
            text = _fit(_text(value), w)
            if self.numeric[i] and value is not None:
                text = _text(value)[:w].rjust(w)
            style = MASKED if page.marks[index][i] else NULL if value is None else Style()
            segments += [Segment(text, style), Segment(" │ ")]
        return segments


def _text(value: str | None) -> str:
    return "NULL" if value is None else escape_controls(value)
