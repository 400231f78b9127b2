"""Session recording: masked output → the recorder process → asciicast; index built after."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from broker.common.digest import OffLoopSha256
from broker.common.errors import RecordingError
from broker.config.limits import RecordingQuota
from broker.masking.binary import BinaryOutput, TextJudge
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
    frame,
    header_payload,
    quota_args,
)
from recordings.asciicast import Header, SessionMeta
from recordings.store import RecordingStore
from recordings.writer import start_recording

log = logging.getLogger(__name__)

_NULS = bytes(1 << 17)
CLOSE_TIMEOUT = 60.0
"""Seconds to wait for the recorder to write out a session's backlog and close its file."""


def new_session_id() -> str:
    """A sortable, unique session id: UTC time plus randomness."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)


class RecorderLink:
    """The broker's end of the recorder process (``broker.recording.host``), one per broker.

    Sessions send frames without waiting; the pipe is flow-controlled: when more than
    ``HIGH_WATER`` bytes wait for the recorder, :attr:`congested` is true and the relay
    pauses the target until :meth:`drain` returns, so output is never forwarded much
    faster than it is recorded, and nothing is dropped. If the process dies, every open
    recording fails (strict mode ends those sessions) and the next session starts a new
    process.
    """

    HIGH_WATER = 4 << 20
    LOW_WATER = 1 << 20

    def __init__(self, quota: RecordingQuota | None = None, directory: Path | None = None) -> None:
        self._args = [] if quota is None or directory is None else quota_args(quota, str(directory))
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._sessions: dict[int, SessionRecorder] = {}
        self._next = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        """Start the process if it is not running.

        Raises:
            RecordingError: it cannot be started.
        """
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.running:
                return
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "broker.recording.host",
                    *self._args,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            except OSError as exc:
                raise RecordingError(f"cannot start the recorder process: {exc}") from None
            assert proc.stdin is not None
            transport = proc.stdin.transport
            transport.set_write_buffer_limits(high=self.HIGH_WATER, low=self.LOW_WATER)
            _grow_pipe(transport)
            self._proc = proc
            self._reader = asyncio.get_running_loop().create_task(self._read(proc))

    def register(self, recorder: SessionRecorder, open_payload: bytes) -> int:
        """Number a new recording and send OPEN; raises RecordingError if not running."""
        self._next += 1
        self.send(frame(OPEN, self._next, open_payload))
        self._sessions[self._next] = recorder
        return self._next

    def send(self, data: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            raise RecordingError("the recorder process is not running")
        proc.stdin.write(data)

    @property
    def backlog(self) -> int:
        """Bytes written but not yet taken by the recorder process."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return 0
        return int(proc.stdin.transport.get_write_buffer_size())

    @property
    def congested(self) -> bool:
        return self.backlog > self.HIGH_WATER

    async def drain(self) -> None:
        """Wait until the recorder has taken the backlog down to ``LOW_WATER``."""
        proc = self._proc
        if proc is not None and proc.stdin is not None and not proc.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()

    def forget(self, sid: int) -> None:
        self._sessions.pop(sid, None)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                head = await proc.stdout.readexactly(HEAD.size)
                op, sid, _, length = HEAD.unpack(head)
                payload = await proc.stdout.readexactly(length)
                recorder = self._sessions.get(sid)
                if recorder is None:
                    continue
                if op == DONE:
                    recorder.done(payload.decode())
                elif op == FAIL:
                    recorder.fail(payload.decode(errors="replace"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            status = await proc.wait()
            if self._proc is proc:
                self._proc = None
            lost, self._sessions = self._sessions, {}
            if lost:
                log.error("recorder process ended (status %s) with %d open", status, len(lost))
            for recorder in lost.values():
                recorder.fail(f"the recorder process ended (status {status})")

    async def stop(self, grace: float = 30.0) -> None:
        """Close the pipe; the process closes every file and exits."""
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            log.error("recorder process did not finish within %.0fs; killed", grace)
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _grow_pipe(transport: asyncio.WriteTransport) -> None:
    """Ask for a 1 MiB pipe (fewer wake-ups on both sides); the default 64 KiB also works."""
    pipe = transport.get_extra_info("pipe")
    if pipe is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)


class SessionRecorder:
    """An output filter that records what the user receives (already masked).

    It passes data through unchanged and sends it to the recorder process, minus NUL
    bytes (a terminal shows nothing for them; they are counted instead). Output that is
    not text (:mod:`broker.masking.binary`, the rule the masker applies) is not written as
    text: each run of it is recorded as one line giving its size and SHA-256
    (docs/decisions/020). A recording that fails there (disk full, process gone) is
    reported through ``on_failure`` and the next :meth:`feed` raises
    :class:`RecordingError`; the relay then ends the session (strict mode: nothing flows
    unrecorded). The keyframe/text index is not
    built inline (terminal emulation runs at ~1.5 MB/s); :meth:`close` leaves that to
    ``build_index_detached``.
    """

    pending = False

    def __init__(
        self,
        link: RecorderLink,
        store: RecordingStore,
        meta: SessionMeta,
        *,
        cols: int,
        rows: int,
        term: str,
    ) -> None:
        self.link = link
        self.session_id = meta.session_id
        self.path = store.path(meta.session_id)
        header = Header(cols, rows, int(time.time()), term or "xterm-256color", meta)
        if not link.running:
            raise RecordingError("the recorder process is not running")
        start_recording(self.path, header)
        self._start = time.monotonic()
        self._closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.error = ""
        self.nul_bytes = 0
        """NUL bytes passed to the user but not written to the recording (they display nothing)."""
        self.on_failure: Callable[[str], None] | None = None
        self.sha256 = ""
        sticky = meta.kind == "run"
        self._judges = {False: TextJudge(sticky=sticky), True: TextJudge(sticky=sticky)}
        self._binary: dict[bool, BinaryOutput] = {}
        """The run of binary output in progress, by stream (stderr or not)."""
        self._sid = link.register(self, header_payload(str(self.path), header))

    def _now(self) -> float:
        return time.monotonic() - self._start

    def _send(self, op: int, payload: bytes) -> None:
        if self.error:
            raise RecordingError(self.error)
        self.link.send(frame(op, self._sid, payload, self._now()))

    def feed(self, data: bytes, stderr: bool) -> bytes:
        if not data:
            return data
        segments = self._judges[stderr].split(data)
        if len(segments) == 1 and segments[0][0] and stderr not in self._binary:
            self._record(data, stderr)
            return data
        for text, piece in segments:
            if text:
                self._end_binary(stderr)
                self._record(piece, stderr)
            else:
                run = self._binary.get(stderr)
                if run is None:
                    run = self._binary[stderr] = BinaryOutput(
                        "stderr" if stderr else "stdout", "pass", 0, OffLoopSha256
                    )
                run.add(piece)
        return data

    def _end_binary(self, stderr: bool) -> None:
        """Record the run of binary output that just ended as its size and hash."""
        run = self._binary.pop(stderr, None)
        if run is not None:
            facts = run.summary()
            note = f"{facts['bytes']} bytes of binary output, sha256 {facts['sha256']}"
            self._send(ERR if stderr else OUT, f"\r\n[gatehouse: {note}]\r\n".encode())

    def _record(self, data: bytes, stderr: bool) -> None:
        if data:
            shown = data
            if b"\0" in data:  # NUL displays nothing; see docs/decisions/008
                # a block of padding costs one compare; translate is 30x faster than replace
                shown = b"" if _NULS.startswith(data) else data.translate(None, b"\0")
                self.nul_bytes += len(data) - len(shown)
            if shown:
                self._send(ERR if stderr else OUT, shown)

    def flush(self, stderr: bool) -> bytes:
        return b""

    def end(self) -> None:
        if not self.error:
            for stderr in tuple(self._binary):
                self._end_binary(stderr)

    @property
    def congested(self) -> bool:
        return self.link.congested

    async def drain(self) -> None:
        await self.link.drain()

    def marker(self, label: str) -> None:
        """A captured command line."""
        self._send(MARK, label.encode())

    def resize(self, cols: int, rows: int) -> None:
        self._send(RESIZE, f"{cols}x{rows}".encode())

    def done(self, sha256: str) -> None:
        if not self._closed.done():
            self._closed.set_result(sha256)

    def fail(self, message: str) -> None:
        """The recording cannot be written: remember why, and tell the session."""
        if self.error:
            return
        self.error = f"recording failed: {message}"
        log.error("[%s] %s", self.session_id, self.error)
        if not self._closed.done():
            self._closed.set_exception(RecordingError(self.error))
            self._closed.exception()  # retrieved: close() may never be awaited
        if self.on_failure is not None:
            self.on_failure(self.error)

    async def close(self) -> str:
        """Close the file (fsync); returns its SHA-256 ("" if the recording failed)."""
        if self.sha256:
            return self.sha256
        try:
            if not self.error:
                self._send(CLOSE, b"")
            async with asyncio.timeout(CLOSE_TIMEOUT):
                self.sha256 = await self._closed
        except (RecordingError, TimeoutError) as exc:
            log.error("[%s] recording not closed cleanly: %s", self.session_id, exc or "timeout")
            return ""
        finally:
            self.link.forget(self._sid)
        return self.sha256


INDEX_TIMEOUT = 600.0
INDEX_NICENESS = 10
"""Indexing is background work: under contention it gets ~10% of a core, live sessions the rest
(unniced, a 200 MiB recording's index took 1.8 s of CPU from the next session's relay)."""
INDEX_CODE = (
    f"import os, sys; os.nice({INDEX_NICENESS}); "
    "from recordings.index import build_index; build_index(sys.argv[1])"
)


async def build_index_detached(path: Path) -> None:
    """Build a recording's index in a low-priority child process (off the broker's loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        INDEX_CODE,
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
