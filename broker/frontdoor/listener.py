"""The listening sockets: accept, admit or drop (pre-auth limits), pause when descriptors run low."""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
import time
from collections.abc import Callable

from broker.common.descriptors import EXHAUSTION, DescriptorBudget
from broker.frontdoor.startups import Refusal, StartupGate

log = logging.getLogger(__name__)

BACKLOG = 128
ACCEPTS_PER_WAKEUP = 64
"""Connections taken per readiness callback before the loop runs other work."""
RESUME_CHECK = 0.5
"""Seconds between descriptor counts while the listener is paused."""
LOG_INTERVAL = 10.0
"""At most one line per kind of accept trouble in this many seconds (with a count)."""
_TRANSIENT = frozenset((errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR, errno.EAGAIN))
_RESOURCE = EXHAUSTION | {errno.ENOBUFS, errno.ENOMEM}


class ThrottledLog:
    """Logs a kind of event at most once per interval, saying how many were not logged."""

    def __init__(
        self,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.logger = logger
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def __call__(self, level: int, kind: str, message: str, *args: object) -> None:
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            return
        quiet = self._quiet.pop(kind, 0)
        self._last[kind] = now
        suffix = f" ({quiet} more since the last report)" if quiet else ""
        self.logger.log(level, message + suffix, *args)


def bind_sockets(host: str, port: int, *, reuse_port: bool) -> list[socket.socket]:
    """Listening sockets for ``host:port`` (every address it resolves to).

    ``SO_REUSEPORT`` only when ``reuse_port`` (``--workers`` siblings share a port; a second
    broker on a port it does not share fails with "address in use").

    Raises:
        OSError: the address cannot be bound (e.g. ``EADDRINUSE``).
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


Handoff = Callable[[socket.socket, str], None]
"""Takes an accepted, admitted socket and the client's address (``ip``)."""


class Listener:
    """Accepts on its own sockets so that it can refuse early, and stop before descriptors run out.

    Each accepted connection is admitted by the :class:`StartupGate` or closed at once
    (no banner, no handshake, no log line each). When the descriptor reserve is reached the
    listener stops accepting (the kernel's backlog holds, then refuses, new clients) and
    starts again once descriptors are free. Accept errors are logged once per interval.
    """

    def __init__(
        self,
        sockets: list[socket.socket],
        gate: StartupGate,
        handoff: Handoff,
        *,
        budget: DescriptorBudget | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.sockets = sockets
        self.gate = gate
        self.handoff = handoff
        self.budget = budget or DescriptorBudget()
        self.draw = draw
        self.paused = False
        self.dropped: dict[str, int] = {}
        """Connections dropped before login, by reason (``per_source``, ``full``, …)."""
        self.pauses = 0
        self.note = ThrottledLog()
        self._loop = asyncio.get_running_loop()
        self._resume: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1]) if self.sockets else 0

    def start(self) -> None:
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self) -> None:
        self._closed = True
        if self._resume is not None:
            self._resume.cancel()
        if not self.paused:
            for sock in self.sockets:
                self._loop.remove_reader(sock.fileno())
        for sock in self.sockets:
            sock.close()

    def _accept(self, listening: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            if self.paused:
                return
            try:
                conn, address = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _RESOURCE:
                    self._pause(f"accept failed: {exc.strerror}")
                elif exc.errno not in _TRANSIENT:
                    self.note(logging.ERROR, "accept", "accept failed: %s", exc)
                return
            source = str(address[0]) if isinstance(address, tuple) else "local"
            refusal = self.gate.admit(source, self.draw())
            if refusal is not None:
                self._drop(conn, source, refusal)
                continue
            if not self.budget.taken():
                # Admitted by the gate but the descriptor reserve is reached: this one still
                # gets its chance (it holds a descriptor already); no more until there is room.
                self._pause(f"{self.budget.count} of {self.budget.limit} descriptors open")
            try:
                self.handoff(conn, source)
            except Exception:
                self.gate.release(source)
                conn.close()
                log.exception("could not start an SSH connection for %s", source)

    def _drop(self, conn: socket.socket, source: str, refusal: Refusal) -> None:
        # RST rather than FIN: the peer learns at once and no TIME_WAIT stays behind here
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()
        self.dropped[refusal.reason] = self.dropped.get(refusal.reason, 0) + 1
        self.note(
            logging.WARNING,
            f"drop-{refusal.reason}",
            "connection from %s dropped before login (%s; %d unauthenticated in all, "
            "%d from this address)",
            source,
            refusal.reason.replace("_", " "),
            refusal.unauthenticated,
            self.gate.held_by(source),
        )

    def _pause(self, why: str) -> None:
        if self.paused or self._closed:
            return
        self.paused = True
        self.pauses += 1
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
        self.note(
            logging.WARNING,
            "pause",
            "not accepting connections until descriptors are free (%s)",
            why,
        )
        self._resume = self._loop.call_later(RESUME_CHECK, self._try_resume)

    def _try_resume(self) -> None:
        self._resume = None
        if self._closed:
            return
        if not self.budget.ample():
            self._resume = self._loop.call_later(RESUME_CHECK, self._try_resume)
            return
        self.paused = False
        self.note(logging.INFO, "resume", "accepting connections again")
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)
