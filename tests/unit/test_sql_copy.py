"""Streaming rows as COPY text: the wrapped statement is exactly the user's, rows parse back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.sql.output import csv_line, csv_page
from broker.upstream.pgcopy import COPY_SUFFIX, CopyFormatError, CopyRows, copy_query


def copy_text(rows: list[list[str | None]]) -> bytes:
    """Rows as PostgreSQL's COPY TO writes them in text format."""

    def field(cell: str | None) -> str:
        if cell is None:
            return "\\N"
        out = cell.replace("\\", "\\\\")
        for raw, esc in (("\b", "\\b"), ("\f", "\\f"), ("\n", "\\n"), ("\r", "\\r")):
            out = out.replace(raw, esc)
        return out.replace("\t", "\\t").replace("\v", "\\v")

    return "".join("\t".join(field(c) for c in row) + "\n" for row in rows).encode()


def test_a_plain_select_is_wrapped() -> None:
    query = copy_query("select id, email from customers -- trailing comment")
    assert query == "\nselect id, email from customers -- trailing comment\n"


def test_text_that_breaks_out_of_the_parentheses_is_not_wrapped() -> None:
    for hostile in (
        "select 1) to program 'id' --",
        "select 1) to '/tmp/x' (format text) --",
        "select 1); drop table t; select (1",
        "select 1 from t) TO STDOUT; COPY (select 2",
        "select 1; select 2",
        "not sql at all",
    ):
        assert copy_query(hostile) == "", hostile


@given(st.text(max_size=60))
def test_whatever_the_text_a_wrap_is_one_copy_of_it(text: str) -> None:
    query = copy_query(text)
    if query:
        assert query == f"\n{text}\n"
        assert COPY_SUFFIX.startswith(" TO STDOUT")


ROWS = st.lists(
    st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=3, max_size=3),
    max_size=20,
)


@given(ROWS, st.integers(min_value=1, max_value=50))
def test_copy_text_in_any_chunks_gives_the_rows_back(
    rows: list[list[str | None]], size: int
) -> None:
    data = copy_text(rows)
    parser = CopyRows(3)
    got: list[list[str | None]] = []
    for at in range(0, len(data), size):
        page = parser.feed(data[at : at + size])
        assert len(page) == 3
        assert len({len(c) for c in page}) == 1
        got += [list(r) for r in zip(*page, strict=True)]
    parser.finish()
    assert got == rows


@given(
    st.lists(st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=1, max_size=1)),
    st.integers(min_value=1, max_value=9),
)
def test_a_single_column_parses_back(rows: list[list[str | None]], size: int) -> None:
    data = copy_text(rows)
    parser = CopyRows(1)
    got: list[str | None] = []
    for at in range(0, len(data), size):
        got += parser.feed(data[at : at + size])[0]
    parser.finish()
    assert got == [r[0] for r in rows]


@pytest.mark.parametrize(
    "data",
    [
        b"a\tb\tc\n",  # three fields for two columns
        b"a\tb\nc\n",  # one too few in the second row
        b"a\tb\tc\nd\n",  # as many fields in all as two rows of two, shifted
        b"\n",
        b"a\xff\tb\n",  # not UTF-8
    ],
)
def test_a_row_of_the_wrong_width_is_an_error(data: bytes) -> None:
    with pytest.raises(CopyFormatError):
        CopyRows(2).feed(data)


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=12))
def test_rows_parse_only_when_every_row_has_the_width(widths: list[int]) -> None:
    """Fields per row drawn at random: the block parses only when each row has three, however
    the others add up (a row short and one long are as many fields as two good rows)."""
    data = "".join("\t".join("x" * n) + "\n" for n in widths).encode()
    if all(n == 3 for n in widths):
        assert CopyRows(3).feed(data) == [["x"] * len(widths)] * 3
    else:
        with pytest.raises(CopyFormatError):
            CopyRows(3).feed(data)


def test_a_stream_cut_inside_a_row_is_an_error() -> None:
    parser = CopyRows(2)
    assert parser.feed(b"a\tb\nc") == [["a"], ["b"]]
    with pytest.raises(CopyFormatError):
        parser.finish()


@pytest.mark.parametrize(
    "cell",
    [None, "", "a,b", 'say "hi"', "two\nlines", "cr\r", "\\.", "\\.x", "back\\slash", "plain"],
)
def test_csv_page_quotes_one_odd_cell_among_plain_ones(cell: str | None) -> None:
    rows: list[list[str | None]] = [["1", "a", "x"], ["2", cell, "y"], ["3", "c", "z"]]
    columns = [list(c) for c in zip(*rows, strict=True)]
    assert csv_page(columns) == "".join(csv_line(r) for r in rows)


@given(ROWS)
def test_csv_page_writes_what_csv_line_writes(rows: list[list[str | None]]) -> None:
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else []
    assert csv_page(columns) == "".join(csv_line(r) for r in rows)
