"""Statements in an editor's text (pglast's scanner) and the console's transcript."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.sql import transcript
from broker.sql.locate import line_col, offset_of, statement_at, statement_spans


def pieces(text: str) -> list[str]:
    return [text[a:b] for a, b in statement_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("select 1", ["select 1"]),
        ("select 1;\n\n select 2 ;", ["select 1", "select 2"]),
        ("select ';' as a; select 2", ["select ';' as a", "select 2"]),
        ('select 1 as ";"; select 2', ['select 1 as ";"', "select 2"]),
        ("select $$a;b$$; select 2", ["select $$a;b$$", "select 2"]),
        ("select $f$a;b$f$; select 2", ["select $f$a;b$f$", "select 2"]),
        ("-- a; comment\nselect 1", ["-- a; comment\nselect 1"]),
        ("/* ; */ select 1; select 2", ["/* ; */ select 1", "select 2"]),
        ("select 'é;'; select 'ü'", ["select 'é;'", "select 'ü'"]),
        ("select 'unterminated; select 2", ["select 'unterminated; select 2"]),
        (";;  ;", []),
        ("", []),
    ],
)
def test_statements_split_at_real_semicolons(text: str, expected: list[str]) -> None:
    assert pieces(text) == expected


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0, "select 1"), (8, "select 1"), (9, "select 1"), (12, "select 2"), (30, "select 2")],
)
def test_the_statement_under_the_cursor(offset: int, expected: str) -> None:
    text = "select 1;\n  select 2;\n\n"
    span = statement_at(text, offset)
    assert span is not None
    assert text[span[0] : span[1]] == expected


def test_nothing_under_the_cursor_in_blank_text() -> None:
    assert statement_at("  \n ", 2) is None


@given(st.text(max_size=300))
def test_spans_never_raise_and_stay_in_order(text: str) -> None:
    spans = statement_spans(text)
    last = 0
    for start, end in spans:
        assert last <= start < end <= len(text)
        assert text[start:end].strip() == text[start:end]
        last = end


@pytest.mark.parametrize(
    ("offset", "expected"), [(0, (0, 0)), (3, (0, 3)), (4, (1, 0)), (8, (2, 1)), (99, (2, 2))]
)
def test_line_col(offset: int, expected: tuple[int, int]) -> None:
    assert line_col("abc\nde\nfg", offset) == expected


@given(st.text(alphabet="ab;\n ", max_size=40), st.integers(min_value=0, max_value=45))
def test_offset_of_undoes_line_col(text: str, offset: int) -> None:
    offset = min(offset, len(text))
    assert offset_of(text, line_col(text, offset)) == offset


@pytest.mark.parametrize(
    ("location", "expected"), [((0, 0), 0), ((1, 2), 6), ((1, 99), 8), ((9, 0), 9), ((2, 5), 10)]
)
def test_offset_of_clamps_to_the_text(location: tuple[int, int], expected: int) -> None:
    assert offset_of("abc\nxyzw\nq", location) == expected


def test_transcript_escapes_controls_and_cuts_wide_cells() -> None:
    page = transcript.page(["a\x1b[2J", "b"], 0, [("x\x1b]0;t\x07", "y" * 100), (None, "z")])
    assert "\x1b" not in page
    assert "\\x1b" in page
    assert "y" * 59 + "…" in page
    assert page.startswith("-- rows 1-2\r\n")


def test_transcript_error_puts_a_caret_under_the_position() -> None:
    shown = transcript.error('column "nosuch" does not exist', "select 1,\n  nosuch", 13)
    assert shown == (
        'ERROR:  column "nosuch" does not exist\r\nLINE 2:   nosuch\r\n          ^\r\n'
    )


def test_transcript_statement_is_shown_after_a_prompt() -> None:
    assert transcript.statement("shop", "select 1,\n 2") == "\r\nshop=> select 1,\r\nshop->  2;\r\n"
