"""The approvals list: rows of requests drawn a line at a time (Line API), with a row cursor.

A DataTable refilled on each filter key cost 50–110 ms with 1,000 requests (clearing, adding
each row through its reactive machinery, then rendering every visible cell through Rich), more
than the 100 ms a keystroke may stall. Here a refill swaps a list; only the visible lines are
drawn, each row's line is built once (cut to its column widths) and kept until the rows change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from broker.common.text import escape_controls

MAX_WIDTH = 48
"""The widest a column gets (longer text is cut in the cell; the detail shows it whole)."""
GAP = 2
"""Blank cells between two columns (one each side, as DataTable pads them)."""
KEPT_LINES = 512
"""Row lines kept drawn (a few screens' worth; the cache is dropped past it)."""


def fit(text: str, width: int) -> str:
    """``text`` (controls already escaped) cut or padded to exactly ``width`` cells."""
    length = cell_len(text)
    if length <= width:
        return text + " " * (width - length)
    out = []
    used = 0
    for char in text:
        size = cell_len(char)
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + "…" + " " * (width - 1 - used)


def widths_of(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width: its widest cell (controls shown escaped), at most MAX_WIDTH."""
    widths = [cell_len(name) for name in columns]
    for values in rows:
        widths = [
            w if w >= MAX_WIDTH else max(w, cell_len(escape_controls(v)))
            for w, v in zip(widths, values, strict=True)
        ]
    return [min(MAX_WIDTH, w) for w in widths]


class ApprovalTable(ScrollView, can_focus=True):
    """Rows of requests keyed by request id (the first cell); a cursor picks one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "approval-table--header",
        "approval-table--cursor",
    }
    DEFAULT_CSS = """
    ApprovalTable {
        background: $surface;
        color: $foreground;
        & > .approval-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .approval-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .approval-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    class RowHighlighted(Message):
        """The cursor moved onto another row (or the rows under it changed)."""

        def __init__(self, table: ApprovalTable, row: int) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> ApprovalTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.columns: tuple[str, ...] = ()
        self.widths: list[int] = []
        self.rows: Sequence[tuple[str, ...]] = ()
        self._lines: dict[int, Strip] = {}
        self.cursor_row = 0
        """The row under the cursor (0 when there are no rows)."""

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def key_at(self, row: int) -> str:
        """The key (first cell) of ``row``."""
        return self.rows[row][0]

    def fill(
        self,
        columns: Sequence[str],
        rows: Sequence[tuple[str, ...]],
        keep: str | None,
        widths: Sequence[int] | None = None,
    ) -> None:
        """Show ``rows`` (the first cell of each is its key; text from users, shown as text)
        under ``columns``, ``widths`` wide (default: fitted to the rows); the cursor goes back
        to the row keyed ``keep`` when it is there, else stays where it was (within the rows)."""
        self.columns = tuple(columns)
        self.widths = list(widths) if widths is not None else widths_of(columns, rows)
        self.rows = rows
        self._lines.clear()
        self.virtual_size = Size(sum(w + GAP for w in self.widths), len(rows) + 1)
        row = next((i for i, v in enumerate(rows) if v[0] == keep), None)
        if row is None:
            row = min(self.cursor_row, max(0, len(rows) - 1))
        self._set_cursor(row, force=True)
        self.refresh()

    def clear(self) -> None:
        """No rows and no columns."""
        self.fill((), (), None, ())

    # -- drawing --------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self.columns:
            return Strip.blank(width, self.rich_style)
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            strip = self._header()
        else:
            row = scroll_y + y - 1
            if row >= len(self.rows):
                return Strip.blank(width, self.rich_style)
            strip = self._line(row)
            if row == self.cursor_row:
                cursor = self.get_component_rich_style("approval-table--cursor")
                strip = strip.apply_style(cursor)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _header(self) -> Strip:
        style = self.rich_style + self.get_component_rich_style("approval-table--header")
        text = "".join(
            " " + fit(escape_controls(c), w) + " "
            for c, w in zip(self.columns, self.widths, strict=True)
        )
        return Strip([Segment(text, style)])

    def _line(self, row: int) -> Strip:
        line = self._lines.get(row)
        if line is None:
            if len(self._lines) >= KEPT_LINES:
                self._lines.clear()
            text = "".join(
                " " + fit(escape_controls(v), w) + " "
                for v, w in zip(self.rows[row], self.widths, strict=True)
            )
            line = self._lines[row] = Strip([Segment(text, self.rich_style)])
        return line

    # -- the cursor -------------------------------------------------------------

    def _set_cursor(self, row: int, *, force: bool = False) -> None:
        row = max(0, min(row, len(self.rows) - 1)) if self.rows else 0
        old = self.cursor_row
        if row == old and not force:
            return
        self.cursor_row = row
        self._refresh_row(old)
        self._refresh_row(row)
        self._scroll_to_cursor()
        self.post_message(self.RowHighlighted(self, row))

    def move_cursor(self, *, row: int) -> None:
        self._set_cursor(row)

    def _refresh_row(self, row: int) -> None:
        y = row - self.scroll_offset.y + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _scroll_to_cursor(self) -> None:
        if not self.rows or self.size.height < 2:
            return
        top, shown = self.scroll_offset.y, self.size.height - 1
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + shown:
            self.scroll_to(y=self.cursor_row - shown + 1, animate=False)

    def _page(self) -> int:
        return max(1, self.size.height - 2)

    def action_cursor_up(self) -> None:
        self._set_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._set_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self._set_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self._set_cursor(self.cursor_row + self._page())

    def action_first(self) -> None:
        self._set_cursor(0)

    def action_last(self) -> None:
        self._set_cursor(len(self.rows) - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            row = self.scroll_offset.y + event.y - 1
            if row < len(self.rows):
                self._set_cursor(row)

    def on_resize(self, event: events.Resize) -> None:
        self._scroll_to_cursor()
