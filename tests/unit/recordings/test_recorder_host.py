"""The recorder process's frame handling: files it writes, failures it reports."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from broker.recording.host import (
    CLOSE,
    DONE,
    ERR,
    FAIL,
    HEAD,
    MARK,
    OPEN,
    OUT,
    RESIZE,
    RecorderHost,
    frame,
    header_payload,
)
from recordings.asciicast import Header, SessionMeta, read_recording
from recordings.writer import start_recording

HEADER = Header(80, 24, 1_700_000_000, "xterm-256color", SessionMeta("s1", user="alice"))


def replies_of(data: bytes) -> list[tuple[int, int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        op, sid, _, length = HEAD.unpack_from(data, pos)
        pos += HEAD.size
        out.append((op, sid, data[pos : pos + length]))
        pos += length
    return out


def opened(tmp_path: Path) -> tuple[RecorderHost, list[bytes], Path]:
    sent: list[bytes] = []
    host = RecorderHost(sent.append)
    path = tmp_path / "s1.cast"
    start_recording(path, HEADER)
    host.apply(OPEN, 1, 0.0, header_payload(str(path), HEADER))
    return host, sent, path


def test_events_land_in_the_file_and_the_hash_matches(tmp_path: Path) -> None:
    host, sent, path = opened(tmp_path)
    snowman = "☃".encode()
    host.apply(OUT, 1, 0.5, b"hello " + snowman[:1])  # a character split across frames
    host.apply(OUT, 1, 0.6, snowman[1:] + b"\x00\x1b[31mred\x1b[0m")
    host.apply(ERR, 1, 0.7, b"oops\n")
    host.apply(MARK, 1, 0.8, b"ls -l")
    host.apply(RESIZE, 1, 0.9, b"100x30")
    host.apply(CLOSE, 1, 1.0, b"")
    [(op, sid, sha)] = replies_of(b"".join(sent))
    assert (op, sid) == (DONE, 1)
    assert sha.decode() == hashlib.sha256(path.read_bytes()).hexdigest()
    rec = read_recording(path)
    assert rec.header.meta == HEADER.meta
    assert [(e.code, e.data) for e in rec.events] == [
        ("o", "hello "),
        ("o", "☃\x00\x1b[31mred\x1b[0m"),
        ("o", "oops\n"),
        ("m", "ls -l"),
        ("r", "100x30"),
    ]
    assert [e.time for e in rec.events] == [0.5, 0.6, 0.7, 0.8, 0.9]


def test_a_truncated_character_at_close_is_kept_as_a_replacement(tmp_path: Path) -> None:
    host, sent, path = opened(tmp_path)
    host.apply(OUT, 1, 0.1, "☃".encode()[:2])
    host.apply(CLOSE, 1, 0.2, b"")
    assert replies_of(b"".join(sent))[0][0] == DONE
    assert [e.data for e in read_recording(path).events] == ["\ufffd"]


def test_unwritable_recording_fails_once_and_later_frames_are_ignored(tmp_path: Path) -> None:
    sent: list[bytes] = []
    host = RecorderHost(sent.append)
    missing = tmp_path / "gone" / "s1.cast"
    host.apply(OPEN, 7, 0.0, header_payload(str(missing), HEADER))
    host.apply(OUT, 7, 0.1, b"data")
    host.apply(CLOSE, 7, 0.2, b"")
    [(op, sid, message)] = replies_of(b"".join(sent))
    assert (op, sid) == (FAIL, 7)
    assert b"cannot create recording" in message
    assert 7 not in host.open
    assert 7 not in host.failed


def test_a_file_that_is_not_fresh_is_refused(tmp_path: Path) -> None:
    sent: list[bytes] = []
    host = RecorderHost(sent.append)
    path = tmp_path / "s1.cast"
    start_recording(path, HEADER)
    with path.open("ab") as f:
        f.write(b'[0.1, "o", "smuggled"]\n')
    host.apply(OPEN, 1, 0.0, header_payload(str(path), HEADER))
    assert replies_of(b"".join(sent))[0][0] == FAIL


def test_the_process_closes_open_files_when_its_input_ends(tmp_path: Path) -> None:
    path = tmp_path / "s1.cast"
    start_recording(path, HEADER)
    frames = frame(OPEN, 1, header_payload(str(path), HEADER)) + frame(OUT, 1, b"kept", 0.25)
    proc = subprocess.run(
        [sys.executable, "-m", "broker.recording.host"],
        input=frames,
        capture_output=True,
        timeout=30,
        check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.stdout == b""  # no CLOSE was sent, so no DONE; the file is still complete
    assert [(e.time, e.data) for e in read_recording(path).events] == [(0.25, "kept")]
