"""Local connections: a command on the broker host, in a pty (terminal) or with pipes (run)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pty
import signal
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence

from broker.common.errors import UpstreamError
from broker.upstream.base import OutputCallback

log = logging.getLogger(__name__)
READ_SIZE = 65536


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _child_env(term_type: str | None, extra: Mapping[str, str]) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "SHELL", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    if term_type:
        env["TERM"] = term_type
    env.update(extra)
    return env


class LocalUpstream:
    """A local process: in a pty (``term_type`` given) or with pipes (stdout/stderr apart)."""

    def __init__(self, proc: subprocess.Popen[bytes], on_output: OutputCallback) -> None:
        self._proc = proc
        self._on_output = on_output
        self._loop = asyncio.get_running_loop()
        self._fds: dict[int, bool] = {}
        self._paused = False
        self._master: int | None = None
        self._stdin: int | None = None
        self._closed_fds = asyncio.Event()
        self._out = bytearray()

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        on_output: OutputCallback,
        *,
        term_type: str | None = None,
        size: tuple[int, int] = (80, 24),
        env: Mapping[str, str] | None = None,
    ) -> LocalUpstream:
        """Start ``argv``; raise UpstreamError if it cannot be started."""
        child_env = _child_env(term_type, env or {})
        try:
            if term_type:
                master, slave = pty.openpty()
                _set_winsize(slave, *size)
                proc = subprocess.Popen(
                    list(argv),
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    env=child_env,
                    start_new_session=True,
                    close_fds=True,
                )
                os.close(slave)
                self = cls(proc, on_output)
                self._master = master
                self._stdin = master
                self._watch(master, stderr=False)
            else:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=child_env,
                    start_new_session=True,
                    close_fds=True,
                )
                self = cls(proc, on_output)
                assert proc.stdin is not None
                assert proc.stdout is not None
                assert proc.stderr is not None
                self._stdin = os.dup(proc.stdin.fileno())
                os.set_blocking(self._stdin, False)
                proc.stdin.close()
                self._watch(os.dup(proc.stdout.fileno()), stderr=False)
                self._watch(os.dup(proc.stderr.fileno()), stderr=True)
                proc.stdout.close()
                proc.stderr.close()
        except OSError as exc:
            raise UpstreamError(f"cannot start {argv[0]!r}: {exc.strerror}") from None
        return self

    def _watch(self, fd: int, *, stderr: bool) -> None:
        os.set_blocking(fd, False)
        self._fds[fd] = stderr
        self._loop.add_reader(fd, self._readable, fd)

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's other side is gone
            data = b""
        if not data:
            self._forget(fd)
            return
        self._on_output(data, self._fds.get(fd, False))

    def _forget(self, fd: int) -> None:
        if fd in self._fds:
            self._loop.remove_reader(fd)
            del self._fds[fd]
            if fd != self._master:
                os.close(fd)
        if not self._fds:
            self._closed_fds.set()

    def write(self, data: bytes) -> None:
        if self._stdin is None:
            return
        if self._out:
            self._out += data
            return
        self._out += data
        self._writable()

    def _writable(self) -> None:
        fd = self._stdin
        if fd is None:
            self._out.clear()
            return
        try:
            n = os.write(fd, self._out)
        except BlockingIOError:
            n = 0
        except OSError:
            self._out.clear()
            n = 0
        del self._out[:n]
        if self._out:
            self._loop.add_writer(fd, self._writable)
        else:
            self._loop.remove_writer(fd)

    def write_eof(self) -> None:
        if self._stdin is not None and self._stdin != self._master:
            self._loop.remove_writer(self._stdin)
            os.close(self._stdin)
            self._stdin = None

    def resize(self, cols: int, rows: int) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                _set_winsize(self._master, cols, rows)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGWINCH)

    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            for fd in self._fds:
                self._loop.remove_reader(fd)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            for fd in self._fds:
                self._loop.add_reader(fd, self._readable, fd)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGHUP)
        for fd in list(self._fds):
            self._forget(fd)

    async def wait(self) -> int:
        await self._closed_fds.wait()
        try:
            status = await asyncio.to_thread(self._proc.wait, 5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            status = await asyncio.to_thread(self._proc.wait)
        finally:
            if self._master is not None:
                os.close(self._master)
                self._master = None
            if self._stdin is not None:
                with contextlib.suppress(OSError):
                    os.close(self._stdin)
                self._stdin = None
        return status if status >= 0 else 128 - status
