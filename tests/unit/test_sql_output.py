"""Result output: psql's CSV quoting, JSON lines, the aligned table with terminal-safe cells."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from broker.sql.output import ResultWriter, aligned, csv_field, csv_line, json_line


def test_csv_fields_quote_as_psql_does() -> None:
    assert [csv_field(v) for v in (None, "", "a", "a,b", 'q"', "x\ny", "\\.", " pad ")] == [
        "",
        "",
        "a",
        '"a,b"',
        '"q"""',
        '"x\ny"',
        '"\\."',
        " pad ",
    ]


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\x00"), min_size=1),
        min_size=1,
        max_size=5,
    )
)
def test_csv_lines_read_back_with_the_csv_module(cells: list[str]) -> None:
    assert next(csv.reader(io.StringIO(csv_line(cells)))) == cells


def test_json_lines_keep_duplicate_columns_and_nulls() -> None:
    line = json_line(["a", "a", "b"], ["1", "2", None])
    assert line == '{"a": "1", "a": "2", "b": null}\n'
    assert json.loads(line) == {"a": "2", "b": None}


def test_aligned_table_pads_and_right_aligns_numbers() -> None:
    text = aligned(["id", "name"], [["1", "Alice"], ["22", None]], [True, False])
    assert text == " id | name\n----+-------\n  1 | Alice\n 22 |\n(2 rows)\n\n"


def test_aligned_cells_cannot_drive_the_terminal() -> None:
    text = aligned(["v"], [["\x1b]0;owned\x07red\x1b[31m\nx"]], [False])
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\x1b]0;owned\\x07red\\x1b[31m\\nx" in text
    assert text.endswith("(1 row)\n\n")


def test_writer_streams_csv_and_json_but_buffers_aligned() -> None:
    csv_writer = ResultWriter("csv")
    assert csv_writer.begin(["a"], [False]) == b"a\n"
    assert csv_writer.page([["1"], ["2"]]) == b"1\n2\n"
    assert csv_writer.end() == b""
    table = ResultWriter("aligned")
    assert table.begin(["a"], [False]) == b""
    assert table.page([["1"]]) == b""
    assert table.end() == b" a\n---\n 1\n(1 row)\n\n"
