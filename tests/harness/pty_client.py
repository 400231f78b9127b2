"""Drive a real program on a pseudo-terminal, emulating its screen with pyte, with exact timings."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pyte

from tests.harness.process import (
    HarnessError,
    WaitTimeout,
    kill_and_reap,
    kill_pids,
    session_members,
)
from tests.harness.tmux import screen_matches

# The bytes a terminal sends for the tmux key names the tests use.
KEYS: dict[str, bytes] = {
    "Enter": b"\r",
    "Escape": b"\x1b",
    "Tab": b"\t",
    "BSpace": b"\x7f",
    "Space": b" ",
    "Up": b"\x1b[A",
    "Down": b"\x1b[B",
    "Right": b"\x1b[C",
    "Left": b"\x1b[D",
    "Home": b"\x1b[H",
    "End": b"\x1b[F",
    "PageUp": b"\x1b[5~",
    "PageDown": b"\x1b[6~",
    "DC": b"\x1b[3~",
    "F1": b"\x1bOP",
    "F2": b"\x1bOQ",
    "F3": b"\x1bOR",
    "F4": b"\x1bOS",
}


def key_bytes(name: str) -> bytes:
    """Return the bytes for a tmux-style key name (``"Enter"``, ``"C-c"``, ``"Up"``, ``"q"``)."""
    if name in KEYS:
        return KEYS[name]
    if len(name) == 3 and name.startswith("C-") and name[2].isalpha():
        return bytes([ord(name[2].lower()) - ord("a") + 1])
    if len(name) == 1:
        return name.encode()
    raise HarnessError(f"unknown key name {name!r}")


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _take_controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyClient:
    """A program on a pty whose output feeds a ``pyte.Screen``; create with ``PtyClient.start``.

    A reader thread timestamps every chunk of output as it arrives, so tests can measure
    latency (``wait_raw``) as well as assert on the emulated screen (``wait_for``).

    Attributes:
        pid: The program's PID.
        cols: Current width.
        rows: Current height.
    """

    def __init__(self, proc: subprocess.Popen[bytes], master: int, cols: int, rows: int) -> None:
        self._proc = proc
        self._master = master
        self.pid = proc.pid
        self.cols = cols
        self.rows = rows
        self._screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self._screen)
        self._raw = bytearray()
        self._chunks: list[tuple[float, int]] = []
        self._eof = False
        self._stopping = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, name=f"pty-{proc.pid}", daemon=True)
        self._reader.start()

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        *,
        cols: int = 120,
        rows: int = 40,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        term: str = "xterm-256color",
    ) -> PtyClient:
        """Start ``argv`` as a session leader with a fresh pty as its controlling terminal.

        Args:
            argv: The program and its arguments.
            cols: Terminal width.
            rows: Terminal height.
            env: Extra environment variables.
            cwd: Working directory.
            term: ``TERM`` for the program.

        Returns:
            The running client.
        """
        master, slave = os.openpty()
        try:
            _set_size(slave, cols, rows)
            full_env = dict(os.environ, TERM=term, **(env or {}))
            full_env.pop("TMUX", None)
            proc = subprocess.Popen(
                list(argv),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_take_controlling_tty,  # only an ioctl: safe next to other threads
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return cls(proc, master, cols, rows)

    def _read_loop(self) -> None:
        while not self._stopping:
            try:
                ready, _, _ = select.select([self._master], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self._master, 65536)
            except OSError:
                data = b""
            arrived = time.monotonic()
            with self._changed:
                if not data:
                    self._eof = True
                    self._changed.notify_all()
                    return
                self._raw += data
                self._chunks.append((arrived, len(self._raw)))
                self._stream.feed(data)
                self._changed.notify_all()

    @property
    def raw_length(self) -> int:
        """Bytes of output received so far (a mark for ``wait_raw(since=…)``)."""
        with self._changed:
            return len(self._raw)

    def raw_output(self) -> bytes:
        """Every byte of output received so far."""
        with self._changed:
            return bytes(self._raw)

    def send_bytes(self, data: bytes) -> float:
        """Write ``data`` to the terminal's input; return the monotonic time it was written."""
        sent = time.monotonic()
        view = memoryview(data)
        while view:
            written = os.write(self._master, view)
            view = view[written:]
        return sent

    def send_text(self, text: str) -> float:
        """Type ``text`` (UTF-8); return the monotonic time it was written."""
        return self.send_bytes(text.encode())

    def send_keys(self, *keys: str) -> float:
        """Press tmux-style named keys (``"Enter"``, ``"C-c"``, ``"Up"``, or single characters)."""
        return self.send_bytes(b"".join(key_bytes(key) for key in keys))

    def capture(self) -> str:
        """Return the emulated screen as text, one line per row, trailing spaces removed."""
        with self._changed:
            return "\n".join(line.rstrip() for line in self._screen.display)

    def wait_for(self, expected: str | re.Pattern[str], timeout: float = 10.0) -> str:
        """Wait until ``expected`` is on the emulated screen (checked on every chunk of output).

        Args:
            expected: A substring, or a compiled regex searched for.
            timeout: Seconds to wait at most.

        Returns:
            The screen on which it appeared.

        Raises:
            WaitTimeout: With the last screen in the message.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                screen = "\n".join(line.rstrip() for line in self._screen.display)
                if screen_matches(screen, expected):
                    return screen
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    state = "program closed the terminal" if self._eof else f"{timeout:.1f}s passed"
                    raise WaitTimeout(f"{state} waiting for {expected!r}; last screen:\n{screen}")
                self._changed.wait(min(left, 0.05))

    def wait_raw(
        self, expected: bytes | re.Pattern[bytes], *, since: int = 0, timeout: float = 10.0
    ) -> float:
        """Wait until ``expected`` occurs in the raw output after byte offset ``since``.

        Args:
            expected: Bytes, or a compiled bytes regex searched for.
            since: Byte offset to search from (take it from ``raw_length`` before sending).
            timeout: Seconds to wait at most.

        Returns:
            The monotonic time at which the chunk completing the match arrived.

        Raises:
            WaitTimeout: With the tail of the raw output in the message.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                end = _match_end(self._raw, expected, since)
                if end is not None:
                    return next(when for when, length in self._chunks if length >= end)
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    tail = bytes(self._raw[max(since, len(self._raw) - 2000) :])
                    raise WaitTimeout(f"no {expected!r} in output after {since}: {tail!r}")
                self._changed.wait(min(left, 0.05))

    def resize(self, cols: int, rows: int) -> None:
        """Resize the terminal (the foreground program gets SIGWINCH) and the emulated screen."""
        with self._changed:
            self._screen.resize(rows, cols)
        _set_size(self._master, cols, rows)
        self.cols, self.rows = cols, rows

    def exit_status(self) -> int | None:
        """Return the program's exit status once it has exited, else ``None``."""
        return self._proc.poll()

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait for the program to exit and return its status.

        Raises:
            WaitTimeout: It still ran after ``timeout`` seconds; the screen is in the message.
        """
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise WaitTimeout(
                f"program still running after {timeout:.1f}s; last screen:\n{self.capture()}"
            ) from exc

    def kill(self) -> None:
        """Hang up the terminal and stop the program by PID (SIGHUP, SIGTERM, then SIGKILL).

        Processes the program left behind in its session (background jobs) are stopped too.
        """
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGHUP)
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                kill_and_reap(self._proc, grace=3)
        kill_pids(session_members(self._proc.pid))
        self._stopping = True
        self._reader.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._master)

    stop = kill

    def __enter__(self) -> PtyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()


def _match_end(raw: bytearray, expected: bytes | re.Pattern[bytes], since: int) -> int | None:
    if isinstance(expected, re.Pattern):
        match = expected.search(raw, since)
        return match.end() if match else None
    index = raw.find(expected, since)
    return index + len(expected) if index >= 0 else None
