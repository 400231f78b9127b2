"""Each pitfall of serving Textual in-process over SSH, with a test that fails without its fix."""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from typing import Any

import pytest
from textual import events
from textual._xterm_parser import XTermParser
from textual.app import App

from broker.runtime.loop import BrokerEventLoop
from tests.tui.fakes import FakeChannel, FakeServices
from tui.app import GatehouseApp
from tui.console import color_system_for
from tui.driver import ESCAPE_DELAY, ChannelDriver
from tui.patches import apply_textual_patches

apply_textual_patches()
WAIT = 5.0
"""Seconds a test waits for something that should happen at once (a deadline, not a delay)."""


# Pitfall 3: overlapping apps leave sys.stdout pointing at a finished app.
async def test_overlapping_apps_leave_stdout_alone() -> None:
    before = sys.stdout
    a, b = App[None](), App[None]()
    ctx_a = a.run_test()
    await ctx_a.__aenter__()
    ctx_b = b.run_test()
    await ctx_b.__aenter__()
    await ctx_a.__aexit__(None, None, None)  # A ends first, B still running
    await ctx_b.__aexit__(None, None, None)
    assert sys.stdout is before
    del a, b, ctx_a, ctx_b
    gc.collect()


# Pitfall 4: the lru_cache on XTermParser._parse_extended_key keeps parsers alive.
def test_finished_parsers_are_not_kept_alive() -> None:
    parser = XTermParser()
    list(parser.feed("\x1b[97;5u"))  # a kitty-protocol key goes through _parse_extended_key
    ref = weakref.ref(parser)
    del parser
    gc.collect()
    assert ref() is None
    assert not hasattr(XTermParser._parse_extended_key, "cache_info")


def test_style_caches_do_not_keep_sessions_alive() -> None:
    from rich.terminal_theme import DEFAULT_TERMINAL_THEME
    from textual._styles_cache import StylesCache
    from textual.color import Color
    from textual.filter import ANSIToTruecolor

    cache = StylesCache()
    inner, outer = cache.get_inner_outer(Color(1, 2, 3), Color(4, 5, 6))
    assert inner != outer
    flt = ANSIToTruecolor(DEFAULT_TERMINAL_THEME)
    from rich.color import Color as RichColor
    from rich.style import Style

    flt.truecolor_style(Style(color="red"), RichColor.parse("black"))
    refs = [weakref.ref(cache), weakref.ref(flt)]
    del cache, flt
    gc.collect()
    assert [r() for r in refs] == [None, None]


# Pitfall 5: Textual installs asyncio.eager_task_factory on the running loop (Python ≥ 3.12).
def test_broker_loop_refuses_the_eager_task_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    def eager(loop: Any, coro: Any, **kw: Any) -> Any:
        raise AssertionError("eager factory must not be used")

    monkeypatch.setattr(asyncio, "eager_task_factory", eager, raising=False)
    loop = BrokerEventLoop()
    try:
        loop.set_task_factory(eager)
        assert loop.get_task_factory() is None

        def plain(loop: Any, coro: Any, **kw: Any) -> asyncio.Task[Any]:
            return asyncio.Task(coro, loop=loop, **kw)

        loop.set_task_factory(plain)
        assert loop.get_task_factory() is plain
    finally:
        loop.close()


# Pitfall 6: colours come from the client's TERM, not the broker's environment.
@pytest.mark.parametrize(
    ("term", "colorterm", "system"),
    [
        ("xterm-256color", "", "256"),
        ("xterm-256color", "truecolor", "truecolor"),
        ("xterm", "", "standard"),
        ("xterm-direct", "", "truecolor"),
        ("dumb", "", None),
        ("", "", None),
    ],
)
def test_color_system_from_client_term(term: str, colorterm: str, system: str | None) -> None:
    assert color_system_for(term, colorterm) == system


async def test_app_console_ignores_broker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.delenv("COLORTERM", raising=False)
    app = GatehouseApp(FakeServices(), FakeChannel(term_type="xterm-256color"))  # type: ignore[arg-type]
    assert app.console.color_system == "256"
    app = GatehouseApp(FakeServices(), FakeChannel(colorterm="truecolor"))  # type: ignore[arg-type]
    assert app.console.color_system == "truecolor"


class _FakeApp:
    message_queue_size = 0

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._arrived = asyncio.Event()

    def post_message(self, message: Any) -> bool:
        self.messages.append(message)
        self._arrived.set()
        return True

    async def wait_for(self, kind: type[Any], count: int = 1) -> list[Any]:
        """Wait (bounded) until ``count`` messages of ``kind`` were posted; return them."""
        async with asyncio.timeout(WAIT):
            while len(found := [m for m in self.messages if isinstance(m, kind)]) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return found


class _StallingChannel(FakeChannel):
    def __init__(self) -> None:
        super().__init__()
        self.congested = False
        self.closed = False
        self.drained = asyncio.Event()
        self.consumer: Any = None
        self.paused = False

    def set_consumer(self, consumer: Any) -> None:
        self.consumer = consumer

    def pause_input(self) -> None:
        self.paused = True

    def resume_input(self) -> None:
        self.paused = False

    async def drain(self) -> None:
        await self.drained.wait()


# Pitfall 7: a stalled client must not make the send buffer grow without bound.
async def test_stalled_client_drops_frames_then_repaints() -> None:
    channel = _StallingChannel()
    app = _FakeApp()
    driver = ChannelDriver(app, channel=channel)  # type: ignore[arg-type]
    driver.start_application_mode()
    app.messages.clear()
    driver.write("frame-1")
    assert channel.written[-1] == b"frame-1"
    channel.congested = True
    for i in range(100):
        driver.write(f"frame-{i + 2}")
    assert driver.frames_dropped == 100
    assert not any(b"frame-2" in w for w in channel.written)
    channel.congested = False
    driver.write("still-draining")  # dropped until the drain finished
    assert driver.frames_dropped == 101
    channel.drained.set()
    # A full repaint is requested once the client caught up.
    await app.wait_for(events.Resize)
    assert driver._drainer is None
    driver.write("frame-after")
    assert channel.written[-1] == b"frame-after"


# Pitfall 2: a lone Esc only comes out of the parser when tick() runs after the escape delay.
async def test_lone_escape_is_delivered_after_the_delay() -> None:
    channel = _StallingChannel()
    app = _FakeApp()
    driver = ChannelDriver(app, channel=channel)  # type: ignore[arg-type]
    driver.start_application_mode()
    app.messages.clear()
    loop = asyncio.get_running_loop()
    sent = loop.time()
    driver.data_received(b"\x1b")
    assert not [m for m in app.messages if isinstance(m, events.Key)]
    keys = [m.key for m in await app.wait_for(events.Key)]
    assert keys == ["escape"]
    assert loop.time() - sent >= ESCAPE_DELAY  # not before the parser gave up waiting


async def test_split_utf8_and_garbage_input() -> None:
    channel = _StallingChannel()
    app = _FakeApp()
    driver = ChannelDriver(app, channel=channel)  # type: ignore[arg-type]
    driver.start_application_mode()
    app.messages.clear()
    euro = "€".encode()
    driver.data_received(euro[:1])
    driver.data_received(euro[1:])
    driver.data_received(b"\xff\xfe\x1b[999999999999;;;;M")
    keys = [m.character for m in await app.wait_for(events.Key)]
    assert "€" in keys
    assert driver._active  # the garbage did not end the session
