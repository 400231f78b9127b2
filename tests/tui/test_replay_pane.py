"""The recordings pane under Pilot: key r, filters, search across recordings, opening, auditing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from broker.session.terminal import Principal
from recordings.store import RecordingStore
from tests.tui.fakes import FakeChannel
from tests.tui.replay_fakes import FakeServicesWithReview, write_session
from tui.app import GatehouseApp
from tui.screens.connections import ConnectionsScreen
from tui.screens.recordings import Filters, RecordingsScreen, fmt_size, parse_day
from tui.screens.replay import ReplayScreen

SIZE = (140, 40)
DAY = 86_400
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    store = RecordingStore(tmp_path)
    write_session(store, "s-alice", user="alice", connection="web-1", ts=T0)
    write_session(store, "s-bob", user="bob", connection="db-1", ts=T0 + 2 * DAY)
    write_session(store, "s-carol", user="carol", connection="web-2", ts=T0 + 4 * DAY)
    return store


def make_app(
    store: RecordingStore, groups: tuple[str, ...] = ("engineers", "reviewers")
) -> tuple[GatehouseApp, FakeServicesWithReview]:
    services = FakeServicesWithReview(store)
    channel = FakeChannel(principal=Principal("alice", groups))
    return GatehouseApp(services, channel), services  # type: ignore[arg-type]


async def settle(pilot: Pilot[None]) -> None:
    """Let queued messages be handled and the workers they started (service calls) end."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_pane(pilot: Pilot[None]) -> RecordingsScreen:
    await pilot.press("r")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RecordingsScreen)
    return screen


def column(screen: RecordingsScreen, index: int) -> list[str]:
    table: DataTable[Any] = screen.query_one("#recordings", DataTable)
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


def status(screen: Any) -> str:
    return str(screen.query_one("#status", Static).render())


async def set_field(pilot: Pilot[None], screen: RecordingsScreen, name: str, value: str) -> None:
    screen.query_one(f"#rec-{name}", Input).value = value
    await pilot.pause()


async def test_r_opens_the_pane_and_a_reviewer_sees_all(store: RecordingStore) -> None:
    app, services = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        assert column(screen, 5) == ["s-carol", "s-bob", "s-alice"]  # newest first
        assert column(screen, 1) == ["carol", "bob", "alice"]
        assert column(screen, 0)[2] == "2023-11-14 22:13:20"
        assert "3 of 3 recordings" in status(screen)
        assert ("list", "alice") in services.review.calls


async def test_others_see_only_their_own(store: RecordingStore) -> None:
    app, _ = make_app(store, groups=("engineers",))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        assert column(screen, 5) == ["s-alice"]


