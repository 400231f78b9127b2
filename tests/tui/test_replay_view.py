"""The terminal view: pyte colours and cells to Strips, dirty-row repaint, golden casts replayed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyte.screens import Char
from rich.color import Color
from textual.app import App, ComposeResult

from recordings.asciicast import read_recording
from recordings.replay import apply_event, render_text
from recordings.store import RecordingStore
from recordings.terminal import Screen, Stream
from tests.tui.replay_fakes import CASTS, PlayerApp
from tui.screens.replay import ReplayScreen
from tui.widgets.terminal_view import TerminalView, cell_style, pyte_color, row_segments


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("black", Color.from_ansi(0)),
        ("brown", Color.from_ansi(3)),  # pyte's name for yellow
        ("white", Color.from_ansi(7)),
        ("brightbrown", Color.from_ansi(11)),
        ("bfightmagenta", Color.from_ansi(13)),  # pyte's misspelt bright magenta background
        ("brightmagenta", Color.from_ansi(13)),
        ("ff8700", Color.from_rgb(255, 135, 0)),  # 256 and true colours arrive as rrggbb
        ("00CD00", Color.from_rgb(0, 205, 0)),
    ],
)
def test_pyte_colours(name: str, expected: Color) -> None:
    assert pyte_color(name) == expected


@pytest.mark.parametrize(
    "name", ["default", "", "purple", "brightpurple", "12345", "1234567", "gggggg", "#ff0000"]
)
def test_unknown_colours_are_the_default(name: str) -> None:
    assert pyte_color(name) is None


def test_cell_style_attributes() -> None:
    style = cell_style("red", "default", True, False, True, False, True)
    assert style.color == Color.from_ansi(1)
    assert style.bgcolor is None
    assert style.bold
    assert style.underline
    assert style.reverse
    assert not style.italic
    assert not style.strike


def cells(text: str) -> list[Char]:
    screen = Screen(len(text) + 4, 1)
    Stream(screen).feed(text)
    return [screen.buffer[0][x] for x in range(screen.columns)]


def test_wide_character_stub_cell_is_skipped() -> None:
    row = cells("a漢b")
    assert row[2].data == ""  # pyte's stub after the wide character
    text = "".join(s.text for s in row_segments(row))
    assert text == "a漢b   "
    assert sum(s.cell_length for s in row_segments(row)) == len(row)


def test_cursor_and_highlight_are_marked() -> None:
    row = cells("find the NEEDLE here")
    segs = row_segments(row, cursor_x=0, highlight="needle")
    assert segs[0].text == "f"
    assert segs[0].style is not None
    assert segs[0].style.reverse
    marked = [s.text for s in segs if s.style is not None and s.style.bgcolor is not None]
    assert marked == ["NEEDLE"]
    plain = row_segments(row)
    assert all(s.style is None or not s.style.reverse for s in plain)


def test_cursor_past_the_last_column_is_drawn_after_it() -> None:
    row = cells("ab")[:2]
    segs = row_segments(row, cursor_x=2)
    assert segs[-1].text == " "
    assert segs[-1].style is not None
    assert segs[-1].style.reverse


def test_no_highlight_when_absent() -> None:
    segs = row_segments(cells("nothing to see"), highlight="needle")
    assert all(s.style is None or s.style.bgcolor is None for s in segs)


class ViewApp(App[None]):
    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.term = screen

    def compose(self) -> ComposeResult:
        yield TerminalView(self.term)


async def test_sync_repaints_only_dirty_rows() -> None:
    term = Screen(40, 10)
    stream = Stream(term)
    app = ViewApp(term)
    async with app.run_test(size=(50, 12)) as pilot:
        view = app.query_one(TerminalView)
        await pilot.pause()
        assert view.sync() == 0
        stream.feed("hello")
        assert view.sync() == 1  # row 0 (text and cursor)
        stream.feed("\r\nworld")
        assert view.sync() == 2  # row 1, and row 0 that the cursor left
        await pilot.pause()
        assert view.text_lines()[:2] == ["hello", "world"]
        line = view.render_line(1)
        assert line.text.startswith("world")
        term.resize(5, 30)
        assert view.sync() == 5  # a resize repaints everything
        assert view.virtual_size.width == 30


async def test_colours_reach_the_strips(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    sid = store.import_cast(CASTS / "ls-color.cast", session_id="ls")
    player = store.open(sid)
    app = PlayerApp(player, start=player.duration)
    async with app.run_test(size=(130, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        view = screen.view
        styles = {}
        for y in range(view.size.height):
            for seg in view.render_line(y):
                if seg.text.strip() and seg.style is not None:
                    styles[seg.text.strip()] = seg.style
        dirs = [s for text, s in styles.items() if s.color == Color.from_ansi(4)]
        assert dirs, "no blue (directory) text rendered"
        assert all(s.bold for s in dirs)


@pytest.mark.parametrize(
    "cast",
    [
        "vim.cast",
        "top.cast",
        "less.cast",
        "ls-color.cast",
        "dialog.cast",
        "gap1-alternate.cast",
        "gap7-wide-last-column.cast",
        "gap8-emoji-zwj.cast",
    ],
)
async def test_golden_casts_show_what_linear_replay_shows(tmp_path: Path, cast: str) -> None:
    recording = read_recording(CASTS / cast)
    store = RecordingStore(tmp_path)
    player = store.open(store.import_cast(CASTS / cast, session_id="g"))
    duration = player.duration
    times = [0.0, duration / 3, duration / 2, duration * 0.9, duration]
    app = PlayerApp(player)
    async with app.run_test(size=(130, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        for t in times:
            screen.seek(t)
            linear = Screen(recording.header.width, recording.header.height)
            stream = Stream(linear)
            for event in recording.events:
                if event.time > t:
                    break
                apply_event(linear, stream, event)
            expected = [row.rstrip() for row in linear.display]
            assert screen.view.text_lines() == expected, f"{cast} at {t:.3f}"
            assert "\n".join(expected).rstrip() == render_text(player.screen_at(t)).rstrip()
