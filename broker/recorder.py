"""Session recording on the data path: masked output → asciicast, index built off the loop."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from codecs import getincrementaldecoder
from collections.abc import Callable
from pathlib import Path

from broker.errors import RecordingError
from recordings.asciicast import Header, RecordingWriter, SessionMeta
from recordings.store import RecordingStore

log = logging.getLogger(__name__)


def new_session_id() -> str:
    """A sortable, unique session id: UTC time plus randomness."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)


class SessionRecorder:
    """An output filter that writes what the user receives (already masked) to a recording.

    It passes data through unchanged. Writing raises :class:`RecordingError`; the relay
    then ends the session (strict mode: nothing flows unrecorded). The keyframe/text
    index is not built inline (terminal emulation runs at ~1.5 MB/s); :meth:`close`
    builds it in a subprocess.
    """

    pending = False

    def __init__(
        self,
        store: RecordingStore,
        meta: SessionMeta,
        *,
        cols: int,
        rows: int,
        term: str,
    ) -> None:
        self.store = store
        self.session_id = meta.session_id
        self.path = store.path(meta.session_id)
        if self.path.exists():
            raise RecordingError(f"recording {meta.session_id!r} already exists")
        header = Header(cols, rows, int(time.time()), term or "xterm-256color", meta)
        self._writer = RecordingWriter(self.path, header, flush_interval=1.0)
        self._start = time.monotonic()
        self._decode = {False: _decoder(), True: _decoder()}
        self._flusher: asyncio.TimerHandle | None = None
        self.sha256 = ""

    def _now(self) -> float:
        return time.monotonic() - self._start

    def _tick(self) -> None:
        self._flusher = None
        self._writer.maybe_flush(time.monotonic())

    def feed(self, data: bytes, stderr: bool) -> bytes:
        if data:
            text = self._decode[stderr](data)
            if text:
                self._writer.output(self._now(), text)
                if not self._writer.maybe_flush(time.monotonic()) and self._flusher is None:
                    # at least one flush a second, even when output stops
                    self._flusher = asyncio.get_running_loop().call_later(1.0, self._tick)
        return data

    def flush(self, stderr: bool) -> bytes:
        return b""

    def marker(self, label: str) -> None:
        """A captured command line."""
        self._writer.marker(self._now(), label)

    def resize(self, cols: int, rows: int) -> None:
        self._writer.resize(self._now(), cols, rows)

    async def close(self) -> str:
        """Close the file (fsync); returns its SHA-256. Index it with build_index_detached."""
        if self._flusher is not None:
            self._flusher.cancel()
        if not self.sha256:
            self.sha256 = await asyncio.to_thread(self._writer.close)
        return self.sha256


def _decoder() -> Callable[[bytes], str]:
    decode: Callable[[bytes], str] = getincrementaldecoder("utf-8")(errors="replace").decode
    return decode


INDEX_TIMEOUT = 600.0


async def build_index_detached(path: Path) -> None:
    """Build a recording's index in a child process (keeps emulation off the broker's loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from recordings.index import build_index; build_index(sys.argv[1])",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(INDEX_TIMEOUT):
            _, err = await proc.communicate()
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        log.warning("indexing %s stopped; it is rebuilt when the recording is opened", path.name)
        if (task := asyncio.current_task()) is not None and task.cancelling():
            raise
        return
    if proc.returncode != 0:
        log.error("indexing %s failed: %s", path.name, err.decode(errors="replace")[-300:])
