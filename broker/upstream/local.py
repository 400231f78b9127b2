"""Local connections: a command on the broker host as its own account, in a pty or with pipes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pty
import shutil
import signal
import struct
import subprocess
import termios
from typing import Any

from broker.common.accounts import Account, broker_account, lookup_account
from broker.common.errors import UpstreamError
from broker.config.model import Connection
from broker.upstream.base import INPUT_LOW, OutputCallback
from broker.upstream.localexec import (
    SAFE_PATH,
    SETPRIV_PATH,
    ChildPlan,
    command_argv,
    plan_child,
    verify_credentials,
)

log = logging.getLogger(__name__)
READ_SIZE = 65536


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


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
        self._input_drained = asyncio.Event()
        self._input_drained.set()
        self._eof_pending = False

    @classmethod
    def start(
        cls,
        plan: ChildPlan,
        on_output: OutputCallback,
        *,
        term_type: str | None = None,
        size: tuple[int, int] = (80, 24),
    ) -> LocalUpstream:
        """Start ``plan``'s process; raise UpstreamError if it cannot be started as planned.

        When the plan switches user, the child calls setgroups, setgid and setuid (in that
        order, real and saved ids too) before exec; once it runs, its credentials are read
        back from /proc and the process is killed unless they are exactly the account's.
        """
        spawn: dict[str, Any] = {
            "env": dict(plan.env),
            "cwd": plan.cwd,
            "start_new_session": True,
            "close_fds": True,
        }
        if plan.drop_to is not None:
            spawn.update(
                user=plan.drop_to.uid,
                group=plan.drop_to.gid,
                extra_groups=list(plan.drop_to.groups),
            )
        argv = list(plan.argv)
        program = plan.program or argv[0]
        try:
            if term_type:
                master, slave = pty.openpty()
                _set_winsize(slave, *size)
                if plan.drop_to is not None:
                    os.fchown(slave, plan.drop_to.uid, -1)
                try:
                    proc = subprocess.Popen(  # argv from config, no shell
                        argv, stdin=slave, stdout=slave, stderr=slave, **spawn
                    )
                except BaseException:
                    os.close(master)
                    raise
                finally:
                    os.close(slave)
                self = cls(proc, on_output)
                self._master = master
                self._stdin = master
                self._watch(master, stderr=False)
            else:
                proc = subprocess.Popen(  # argv from config, no shell
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    **spawn,
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
            raise UpstreamError(f"cannot start {program!r}: {exc.strerror}") from None
        except subprocess.SubprocessError as exc:
            raise UpstreamError(f"cannot start {program!r}: {exc}") from None
        if plan.expect is not None:
            try:
                verify_credentials(proc.pid, plan.expect)
            except UpstreamError:
                self.kill()
                raise
        return self

    def kill(self) -> None:
        """End the process at once and let go of its descriptors (it never ran as planned)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        for fd in list(self._fds):
            self._forget(fd)
        for held in {self._master, self._stdin}:
            if held is not None:
                with contextlib.suppress(OSError):
                    os.close(held)
        self._master = self._stdin = None
        self._proc.wait()

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
            if len(self._out) > INPUT_LOW:
                self._input_drained.clear()
            return
        self._out += data
        self._writable()

    def _writable(self) -> None:
        fd = self._stdin
        if fd is None:
            self._out.clear()
            self._input_drained.set()
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
        if len(self._out) <= INPUT_LOW:
            self._input_drained.set()
        else:
            self._input_drained.clear()
        if not self._out and self._eof_pending:
            self.write_eof()

    @property
    def input_backlog(self) -> int:
        return len(self._out)

    async def drain_input(self) -> None:
        await self._input_drained.wait()

    def write_eof(self) -> None:
        """Close the command's stdin once what is queued for it has been written."""
        if self._stdin is None or self._stdin == self._master:
            return
        if self._out:
            self._eof_pending = True
            return
        self._loop.remove_writer(self._stdin)
        os.close(self._stdin)
        self._stdin = None
        self._input_drained.set()

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
        self._input_drained.set()

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


def open_local(
    conn: Connection,
    command: str | None,
    on_output: OutputCallback,
    *,
    term_type: str | None,
    size: tuple[int, int],
) -> LocalUpstream:
    """Start local connection ``conn`` as its `run_as` account (``command``: from `run`).

    Raises:
        PolicyDenied: the connection takes no command (or not this one).
        UpstreamError: its account is missing, root or the broker's own, or cannot be used.
    """
    argv = command_argv(conn, command)
    if shutil.which(argv[0], path=SAFE_PATH) is None:
        raise UpstreamError(
            f"{conn.name}: cannot start {argv[0]!r}: no such program on {SAFE_PATH}"
        )
    broker = broker_account()
    if conn.local.unsafe_run_as_broker_user:
        account: Account | None = broker
        log.warning(
            "connection %s runs as the broker's own account %r (unsafe_run_as_broker_user)",
            conn.name,
            broker.name,
        )
    else:
        account = lookup_account(conn.local.run_as)
    if account is None:
        raise UpstreamError(f"{conn.name}: no account {conn.local.run_as!r} on this host")
    plan = plan_child(
        argv,
        account,
        broker,
        via=conn.local.run_as_via,
        unsafe_broker_user=conn.local.unsafe_run_as_broker_user,
        term_type=term_type,
        broker_env=os.environ,
        setpriv=shutil.which("setpriv", path=SETPRIV_PATH),
    )
    return LocalUpstream.start(plan, on_output, term_type=term_type, size=size)
