"""The session recorder writes binary output as its size and SHA-256, and text as text."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from broker.recording.host import ERR, HEAD, OUT
from broker.recording.recorder import RecorderLink, SessionRecorder
from recordings.asciicast import SessionMeta
from recordings.store import RecordingStore


class FakeLink(RecorderLink):
    """The recorder process's end, keeping the frames it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[tuple[int, bytes]] = []

    @property
    def running(self) -> bool:
        return True

    def register(self, recorder: Any, open_payload: bytes) -> int:
        return 1

    def send(self, data: bytes) -> None:
        op, _, _, length = HEAD.unpack_from(data)
        self.frames.append((op, data[HEAD.size : HEAD.size + length]))


def _recorder(tmp_path: Path, kind: str) -> tuple[SessionRecorder, FakeLink]:
    link = FakeLink()
    meta = SessionMeta(session_id="20261204T000000Z-abcdef01", kind=kind)
    recorder = SessionRecorder(link, RecordingStore(tmp_path), meta, cols=80, rows=24, term="xterm")
    return recorder, link


async def test_a_run_records_binary_as_one_line_with_its_size_and_hash(tmp_path: Path) -> None:
    recorder, link = _recorder(tmp_path, "run")
    blob = random.Random(9).randbytes(300_000)
    shown = recorder.feed(b"header\n", False)
    for i in range(0, len(blob), 32768):
        shown += recorder.feed(blob[i : i + 32768], False)
    recorder.end()
    assert shown == b"header\n" + blob  # the user gets every byte
    digest = hashlib.sha256(blob).hexdigest()
    note = f"\r\n[gatehouse: {len(blob)} bytes of binary output, sha256 {digest}]\r\n"
    assert link.frames == [(OUT, b"header\n"), (OUT, note.encode())]


async def test_a_terminal_records_text_after_binary_again(tmp_path: Path) -> None:
    recorder, link = _recorder(tmp_path, "terminal")
    recorder.feed(bytes(5000), True)
    recorder.feed(b"$ ls\r\n", True)
    recorder.end()
    digest = hashlib.sha256(bytes(5000)).hexdigest()
    note = f"\r\n[gatehouse: 5000 bytes of binary output, sha256 {digest}]\r\n"
    assert link.frames == [(ERR, note.encode()), (ERR, b"$ ls\r\n")]


async def test_text_with_a_few_nuls_is_still_recorded_as_text(tmp_path: Path) -> None:
    recorder, link = _recorder(tmp_path, "run")
    recorder.feed(b"a\0\0b\0", False)
    assert link.frames == [(OUT, b"ab")]
    assert recorder.nul_bytes == 3
