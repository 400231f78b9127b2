"""The relay holds target output that arrives before it runs (the TUI still owns the screen)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from broker.session.relay import HIGH_WATER, Relay
from broker.session.terminal import Principal, Terminal
from broker.upstream.base import INPUT_HIGH


class FakeChannel:
    """The parts of a Terminal the relay uses; records what the user would see."""

    def __init__(self) -> None:
        self.principal = Principal("alice", ("ops",))
        self.out: list[bytes] = []
        self.send_buffer = 0
        self._closed = asyncio.Event()

    input_paused = False

    def pause_input(self) -> None:
        self.input_paused = True

    def resume_input(self) -> None:
        self.input_paused = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def write_stderr(self, data: bytes) -> None:
        self.out.append(b"ERR:" + data)

    async def drain(self) -> None:
        return None

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def set_consumer(self, consumer: Any) -> None:
        return None


class FakeUpstream:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.done = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.calls.append("write")

    def write_eof(self) -> None:
        self.calls.append("eof")

    def resize(self, cols: int, rows: int) -> None:
        self.calls.append("resize")

    input_backlog = 0

    async def drain_input(self) -> None:
        return None

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def close(self) -> None:
        self.done.set()

    async def wait(self) -> int:
        await self.done.wait()
        return 0


async def test_output_before_run_reaches_the_user_only_when_the_relay_runs() -> None:
    channel = FakeChannel()
    relay = Relay(cast(Terminal, channel))
    upstream = FakeUpstream()
    relay.attach(upstream)
    relay.on_output(b"motd\r\n", False)
    relay.on_output(b"$ ", False)
    await asyncio.sleep(0)
    assert channel.out == []  # the TUI may still be on screen: nothing written yet

    task = asyncio.create_task(relay.run(upstream))
    await asyncio.sleep(0)
    assert channel.out == [b"motd\r\n", b"$ "]
    relay.on_output(b"ls\r\n", False)
    assert channel.out[-1] == b"ls\r\n"
    upstream.done.set()
    assert await asyncio.wait_for(task, 5) == 0
    assert relay.bytes_out == len(b"motd\r\n$ ls\r\n")


async def test_a_flood_before_run_pauses_the_target_until_it_runs() -> None:
    channel = FakeChannel()
    relay = Relay(cast(Terminal, channel))
    upstream = FakeUpstream()
    relay.attach(upstream)
    chunk = b"x" * 65536
    for _ in range(HIGH_WATER // len(chunk) + 2):
        relay.on_output(chunk, False)
    assert upstream.calls == ["pause"]
    task = asyncio.create_task(relay.run(upstream))
    await asyncio.sleep(0)
    assert upstream.calls == ["pause", "resume"]
    assert sum(map(len, channel.out)) == (HIGH_WATER // len(chunk) + 2) * len(chunk)
    upstream.done.set()
    await asyncio.wait_for(task, 5)


class SlowTarget(FakeUpstream):
    """A target that takes the user's input only when the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.input_backlog = 0
        self.taken = asyncio.Event()

    async def drain_input(self) -> None:
        await self.taken.wait()


async def test_input_the_target_does_not_take_pauses_the_user_until_it_does() -> None:
    channel = FakeChannel()
    relay = Relay(cast(Terminal, channel))
    upstream = SlowTarget()
    task = asyncio.create_task(relay.run(upstream))
    await asyncio.sleep(0)
    relay.data_received(b"x" * 1000)
    assert not channel.input_paused  # below the mark: read on
    upstream.input_backlog = INPUT_HIGH + 1
    relay.data_received(b"x" * 1000)
    assert channel.input_paused  # the SSH window now holds the client
    relay.data_received(b"x")  # what was already read still goes through, once
    assert upstream.calls.count("write") == 3
    upstream.input_backlog = 0
    upstream.taken.set()
    async with asyncio.timeout(5):
        while channel.input_paused:
            await asyncio.sleep(0)
    upstream.done.set()
    await asyncio.wait_for(task, 5)


async def test_a_session_that_ends_while_input_is_paused_leaves_it_open() -> None:
    channel = FakeChannel()
    relay = Relay(cast(Terminal, channel))
    upstream = SlowTarget()
    task = asyncio.create_task(relay.run(upstream))
    await asyncio.sleep(0)
    upstream.input_backlog = INPUT_HIGH + 1
    relay.data_received(b"x")
    assert channel.input_paused
    upstream.done.set()  # the target exits without ever taking it
    await asyncio.wait_for(task, 5)
    assert not channel.input_paused  # the next consumer (the TUI) reads again
