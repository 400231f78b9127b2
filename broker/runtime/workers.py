"""Several broker processes on one port: one core each, one audit log, one state dir.

`gatehouse serve --workers N` runs this supervisor. It reserves the port, starts N
`gatehouse serve --worker I` processes that all listen on it with ``SO_REUSEPORT`` (the
kernel spreads new connections over them), and prints the usual "listening on" line
once every worker is ready. Workers share what is on disk: the audit journal takes an
``flock`` per batch and re-reads the chain head (several writers are safe), the vault is
read-only, and recordings are one file per session. A worker that dies is started again
(at most ``RESTARTS`` times a minute per slot; beyond that the supervisor stops all and
exits non-zero). SIGTERM/SIGINT stop every worker gracefully.
"""

from __future__ import annotations

import collections
import errno
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO

log = logging.getLogger(__name__)

RESTARTS = 5
"""Restarts allowed per worker slot within ``RESTART_WINDOW`` seconds."""
RESTART_WINDOW = 60.0
READY_TIMEOUT = 60.0
STOP_GRACE = 40.0
"""Seconds workers get to close sessions and recordings before they are killed."""


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Bind (without listening) so that port 0 becomes a fixed port all workers share.

    A bound socket that does not listen takes no connections; it only keeps the port.
    The port must be free first: a probe binds it without ``SO_REUSEPORT`` (which fails
    with "address in use" if any broker, even one with workers, holds it), so only the
    workers started here share it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = int(probe.getsockname()[1])
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock, int(sock.getsockname()[1])


class _Slot:
    """One worker position: its current process and its recent restarts."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts: collections.deque[float] = collections.deque()

    def may_restart(self, now: float) -> bool:
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW:
            self.restarts.popleft()
        return len(self.restarts) < RESTARTS


def _forward(stream: IO[bytes]) -> None:
    """Copy a worker's stdout to ours (its later lines; it must never block on a full pipe)."""
    for line in iter(stream.readline, b""):
        sys.stdout.buffer.write(line)
        sys.stdout.flush()


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(self, config: Path, host: str, port: int, count: int) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.slots = [_Slot(i) for i in range(count)]
        self.stopping = threading.Event()

    def _spawn(self, slot: _Slot) -> None:
        argv = [sys.executable, "-m", "broker.cli", "serve", "-c", str(self.config)]
        argv += ["--port", str(self.port), "--worker", str(slot.index)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        slot.proc = proc
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if b"listening on" in line:
                threading.Thread(target=_forward, args=(proc.stdout,), daemon=True).start()
                return
        proc.kill()
        proc.wait()
        raise RuntimeError(f"worker {slot.index} did not start (exit status {proc.returncode})")

    def run(self) -> int:
        """Start every worker, keep them running until a stop signal; the exit status."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        try:
            for slot in self.slots:
                self._spawn(slot)
        except RuntimeError as exc:
            print(f"gatehouse: {exc}; see the log above", file=sys.stderr)
            self._stop_all()
            return 1
        print(
            f"gatehouse: listening on {self.host}:{self.port} ({len(self.slots)} workers)",
            flush=True,
        )
        status = 0
        while not self.stopping.wait(0.5):
            if not self._watch():
                status = 1
                break
        self._stop_all()
        return status

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()

    def _watch(self) -> bool:
        """Restart dead workers; False once one keeps dying."""
        for slot in self.slots:
            proc = slot.proc
            if proc is None or proc.poll() is None or self.stopping.is_set():
                continue
            now = time.monotonic()
            if not slot.may_restart(now):
                log.critical(
                    "worker %d died %d times within %.0fs; stopping the broker",
                    slot.index,
                    RESTARTS + 1,
                    RESTART_WINDOW,
                )
                return False
            log.error(
                "worker %d exited (status %s); starting it again", slot.index, proc.returncode
            )
            slot.restarts.append(now)
            try:
                self._spawn(slot)
            except RuntimeError as exc:
                log.error("%s", exc)
        return True

    def _stop_all(self) -> None:
        procs = [s.proc for s in self.slots if s.proc is not None and s.proc.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop in %.0fs; killed", proc.pid, STOP_GRACE)
                proc.kill()
                proc.wait()


def supervise(config: Path, host: str, port: int, count: int) -> int:
    """Run ``count`` workers on ``host:port`` (0: a free port) until stopped."""
    try:
        holder, bound = reserve_port(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "address in use (another broker, or another program, listens there)"
        print(f"gatehouse: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return 1
    try:
        return Supervisor(config, host, bound, count).run()
    finally:
        holder.close()
