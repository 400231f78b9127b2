"""The frame every screen shares: title, footer keys, command palette, focus order, help."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.command import CommandList, CommandPalette
from textual.widgets import Footer, Input

from broker.auditchain.record import AuditRecord
from broker.auditlog.query import RecordFilter
from broker.services import ConnectionView
from tests.tui.audit_fakes import AUDITOR, ENGINEER, AuditServices
from tests.tui.fakes import FakeChannel
from tests.tui.scenes import make_app as scene_app
from tests.tui.scenes import make_store, settle
from tui.app import GatehouseApp
from tui.commands import GatehouseCommands, commands_for
from tui.driver import ChannelDriver
from tui.player import ReplayApp
from tui.screens.help import KEY_WIDTH, help_renderable
from tui.screens.recordings import RecordingsScreen
from tui.screens.replay import ReplayScreen
from tui.widgets.terminal_view import TerminalView

SIZE = (80, 24)


def footer_keys(app: GatehouseApp) -> set[str]:
    app.screen.query_one(Footer)
    return {
        active.binding.description
        for active in app.screen.active_bindings.values()
        if active.binding.show
    }


def titles(app: GatehouseApp) -> list[str]:
    return [c.title for c in commands_for(app, app.screen)]


async def test_each_screen_names_itself(tmp_path: Path) -> None:
    app = scene_app(make_store(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.title == "Connections"
        for key, title in (("a", "Audit log"), ("r", "Recordings")):
            await pilot.press(key)
            await settle(pilot)
            assert app.screen.title == title
            assert app.screen.query(Footer)
            await pilot.press("escape")
            await settle(pilot)


async def test_picker_footer_shows_its_keys_while_the_filter_is_empty() -> None:
    app = GatehouseApp(AuditServices(), FakeChannel(principal=AUDITOR))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert {"Connect", "Help", "Quit", "Recordings", "Audit log"} <= footer_keys(app)
        await pilot.press("w")
        await pilot.pause()
        shown = footer_keys(app)
        assert "Connect" in shown
        assert not {"Help", "Quit", "Recordings"} & shown  # letters are text now


async def test_palette_offers_what_the_roles_allow() -> None:
    for principal, audit in ((AUDITOR, True), (ENGINEER, False)):
        app = GatehouseApp(AuditServices(), FakeChannel(principal=principal))  # type: ignore[arg-type]
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            offered = titles(app)
            assert {"Connections", "Recordings", "Help", "Quit"} <= set(offered)
            assert ("Audit log" in offered) is audit, principal
            assert {f"Connect to {n}" for n in ("db-1", "prod-web", "shell", "web-1")} <= set(
                offered
            )
            assert not [t for t in offered if "creenshot" in t or "theme" in t.lower()]


async def test_palette_opens_with_ctrl_p_and_runs_a_command() -> None:
    services = AuditServices()
    app = GatehouseApp(services, FakeChannel(principal=AUDITOR))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"audit log")
        async with asyncio.timeout(5):
            while not app.screen.query_one(CommandList).option_count:  # hits arrive async
                await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.title == "Audit log"


async def test_palette_connects_from_another_pane() -> None:
    services = AuditServices()
    app = GatehouseApp(services, FakeChannel(principal=AUDITOR))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause()
        (connect,) = [c for c in commands_for(app, app.screen) if c.title == "Connect to shell"]
        connect.run()
        await settle(pilot)
        assert services.opened == ["shell"]
        assert app.screen.title == "Connections"


async def test_palette_shows_connection_names_as_text() -> None:
    services = AuditServices()
    services.views = [ConnectionView("[b]x[/b]", "ssh", "[@click=app.quit]t", "", False, "r")]
    app = GatehouseApp(services, FakeChannel(principal=AUDITOR))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"connect")
        async with asyncio.timeout(5):
            while not app.screen.query_one(CommandList).option_count:
                await pilot.pause()
        await pilot.pause()
        shown = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "[b]x[/b]" in shown
        assert "[@click=app.quit]t" in shown
        assert app.is_running


async def test_recordings_tab_goes_from_the_search_box_to_the_filters(tmp_path: Path) -> None:
    app = scene_app(make_store(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, RecordingsScreen)
        order = []
        for _ in range(5):
            assert isinstance(app.focused, Input)
            order.append(app.focused.id)
            await pilot.press("tab")
        assert order == ["rec-text", "rec-user", "rec-conn", "rec-since", "rec-until"]


def test_help_keeps_its_indent_when_it_wraps() -> None:
    console = Console(width=60, record=True, color_system=None)
    console.print(help_renderable())
    lines = console.export_text().splitlines()
    (i,) = [n for n, line in enumerate(lines) if "leave Gatehouse" in line]
    assert lines[i].startswith("  q")
    continued = lines[i + 1]
    assert continued.strip(), "the q line should wrap at 60 columns"
    assert continued[: KEY_WIDTH + 2].strip() == ""  # under the description, not the key
    assert continued[KEY_WIDTH + 2] != " "


def test_action_filter_is_a_prefix_of_action_names() -> None:
    def rec(action: str) -> AuditRecord:
        return AuditRecord(1, "t", "a", action, "", {}, "0" * 64, "0" * 16, "s")

    for typed, action, expected in (
        ("recording", "recording.closed", True),
        ("recording.", "recording.closed", True),
        ("rec", "recording.closed", True),
        ("recording.closed", "recording.closed", True),
        ("closed", "recording.closed", False),
        ("recording.closed.x", "recording.closed", False),
        ("", "anything", True),
    ):
        assert RecordFilter(action=typed).matches(rec(action)) is expected, typed


class _Channel(FakeChannel):
    consumer: Any = None
    closed: bool = False
    congested: bool = False

    def set_consumer(self, consumer: Any) -> None:
        self.consumer = consumer


class _App:
    def post_message(self, message: Any) -> bool:
        return True


async def test_terminal_title_is_saved_once_and_restored_on_exit() -> None:
    channel = _Channel()
    driver = ChannelDriver(_App(), channel=channel)  # type: ignore[arg-type]
    driver.start_application_mode()
    assert channel.written[-1].startswith(b"\x1b[22;0t")
    driver.suspend_application_mode()  # a pass-through session; it may set its own title
    driver.resume_application_mode()
    assert b"".join(channel.written).count(b"\x1b[22;0t") == 1
    assert b"\x1b[23;0t" not in b"".join(channel.written)
    driver.stop_application_mode()
    assert channel.written[-1].endswith(b"\x1b[23;0t")
    assert b"".join(channel.written).count(b"\x1b[23;0t") == 1


async def test_player_screen_area_has_no_scrollbar_marks(tmp_path: Path) -> None:
    # a 60x8 recording in a 42-column view: it pans (Shift+arrows) instead of scrolling
    app = scene_app(make_store(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        view = app.screen.query_one(TerminalView)
        assert view.region.width < 60
        strips = app.screen._compositor.render_strips()
        area = [
            strips[y].text[view.region.x : view.region.right]
            for y in range(view.region.y, view.region.bottom)
        ]
        assert not [row for row in area if set(row) & set("▁▂▃▄▅▆▇█▉▊▋▌▍▎▏▐▔")], area


async def test_local_player_palette_lists_every_player_key(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    app = ReplayApp(store.open("s-7f3a"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ReplayScreen)
        offered = [c.title for c in GatehouseCommands(app.screen)._commands()]
        for title in ("Play/pause (space)", "Slower (-)", "Skip idle (i)", "Next cmd (])"):
            assert title in offered, offered
        assert not [t for t in offered if "creenshot" in t or "theme" in t.lower()]
