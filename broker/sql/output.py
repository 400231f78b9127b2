"""Result output for `sql`: psql-like aligned table, CSV as `psql --csv` writes it, JSON lines.

Pure: rows of text cells (``None`` for NULL) in, bytes out. CSV and JSON are written page by page
(the broker's memory stays flat); the aligned table needs every row for its widths, as psql does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len

Cell = str | None
FORMATS = ("aligned", "csv", "json")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CSV_QUOTE = re.compile(r'[,\r\n"]')
_CSV_SPECIAL = (",", "\r", "\n", '"', "\\.")
"""What makes psql quote a field (``\\.`` only when it is the whole field: a column holding it
anywhere is written cell by cell)."""


def csv_field(cell: Cell) -> str:
    """One field as psql's csv_print_field writes it (NULL is empty)."""
    if cell is None:
        return ""
    if _CSV_QUOTE.search(cell) or cell == "\\.":
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_line(cells: Sequence[Cell]) -> str:
    return ",".join(csv_field(c) for c in cells) + "\n"


def csv_column(cells: Sequence[Cell]) -> Sequence[str]:
    """A column's cells as CSV fields: looked at once as one text, one by one only when some
    cell is NULL or needs quotes."""
    if None not in cells:
        joined = "\t".join(cells)  # type: ignore[arg-type]  # no None
        if not any(c in joined for c in _CSV_SPECIAL):
            return cells  # type: ignore[return-value]
    return [csv_field(c) for c in cells]


def csv_page(columns: Sequence[Sequence[Cell]]) -> str:
    """The rows whose cells are ``columns[i][row]`` as CSV lines (as ``csv_line`` writes each).

    The cells are written as they are and the page looked at once: no NULL (the join fails), no
    quote, carriage return or backslash, and exactly the commas and newlines of the separators
    means no cell needed quotes. Otherwise each column is written again by ``csv_column``.
    """
    if not columns or not columns[0]:
        return ""
    width = len(columns)
    rows = len(columns[0])
    if any(len(c) != rows for c in columns):
        raise ValueError("columns of different lengths")
    # Fields and separators interleaved by slice assignment, joined once: no call per row.
    parts: list[Cell] = [","] * (2 * width * rows)
    for i, cells in enumerate(columns):
        parts[2 * i :: 2 * width] = cells
    parts[2 * width - 1 :: 2 * width] = ["\n"] * rows
    try:
        text = "".join(parts)  # type: ignore[arg-type]  # a None raises
    except TypeError:
        pass
    else:
        if (
            '"' not in text
            and "\r" not in text
            and "\\" not in text
            and text.count(",") == (width - 1) * rows
            and text.count("\n") == rows
        ):
            return text
    for i, cells in enumerate(columns):
        parts[2 * i :: 2 * width] = csv_column(cells)
    return "".join(parts)  # type: ignore[arg-type]  # every field is text now


def json_line(columns: Sequence[str], cells: Sequence[Cell]) -> str:
    """One row as a JSON object (duplicate column names are kept, in order)."""
    pairs = (
        f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
        for k, v in zip(columns, cells, strict=True)
    )
    return "{" + ", ".join(pairs) + "}\n"


def _shown(cell: Cell) -> str:
    """A cell for a terminal: control characters (escape sequences included) made visible."""
    if cell is None:
        return ""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", cell.replace("\n", "\\n"))


def aligned(columns: Sequence[str], rows: Sequence[Sequence[Cell]], right: Sequence[bool]) -> str:
    """A psql-style aligned table with its `(N rows)` footer; ``right`` aligns numeric columns."""
    names = [_shown(c) for c in columns]
    body = [[_shown(c) for c in row] for row in rows]
    widths = [cell_len(n) for n in names]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], cell_len(cell))
    last = len(names) - 1

    def pad(text: str, i: int, *, centre: bool = False, to_right: bool = False) -> str:
        gap = widths[i] - cell_len(text)
        if centre:
            left = gap // 2
            return " " * left + text + " " * (gap - left)
        if to_right:
            return " " * gap + text
        return text if i == last else text + " " * gap

    lines = [" " + " | ".join(pad(n, i, centre=True) for i, n in enumerate(names)).rstrip()]
    lines.append(
        "-+-".join("-" * w for w in widths).join("--") if len(widths) > 1 else "-" * (widths[0] + 2)
    )
    for row in body:
        cells = " | ".join(pad(c, i, to_right=right[i]) for i, c in enumerate(row))
        lines.append((" " + cells).rstrip())
    count = len(rows)
    lines.append(f"({count} row{'' if count == 1 else 's'})")
    return "\n".join(lines) + "\n\n"


@dataclass
class ResultWriter:
    """Collects or streams one statement's result in one format (the only mutable piece)."""

    fmt: str = "aligned"
    columns: tuple[str, ...] = ()
    right: tuple[bool, ...] = ()
    rows: list[Sequence[Cell]] = field(default_factory=list)
    """Buffered rows (aligned format only)."""

    def begin(self, columns: Sequence[str], right: Sequence[bool]) -> bytes:
        self.columns, self.right = tuple(columns), tuple(right)
        self.rows = []
        return csv_line(self.columns).encode() if self.fmt == "csv" else b""

    def page_columns(self, columns: Sequence[Sequence[Cell]]) -> bytes:
        """Like ``page`` for rows given a column at a time (``columns[i][row]``)."""
        if self.fmt == "csv":
            return csv_page(columns).encode()
        return self.page(list(zip(*columns, strict=True)))

    def page(self, rows: Sequence[Sequence[Cell]]) -> bytes:
        if self.fmt == "csv":
            return "".join(csv_line(r) for r in rows).encode()
        if self.fmt == "json":
            return "".join(json_line(self.columns, r) for r in rows).encode()
        self.rows.extend(rows)
        return b""

    def end(self) -> bytes:
        if self.fmt != "aligned" or not self.columns:
            return b""
        text = aligned(self.columns, self.rows, self.right)
        self.rows = []
        return text.encode()
