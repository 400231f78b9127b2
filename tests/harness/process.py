"""Process, port and wait helpers shared by the real-component test harness."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


class HarnessError(Exception):
    """A real component of the test harness failed to start, answer or stop."""


class WaitTimeout(HarnessError):
    """A bounded wait ran out; the message says what was awaited and what was seen last."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Returns:
        A port number; callers retry on a bind failure since another process may take it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than ``None`` or the time runs out.

    Args:
        probe: Returns a value when the awaited condition holds, else ``None``.
        timeout: Seconds to wait at most.
        what: What is awaited, for the error message.
        interval: Seconds between probes.
        detail: Called on timeout; its text (a log tail, a screen) is added to the error.

    Returns:
        The first non-``None`` value of ``probe``.

    Raises:
        WaitTimeout: The condition did not hold within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


def port_accepts(port: int, host: str = LOOPBACK) -> bool:
    """Return whether a TCP connection to ``host:port`` succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def log_tail(path: Path, limit: int = 4000) -> str:
    """Return the last ``limit`` characters of a log file, or a note that it is absent."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return f"--- {path} (tail) ---\n{text[-limit:]}"


def run(
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion with a bounded wait, raising with its output on failure.

    Args:
        argv: The command line.
        timeout: Seconds to wait at most; the process is killed by PID after that.
        input_text: Text written to its stdin.
        env: The full environment, or ``None`` to inherit.
        cwd: Working directory.

    Returns:
        The completed process with text stdout and stderr.

    Raises:
        HarnessError: The command failed, could not start, or ran out of time.
    """
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
    except OSError as exc:
        raise HarnessError(f"cannot run {argv[0]}: {exc}") from exc
    try:
        out, err = proc.communicate(input_text, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        kill_and_reap(proc)
        raise HarnessError(f"{' '.join(argv)} did not finish within {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise HarnessError(
            f"{' '.join(argv)} exited with {proc.returncode}\nstdout: {out[-2000:]}\n"
            f"stderr: {err[-2000:]}"
        )
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def kill_and_reap(proc: subprocess.Popen[str] | subprocess.Popen[bytes], grace: float = 5.0) -> int:
    """Stop a child we started: SIGTERM by PID, wait up to ``grace`` s, then SIGKILL and wait.

    Args:
        proc: The child process.
        grace: Seconds to wait after SIGTERM.

    Returns:
        The exit status.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=grace)


def descendants(pid: int) -> list[int]:
    """Return the PIDs of every live descendant of ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields start after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def session_members(sid: int) -> list[int]:
    """Return the PIDs of live processes in session ``sid`` (a session we started with setsid)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry))
    return members


def pid_alive(pid: int) -> bool:
    """Return whether ``pid`` names a process that is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def kill_pids(pids: Sequence[int], *, grace: float = 3.0) -> None:
    """Send SIGTERM to each PID, then SIGKILL to those still alive after ``grace`` seconds.

    Args:
        pids: Processes we started (or their descendants); never looked up by name.
        grace: Seconds to wait between the two signals.
    """
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in pids):
        time.sleep(0.02)
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
