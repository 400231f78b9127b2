"""Recordings for tests, written with the real writer (no Textual, no broker)."""

from __future__ import annotations

from pathlib import Path

from recordings.asciicast import Header, SessionMeta
from recordings.store import RecordingStore

CASTS = Path(__file__).parents[1] / "data" / "casts"


def write_session(
    store: RecordingStore,
    sid: str,
    *,
    user: str = "alice",
    connection: str = "web-1",
    ts: int = 1_700_000_000,
    width: int = 60,
    height: int = 8,
) -> str:
    """A shell session: three commands, a long idle pause, output that scrolls off the top.

    Times: ``ls`` at 1.0 (output 1.5), a pause 2..32, ``cat log`` at 32.0 (20 lines, scrolls),
    ``echo needle-42`` at 40.0 (output 40.5), the end at 45.0.
    """
    header = Header(width, height, ts, "xterm-256color", SessionMeta(sid, user, connection))
    w = store.create(header, keyframe_seconds=5.0)
    w.output(0.1, "$ ")
    w.output(1.0, "ls")
    w.marker(1.0, "ls")
    w.output(1.5, "\r\n\x1b[01;34mdocs\x1b[0m  notes.txt\r\n$ ")
    w.output(2.0, "")
    w.output(32.0, "cat log")
    w.marker(32.0, "cat log")
    w.output(32.2, "\r\n" + "".join(f"log line {i:02d}\r\n" for i in range(20)) + "$ ")
    w.output(40.0, "echo needle-42")
    w.marker(40.0, "echo needle-42")
    w.output(40.5, "\r\nneedle-42\r\n$ ")
    w.output(45.0, "")
    return w.close()
