"""The approvals list: a DataTable filled a screenful first and the rest a step per frame.

DataTable measures every cell it is given (with the console's options, per cell); 1,000
requests × 7 columns held the loop for over 100 ms on each refill. Here the widths come
from the text lengths, computed once per fill, and cells are renderables DataTable does not
measure, so a refill costs what is shown plus a cheap pass over the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.text import Text
from textual.widgets import DataTable

from tui.text import cell

FIRST_ROWS = 60
"""Rows put in the table at once when it is filled (more than a screenful)."""
ROWS_PER_STEP = 500
"""The rest follow this many per frame (each step repaints what is visible: few steps)."""
MAX_WIDTH = 48
"""The widest a column gets (longer text is cut in the cell; the detail shows it whole)."""


class Cell:
    """A cell whose width the table already knows: rendered, never measured."""

    __slots__ = ("text",)

    def __init__(self, text: Text) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        yield self.text

    def __str__(self) -> str:
        return self.text.plain


class ApprovalTable(DataTable[Any]):
    """Rows of requests keyed by request id, refilled as a whole when the list changes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self._generation = 0

    def fill(
        self, columns: Sequence[str], rows: Sequence[tuple[str, ...]], keep: str | None
    ) -> None:
        """Show ``rows`` (the first cell of each is its key; text from users, shown as text)
        under ``columns``; the cursor goes back to the row keyed ``keep`` when it is there."""
        self._generation += 1
        self.clear(columns=True)
        widths = [len(name) for name in columns]
        for values in rows:  # the text as given (a control shown escaped is cut, at worst)
            widths = [max(w, cell_len(v)) for w, v in zip(widths, values, strict=True)]
        for name, width in zip(columns, widths, strict=True):
            self.add_column(name, width=min(MAX_WIDTH, width), key=name)
        self._step(rows, 0, self._generation, keep)

    def _step(
        self, rows: Sequence[tuple[str, ...]], start: int, generation: int, keep: str | None
    ) -> None:
        if generation != self._generation:
            return  # refilled meanwhile
        end = start + (FIRST_ROWS if start == 0 else ROWS_PER_STEP)
        for i, values in enumerate(rows[start:end], start):
            self.add_row(*(Cell(cell(v)) for v in values), key=values[0])
            if values[0] == keep:
                self.move_cursor(row=i)
        if end < len(rows):
            self.call_after_refresh(self._step, rows, end, generation, keep)
