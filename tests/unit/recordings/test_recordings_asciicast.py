"""asciicast v2: writer, crash-tolerant reader, malformed files, stock asciinema import."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.common.errors import RecordingError
from recordings.asciicast import (
    Event,
    Header,
    RecordingFormatError,
    SessionMeta,
    convert_stock,
    encode_event,
    parse_header,
    parse_resize,
    read_recording,
)
from recordings.writer import RecordingWriter

CASTS = Path(__file__).parents[2] / "data" / "casts"
META = SessionMeta("s-1", user="alice", connection="web-1", client_addr="127.0.0.1", kind="run")
HEADER = Header(80, 24, 1_700_000_000, "xterm-256color", META)


def write(path: Path, events: list[Event]) -> str:
    writer = RecordingWriter(path, HEADER)
    for e in events:
        writer.write(e)
    return writer.close()


def test_round_trip_keeps_header_metadata_and_events(tmp_path: Path) -> None:
    events = [Event(0.5, "o", "héllo\x1b[0m"), Event(1.0, "r", "100x30"), Event(1.5, "m", "ls -l")]
    write(tmp_path / "a.cast", events)
    rec = read_recording(tmp_path / "a.cast")
    assert rec.header == HEADER
    assert rec.events == tuple(events)
    assert not rec.truncated
    first = json.loads((tmp_path / "a.cast").read_text().splitlines()[0])
    assert first["version"] == 2
    assert first["env"] == {"TERM": "xterm-256color"}
    assert first["gatehouse"]["kind"] == "run"
    assert first["gatehouse"]["session_id"] == "s-1"


def test_close_returns_sha256_of_the_file(tmp_path: Path) -> None:
    digest = write(tmp_path / "a.cast", [Event(0.1, "o", "x")])
    assert digest == hashlib.sha256((tmp_path / "a.cast").read_bytes()).hexdigest()


def test_writer_rounds_times_and_never_goes_backwards(tmp_path: Path) -> None:
    write(tmp_path / "a.cast", [Event(1.23456789, "o", "a"), Event(1.0, "o", "b")])
    rec = read_recording(tmp_path / "a.cast")
    assert [e.time for e in rec.events] == [1.234568, 1.234568]


def test_writer_flushes_only_when_interval_passed(tmp_path: Path) -> None:
    path = tmp_path / "a.cast"
    writer = RecordingWriter(path, HEADER, flush_interval=1.0)
    size_after_header = path.stat().st_size
    writer.output(0.1, "abc")
    assert not writer.maybe_flush(0.5)
    assert path.stat().st_size == size_after_header
    assert writer.maybe_flush(1.2)
    assert read_recording(path).events == (Event(0.1, "o", "abc"),)
    writer.close()


def test_writer_refuses_existing_file(tmp_path: Path) -> None:
    (tmp_path / "a.cast").write_text("x")
    with pytest.raises(RecordingError, match="cannot create"):
        RecordingWriter(tmp_path / "a.cast", HEADER)


def test_writer_refuses_unwritable_directory(tmp_path: Path) -> None:
    with pytest.raises(RecordingError):
        RecordingWriter(tmp_path / "missing" / "a.cast", HEADER)


def test_writer_refuses_after_close_and_bad_text(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "a.cast", HEADER)
    with pytest.raises(RecordingError, match="Unicode"):
        writer.output(0.1, "bad \udcff surrogate")
    writer.close()
    with pytest.raises(RecordingError, match="closed"):
        writer.output(0.2, "late")


@pytest.mark.parametrize(
    "bad", ["", "80", "80x", "x24", "0x24", "80x0", "1001x10", "80x24x1", " 80x24"]
)
def test_resize_rejects_bad_sizes(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - message varies by case
        parse_resize(bad)


def test_resize_accepts_cols_by_rows() -> None:
    assert parse_resize("132x43") == (132, 43)


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"version": 1, "width": 80, "height": 24}',
        b'{"version": 2, "width": 0, "height": 24}',
        b'{"version": 2, "width": 80}',
        b'{"version": 2, "width": 80.5, "height": 24}',
        b'{"version": 2, "width": 80, "height": 24, "gatehouse": {"user": "x"}}',
        b'{"version": 2, "width": 80, "height": 24, "gatehouse": {"session_id": "a", "kind": "x"}}',
        b'{"version": 2, "width": 80, "height": 24, "gatehouse": {"session_id": "a", "user": 3}}',
    ],
)
def test_bad_headers_are_refused_on_line_1(line: bytes) -> None:
    with pytest.raises(RecordingFormatError) as info:
        parse_header(line)
    assert info.value.line == 1


@pytest.mark.parametrize(
    "line",
    [
        b"garbage",
        b"{}",
        b'[1.0, "o"]',
        b'[-1, "o", "x"]',
        b'["1", "o", "x"]',
        b'[true, "o", "x"]',
        b'[1.0, 5, "x"]',
        b'[1.0, "o", 5]',
        b'[1.0, "r", "80by24"]',
        b'[NaN, "o", "x"]',
        b'[Infinity, "o", "x"]',
    ],
)
def test_bad_event_in_the_middle_names_its_line(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "a.cast"
    write(path, [Event(0.1, "o", "a")])
    with open(path, "ab") as f:
        f.write(line + b"\n" + encode_event(Event(0.3, "o", "b")))
    with pytest.raises(RecordingFormatError) as info:
        read_recording(path)
    assert info.value.line == 3
    assert ":3:" in str(info.value)


def test_time_going_backwards_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.cast"
    write(path, [Event(2.0, "o", "a")])
    with open(path, "ab") as f:
        f.write(encode_event(Event(1.0, "o", "b")) + encode_event(Event(3.0, "o", "c")))
    with pytest.raises(RecordingFormatError, match="backwards"):
        read_recording(path)


@pytest.mark.parametrize("content", [b"", b'{"version": 2, "width": 80', b"\n"])
def test_no_complete_header_is_an_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "a.cast").write_bytes(content)
    with pytest.raises(RecordingFormatError):
        read_recording(tmp_path / "a.cast")


def test_missing_file_is_a_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        read_recording(tmp_path / "nope.cast")


EVENTS = [Event(i * 0.25, "o", f"line {i} ünïcødé 中\x1b[1m\r\n") for i in range(12)] + [
    Event(3.5, "m", "echo done")
]


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_crash_truncated_file_loads_up_to_last_complete_event(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("cut") / "a.cast"
    write(path, EVENTS)
    whole = path.read_bytes()
    header_len = whole.index(b"\n") + 1
    cut = data.draw(st.integers(min_value=header_len, max_value=len(whole)))
    path.write_bytes(whole[:cut])
    rec = read_recording(path)
    body = whole[header_len:cut]
    complete = body.count(b"\n")
    partial = body.rsplit(b"\n", 1)[-1]
    whole_line = partial + b"\n" == encode_event(EVENTS[complete]) if partial else False
    expected = EVENTS[: complete + 1] if whole_line else EVENTS[:complete]
    assert rec.events == tuple(expected)
    assert rec.truncated == (bool(partial) and not whole_line)


def test_stock_asciinema_cast_converts_without_input_events(tmp_path: Path) -> None:
    stock = tmp_path / "stock.cast"
    stock.write_text(
        '{"version": 2, "width": 100, "height": 30, "timestamp": 5, "title": "t", '
        '"env": {"SHELL": "/bin/sh", "TERM": "screen"}, "idle_time_limit": 2}\n'
        '[0.1, "o", "$ "]\n[0.5, "i", "secret-typed\\r"]\n[0.6, "o", "ok\\r\\n"]\n'
    )
    rec = read_recording(stock)
    assert rec.header.meta is None
    assert rec.header.term == "screen"
    assert rec.header.extra == {"idle_time_limit": 2}
    header, events = convert_stock(rec, SessionMeta("imp"))
    assert header.meta == SessionMeta("imp")
    assert (header.width, header.height) == (100, 30)
    assert [e.code for e in events] == ["o", "o"]
    assert all("secret" not in e.data for e in events)


def test_real_asciinema_captures_read_cleanly() -> None:
    for cast in CASTS.glob("*.cast"):
        rec = read_recording(cast)
        assert rec.events
        assert not rec.truncated
        assert (rec.header.width, rec.header.height) == (120, 40)
