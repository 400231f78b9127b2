"""A closed TUI session leaves nothing alive: its App, screens and driver are freed by gc.

The broker serves every TUI in its own process, so anything that keeps a finished App (a
registry, a task, a closure, a subscriber) grows the broker by about a megabyte per session.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import weakref
from typing import Any

import pytest
from textual.widget import Widget

from tests.support.waiting import async_wait_until
from tests.tui.fakes import FakeChannel, FakeServices
from tui.app import GatehouseApp
from tui.runner import InProcessRunner

WAIT = 10.0
"""Seconds a test waits for something that should happen at once (a deadline, not a delay)."""


class _Channel(FakeChannel):
    """The Terminal the runner needs: a consumer for input and a drain that never waits."""

    def __init__(self) -> None:
        super().__init__()
        self.consumer: Any = None
        self.closed = False
        self.congested = False
        self.has_pty = True
        self.send_buffer = 0

    def set_consumer(self, consumer: Any) -> None:
        self.consumer = consumer

    async def drain(self) -> None:
        return None

    def painted(self, text: bytes) -> bool:
        return text in b"".join(self.written)


@pytest.mark.parametrize("ending", ["quit key", "client hung up"])
async def test_closed_session_frees_its_app(ending: str) -> None:
    channel = _Channel()
    services = FakeServices()
    session = asyncio.create_task(InProcessRunner().run(channel, services))  # type: ignore[arg-type]
    await async_wait_until(lambda: channel.painted(b"web-1"), WAIT, "the picker's first paint")
    driver = channel.consumer
    refs = {
        "app": weakref.ref(driver._app),
        "screen": weakref.ref(driver._app.screen),
        "driver": weakref.ref(driver),
    }
    if ending == "quit key":
        driver.data_received(b"q")
    else:
        driver.eof_received()
    del driver
    async with asyncio.timeout(WAIT):
        await session
    del session
    gc.collect()
    assert {name: ref() is None for name, ref in refs.items()} == dict.fromkeys(refs, True)
    assert channel.consumer is None


async def test_many_closed_sessions_leave_no_apps() -> None:
    """Ten sessions one after the other: not one App survives them (nothing accumulates)."""
    services = FakeServices()
    for _ in range(10):
        channel = _Channel()
        session = asyncio.create_task(InProcessRunner().run(channel, services))  # type: ignore[arg-type]
        painted = functools.partial(channel.painted, b"web-1")
        await async_wait_until(painted, WAIT, "the first paint")
        channel.consumer.data_received(b"q")
        async with asyncio.timeout(WAIT):
            await session
    del session
    gc.collect()
    assert [o for o in gc.get_objects() if isinstance(o, GatehouseApp)] == []


def _widgets_alive() -> int:
    gc.collect()
    return sum(isinstance(o, Widget) for o in gc.get_objects())


async def test_typing_in_a_live_session_keeps_no_removed_widgets() -> None:
    """Each filter key recomposes the footer; the keys it removed are freed, not kept bound.

    Without the `textual_reactive` patch every keystroke kept five FooterKeys (with their
    styles and caches) alive until the session closed: ~130 objects per key per session.
    """
    app = GatehouseApp(FakeServices(), FakeChannel())  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("z", "backspace")
        await pilot.pause()
        before = _widgets_alive()
        for _ in range(10):
            await pilot.press("z")
            await pilot.pause()
            await pilot.press("backspace")
            await pilot.pause()
        assert _widgets_alive() <= before
