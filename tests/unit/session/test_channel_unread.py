"""TerminalChannel.unread: input given back reaches the next consumer before later input."""

from __future__ import annotations

import asyncio

from broker.frontdoor.channel import TerminalChannel
from broker.session.terminal import Principal

WAIT = 5.0


class _Stdin:
    """The user's side of the channel: the test types, the channel's read loop reads."""

    def __init__(self) -> None:
        self.typed: asyncio.Queue[bytes] = asyncio.Queue()
        self.reading = asyncio.Event()
        """Set while the read loop waits in :meth:`read`."""

    async def read(self, n: int) -> bytes:
        self.reading.set()
        try:
            return await self.typed.get()
        finally:
            self.reading.clear()


class _AsyncsshChannel:
    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    async def wait_closed(self) -> None:
        await asyncio.Event().wait()


class _Process:
    """What TerminalChannel uses of an asyncssh server process."""

    def __init__(self) -> None:
        self.channel = _AsyncsshChannel()
        self.stdin = _Stdin()
        self.env: dict[str, str] = {}

    def get_terminal_type(self) -> str:
        return "xterm-256color"

    def get_terminal_size(self) -> tuple[int, int, int, int]:
        return (80, 24, 0, 0)


class _Consumer:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.arrived = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data.append(data)
        self.arrived.set()

    def size_changed(self, cols: int, rows: int) -> None:
        pass

    def eof_received(self) -> None:
        pass

    async def wait_for(self, count: int) -> list[bytes]:
        async with asyncio.timeout(WAIT):
            while len(self.data) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.data


async def _channel() -> tuple[TerminalChannel, _Process, asyncio.Task[None]]:
    process = _Process()
    channel = TerminalChannel(process, Principal("alice", ()))  # type: ignore[arg-type]
    reader = asyncio.create_task(channel.read_loop())
    return channel, process, reader


async def test_given_back_comes_before_what_was_read_after_the_hold() -> None:
    channel, process, reader = await _channel()
    try:
        tui, relay = _Consumer(), _Consumer()
        channel.set_consumer(tui)
        process.stdin.typed.put_nowait(b"web-1\r")
        assert await tui.wait_for(1) == [b"web-1\r"]
        await asyncio.wait_for(process.stdin.reading.wait(), WAIT)
        # Input is held while a read is in flight: what it returns is kept for the next one.
        channel.set_consumer(None)
        process.stdin.typed.put_nowait(b"typed later")
        async with asyncio.timeout(WAIT):
            while process.stdin.typed.qsize():
                await asyncio.sleep(0)
        # The TUI gives back the keys it had read but not used, in the order typed.
        channel.unread(b"ec")
        channel.unread(b"ho")
        channel.unread(b"")
        channel.set_consumer(relay)
        assert await relay.wait_for(3) == [b"ec", b"ho", b"typed later"]
        assert tui.data == [b"web-1\r"]
    finally:
        reader.cancel()


async def test_given_back_with_nothing_read_since_the_hold() -> None:
    channel, process, reader = await _channel()
    try:
        relay = _Consumer()
        channel.unread(b"ls\r")
        channel.set_consumer(relay)
        process.stdin.typed.put_nowait(b"exit\r")
        assert await relay.wait_for(2) == [b"ls\r", b"exit\r"]
    finally:
        reader.cancel()


async def test_given_back_while_a_consumer_reads_goes_to_it_now() -> None:
    channel, _, reader = await _channel()
    try:
        relay = _Consumer()
        channel.set_consumer(relay)
        channel.unread(b"x")
        assert relay.data == [b"x"]
    finally:
        reader.cancel()


async def test_given_back_is_delivered_once() -> None:
    channel, _, reader = await _channel()
    try:
        first, second = _Consumer(), _Consumer()
        channel.unread(b"once")
        channel.set_consumer(first)
        channel.set_consumer(None)
        channel.set_consumer(second)
        assert first.data == [b"once"]
        assert second.data == []
    finally:
        reader.cancel()
