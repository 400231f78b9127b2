"""Drive a real program in a private tmux server and read what a person would see."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.harness.process import (
    HarnessError,
    WaitTimeout,
    kill_pids,
    pid_alive,
    run,
    session_members,
)

TMUX = "tmux"
SESSION = "main"


def screen_matches(screen: str, expected: str | re.Pattern[str]) -> bool:
    """Return whether ``expected`` (a substring, or a compiled regex) is found on ``screen``."""
    if isinstance(expected, re.Pattern):
        return expected.search(screen) is not None
    return expected in screen


def _default_term() -> str:
    for base in (Path("/usr/share/terminfo"), Path("/lib/terminfo")):
        if (base / "t" / "tmux-256color").exists():
            return "tmux-256color"
    return "screen-256color"


class TmuxClient:
    """One tmux server (``tmux -L <unique>``) with one window running ``argv``.

    The window keeps its pane after the program exits (``remain-on-exit``), so the last screen
    and the exit status can still be read. Create with ``TmuxClient.start(...)``.

    Attributes:
        socket_name: The private ``-L`` socket name.
        server_pid: PID of the tmux server.
        pane_pid: PID of the pane's process (a ``sh`` that runs the program and notes its status).
        cols: Current width.
        rows: Current height.
    """

    def __init__(self, socket_name: str, workdir: Path, cols: int, rows: int) -> None:
        self.socket_name = socket_name
        self.workdir = workdir
        self.cols = cols
        self.rows = rows
        self.server_pid = 0
        self.pane_pid = 0
        self.socket_path: Path | None = None
        self.status_path = workdir / "exit-status"

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        *,
        cols: int = 120,
        rows: int = 40,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        term: str | None = None,
    ) -> TmuxClient:
        """Start a private tmux server running ``argv`` in a ``cols`` x ``rows`` window.

        Args:
            argv: The program and its arguments.
            cols: Window width.
            rows: Window height (the status line is off, so the pane gets all rows).
            env: Extra environment variables for the program.
            cwd: Working directory of the program.
            term: ``TERM`` inside tmux (default ``tmux-256color`` when its terminfo exists).

        Returns:
            The running client.
        """
        if shutil.which(TMUX) is None:
            raise HarnessError("tmux is not installed; run scripts/install-test-deps")
        workdir = Path(tempfile.mkdtemp(prefix="gh-tmux-"))
        client = cls(f"gh-{os.getpid()}-{secrets.token_hex(4)}", workdir, cols, rows)
        config = workdir / "tmux.conf"
        config.write_text(
            "\n".join(
                [
                    "set -g status off",
                    "set -g remain-on-exit on",
                    # Without this, a dead pane scrolls a "Pane is dead" line over the last screen.
                    'set -g remain-on-exit-format ""',
                    "set -g history-limit 5000",
                    "set -g escape-time 0",
                    f'set -g default-terminal "{term or _default_term()}"',
                    "",
                ]
            )
        )
        env_args: list[str] = []
        for key, value in (env or {}).items():
            env_args += ["-e", f"{key}={value}"]
        command = ["new-session", "-d", "-s", SESSION, "-x", str(cols), "-y", str(rows)]
        # tmux loses the exit status of a program that ends during new-session, so a shell
        # wrapper writes it to a file; it prints nothing and passes signals to the program.
        wrapper = ["sh", "-c", '"$@"; echo $? > "$0"', str(client.status_path), *argv]
        command += ["-c", str(cwd or workdir), *env_args, *wrapper]
        try:
            client._tmux(*command, config=config)
            # Set after the session exists: in tmux 3.3a this line in the config file kills the
            # server. "manual" makes resize-window stick instead of following attached clients.
            client._tmux("set-option", "-g", "window-size", "manual")
            info = client._tmux("display-message", "-p", "#{pid} #{pane_pid} #{socket_path}")
            server_pid, pane_pid, socket_path = info.strip().split(" ", 2)
            client.server_pid, client.pane_pid = int(server_pid), int(pane_pid)
            client.socket_path = Path(socket_path)
        except BaseException:
            client.kill()
            raise
        return client

    def _tmux(self, *args: str, config: Path | None = None) -> str:
        argv = [TMUX, "-L", self.socket_name]
        if config is not None:
            argv += ["-f", str(config)]
        env = dict(os.environ)
        env.pop("TMUX", None)
        return run([*argv, *args], timeout=10, env=env).stdout

    def send_keys(self, *keys: str) -> None:
        """Send tmux key names (``"Enter"``, ``"C-c"``, ``"Escape"``, ``"Up"``, ``"q"`` …)."""
        self._tmux("send-keys", "-t", SESSION, *keys)

    def send_text(self, text: str) -> None:
        """Type ``text`` literally (no key-name lookup)."""
        if text:
            self._tmux("send-keys", "-t", SESSION, "-l", text)

    def capture(self, *, escapes: bool = False) -> str:
        """Return the visible screen as text, one line per row (``escapes`` keeps SGR colours)."""
        args = ["capture-pane", "-p", "-t", SESSION]
        if escapes:
            args.append("-e")
        return self._tmux(*args)

    def wait_for(self, expected: str | re.Pattern[str], timeout: float = 10.0) -> str:
        """Poll the screen every 50 ms until ``expected`` appears.

        Args:
            expected: A substring, or a compiled regex searched for.
            timeout: Seconds to wait at most.

        Returns:
            The screen on which it appeared.

        Raises:
            WaitTimeout: With the last screen in the message.
        """
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            if screen_matches(screen, expected):
                return screen
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"timed out after {timeout:.1f}s waiting for {expected!r}; "
                    f"last screen:\n{screen}"
                )
            time.sleep(0.05)

    def resize(self, cols: int, rows: int) -> None:
        """Resize the window (the program gets SIGWINCH)."""
        self._tmux("resize-window", "-t", SESSION, "-x", str(cols), "-y", str(rows))
        self.cols, self.rows = cols, rows

    def exit_status(self) -> int | None:
        """Return the program's exit status once it has exited, else ``None``."""
        fields = self._tmux("display-message", "-p", "#{pane_dead}:#{pane_dead_status}").strip()
        dead, _, status = fields.partition(":")
        if dead != "1":
            return None
        with contextlib.suppress(OSError, ValueError):
            return int(self.status_path.read_text())
        return int(status) if status.lstrip("-").isdigit() else None

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait for the program to exit and return its status.

        Raises:
            WaitTimeout: It still ran after ``timeout`` seconds; the last screen is in the message.
        """
        deadline = time.monotonic() + timeout
        while (status := self.exit_status()) is None:
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"program still running after {timeout:.1f}s; last screen:\n{self.capture()}"
                )
            time.sleep(0.05)
        return status

    def kill(self) -> None:
        """Kill the tmux server (and so the program), by PID if ``kill-server`` is not enough."""
        leftovers = session_members(self.pane_pid) if self.pane_pid else []
        if self.workdir.exists():
            with contextlib.suppress(HarnessError):
                self._tmux("kill-server")
        pids = [pid for pid in (*leftovers, self.server_pid) if pid and pid_alive(pid)]
        kill_pids(pids)
        self.server_pid = self.pane_pid = 0
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    stop = kill

    def __enter__(self) -> TmuxClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
