"""A user's share of the event loop for handling what their SSH connections send.

Every client's packets are decrypted and dispatched on the one loop every session shares. A
client that sends as fast as it can (thousands of channel requests, megabytes of input) is
otherwise served a whole socket read at a time, as often as the loop comes round: everyone
else's sessions then advance one step per such read. :class:`LoopShare` counts the time a
user's connections spend on their input; past :data:`SHARE` of the wall clock (after a
burst), :class:`PacedConnection` stops reading that connection's socket until the time is
paid back. The client's TCP window then fills and it waits; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncssh

SHARE = 0.25
"""Fraction of the loop's time one user's connections may spend on what they send.

A quarter of a core still decrypts ~40 MiB/s of upload (AES-GCM); typing takes microseconds."""
BURST = 0.1
"""Seconds of loop time a user may spend at once before the share applies."""


class LoopShare:
    """Loop time one user may still spend now; it accrues at ``share`` a second, up to ``burst``."""

    def __init__(self, share: float = SHARE, burst: float = BURST) -> None:
        self.share = share
        self.burst = burst
        self.balance = burst
        self._stamp: float | None = None

    def charge(self, now: float, spent: float) -> float:
        """Record ``spent`` seconds of loop time at ``now``; returns how long to stop reading."""
        if self._stamp is not None and now > self._stamp:
            self.balance = min(self.burst, self.balance + (now - self._stamp) * self.share)
        self._stamp = now if self._stamp is None else max(self._stamp, now)
        self.balance -= spent
        return 0.0 if self.balance >= 0 else -self.balance / self.share


class PacedConnection(asyncssh.SSHServerConnection):
    """asyncssh's server connection, whose socket is read only while its user is within share.

    It starts with a share of its own (before authentication); the front door hands it the
    share of its user once they have logged in (:attr:`share`), so that opening more
    connections buys no more of the loop.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.share = LoopShare()
        self.paused_for = 0.0
        """Seconds this connection's reading was stopped in all (for tests and the log)."""
        self._paced_transport: asyncio.Transport | None = None
        self._resume: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            self._paced_transport = transport
        super().connection_made(transport)

    def data_received(self, data: bytes, datatype: asyncssh.DataType = None) -> None:
        began = time.perf_counter()
        try:
            super().data_received(data, datatype)
        finally:
            spent = time.perf_counter() - began
            pause = self.share.charge(time.monotonic(), spent)
            if pause > 0:
                self._pause(pause)

    def _pause(self, seconds: float) -> None:
        transport = self._paced_transport
        if transport is None or self._resume is not None or transport.is_closing():
            return
        transport.pause_reading()
        self.paused_for += seconds
        self._resume = asyncio.get_running_loop().call_later(seconds, self._resume_reading)

    def _resume_reading(self) -> None:
        self._resume = None
        transport = self._paced_transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None = None) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        super().connection_lost(exc)
