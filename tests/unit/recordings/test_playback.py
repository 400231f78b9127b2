"""The playback controller and its clocks, on virtual time: no UI, no sleeps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from recordings.errors import RecordingError
from recordings.playback import FRAME, SPEEDS, MonotonicClock, PlaybackController, VirtualClock
from recordings.replay import render_text
from recordings.store import RecordingStore
from tests.support.casts import write_session


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    store = RecordingStore(tmp_path)
    write_session(store, "s1")  # see write_session for the times
    return store


def controller(store: RecordingStore, **kwargs: object) -> tuple[PlaybackController, VirtualClock]:
    clock = VirtualClock()
    playback = PlaybackController(store.open("s1"), clock, **kwargs)  # type: ignore[arg-type]
    playback.seek(playback.position)
    return playback, clock


def shown(playback: PlaybackController) -> str:
    assert playback.head is not None
    return render_text(playback.head.state())


async def play_for(playback: PlaybackController, clock: VirtualClock, seconds: float) -> int:
    """Play ``seconds`` of clock time; return the frames shown (playback may end first)."""
    frames: list[float] = []
    playback.play()
    task = asyncio.create_task(playback.run(lambda: frames.append(playback.position)))
    await clock.wait_for_sleepers()
    await clock.advance(seconds)
    playback.pause()
    if not task.done():
        await clock.advance(FRAME)  # the loop sees the pause at its next frame
    await task
    return len(frames)


# -- the virtual clock -------------------------------------------------------------------


async def test_virtual_clock_wakes_sleepers_in_deadline_order_at_their_deadline() -> None:
    clock = VirtualClock(start=10.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 2.0), ("a", 1.0), ("c", 5))]
    await clock.wait_for_sleepers(3)
    await clock.advance(3.0)
    assert woke == [("a", 11.0), ("b", 12.0)]
    assert clock.now() == 13.0
    assert clock.sleeping == 1
    await clock.advance(2.0)
    assert woke[-1] == ("c", 15.0)
    await asyncio.gather(*tasks)


async def test_virtual_clock_skips_a_cancelled_sleeper() -> None:
    clock = VirtualClock()
    task = asyncio.create_task(clock.sleep(1.0))
    await clock.wait_for_sleepers()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleeping == 0
    await clock.advance(2.0)
    assert clock.now() == 2.0


async def test_virtual_clock_time_stands_still_without_advance() -> None:
    clock = VirtualClock()
    task = asyncio.create_task(clock.sleep(0.5))
    await clock.wait_for_sleepers()
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done()
    await clock.advance(0.5)
    await task


async def test_virtual_clock_refuses_a_task_that_never_lets_time_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock()
    monkeypatch.setattr(VirtualClock, "MAX_WAKEUPS", 50)

    async def spin() -> None:
        while True:
            await clock.sleep(0)

    task = asyncio.create_task(spin())
    await clock.wait_for_sleepers()
    with pytest.raises(RuntimeError, match="too many wake-ups"):
        await clock.advance(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- the controller ----------------------------------------------------------------------


def test_opens_paused_at_start_clamped(store: RecordingStore) -> None:
    playback, _ = controller(store, start=99.0)
    assert (playback.position, playback.playing, playback.speed) == (45.0, False, 1.0)
    assert playback.at_end
    assert "needle-42" in shown(playback)
    playback.seek(-3)
    assert playback.position == 0.0
    assert shown(playback).strip() == ""


async def test_plays_in_clock_time_frame_by_frame(store: RecordingStore) -> None:
    playback, clock = controller(store)
    frames = await play_for(playback, clock, 0.4)
    assert frames == 12  # 0.4 s at 30 frames a second
    assert playback.position == pytest.approx(0.4)
    assert not playback.playing
    assert shown(playback).startswith("$")  # the prompt, drawn at 0.1 s


async def test_time_stands_still_while_paused(store: RecordingStore) -> None:
    playback, clock = controller(store)
    await play_for(playback, clock, 0.5)
    stopped = playback.position
    await clock.advance(10.0)
    assert playback.position == stopped


@pytest.mark.parametrize(("speed_steps", "expected"), [(0, 1.0), (4, 16.0), (-2, 0.25)])
async def test_speed_scales_recording_time(
    store: RecordingStore, speed_steps: int, expected: float
) -> None:
    playback, clock = controller(store)
    assert playback.change_speed(speed_steps) == expected
    await play_for(playback, clock, 0.5)
    assert playback.position == pytest.approx(0.5 * expected)


def test_speed_is_bounded_at_both_ends(store: RecordingStore) -> None:
    playback, _ = controller(store)
    assert playback.change_speed(100) == SPEEDS[-1]
    assert playback.change_speed(-100) == SPEEDS[0]


async def test_idle_skipping_shortens_the_long_pause(store: RecordingStore) -> None:
    playback, clock = controller(store, start=3.0)  # inside the pause from 2 s to 32 s
    assert playback.toggle_idle()
    await play_for(playback, clock, 0.5)
    assert playback.position >= 32.0
    assert "log line" in shown(playback)


async def test_without_idle_skipping_the_pause_plays_in_clock_time(
    store: RecordingStore,
) -> None:
    playback, clock = controller(store, start=3.0)
    await play_for(playback, clock, 0.3)
    assert playback.position == pytest.approx(3.3)


async def test_playing_to_the_end_stops_and_play_starts_over(store: RecordingStore) -> None:
    playback, clock = controller(store, start=44.5)
    playback.play()
    frames: list[float] = []
    task = asyncio.create_task(playback.run(lambda: frames.append(playback.position)))
    await clock.wait_for_sleepers()
    await clock.advance(1.0)
    assert task.done()  # run() returned by itself at the end
    await task
    assert frames[-1] == playback.position == 45.0
    assert not playback.playing
    assert frames.count(45.0) == 1  # the frame that reached the end was the last
    playback.play()
    assert playback.position == 0.0
    assert playback.playing


async def test_playing_reuses_the_playhead_until_a_keyframe_is_nearer(
    store: RecordingStore,
) -> None:
    playback, _ = controller(store)
    first = playback.head
    playback.move_to(1.6)
    assert playback.head is first  # events played on from the playhead
    assert "notes.txt" in shown(playback)
    playback.move_to(44.0)
    assert playback.head is not first  # a keyframe past the playhead: a jump
    playback.move_to(1.0)
    assert playback.position == 1.0  # backwards is a seek
    assert "notes.txt" not in shown(playback)


@pytest.mark.parametrize(
    ("position", "direction", "expected"),
    [
        (0.0, 1, 0),
        (1.0, 1, 1),
        (32.0, 1, 2),
        (40.0, 1, None),
        (40.0, -1, 1),
        (40.3, -1, 1),
        (40.6, -1, 2),
        (1.0, -1, None),
    ],
)
def test_command_index(
    store: RecordingStore, position: float, direction: int, expected: int | None
) -> None:
    playback, _ = controller(store, start=position)
    assert [m.time for m in playback.markers] == [1.0, 32.0, 40.0]
    assert playback.command_index(direction) == expected


def test_scrollback_holds_what_scrolled_off(store: RecordingStore) -> None:
    playback, _ = controller(store, start=45.0)
    text = playback.scrollback()
    assert text.history[0] == "$ ls"
    assert "log line 00" in text.history
    assert text.shown[-2:] == ("needle-42", "$")
    assert playback.scrollback(5.0).history == ()


def test_scrollback_keeps_the_newest_lines(store: RecordingStore) -> None:
    playback, _ = controller(store, start=45.0)
    text = playback.player.scrollback(45.0, keep=3)
    assert len(text.history) == 3
    assert text.history == playback.scrollback().history[-3:]


async def test_an_unreadable_recording_pauses_and_keeps_the_position(
    store: RecordingStore,
) -> None:
    playback, clock = controller(store)
    playback.play()
    task = asyncio.create_task(playback.run(lambda: None))
    await clock.wait_for_sleepers()
    playback.player.cast_path.unlink()
    playback.player.index.path.unlink()
    await clock.advance(5.0)  # the first frame reads the recording
    with pytest.raises(RecordingError):
        await task
    assert not playback.playing
    assert playback.position < 5.0
    with pytest.raises(RecordingError):
        playback.seek(10.0)
    assert not playback.playing


def test_search_goes_to_the_first_match_at_or_after_the_position(store: RecordingStore) -> None:
    playback, _ = controller(store, start=40.2)
    found = playback.search("needle")
    assert [m.time for m in found] == [40.0, 40.0, 40.5]
    first = playback.take_matches("needle", found)
    assert first == 2  # the output line at 40.5; the command at 40.0 is behind
    match = playback.goto_match(first)
    assert (playback.position, match.line_text) == (40.5, "needle-42")
    assert playback.goto_match(playback.match_index + 1) is found[0]  # wraps around
    assert playback.goto_match(playback.match_index - 1) is found[2]


def test_search_past_the_last_match_wraps_to_the_first(store: RecordingStore) -> None:
    playback, _ = controller(store, start=45.0)
    assert playback.take_matches("needle", playback.search("needle")) == 0


def test_search_without_matches(store: RecordingStore) -> None:
    playback, _ = controller(store, start=3.0)
    assert playback.take_matches("absent", playback.search("absent")) is None
    assert (playback.matches, playback.match_index, playback.search_text) == ((), -1, "absent")
    assert playback.position == 3.0


async def test_plays_to_the_end_on_the_monotonic_clock(store: RecordingStore) -> None:
    """The clock people watch: real frames, waited for by the end of playback, not a sleep."""
    playback = PlaybackController(store.open("s1"), start=44.8)
    assert isinstance(playback.clock, MonotonicClock)
    playback.seek(playback.position)
    playback.change_speed(4)  # 16x: 0.2 s of recording in about 13 ms
    frames: list[float] = []
    playback.play()
    async with asyncio.timeout(10):
        await playback.run(lambda: frames.append(playback.position))
    assert frames
    assert frames == sorted(frames)
    assert playback.position == 45.0
    assert not playback.playing
