"""Keys typed right after Enter in the picker are for the session being opened, not the filter."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import events

from broker.common.errors import UpstreamError
from broker.session.terminal import Principal
from tests.tui.fakes import FakeChannel, FakeServices, FakeSession
from tui.app import GatehouseApp
from tui.screens.connections import ConnectionsScreen, ConnectionTable, FilterInput

WAIT = 5.0


class SlowServices(FakeServices):
    """A target that answers only when the test says so (or fails then)."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.asked = asyncio.Event()

    async def open_terminal(
        self, principal: Principal, name: str, channel: Any, ask: Any = None
    ) -> FakeSession:
        self.opened.append(name)
        self.asked.set()
        await self.answer.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return FakeSession(0)


def keys(text: str) -> list[events.Key]:
    out = []
    for ch in text:
        name = {"\r": "enter", " ": "space", "-": "minus", "$": "dollar_sign"}.get(ch, ch)
        out.append(events.Key(name, ch))
    return out


async def test_keys_queued_behind_enter_are_given_back_in_order() -> None:
    services = SlowServices()
    channel = FakeChannel()
    app = GatehouseApp(services, channel)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"web-1")
        box = app.screen.query_one(FilterInput)
        assert box.value == "web-1"
        # Enter and what follows were parsed from one read: all queued before Enter is handled.
        for key in keys("\recho hi\r"):
            app.post_message(key)
        await asyncio.wait_for(services.asked.wait(), WAIT)
        await pilot.pause()
        assert services.opened == ["web-1"]
        assert app.input_held
        assert box.value == "web-1"  # nothing typed ahead reached the filter
        assert b"".join(channel.given_back) == b"echo hi\r"
        services.answer.set()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.input_held


async def test_failed_open_gives_input_back_to_the_picker() -> None:
    services = SlowServices()
    services.fail_with = UpstreamError("web-1: cannot connect to 127.0.0.1:1: Connection refused")
    app = GatehouseApp(services, FakeChannel())  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"web-1", "enter")
        await asyncio.wait_for(services.asked.wait(), WAIT)
        assert app.input_held
        services.answer.set()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.input_held
        assert isinstance(app.screen, ConnectionsScreen)
        await pilot.press("x")
        assert app.screen.query_one(FilterInput).value == "web-1x"


async def test_letters_typed_ahead_do_not_open_panes() -> None:
    services = SlowServices()
    # the first row opens a terminal session at once (a postgres connection opens the SQL
    # console, one that needs an approval asks for a justification)
    services.views = [v for v in services.views if v.type != "postgres" and not v.needs_approval]
    channel = FakeChannel()
    app = GatehouseApp(services, channel)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        # Enter on the first row with an empty filter, then `r` and `?` (pane keys there)
        for key in [
            events.Key("enter", "\r"),
            events.Key("r", "r"),
            events.Key("question_mark", "?"),
        ]:
            app.post_message(key)
        await asyncio.wait_for(services.asked.wait(), WAIT)
        await pilot.pause()
        assert isinstance(app.screen, ConnectionsScreen)
        assert b"".join(channel.given_back) == b"r?"
        services.answer.set()
        await pilot.app.workers.wait_for_complete()


async def test_keys_queued_behind_enter_on_the_list_are_given_back() -> None:
    services = SlowServices()
    channel = FakeChannel()
    app = GatehouseApp(services, channel)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(ConnectionTable)
        app.set_focus(table)
        await pilot.press("down", "down")  # shell (prod-web would ask for a justification)
        await pilot.pause()
        for key in keys("\rls\r"):
            app.post_message(key)
        await asyncio.wait_for(services.asked.wait(), WAIT)
        await pilot.pause()
        assert services.opened == ["shell"]
        assert b"".join(channel.given_back) == b"ls\r"
        assert table.cursor_row == 2  # nothing typed ahead moved the list
        services.answer.set()
        await pilot.app.workers.wait_for_complete()
