"""Streaming a SELECT's rows as `COPY (…) TO STDOUT` text: the statement, checked, and its parser.

`COPY (query) TO STDOUT` makes the server send every row in its output functions' text (what
psql prints) without a round trip per page; asyncpg stops reading while the consumer works, so
the broker's memory stays flat. The wrapped text is parsed again and used only when it is one
``COPY`` to STDOUT, in text format, of exactly the user's statement (the same parse tree), so no
text can turn it into anything else. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from pglast import parse_sql
from pglast.parser import ParseError

Cell = str | None
COPY_SUFFIX = " TO STDOUT (FORMAT 'text')"
"""What asyncpg's ``copy_from_query`` appends to ``COPY (query)`` with ``format='text'``."""
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_NOT_SEPARATORS = bytes(b for b in range(256) if b not in b"\t\n")
_UNESCAPE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


class CopyFormatError(ValueError):
    """The server's COPY text did not have the expected shape (the stream is abandoned)."""


def copy_query(text: str) -> str:
    """The query to hand to ``copy_from_query`` for the SELECT ``text``, or empty when the
    resulting ``COPY (…) TO STDOUT`` is not exactly a copy of that one statement.

    ``text`` must already be classified as one plain read (the caller's check); it goes between
    newlines so that a trailing ``--`` comment cannot swallow the closing parenthesis.
    """
    query = f"\n{text}\n"
    try:
        own = parse_sql(text)
        wrapped = parse_sql(f"COPY ({query}){COPY_SUFFIX}")
    except (ParseError, RecursionError):
        return ""
    if len(own) != 1 or len(wrapped) != 1:
        return ""
    copy: Any = wrapped[0].stmt
    if (
        type(copy).__name__ != "CopyStmt"
        or copy.is_from
        or copy.is_program
        or copy.filename is not None
        or copy.relation is not None
        or len(copy.options or ()) != 1
        or copy.query != own[0].stmt
    ):
        return ""
    return query


def _unescape(cell: str) -> Cell:
    if cell == "\\N":
        return None
    return _ESCAPE.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(1)), cell)


class CopyRows:
    """Turns COPY text-format bytes, in chunks as they come, into pages of text cells, a column
    at a time (``columns[i][row]``).

    A page is split with a handful of C-level calls whatever its size (no Python call per row):
    the order of its tabs and newlines is checked, the text is split on both at once, and each
    column is a slice of that; escapes are undone only in the cells that hold a backslash.
    """

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self._rest = b""

    def feed(self, data: bytes) -> list[list[Cell]]:
        """The complete rows in ``rest + data``, a column at a time (a partial last line waits
        for the next chunk); no rows: a list of empty columns.

        Raises:
            CopyFormatError: a row with the wrong number of fields, or text that is not UTF-8.
        """
        data = self._rest + data
        end = data.rfind(b"\n")
        if end < 0:
            self._rest = data
            return [[] for _ in range(self.columns)]
        self._rest = data[end + 1 :]
        return self._columns(data[:end])

    def finish(self) -> None:
        """Raises CopyFormatError if a partial line was left over."""
        if self._rest:
            raise CopyFormatError("the COPY stream ended inside a row")

    def _columns(self, block: bytes) -> list[list[Cell]]:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            raise CopyFormatError("the COPY stream is not UTF-8") from None
        width = self.columns
        # The server escapes tabs and newlines in data, so the separators alone, in order, are
        # width - 1 tabs and a newline, row after row (tab and newline bytes are never part of
        # a longer UTF-8 character). Then the cells of the split are row after row and column
        # i is every width-th from i.
        rows = block.count(b"\n") + 1
        row = b"\t" * (width - 1) + b"\n"
        if block.translate(None, _NOT_SEPARATORS) != (row * rows)[:-1]:
            raise CopyFormatError("a COPY row has the wrong number of fields")
        cells: list[Cell] = text.replace("\n", "\t").split("\t")  # type: ignore[assignment]
        if "\\" in text:  # NULL (\N) and escapes: only the cells that hold a backslash
            cells = [_unescape(c) if c and "\\" in c else c for c in cells]
        return [cells[i::width] for i in range(width)]
