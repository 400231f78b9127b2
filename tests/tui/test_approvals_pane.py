"""Approvals in the TUI under Pilot: the badge, the queue pane, the picker's waiting screen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.widgets import Input, Static

from broker.session.terminal import Principal
from tests.tui.fakes import FakeChannel, FakeServices
from tui.app import GatehouseApp
from tui.screens.approval_wait import WaitingScreen
from tui.screens.approvals import ApprovalsScreen, CommentModal
from tui.screens.connections import ConnectionsScreen
from tui.widgets.approval_table import ApprovalTable

BOB = Principal("bob", ("approvers",))
ALICE = Principal("alice", ("engineers",))


def make_app(principal: Principal) -> tuple[GatehouseApp, FakeServices]:
    services = FakeServices()
    return GatehouseApp(services, FakeChannel(principal)), services  # type: ignore[arg-type]


async def until(pilot: Any, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``condition`` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def table_ids(app: GatehouseApp) -> list[str]:
    found = app.screen.query("#approvals-table")
    if not found:
        return []  # the pane is still being composed
    table = found.only_one(ApprovalTable)
    return [table.key_at(i) for i in range(table.row_count)]


def text_of(app: GatehouseApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_badge_shows_the_pending_count_and_rises_live() -> None:
    app, services = make_app(BOB)
    services.approvals.add()
    services.approvals.add(requester="bob")  # bob's own: never counted for him
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "1 pending" in app.sub_title)
        services.approvals.add(requester="dave")
        await until(pilot, lambda: "2 pending" in app.sub_title)
        assert app.pending_approvals == 2


async def test_no_badge_and_no_pane_for_someone_who_approves_nothing() -> None:
    app, services = make_app(ALICE)
    services.approvals.add()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        assert "pending" not in app.sub_title
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert not isinstance(app.screen, ApprovalsScreen)
        assert any("Not allowed" in (n.title or "") for n in app._notifications)


async def test_queue_pane_lists_details_and_approves_with_a_comment() -> None:
    app, services = make_app(BOB)
    first = services.approvals.add(reason="INC-42 disk full")
    services.approvals.add(requester="dave", command="systemctl restart app")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen))
        screen = app.screen
        await until(pilot, lambda: len(table_ids(app)) == 2)
        assert table_ids(app)[0] == first.id
        detail = text_of(app, "#approval-detail")
        assert "justification: INC-42 disk full" in detail
        assert "requester: carol" in detail
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press(*"looks right", "enter")
        await until(pilot, lambda: services.approvals.decisions != [])
        assert services.approvals.decisions == [("bob", first.id, True, "looks right")]
        await until(pilot, lambda: app.screen is screen and len(table_ids(app)) == 1)
        assert services.approvals.requests[first.id].status == "approved"


async def test_deny_needs_a_comment_in_the_modal() -> None:
    app, services = make_app(BOB)
    request = services.approvals.add()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        await until(pilot, lambda: table_ids(app) == [request.id])
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CommentModal)
        assert "cannot be empty" in text_of(app, "#comment-error")
        await pilot.press(*"freeze", "enter")
        await until(pilot, lambda: services.approvals.decisions != [])
        assert services.approvals.requests[request.id].status == "denied"
        assert services.approvals.requests[request.id].final_comment == "freeze"


async def test_escape_in_the_modal_decides_nothing() -> None:
    app, services = make_app(BOB)
    services.approvals.add()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        await until(pilot, lambda: len(table_ids(app)) == 1)
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen))
        assert services.approvals.decisions == []


async def test_hostile_justification_is_shown_as_text() -> None:
    app, services = make_app(BOB)
    hostile = "[@click=app.quit]click[/] \x1b]0;x\x07"
    services.approvals.add(reason=hostile)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        await until(pilot, lambda: len(table_ids(app)) == 1)
        detail = text_of(app, "#approval-detail")
        assert "[@click=app.quit]click[/]" in detail
        assert "\x1b" not in detail


async def test_picker_asks_why_waits_and_starts_the_session_when_approved() -> None:
    app, services = make_app(ALICE)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*"prod", "enter")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press(*"INC-9", "enter")
        await until(pilot, lambda: isinstance(app.screen, WaitingScreen))
        waiting = app.screen
        assert isinstance(waiting, WaitingScreen)
        assert waiting.request.reason == "INC-9"
        assert "needs 1 approval from approvers" in text_of(app, "#waiting-detail")
        assert services.opened == []
        await services.approvals.decide(
            "bob", ("approvers",), waiting.request.id, approved=True, comment="ok"
        )
        await until(pilot, lambda: services.opened == ["prod-web"])
        await until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))


async def test_picker_shows_the_denial_reason() -> None:
    app, services = make_app(ALICE)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*"prod", "enter")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press(*"INC-9", "enter")
        await until(pilot, lambda: isinstance(app.screen, WaitingScreen))
        request_id = app.screen.request.id  # type: ignore[attr-defined]
        await services.approvals.decide(
            "bob", ("approvers",), request_id, approved=False, comment="not today"
        )
        await until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))
        await until(pilot, lambda: "denied by bob: not today" in text_of(app, "#status"))
        assert services.opened == []


async def test_an_expired_request_closes_the_waiting_screen_and_says_so() -> None:
    app, services = make_app(ALICE)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press(*"prod", "enter")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press(*"INC-9", "enter")
        await until(pilot, lambda: isinstance(app.screen, WaitingScreen))
        request_id = app.screen.request.id  # type: ignore[attr-defined]
        services.approvals.expire(request_id)
        await until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))
        expected = f"{request_id} expired: nobody decided it in time"
        await until(pilot, lambda: expected in text_of(app, "#status"))
        await until(pilot, lambda: any(n.title == "Not approved" for n in app._notifications))
        assert services.opened == []


async def test_escape_on_the_waiting_screen_cancels_the_request() -> None:
    app, services = make_app(ALICE)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*"prod", "enter")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press(*"INC-9", "enter")
        await until(pilot, lambda: isinstance(app.screen, WaitingScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))
        assert len(services.approvals.cancelled) == 1
        assert "cancelled" in text_of(app, "#status")
        assert services.opened == []


async def test_no_justification_no_request() -> None:
    app, services = make_app(ALICE)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*"prod", "enter")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))
        assert services.approvals.requests == {}
        assert "No request made" in text_of(app, "#status")


async def test_an_active_grant_opens_without_asking() -> None:
    app, services = make_app(ALICE)
    request = services.approvals.add(requester="alice")
    await services.approvals.decide("bob", ("approvers",), request.id, approved=True, comment="")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*"prod", "enter")
        await until(pilot, lambda: services.opened == ["prod-web"])
        assert not isinstance(app.screen, CommentModal)


def test_comment_modal_input_is_bounded() -> None:
    assert CommentModal("x", required=True).required
    assert Input(max_length=1000).max_length == 1000


async def test_filter_as_you_type_then_decide_the_one_shown() -> None:
    app, services = make_app(BOB)
    services.approvals.add(requester="carol", reason="INC-1")
    dave = services.approvals.add(requester="dave", reason="INC-2 restart")
    services.approvals.add(requester="erin", reason="INC-3")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        await until(pilot, lambda: len(table_ids(app)) == 3)
        await pilot.press("slash", *"restart")
        await until(pilot, lambda: table_ids(app) == [dave.id])
        assert "1 of 3 pending" in text_of(app, "#approvals-status")
        await pilot.press("y")  # typed into the filter, not an approval
        assert services.approvals.decisions == []
        await pilot.press("backspace", "enter")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press("enter")
        await until(pilot, lambda: services.approvals.decisions != [])
        assert services.approvals.decisions == [("bob", dave.id, True, "")]


async def test_history_lists_decided_requests_with_outcome_and_who() -> None:
    app, services = make_app(BOB)
    first = services.approvals.add(reason="INC-1")
    second = services.approvals.add(requester="dave", reason="INC-2")
    await services.approvals.decide("bob", ("approvers",), first.id, approved=True, comment="ok")
    await services.approvals.decide(
        "bob", ("approvers",), second.id, approved=False, comment="freeze"
    )
    services.approvals.add(requester="erin")  # still pending: not in the history
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        await until(pilot, lambda: len(table_ids(app)) == 1)
        await pilot.press("h")
        await until(pilot, lambda: table_ids(app) == [second.id, first.id])
        table = app.screen.query_one("#approvals-table", ApprovalTable)
        cells = list(table.rows[0])
        assert cells[3:5] == ["denied", "bob"]
        assert cells[6] == "freeze"
        await pilot.press("n")  # no decisions from the history
        await pilot.pause()
        assert not isinstance(app.screen, CommentModal)
        await pilot.press("slash", *"denied freeze")  # the history filters as you type
        await until(pilot, lambda: table_ids(app) == [second.id])
        await pilot.press(*["backspace"] * len("denied freeze"), "escape")
        await until(pilot, lambda: table_ids(app) == [second.id, first.id])
        await pilot.press("h")
        await until(pilot, lambda: len(table_ids(app)) == 1)


async def test_the_cursor_moves_with_the_keys_and_the_detail_follows() -> None:
    app, services = make_app(BOB)
    requests = [services.approvals.add(requester=f"user{n}", reason=f"INC-{n}") for n in range(30)]
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        await until(pilot, lambda: len(table_ids(app)) == 30)
        assert "requester: user0" in text_of(app, "#approval-detail")
        await pilot.press("down", "down")
        await until(pilot, lambda: "requester: user2" in text_of(app, "#approval-detail"))
        await pilot.press("end")
        await until(pilot, lambda: "requester: user29" in text_of(app, "#approval-detail"))
        table = app.screen.query_one("#approvals-table", ApprovalTable)
        assert table.scroll_offset.y > 0  # scrolled to keep the cursor in view
        await pilot.press("home")
        await until(pilot, lambda: "requester: user0" in text_of(app, "#approval-detail"))
        assert table.scroll_offset.y == 0
        await pilot.press("pagedown")
        await until(pilot, lambda: table.cursor_row > 2)
        await pilot.press("y")  # decides the request under the cursor
        await until(pilot, lambda: isinstance(app.screen, CommentModal))
        await pilot.press("enter")
        await until(pilot, lambda: services.approvals.decisions != [])
        assert services.approvals.decisions[0][1] == requests[table.cursor_row].id


async def test_filtering_keeps_the_cursor_on_its_request_and_the_columns_still() -> None:
    app, services = make_app(BOB)
    for n in range(40):
        services.approvals.add(requester=f"user{n}", reason=f"ticket {n}")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        await until(pilot, lambda: len(table_ids(app)) == 40)
        table = app.screen.query_one("#approvals-table", ApprovalTable)
        widths = list(table.widths)
        await pilot.press(*["down"] * 13)  # REQ-0014, ticket 13
        await until(pilot, lambda: "ticket 13" in text_of(app, "#approval-detail"))
        await pilot.press("slash", *"user1")
        await until(pilot, lambda: len(table_ids(app)) == 11)  # user1, user10–19
        assert table.key_at(table.cursor_row) == "REQ-0014"
        assert "11 of 40 pending requests" in text_of(app, "#approvals-status")
        assert table.widths == widths
        await pilot.press("backspace")  # "user"
        await until(pilot, lambda: len(table_ids(app)) == 40)
        assert table.key_at(table.cursor_row) == "REQ-0014"


async def test_ages_in_the_queue_follow_the_clock() -> None:
    app, services = make_app(BOB)
    request = services.approvals.add()
    now = [request.created + 30]
    app.clock = lambda: now[0]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ApprovalsScreen())
        await until(pilot, lambda: len(table_ids(app)) == 1)
        table = app.screen.query_one("#approvals-table", ApprovalTable)
        assert table.rows[0][4] == "30s"
        now[0] += 600
        services.approvals.bump()  # the queue reads the requests again (every 2 s at the latest)
        await until(pilot, lambda: table.rows[0][4] == "10m")
