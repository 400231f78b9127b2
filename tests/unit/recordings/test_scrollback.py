"""The one scrollback emulator shared by the index builder and the player."""

from __future__ import annotations

import pytest

from recordings.scrollback import ScrollbackScreen
from recordings.terminal import Stream


def fed(text: str, *, lines: int = 3, keep: int | None = None) -> ScrollbackScreen:
    screen = ScrollbackScreen(20, lines, keep=keep)
    Stream(screen).feed(text)
    return screen


def test_rows_scrolled_off_the_top_are_kept_in_order() -> None:
    screen = fed("one\r\ntwo\r\nthree\r\nfour\r\nfive")
    assert list(screen.scrolled) == ["one", "two"]
    assert screen.display[0].rstrip() == "three"


def test_blank_rows_scroll_off_as_empty_text() -> None:
    screen = fed("\r\n\r\n\r\nx")
    assert list(screen.scrolled) == [""]


def test_keep_bounds_the_scrollback_to_the_newest_rows() -> None:
    screen = fed("".join(f"{n}\r\n" for n in range(10)), keep=4)
    assert list(screen.scrolled) == ["4", "5", "6", "7"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("scroll region", "\x1b[2;3rtop\x1b[3;1Ha\r\nb\r\nc"),
        ("alternate screen", "\x1b[?1049h1\r\n2\r\n3\r\n4\r\n5\x1b[?1049l"),
    ],
)
def test_only_full_screen_scrolls_of_the_main_screen_count(name: str, text: str) -> None:
    assert list(fed(text).scrolled) == [], name


def test_row_text_of_a_row_never_written_adds_no_row() -> None:
    screen = ScrollbackScreen(10, 3)
    assert screen.row_text(2) == ""
    assert 2 not in screen.buffer
