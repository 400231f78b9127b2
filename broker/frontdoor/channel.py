"""One SSH session channel: input routed to one consumer, output written with backpressure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncssh

from broker.session.terminal import InputConsumer, Principal, clamp_size

log = logging.getLogger(__name__)

READ_SIZE = 65536
SEND_BUFFER_LIMIT = 1 << 20
"""Above this many queued bytes a stalled client gets frames dropped, not buffered forever."""
DRAIN_HIGH = 2 << 20
DRAIN_LOW = 1 << 20
"""`drain()` waits from DRAIN_HIGH down to DRAIN_LOW queued bytes: the pipe never runs dry."""
RESIZE_INTERVAL = 0.05
"""Seconds between two window sizes passed to the consumer; sizes in between are skipped."""


class TerminalChannel:
    """The :class:`~broker.session.terminal.Terminal` of one asyncssh server process.

    It routes input, writes output and tracks the size.

    Exactly one reader task reads the channel; what it reads goes to the current
    :class:`InputConsumer`. Writers call :meth:`write`; when the client stops
    reading, :attr:`congested` turns true and frame-oriented writers (the TUI)
    drop frames and repaint once :meth:`drain` returns.
    """

    def __init__(self, process: asyncssh.SSHServerProcess[bytes], principal: Principal) -> None:
        self.process = process
        self.principal = principal
        process.channel.set_write_buffer_limits(high=DRAIN_HIGH, low=DRAIN_LOW)
        self.term_type = process.get_terminal_type() or ""
        cols, rows, _, _ = process.get_terminal_size()
        self.cols, self.rows = clamp_size(cols, rows)
        env: dict[Any, Any] = dict(process.env or {})
        self.colorterm = str(env.get("COLORTERM", ""))
        self._consumer: InputConsumer | None = None
        self._has_consumer = asyncio.Event()
        self._input_open = asyncio.Event()
        """Clear while the consumer cannot take more (flow control toward the target)."""
        self._input_open.set()
        self._held: list[bytes] = []
        self._given_back: list[bytes] = []
        """Input a consumer took but did not use (:meth:`unread`): goes before :attr:`_held`."""
        self._closed = asyncio.Event()
        self._eof = False
        self.on_close: list[Callable[[], None]] = []
        self._told_size = (self.cols, self.rows)
        """The size the consumer was last told (or started with)."""
        self._resize: asyncio.TimerHandle | None = None
        self._resized_at = -RESIZE_INTERVAL

    @property
    def has_pty(self) -> bool:
        return bool(self.term_type)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def consumer(self) -> InputConsumer | None:
        return self._consumer

    def set_consumer(self, consumer: InputConsumer | None) -> None:
        """Route further input to ``consumer``; with None, input waits unread (flow control)."""
        self._consumer = consumer
        self._input_open.set()  # a new consumer starts unthrottled
        if consumer is None:
            self._has_consumer.clear()
            return
        self._has_consumer.set()
        held, self._held = [*self._given_back, *self._held], []
        self._given_back = []
        for data in held:
            consumer.data_received(data)
        if self._eof:
            consumer.eof_received()

    def resized(self, cols: int, rows: int) -> None:
        """The client's window changed: keep the latest size, tell the consumer at a pace.

        A client may send window changes as fast as it likes; the consumer (a TUI that lays
        out its screen, a target's pty) hears of one every :data:`RESIZE_INTERVAL` at most,
        and always of the last one.
        """
        self.cols, self.rows = clamp_size(cols, rows)
        if self._resize is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._resized_at + RESIZE_INTERVAL - loop.time()
        if wait > 0:
            self._resize = loop.call_later(wait, self._tell_size)
        else:
            self._tell_size()

    def _tell_size(self) -> None:
        self._resize = None
        self._resized_at = asyncio.get_running_loop().time()
        size = (self.cols, self.rows)
        if self._consumer is not None and size != self._told_size and not self.closed:
            self._told_size = size
            self._consumer.size_changed(*size)

    def pause_input(self) -> None:
        """Stop reading the user's input: unread, it closes the SSH window (the client waits)."""
        self._input_open.clear()

    def resume_input(self) -> None:
        self._input_open.set()

    @property
    def input_paused(self) -> bool:
        return not self._input_open.is_set()

    def unread(self, data: bytes) -> None:
        """Give back input that was read but not used: the next consumer gets it first.

        While no consumer reads, ``data`` goes before anything read since input was held,
        after what was given back earlier; with a consumer, it goes to that consumer now.
        """
        if not data:
            return
        if self._consumer is not None:
            self._consumer.data_received(data)
        else:
            self._given_back.append(data)

    @property
    def send_buffer(self) -> int:
        return int(self.process.channel.get_write_buffer_size())

    @property
    def congested(self) -> bool:
        return self.send_buffer > SEND_BUFFER_LIMIT

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the client (callers that must not lose data await :meth:`drain`)."""
        if not self.closed and data:
            try:
                self.process.stdout.write(data)
            except (asyncssh.Error, OSError, BrokenPipeError):
                self._closed.set()

    def write_stderr(self, data: bytes) -> None:
        if not self.closed and data:
            try:
                self.process.stderr.write(data)
            except (asyncssh.Error, OSError, BrokenPipeError):
                self._closed.set()

    async def drain(self) -> None:
        """Wait until the client has taken what was written (flow control)."""
        if not self.closed:
            try:
                await self.process.stdout.drain()
            except (asyncssh.Error, OSError, BrokenPipeError):
                self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def _until_open(self, gone: asyncio.Task[None]) -> bool:
        """Wait until a consumer takes input; False if the client went away meanwhile."""
        for ready in (self._has_consumer, self._input_open):
            if not ready.is_set():
                waiter = asyncio.ensure_future(ready.wait())
                try:
                    await asyncio.wait((waiter, gone), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if not ready.is_set():
                    return False
        return not gone.done()

    async def read_loop(self) -> None:
        """Read the channel until EOF, dispatching to the consumer. Run as one task.

        While input waits (no consumer, or it paused input) the channel is not read, but a
        client that goes away still ends the loop (and the consumer hears EOF).
        """
        gone = asyncio.ensure_future(self.process.channel.wait_closed())
        try:
            while True:
                if not await self._until_open(gone):
                    break
                try:
                    data = await self.process.stdin.read(READ_SIZE)
                except asyncssh.TerminalSizeChanged as change:
                    self.resized(change.width, change.height)
                    continue
                except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                    continue
                if not data:
                    # EOF on the user's input is not the end of the session:
                    # tell the consumer, keep the channel open for output.
                    if self._consumer is not None:
                        self._consumer.eof_received()
                    self._eof = True
                    await self.process.channel.wait_closed()
                    break
                if self._consumer is not None:
                    self._consumer.data_received(data)
                else:  # the consumer left while we were reading: keep it for the next one
                    self._held.append(data)
        except (asyncssh.Error, OSError, ConnectionError) as exc:
            log.info("[%s] channel read ended: %s", self.principal.name, exc)
        finally:
            gone.cancel()
            if self._resize is not None:
                self._resize.cancel()
                self._resize = None
            self._closed.set()
            if self._consumer is not None and not self._eof:
                self._consumer.eof_received()
            for callback in self.on_close:
                callback()

    def exit(self, status: int) -> None:
        """Close the session with an exit status."""
        self._closed.set()
        try:
            self.process.exit(status)
        except (asyncssh.Error, OSError):
            self.process.close()
