"""The connection picker under Pilot: listing, filtering, selection, errors, help, quit."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Static

from broker.common.errors import UpstreamError
from tests.tui.fakes import FakeChannel, FakeServices, unreachable
from tui.app import GatehouseApp
from tui.screens.connections import ConnectionsScreen
from tui.screens.help import HelpScreen


def make_app(services: FakeServices | None = None) -> tuple[GatehouseApp, FakeServices]:
    services = services or FakeServices()
    app = GatehouseApp(services, FakeChannel())  # type: ignore[arg-type]
    return app, services


def rows(app: GatehouseApp) -> list[str]:
    table: DataTable[Any] = app.screen.query_one("#connections", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def settle(pilot: Any) -> None:
    """Let the queued keys be handled and the session worker they started end."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def status(app: GatehouseApp) -> str:
    return str(app.screen.query_one("#status", Static).render())


async def test_lists_what_services_allow() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConnectionsScreen)
        assert rows(app) == ["db-1", "prod-web", "shell", "web-1"]
        table: DataTable[Any] = app.screen.query_one("#connections", DataTable)
        assert "approval" in str(table.get_row_at(1)[3])
        assert "allowed" in str(table.get_row_at(0)[3])
        assert app.sub_title == "alice · engineers, reviewers"


async def test_filter_as_you_type_and_escape_clears() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w", "e", "b")
        assert rows(app) == ["prod-web", "web-1"]
        await pilot.press("-", "1")
        assert rows(app) == ["web-1"]
        assert "1 of 4" in status(app)
        await pilot.press("escape")
        assert rows(app) == ["db-1", "prod-web", "shell", "web-1"]


async def test_filter_matches_type_target_and_description() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for text, expected in (
            ("postgres", ["db-1"]),
            ("staging", ["web-1"]),
            ("ssh deploy", ["prod-web", "web-1"]),
        ):
            await pilot.press("escape", *text.replace(" ", "\0"))
            await pilot.pause()
            app.screen.query_one("#filter").value = text  # type: ignore[attr-defined]
            await pilot.pause()
            assert rows(app) == expected, text


async def test_no_match_says_so() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("z", "z", "z")
        assert rows(app) == []
        assert "No connection matches 'zzz'" in status(app)
        await pilot.press("enter")
        assert "Nothing selected" in status(app)


async def test_enter_connects_selected_row() -> None:
    app, services = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        assert services.opened == ["shell"]
        assert "Session on shell ended (exit status 0)" in status(app)


async def test_enter_after_filter_connects_the_match() -> None:
    app, services = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w", "e", "b", "-", "enter")
        await settle(pilot)
        assert services.opened == ["web-1"]


async def test_upstream_error_shows_and_stays() -> None:
    services = FakeServices()
    services.fail_with = unreachable()
    app, _ = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle(pilot)
        assert "cannot connect to 127.0.0.1:1" in status(app)
        assert isinstance(app.screen, ConnectionsScreen)
        assert app.screen.query_one("#status").has_class("error")


async def test_a_failure_quoting_the_target_is_masked_like_its_output() -> None:
    services = FakeServices()
    services.fail_with = UpstreamError("web-1: the target said: card 4111 1111 1111 1111 refused")
    app, _ = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle(pilot)
        shown = status(app) + " ".join(str(n.message) for n in app._notifications)
        assert "refused" in shown
        assert "4111 1111 1111 1111" not in shown
        assert "MASKED" in shown
        assert services.masked_for == [("db-1", ("engineers", "reviewers"))]


async def test_empty_list_explains() -> None:
    app, _ = make_app(FakeServices(views=[]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert rows(app) == []
        assert "No connection is open to you (your groups: engineers, reviewers)" in status(app)


async def test_help_and_quit() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ConnectionsScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_q_is_a_letter_once_filtering() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "q")
        await pilot.pause()
        assert app.is_running
        assert app.screen.query_one("#filter").value == "sq"  # type: ignore[attr-defined]
