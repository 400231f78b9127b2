"""Replay: seek through keyframes equals linear replay; index, search, commands, idle skipping."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.common.errors import RecordingError
from recordings.asciicast import Event, Header, SessionMeta, encode_header, read_recording
from recordings.index import IndexBuilder, build_index, load_index, sidecar_paths
from recordings.replay import Player, apply_event, compress_idle, search_text_file
from recordings.snapshot import capture, render_text, restore, screen_state
from recordings.terminal import Screen, Stream, new_terminal
from recordings.writer import RecordingWriter

CASTS = Path(__file__).parents[2] / "data" / "casts"
HEADER = Header(40, 8, 1_700_000_000, "xterm", SessionMeta("s1", user="alice"))


def full_state(screen: Screen, stream: Stream) -> dict[str, Any]:
    """Everything that can influence later output, independent of sparse/dense storage."""

    def rows(buffer: dict[int, Any]) -> list[tuple[Any, ...]]:
        blank = (screen.default_char,) * screen.columns
        return [
            tuple(buffer[y][x] for x in range(screen.columns)) if y in buffer else blank
            for y in range(screen.lines)
        ]

    return {
        "screen": screen_state(screen),
        "attrs": screen.cursor.attrs,
        "mode": sorted(screen.mode),
        "margins": screen.margins,
        "charsets": (id(screen.g0_charset), id(screen.g1_charset), screen.charset),
        "savepoints": [(s.cursor.x, s.cursor.y, s.cursor.attrs, s[1:]) for s in screen.savepoints],
        "tabs": sorted(screen.tabstops),
        "icon": screen.icon_name,
        "last": screen.last_char,
        "saved_main": None if screen.saved_main is None else rows(dict(screen.saved_main)),
        "pending": stream.pending,
    }


def linear(events: list[Event], width: int, height: int, t: float) -> tuple[Screen, Stream]:
    screen, stream = new_terminal(width, height)
    for e in events:
        if e.time > t:
            break
        apply_event(screen, stream, e)
    return screen, stream


def copy_cast(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copyfile(CASTS / name, dest)
    return dest


@pytest.mark.parametrize(
    "name",
    ["vim.cast", "top.cast", "less.cast", "dialog.cast", "ls-color.cast", "gap1-alternate.cast"],
)
def test_seek_equals_linear_replay_on_real_captures(name: str, tmp_path: Path) -> None:
    path = copy_cast(name, tmp_path)
    build_index(path, keyframe_bytes=512, keyframe_seconds=0.05)
    player = Player.open(path)
    rec = read_recording(path)
    events = list(rec.events)
    assert len(player.index.keyframes) > 1 or len(events) < 3
    times = sorted(
        {0.0, player.duration, *(e.time for e in events), *(e.time + 1e-4 for e in events)}
    )
    for t in times:
        head = player.seek(t)
        screen, stream = linear(events, rec.header.width, rec.header.height, t)
        assert full_state(head.screen, head.stream) == full_state(screen, stream), t


def test_keyframe_restore_is_exact_mid_sequence() -> None:
    screen, stream = new_terminal(20, 5)
    stream.feed("\x1b[1;33mab\x1b[?1049h\x1b(0lq\x1b[3;4r\x1b[?6h\x1b7\x1b]2;T\x07\x1b[2")
    restored, restored_stream = restore(capture(screen, stream))
    assert full_state(restored, restored_stream) == full_state(screen, stream)
    for s in (stream, restored_stream):
        s.feed("Jx\x1b8\x1b[?1049ly")
    assert full_state(restored, restored_stream) == full_state(screen, stream)


@pytest.mark.parametrize("bad", [{}, {"v": 99}, {"v": 1}])
def test_restore_refuses_non_keyframes(bad: dict[str, Any]) -> None:
    with pytest.raises((ValueError, KeyError)):
        restore(bad)


FRAGMENTS = [
    "hello ",
    "world\r\n",
    "\x1b[31m",
    "\x1b[0m",
    "\x1b[2J",
    "\x1b[H",
    "\x1b[5;3H",
    "\x1b[K",
    "\x1b[?1049h",
    "\x1b[?1049l",
    "\x1b[?47h",
    "\x1b[?47l",
    "\x1b(0lqk",
    "\x1b(B",
    "\x1b[2S",
    "\x1b[T",
    "x\x1b[4b",
    "\t\x1b[Z",
    "\x1b[s",
    "\x1b[u",
    "\x1b[2;6r",
    "\x1b[?6h",
    "\x1b[?6l",
    "\x1b[r",
    "\x1b[4:3m",
    "中文",
    "👨\u200d👩",
    "\x1b",
    "[1m",
    "\x1b[3",
    "8;5;2m",
    "\x1b]0;ti",
    "tle\x07",
    "\r\n" * 3,
    "\x1b7",
    "\x1b8",
    "\x1b[?5h",
    "\x1b[?5l",
    "\x1bc",
    "\x1b[10@",
    "\x1b[3P",
]


@st.composite
def recordings(draw: st.DrawFn) -> list[Event]:
    n = draw(st.integers(min_value=1, max_value=40))
    events, t = [], 0.0
    for _ in range(n):
        t += draw(st.sampled_from([0.0, 0.01, 0.3, 1.5, 12.0]))
        if draw(st.integers(0, 9)) == 0:
            cols, rows = draw(st.integers(5, 30)), draw(st.integers(2, 10))
            events.append(Event(t, "r", f"{cols}x{rows}"))
        elif draw(st.integers(0, 14)) == 0:
            events.append(Event(t, "m", "cmd"))
        else:
            parts = draw(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6))
            events.append(Event(t, "o", "".join(parts)))
    return events


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=recordings(), data=st.data())
def test_property_seek_equals_linear(
    tmp_path_factory: pytest.TempPathFactory, events: list[Event], data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("p") / "r.cast"
    header = Header(20, 6)
    builder = IndexBuilder(
        path, header, len(encode_header(header)), keyframe_bytes=8, keyframe_seconds=0.2
    )
    writer = RecordingWriter(path, header, index=builder)
    for e in events:
        writer.write(e)
    writer.close()
    player = Player(path, load_index(path), header)
    events = list(read_recording(path).events)  # times as written (rounded to microseconds)
    end = events[-1].time
    for t in data.draw(st.lists(st.floats(0, end + 1), min_size=1, max_size=4)):
        head = player.seek(t)
        screen, stream = linear(events, 20, 6, t)
        assert full_state(head.screen, head.stream) == full_state(screen, stream)
        later = min(t + data.draw(st.floats(0, 20)), end + 1)
        head.advance(later)
        screen, stream = linear(events, 20, 6, later)
        assert full_state(head.screen, head.stream) == full_state(screen, stream)


def record(path: Path, events: list[Event]) -> Player:
    builder = IndexBuilder(path, HEADER, len(encode_header(HEADER)), sample_seconds=0.25)
    writer = RecordingWriter(path, HEADER, index=builder)
    for e in events:
        writer.write(e)
    writer.close()
    return Player.open(path)


def test_commands_and_search_find_moments(tmp_path: Path) -> None:
    player = record(
        tmp_path / "s1.cast",
        [
            Event(0.5, "o", "$ "),
            Event(1.0, "m", "cat /etc/Passwd"),
            Event(1.1, "o", "cat /etc/Passwd\r\nroot:x:0:0\r\n$ "),
            Event(5.0, "o", "\x1b[2J\x1b[Hcleared"),
            Event(6.0, "o", "!"),
        ],
    )
    assert [(m.time, m.label) for m in player.commands()] == [(1.0, "cat /etc/Passwd")]
    hits = player.search("passwd")
    assert {(h.kind, h.line_text) for h in hits} == {
        ("command", "cat /etc/Passwd"),
        ("screen", "$ cat /etc/Passwd"),
    }
    screen_hit = next(h for h in hits if h.kind == "screen")
    assert "cat /etc/Passwd" in render_text(player.screen_at(screen_hit.time))
    assert player.search("passwd", ignore_case=False) == []
    assert [h.time for h in player.search("root:x")] == [1.1]
    assert player.duration == 6.0


@pytest.mark.parametrize("needle", ["", "a\nb", "a\tb", "\r"])
def test_search_refuses_multiline_needles(tmp_path: Path, needle: str) -> None:
    player = record(tmp_path / "s1.cast", [Event(0.5, "o", "a b\ta\r\nb")])
    assert player.search(needle) == []


def test_search_ignores_hits_in_the_time_prefix_and_partial_lines(tmp_path: Path) -> None:
    txt = tmp_path / "x.txt"
    txt.write_bytes(b"1500\ts\tnothing here\n2500\ts\tvalue 15\n3000\ts\t15 unfinished")
    assert [(m.time, m.line_text) for m in search_text_file(txt, "15")] == [(2.5, "value 15")]
    assert search_text_file(tmp_path / "missing.txt", "x") == []


def test_scrolled_off_lines_between_samples_are_indexed(tmp_path: Path) -> None:
    burst = "".join(f"line-{i}\r\n" for i in range(50))
    player = record(tmp_path / "s1.cast", [Event(0.1, "o", burst), Event(0.2, "o", "end")])
    assert [m.line_text for m in player.search("line-3")] == ["line-3"] + [
        f"line-{i}" for i in range(30, 40)
    ]


def test_player_rebuilds_missing_stale_or_corrupt_index(tmp_path: Path) -> None:
    path = copy_cast("top.cast", tmp_path)
    with pytest.raises(RecordingError):
        load_index(path)
    first = Player.open(path).screen_at(0.6)
    idx, _ = sidecar_paths(path)
    idx.write_bytes(b"GHIDX1\nrubbish")
    assert Player.open(path).screen_at(0.6) == first
    with open(path, "ab") as f:
        f.write(b'[99.0, "o", "more"]\n')
    with pytest.raises(RecordingError, match="stale"):
        load_index(path)
    assert Player.open(path).duration == 99.0


def test_truncated_cast_replays_to_last_complete_event(tmp_path: Path) -> None:
    path = copy_cast("vim.cast", tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    player = Player.open(path)
    rec = read_recording(path)
    assert rec.truncated
    assert player.duration == rec.events[-1].time
    screen, _ = linear(list(rec.events), 120, 40, 1e9)
    assert player.screen_at(1e9) == screen_state(screen)


def test_time_map_shortens_pauses() -> None:
    tm = compress_idle(((1.0, 10.0), (20.0, 0.5), (30.0, 5.0)), 2.0, 40.0)
    assert tm.pauses == ((1.0, 10.0), (30.0, 5.0))
    assert tm.to_playback(1.0) == 1.0
    assert tm.to_playback(3.0) == 3.0
    assert tm.to_playback(11.0) == 3.0  # inside the cut
    assert tm.to_playback(12.0) == 4.0
    assert tm.playback_duration == 40.0 - 8.0 - 3.0
    for t in (0.0, 2.5, 11.0, 15.0, 31.5, 35.0, 40.0):
        assert tm.to_playback(tm.to_recording(tm.to_playback(t))) == pytest.approx(
            tm.to_playback(t)
        )
    assert tm.to_recording(3.0) == 11.0


def test_time_map_refuses_negative_idle() -> None:
    with pytest.raises(ValueError, match="max_idle"):
        compress_idle((), -1.0, 1.0)


def test_index_records_gaps(tmp_path: Path) -> None:
    player = record(tmp_path / "s1.cast", [Event(0.5, "o", "a"), Event(10.5, "o", "b")])
    assert player.index.gaps == ((0.5, 10.0),)
    assert player.time_map(1.0).playback_duration == pytest.approx(1.5)
