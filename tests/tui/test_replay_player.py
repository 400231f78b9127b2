"""The replay player under Pilot: play/pause, speed, idle skip, seek, commands, search, scrollback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Log, OptionList, Static

from recordings.playback import SPEEDS, VirtualClock
from recordings.store import RecordingStore
from tests.tui.replay_fakes import PlayerApp, write_session
from tui.screens.replay import ReplayScreen
from tui.widgets.terminal_view import TerminalView
from tui.widgets.timeline import Timeline, fmt_time

SIZE = (100, 30)


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    store = RecordingStore(tmp_path)
    write_session(store, "s1")
    return store


async def running(store: RecordingStore, **screen_args: Any) -> AsyncIterator[Any]:
    app = PlayerApp(store.open("s1"), clock=VirtualClock(), **screen_args)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        yield app, pilot, app.screen


@pytest.fixture
async def player(store: RecordingStore) -> AsyncIterator[tuple[PlayerApp, Pilot[None], Any]]:
    async for item in running(store):
        yield item


async def play_for(pilot: Pilot[None], screen: ReplayScreen, seconds: float) -> None:
    """Let ``seconds`` pass on the player's virtual clock, frame by frame."""
    clock = screen.playback.clock
    assert isinstance(clock, VirtualClock)
    if screen.playing:
        await clock.wait_for_sleepers()  # the playback worker waits for its first frame
    await clock.advance(seconds)
    await pilot.pause()


