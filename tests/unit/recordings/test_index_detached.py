"""The index child process: builds the sidecar index, at low CPU priority."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from broker.recording import recorder
from recordings.asciicast import Header, SessionMeta
from recordings.writer import RecordingWriter

HEADER = Header(80, 24, 1_700_000_000, "xterm-256color", SessionMeta("s1", user="alice"))


def small_recording(path: Path) -> None:
    writer = RecordingWriter(path, HEADER)
    for i in range(50):
        writer.output(i * 0.1, f"line {i}\r\n")
    writer.close()


async def test_index_child_builds_the_index_at_low_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cast = tmp_path / "s1.cast"
    small_recording(cast)
    seen: list[tuple[str, ...]] = []
    spawn = asyncio.create_subprocess_exec

    async def spy(*argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
        seen.append(argv)
        return await spawn(*argv, **kwargs)

    monkeypatch.setattr(recorder.asyncio, "create_subprocess_exec", spy)
    errors: list[str] = []
    monkeypatch.setattr(recorder.log, "error", lambda msg, *a: errors.append(msg % a))
    await recorder.build_index_detached(cast)
    assert seen == [(sys.executable, "-c", recorder.INDEX_CODE, str(cast))]
    assert cast.with_suffix(".idx").exists()  # the child built the index
    assert errors == []
    # the same code, then the niceness it left the process at
    proc = await spawn(
        sys.executable,
        "-c",
        recorder.INDEX_CODE + "; print(os.nice(0))",
        str(cast),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert int(out) >= recorder.INDEX_NICENESS
