"""What the SQL console's recording shows: each statement, then its result, as psql would.

Pure: masked values in, terminal text out. A reviewer's replay of a console session is this
transcript: the statement (masked as the audit log has it), the column headings and every page
of rows the pane showed, in the order it showed them (a page read again when the user scrolled
back is not repeated), the status line with the timing, or the error with a caret under its
position. Cells are the ones the user saw, masked ones with their ``[MASKED:…]`` mark; text from
the database or the user never reaches the recording as a control sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len

from broker.common.text import escape_controls

Cell = str | None
MAX_CELL = 60
"""A wider cell is cut (with …) in the recording, as the pane cuts it on screen."""


def _line(text: str) -> str:
    return escape_controls(text) + "\r\n"


def _cell(value: Cell) -> str:
    text = escape_controls("" if value is None else value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def statement(prompt: str, text: str) -> str:
    """The statement as typed after a psql-like prompt (``shop=> select …;``)."""
    lines = text.split("\n")
    shown = [f"{escape_controls(prompt)}=> {escape_controls(lines[0])}"]
    shown += [f"{escape_controls(prompt)}-> {escape_controls(line)}" for line in lines[1:]]
    return "\r\n" + "\r\n".join(shown) + ";\r\n"


def page(columns: Sequence[str], start: int, rows: Sequence[Sequence[Cell]]) -> str:
    """Rows ``start + 1`` … as an aligned table with its headings."""
    heads = [_cell(c) for c in columns]
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([cell_len(h), *(cell_len(r[i]) for r in cells)]) for i, h in enumerate(heads)]

    def fmt(values: Sequence[str]) -> str:
        return " | ".join(v + " " * (w - cell_len(v)) for v, w in zip(values, widths, strict=True))

    out = [f"-- rows {start + 1}-{start + len(rows)}\r\n", fmt(heads).rstrip() + "\r\n"]
    out.append("-+-".join("-" * w for w in widths) + "\r\n")
    out += [fmt(r).rstrip() + "\r\n" for r in cells]
    return "".join(out)


def status(text: str) -> str:
    """The status line after a result (``SELECT 200 (first page in 12 ms)``)."""
    return _line(f"({text})")


def error(message: str, text: str, position: int | None) -> str:
    """``ERROR:`` with the statement's line and a caret under ``position`` (1-based)."""
    out = _line(f"ERROR:  {message}")
    if position:
        before = text[: position - 1]
        number = before.count("\n") + 1
        line = text.split("\n")[number - 1]
        column = len(before) - (before.rfind("\n") + 1)
        lead = f"LINE {number}: "
        out += (
            _line(lead + line)
            + " " * (len(lead) + cell_len(escape_controls(line[:column])))
            + "^\r\n"
        )
    return out


def note(text: str) -> str:
    """A line the console adds (a refusal, a cancel, the transaction's state)."""
    return _line(f"-- {text}")