async def settle(pilot: Pilot[None]) -> None:
    """Let the queued keys be handled and the workers they started (search, scrollback) end."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def status(screen: ReplayScreen) -> str:
    return str(screen.query_one("#status", Static).render())


def shown(screen: ReplayScreen) -> str:
    return "\n".join(screen.view.text_lines())


async def test_opens_paused_at_the_start_with_the_first_screen(player: Any) -> None:
    _, _, screen = player
    assert isinstance(screen, ReplayScreen)
    assert screen.position == 0.0
    assert not screen.playing
    assert shown(screen).strip() == ""
    timeline = str(screen.query_one(Timeline).render())
    assert "0:00 / 0:45" in timeline
    assert "paused" in timeline


async def test_space_plays_and_pauses(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("space")
    assert screen.playing
    await play_for(pilot, screen, 0.4)
    await pilot.press("space")
    stopped = screen.position
    assert stopped == pytest.approx(0.4)
    assert shown(screen).startswith("$")  # the prompt, drawn at 0.1 s, was played
    await play_for(pilot, screen, 0.3)
    assert screen.position == stopped  # paused: time stands still
    assert "paused" in str(screen.query_one(Timeline).render())


async def test_speed_steps_and_bounds(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("plus", "plus")
    assert screen.speed == 4.0
    for _ in range(10):
        await pilot.press("plus")
    assert screen.speed == SPEEDS[-1] == 16.0
    for _ in range(10):
        await pilot.press("minus")
    assert screen.speed == SPEEDS[0] == 0.25
    assert "0.25x" in str(screen.query_one(Timeline).render())


async def test_faster_speed_covers_more_recording_time(player: Any) -> None:
    _, pilot, screen = player
    for _ in range(4):
        await pilot.press("plus")  # 16x
    await pilot.press("space")
    await play_for(pilot, screen, 0.4)
    await pilot.press("space")
    assert screen.position == pytest.approx(6.4)  # 0.4 s of clock time at 16x


async def test_idle_skipping_shortens_the_long_pause(player: Any) -> None:
    _, pilot, screen = player
    screen.seek(3.0)  # inside the 30-second pause (2 s .. 32 s)
    await pilot.press("i", "space")
    await play_for(pilot, screen, 0.5)
    await pilot.press("space")
    assert screen.position >= 32.0
    assert "log line" in shown(screen)
    assert "idle skipped" in str(screen.query_one(Timeline).render())


async def test_without_idle_skipping_the_pause_plays_in_real_time(player: Any) -> None:
    _, pilot, screen = player
    screen.seek(3.0)
    await pilot.press("space")
    await play_for(pilot, screen, 0.3)
    await pilot.press("space")
    assert screen.position == pytest.approx(3.3)


async def test_arrows_seek_and_clamp(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("right", "right")
    assert screen.position == 10.0
    await pilot.press("left", "left", "left")
    assert screen.position == 0.0
    await pilot.press("end")
    assert screen.position == 45.0
    assert "needle-42" in shown(screen)
    await pilot.press("right")
    assert screen.position == 45.0
    await pilot.press("home")
    assert shown(screen).strip() == ""


async def test_clicking_the_bar_seeks_there(player: Any) -> None:
    _, pilot, screen = player
    timeline = screen.query_one(Timeline)
    width = timeline.size.width
    await pilot.click(Timeline, offset=(width - 1, 0))
    assert screen.position == pytest.approx(45.0)
    await pilot.click(Timeline, offset=((width - 1) * 41 // 45, 0))
    assert 39.0 < screen.position < 42.0
    await pilot.click(Timeline, offset=(0, 1))  # the time line under the bar is not the bar
    assert 39.0 < screen.position < 42.0


async def test_next_and_previous_command(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("right_square_bracket")
    assert screen.position == 1.0
    assert "command 1/3" in status(screen)
    await pilot.press("right_square_bracket", "right_square_bracket")
    assert screen.position == 40.0
    assert shown(screen).splitlines()[-1].startswith("$ echo needle-42")
    await pilot.press("right_square_bracket")
    assert screen.position == 40.0
    assert "No further command" in status(screen)
    await pilot.press("left_square_bracket")
    assert screen.position == 32.0
    await pilot.press("left_square_bracket", "left_square_bracket")
    assert screen.position == 1.0
    assert "No further command" in status(screen)


async def test_command_list_enter_jumps(player: Any) -> None:
    _, pilot, screen = player
    commands = screen.query_one("#replay-commands", OptionList)
    assert commands.option_count == 3
    assert "0:32" in str(commands.get_option_at_index(1).prompt)
    await pilot.press("c")
    assert commands.has_focus
    assert commands.highlighted == 0
    await pilot.press("down", "enter")
    assert screen.position == 32.0
    assert "cat log" in status(screen)


async def test_search_next_and_previous_match(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("slash")
    box = screen.query_one("#replay-search", Input)
    assert box.display
    assert box.has_focus
    await pilot.press(*"needle", "enter")
    await settle(pilot)
    assert not box.display
    assert screen.view.highlight == "needle"
    assert len(screen.matches) == 3
    first = screen.position
    assert first == pytest.approx(40.0, abs=0.6)
    assert "match 1/3" in status(screen)
    assert "needle-42" in shown(screen)
    await pilot.press("n")
    assert "match 2/3" in status(screen)
    await pilot.press("n", "n")
    assert "match 1/3" in status(screen)  # wraps around
    await pilot.press("N")
    assert "match 3/3" in status(screen)


async def test_a_match_that_scrolled_off_points_to_the_scrollback(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("slash", *"line 07", "enter")
    await settle(pilot)
    assert 32.0 <= screen.position <= 32.2
    assert "line 07" not in shown(screen)  # it went by within one burst of output
    assert "scrolled off the screen here" in status(screen)
    await pilot.press("slash", *"line 17", "enter")
    await settle(pilot)
    assert "line 17" in shown(screen)
    assert "scrolled off" not in status(screen)


async def test_search_typed_ahead_in_one_read_is_not_taken_for_keys(player: Any) -> None:
    """ "/quit⏎" arriving at once: a search for "quit", not `q` closing the player."""
    app, pilot, screen = player
    for key, character in [("slash", "/"), *((c, c) for c in "needle"), ("enter", "\r")]:
        app.post_message(events.Key(key, character))
    await settle(pilot)
    assert screen.view.highlight == "needle"
    assert len(screen.matches) == 3
    await pilot.press("slash", *"a/b", "enter")  # `/` inside the box is text
    await settle(pilot)
    assert screen.view.highlight == "a/b"


async def test_search_without_matches_says_so(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("slash", *"absent", "enter")
    await settle(pilot)
    assert "does not appear" in status(screen)
    assert screen.position == 0.0
    await pilot.press("n")
    assert "No matches" in status(screen)


async def test_n_before_any_search_explains(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("n")
    assert "press / to search" in status(screen)


async def test_escape_closes_the_search_box_first(player: Any) -> None:
    app, pilot, screen = player
    await pilot.press("slash", "escape")
    assert not screen.query_one("#replay-search", Input).display
    assert app.screen is screen
    assert app.closed == 0


async def test_scrollback_shows_text_that_scrolled_off(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("end", "b")
    await settle(pilot)
    back = screen.query_one("#replay-scrollback", Log)
    assert back.display
    assert not screen.view.display
    lines = list(back.lines)
    assert lines[0] == "$ ls"
    assert "log line 00" in lines
    marker = lines.index("──── on screen at 0:45 ────")
    assert "log line 00" in lines[:marker]
    assert lines[-2:] == ["needle-42", "$"]
    assert "scrolled off" in status(screen)
    await pilot.press("b")
    assert not back.display
    assert screen.view.display


async def test_scrollback_is_empty_before_anything_scrolled(player: Any) -> None:
    _, pilot, screen = player
    screen.seek(5.0)
    await pilot.press("b")
    await settle(pilot)
    lines = list(screen.query_one("#replay-scrollback", Log).lines)
    assert lines[0] == "──── on screen at 0:05 ────"
    assert "0 lines scrolled off" in status(screen)
    await pilot.press("escape")  # Esc leaves the scrollback, not the player
    assert screen.view.display


async def test_close_calls_on_close_once(player: Any) -> None:
    app, pilot, screen = player
    await pilot.press("space", "q")
    await pilot.pause()
    assert app.closed == 1
    assert app.screen is not screen
    assert not screen.playing


async def test_opens_at_a_moment_with_a_search(store: RecordingStore) -> None:
    async for _, pilot, screen in running(store, start=40.5, search="needle"):
        await settle(pilot)
        assert screen.position == 40.5
        assert "needle-42" in shown(screen)
        assert screen.view.highlight == "needle"
        assert "3 matches" in status(screen)
        await pilot.press("n")
        assert "match 3/3" in status(screen)  # after 40.5 comes the output line


async def test_playing_to_the_end_stops(player: Any) -> None:
    _, pilot, screen = player
    screen.seek(44.5)
    await pilot.press("space")
    await play_for(pilot, screen, 1.0)
    assert screen.position == 45.0
    assert not screen.playing
    await pilot.press("space")  # at the end, play starts over
    assert screen.position < 1.0
    assert screen.playing


async def test_a_recording_gone_while_playing_pauses_with_the_reason(player: Any) -> None:
    _, pilot, screen = player
    await pilot.press("space")
    screen.player.cast_path.unlink()  # retention, or an operator, removed it meanwhile
    await play_for(pilot, screen, 0.1)
    assert not screen.playing
    assert screen.position == 0.0
    assert "cannot replay" in status(screen)
    assert screen.query_one("#status").has_class("error")
    assert "paused" in str(screen.query_one(Timeline).render())


async def test_small_viewer_crops_and_follows_the_cursor(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    write_session(store, "s1", width=150, height=50)
    app = PlayerApp(store.open("s1"))
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        view = screen.query_one(TerminalView)
        assert view.virtual_size.width == 150
        assert view.virtual_size.height == 50
        assert view.size.width < 150
        assert view.max_scroll_y > 0
        screen.seek(40.6)  # the cursor is on row 24, below a 20-row viewer
        await pilot.pause()
        top = int(view.scroll_y)
        assert top <= 24 < top + view.scrollable_content_region.height


def test_fmt_time() -> None:
    assert [fmt_time(t) for t in (0, 5.9, 65, 3600, 3725.5, -3)] == [
        "0:00",
        "0:05",
        "1:05",
        "1:00:00",
        "1:02:05",
        "0:00",
    ]
