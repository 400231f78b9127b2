"""TerminalChannel: window changes reach the consumer paced and last-wins; a client that goes
away while its input waits still ends the read loop."""

from __future__ import annotations

import asyncio

from broker.frontdoor.channel import RESIZE_INTERVAL, TerminalChannel
from broker.session.terminal import Principal

WAIT = 5.0


class _Stdin:
    async def read(self, n: int) -> bytes:
        await asyncio.Event().wait()  # the user types nothing
        return b""


class _AsyncsshChannel:
    def __init__(self) -> None:
        self.gone = asyncio.Event()

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    async def wait_closed(self) -> None:
        await self.gone.wait()


class _Process:
    def __init__(self) -> None:
        self.channel = _AsyncsshChannel()
        self.stdin = _Stdin()
        self.env: dict[str, str] = {}

    def get_terminal_type(self) -> str:
        return "xterm"

    def get_terminal_size(self) -> tuple[int, int, int, int]:
        return (80, 24, 0, 0)


class _Consumer:
    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []
        self.told = asyncio.Event()
        self.eof = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        pass

    def size_changed(self, cols: int, rows: int) -> None:
        self.sizes.append((cols, rows))
        self.told.set()

    def eof_received(self) -> None:
        self.eof.set()


async def test_a_storm_of_window_changes_reaches_the_consumer_paced_and_last() -> None:
    process = _Process()
    channel = TerminalChannel(process, Principal("alice", ()))  # type: ignore[arg-type]
    consumer = _Consumer()
    channel.set_consumer(consumer)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for i in range(10_000):
        channel.resized(10 + i % 500, 10 + i % 300)
    channel.resized(132, 43)
    async with asyncio.timeout(WAIT):
        while consumer.sizes[-1:] != [(132, 43)]:
            consumer.told.clear()
            await consumer.told.wait()
    assert len(consumer.sizes) == 2  # the first at once, the last one interval later
    assert loop.time() - began >= RESIZE_INTERVAL * 0.9
    assert (channel.cols, channel.rows) == (132, 43)


async def test_the_same_size_again_is_not_told() -> None:
    process = _Process()
    channel = TerminalChannel(process, Principal("alice", ()))  # type: ignore[arg-type]
    consumer = _Consumer()
    channel.set_consumer(consumer)
    channel.resized(80, 24)
    channel.resized(0, 99_999)  # clamped like any client-supplied size
    async with asyncio.timeout(WAIT):
        await consumer.told.wait()
    assert consumer.sizes == [(80, 500)]


async def test_a_client_that_leaves_while_input_is_paused_ends_the_read_loop() -> None:
    process = _Process()
    channel = TerminalChannel(process, Principal("alice", ()))  # type: ignore[arg-type]
    consumer = _Consumer()
    channel.set_consumer(consumer)
    channel.pause_input()  # the TUI is behind: nothing is read
    reader = asyncio.create_task(channel.read_loop())
    await asyncio.sleep(0)
    process.channel.gone.set()
    await asyncio.wait_for(reader, WAIT)
    assert consumer.eof.is_set()
    assert channel.closed
