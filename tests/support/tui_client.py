"""An asyncssh client with a pty on the broker's TUI, its output timestamped as it arrives.

Used by the many-sessions e2e test and by bench/ (first paint, keystroke→redraw).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path

import asyncssh

from tests.harness.process import LOOPBACK


class TuiClient:
    """One SSH session with a pty and no command: the broker shows it the picker."""

    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn
        self.proc: asyncssh.SSHClientProcess[bytes] | None = None
        self.raw = bytearray()
        self.chunks: list[tuple[float, int]] = []
        """(perf_counter when a chunk arrived, length of ``raw`` after it)."""
        self.eof = False
        self.logged_in_at = 0.0
        """perf_counter when authentication completed (for login vs first-paint timing)."""
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, port: int, key: Path, user: str = "alice", size: tuple[int, int] = (120, 40)
    ) -> TuiClient:
        """Log in with ``key`` and ask for a pty session (xterm-256color, ``size``)."""
        conn = await asyncssh.connect(
            LOOPBACK,
            port,
            username=user,
            client_keys=[str(key)],
            known_hosts=None,
            agent_path=None,
            config=None,
        )
        client = cls(conn)
        client.logged_in_at = time.perf_counter()
        try:
            await client.start(size)
        except BaseException:
            await client.close()
            raise
        return client

    async def start(self, size: tuple[int, int] = (120, 40)) -> None:
        """Open the pty session on the logged-in connection and start reading it."""
        self.proc = await self.conn.create_process(
            term_type="xterm-256color", term_size=size, encoding=None
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None
        try:
            while data := await self.proc.stdout.read(65536):
                self.raw += data
                self.chunks.append((time.perf_counter(), len(self.raw)))
                self._changed.set()
        except (asyncssh.Error, OSError):
            pass
        finally:
            self.eof = True
            self._changed.set()

    async def wait(self, pattern: re.Pattern[bytes], since: int = 0, timeout: float = 10) -> float:
        """Wait until ``pattern`` occurs after byte ``since``; returns when its last chunk came.

        Raises:
            TimeoutError: not within ``timeout`` seconds, or the session ended first.
        """
        deadline = time.perf_counter() + timeout
        while True:
            match = pattern.search(self.raw, since)
            if match:
                return next(at for at, end in self.chunks if end >= match.end())
            left = deadline - time.perf_counter()
            if left <= 0 or self.eof:
                tail = bytes(self.raw[-300:])
                raise TimeoutError(f"no {pattern.pattern!r} within {timeout}s; tail {tail!r}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def send(self, data: bytes) -> float:
        """Type ``data``; returns the time it was written."""
        assert self.proc is not None
        self.proc.stdin.write(data)
        return time.perf_counter()

    async def keystroke(self, key: bytes, expect: re.Pattern[bytes]) -> float:
        """Seconds from typing ``key`` until ``expect`` arrives in the output."""
        mark = len(self.raw)
        sent = self.send(key)
        return await self.wait(expect, since=mark) - sent

    async def quit(self) -> int | None:
        """Press q, wait for the session's exit status, then hang up as OpenSSH does."""
        assert self.proc is not None
        self.send(b"q")
        async with asyncio.timeout(10):
            await self.proc.wait_closed()
        await self.close()
        return self.proc.exit_status

    async def close(self) -> None:
        """Drop the connection (without a goodbye if the session is still open)."""
        self.conn.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.conn.wait_closed(), 10)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