async def test_no_recordings_says_so(tmp_path: Path) -> None:
    app, _ = make_app(RecordingStore(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        assert "No recordings that you may view" in status(screen)
        await pilot.press("enter")
        assert "Nothing selected" in status(screen)


async def test_r_while_typing_in_the_picker_filter_types(store: RecordingStore) -> None:
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w", "r")
        assert isinstance(app.screen, ConnectionsScreen)
        assert app.screen.query_one("#filter", Input).value == "wr"


async def test_r_inside_the_pane_types_into_its_fields(store: RecordingStore) -> None:
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        await pilot.press("r")
        assert app.screen is screen
        assert screen.query_one("#rec-text", Input).value == "r"


async def test_filters_by_user_connection_and_dates(store: RecordingStore) -> None:
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        await set_field(pilot, screen, "user", "BO")
        assert column(screen, 5) == ["s-bob"]
        await set_field(pilot, screen, "user", "")
        await set_field(pilot, screen, "conn", "web")
        assert column(screen, 5) == ["s-carol", "s-alice"]
        await set_field(pilot, screen, "conn", "")
        await set_field(pilot, screen, "since", "2023-11-15")
        assert column(screen, 5) == ["s-carol", "s-bob"]
        await set_field(pilot, screen, "until", "2023-11-16")  # inclusive day
        assert column(screen, 5) == ["s-bob"]
        assert "1 of 3 recordings" in status(screen)
        await set_field(pilot, screen, "until", "2023-11-15")
        assert column(screen, 5) == []


async def test_bad_date_is_reported_and_keeps_the_rows(store: RecordingStore) -> None:
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        await set_field(pilot, screen, "since", "last tuesday")
        assert "Dates are YYYY-MM-DD" in status(screen)
        assert len(column(screen, 5)) == 3


async def test_text_search_lists_moments_and_opens_there(store: RecordingStore) -> None:
    app, services = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        await set_field(pilot, screen, "user", "bob")
        await pilot.press(*"needle", "enter")
        await settle(pilot)
        assert ("search", "needle") in services.review.calls
        assert set(column(screen, 0)) == {"s-bob"}  # the user filter still applies
        assert column(screen, 1) == ["0:40", "0:40", "0:40"]
        assert set(column(screen, 4)) == {"ran", "shown"}
        assert "3 moments in 1 sessions" in status(screen)
        await pilot.press("down", "down", "enter")  # the `needle-42` output line, at 40.5 s
        await settle(pilot)
        player = app.screen
        assert isinstance(player, ReplayScreen)
        assert ("open", "s-bob") in services.review.calls
        assert player.position == pytest.approx(40.5, abs=0.01)
        assert player.view.highlight == "needle"
        assert "needle-42" in "\n".join(player.view.text_lines())
        await pilot.press("q")
        await settle(pilot)
        assert app.screen is screen
        assert services.review.closed == ["s-bob"]  # viewing audited on close


async def test_search_without_results(store: RecordingStore) -> None:
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        await pilot.press(*"absent", "enter")
        await settle(pilot)
        assert column(screen, 0) == []
        assert "No recording you may view showed or ran 'absent'" in status(screen)
        await set_field(pilot, screen, "text", "")
        assert len(column(screen, 5)) == 3  # clearing the text returns to the list


async def test_enter_on_a_recording_opens_it_from_the_start(store: RecordingStore) -> None:
    app, services = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        player = app.screen
        assert isinstance(player, ReplayScreen)
        assert player.position == 0.0
        assert player.title == "Replay s-bob"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert services.review.closed == ["s-bob"]


async def test_open_refused_by_services_shows_why(store: RecordingStore) -> None:
    app, services = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pane(pilot)
        services.review.store.delete("s-carol")  # gone between listing and opening
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert "Cannot open s-carol" in status(screen)
        assert services.review.closed == []


async def test_quitting_the_app_from_the_player_still_audits(store: RecordingStore) -> None:
    app, services = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReplayScreen)
        await pilot.press("ctrl+q")
    assert services.review.closed == ["s-carol"]


async def test_escape_returns_to_the_picker(store: RecordingStore) -> None:
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        await pilot.press("escape")
        assert isinstance(app.screen, ConnectionsScreen)


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("", False, None),
        ("2023-11-14", False, T0 - (22 * 3600 + 13 * 60 + 20)),
        ("2023-11-14", True, T0 - (22 * 3600 + 13 * 60 + 20) + DAY),
        ("2023-11-14T22:13:20", True, T0),
        ("2023-11-14T23:13:20+01:00", False, T0),
        ("2023-11-14T22:13:20Z", False, T0),
    ],
)
def test_parse_day(text: str, end: bool, expected: float | None) -> None:
    assert parse_day(text, end=end) == expected


@pytest.mark.parametrize("text", ["yesterday", "2023-13-01", "14/11/2023", "2023-11-14 25:00"])
def test_parse_day_refuses(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - datetime's own messages vary
        parse_day(text)


def test_filters_match_recordings_without_metadata_only_when_unfiltered(
    store: RecordingStore,
) -> None:
    info = store.list()[0]
    stock = type(info)(info.session_id, type(info.header)(80, 24), info.size, info.mtime)
    assert Filters().matches(stock)
    assert not Filters(user="a").matches(stock)
    assert not Filters(connection="web").matches(stock)


def test_fmt_size() -> None:
    assert [fmt_size(n) for n in (0, 812, 2048, 5 * 1024 * 1024)] == [
        "0 B",
        "812 B",
        "2.0 KiB",
        "5.0 MiB",
    ]
