"""ChannelDriver under an input flood: garbage never reaches the app, keys are paced, sizes
coalesced, and a user who leaves takes what they queued with them."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import events

from tests.tui.fakes import FakeChannel
from tui.driver import PENDING_HIGH, ChannelDriver
from tui.input_guard import SLICE, InputBudget

WAIT = 5.0


class _App:
    """What the driver uses of an app: its queue size, post_message, call_later."""

    message_queue_size = 0

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.exited = asyncio.Event()
        self._arrived = asyncio.Event()

    def post_message(self, message: Any) -> bool:
        self.messages.append(message)
        self._arrived.set()
        return True

    def call_later(self, callback: Any) -> None:
        asyncio.get_running_loop().call_soon(callback)

    def exit(self) -> None:
        self.exited.set()

    def typed(self) -> list[str]:
        return [m.key for m in self.messages if isinstance(m, events.Key)]

    async def wait_until(self, done: Any) -> None:
        async with asyncio.timeout(WAIT):
            while not done():
                self._arrived.clear()
                await self._arrived.wait()


class _Channel(FakeChannel):
    def __init__(self) -> None:
        super().__init__()
        self.congested = False
        self.closed = False
        self.consumer: Any = None
        self.paused = False
        self.pauses = 0

    def set_consumer(self, consumer: Any) -> None:
        self.consumer = consumer

    def pause_input(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_input(self) -> None:
        self.paused = False


def _driver(budget: InputBudget | None = None) -> tuple[ChannelDriver, _App, _Channel]:
    app, channel = _App(), _Channel()
    driver = ChannelDriver(app, channel=channel, budget=budget)  # type: ignore[arg-type]
    driver.start_application_mode()
    app.messages.clear()
    return driver, app, channel


async def test_overlong_sequences_never_reach_the_app() -> None:
    driver, app, _channel = _driver()
    flood = (b"\x1b[" + b"9" * 4000 + b"A") * 100
    for i in range(0, len(flood), 65536):
        driver.data_received(flood[i : i + 65536])
    driver.data_received(b"q")
    await app.wait_until(lambda: "q" in app.typed())
    assert app.typed() == ["q"]


async def test_keys_beyond_the_budget_wait_in_the_channel() -> None:
    budget = InputBudget(bytes_per_second=64 << 10, events_per_second=5000)
    driver, app, channel = _driver(budget)
    driver.data_received(b"a" * (12 << 10))
    assert channel.paused  # the SSH window closes: the client waits, not our memory
    await app.wait_until(lambda: len(app.typed()) >= 5000)
    # the first second's budget and at most one slice of debt, not 12 Ki keys at once
    assert len(app.typed()) <= 5000 + SLICE
    await app.wait_until(lambda: not channel.paused)  # read again once mostly parsed
    assert len(driver._pending) < PENDING_HIGH // 2
    await app.wait_until(lambda: len(app.typed()) == 12 << 10)  # nothing was lost


async def test_sessions_of_one_user_add_up_to_the_user_budget_only() -> None:
    user = InputBudget(bytes_per_second=64 << 10, events_per_second=1000)
    each = InputBudget(bytes_per_second=64 << 10, events_per_second=1000, user=user)
    other = InputBudget(bytes_per_second=64 << 10, events_per_second=1000, user=user)
    first, app1, _ = _driver(each)
    second, app2, _ = _driver(other)
    first.data_received(b"a" * 4096)
    second.data_received(b"b" * 4096)
    await app1.wait_until(lambda: len(app1.typed()) + len(app2.typed()) >= 1000)
    assert len(app1.typed()) + len(app2.typed()) <= 1000 + 2 * SLICE


async def test_one_flooding_session_leaves_the_users_others_their_keys() -> None:
    user = InputBudget.for_user()
    flooding, app1, _ = _driver(InputBudget(user=user))
    typing, app2, _ = _driver(InputBudget(user=user))
    flooding.data_received(b"z\x7f" * 2000)  # far past its own budget
    await app1.wait_until(lambda: len(app1.typed()) >= 400)
    typing.data_received(b"q")
    assert app2.typed() == ["q"]  # at once: the user's budget has room for it


async def test_window_sizes_are_coalesced_to_the_last() -> None:
    driver, app, channel = _driver()
    for i in range(1000):
        channel.cols, channel.rows = 10 + i % 500, 10 + i % 300
        driver.size_changed(channel.cols, channel.rows)
    channel.cols, channel.rows = 132, 43
    driver.size_changed(132, 43)

    def last_is_final() -> bool:
        sizes = [m.size for m in app.messages if isinstance(m, events.Resize)]
        return bool(sizes) and (sizes[-1].width, sizes[-1].height) == (132, 43)

    await app.wait_until(last_is_final)
    assert len([m for m in app.messages if isinstance(m, events.Resize)]) <= 3


async def test_a_user_who_leaves_takes_their_queued_input_along() -> None:
    budget = InputBudget(bytes_per_second=64 << 10, events_per_second=200)
    driver, app, _channel = _driver(budget)
    driver.data_received(b"a" * 8192)
    await app.wait_until(lambda: len(app.typed()) >= 200)
    driver.eof_received()
    await asyncio.wait_for(app.exited.wait(), WAIT)
    seen = len(app.typed())
    driver.data_received(b"z" * 100)  # late input after EOF is ignored
    assert not driver._pending
    assert driver._pump is None
    assert len(app.typed()) == seen


async def test_characters_split_between_reads_and_slices_arrive_whole() -> None:
    driver, app, _channel = _driver(InputBudget(events_per_second=1e6))
    text = "é€" * 700  # 3,500 bytes: slices of 512 cut characters in two
    driver.data_received(text.encode())
    await app.wait_until(lambda: len(app.typed()) >= len(text))
    for byte in "ü€".encode():  # a read inside a character: nothing to parse yet
        driver.data_received(bytes([byte]))
    text += "ü€"
    await app.wait_until(lambda: len(app.typed()) >= len(text))
    characters = [m.character for m in app.messages if isinstance(m, events.Key)]
    assert "".join(characters) == text
