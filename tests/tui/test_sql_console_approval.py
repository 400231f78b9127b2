"""Pilot tests of the SQL console pane when an `approval` SQL rule holds a statement: the pane
asks for a justification, shows the wait, stays usable, and runs the statement once approved
(through the real facade, approvals store and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from broker.approvals.core import Request
from broker.frontdoor.channel import Principal
from broker.services import Services
from tests.harness import PostgresServer
from tests.integration.test_sql_console_approvals import APPROVAL_POLICY, UPDATE
from tests.support.sql_console import console_services
from tests.support.waiting import async_wait_until
from tests.tui.fakes import FakeChannel
from tui.app import GatehouseApp
from tui.screens.approvals import CommentModal
from tui.screens.sql_console import SqlConsoleScreen
from tui.widgets.approval_wait import ApprovalWait
from tui.widgets.sql_editor import SqlEditor

ALICE = Principal("alice", ("engineers",), client_addr="127.0.0.1:5000")


@asynccontextmanager
async def pane(
    tmp_path: Path, server: PostgresServer, policy: str = APPROVAL_POLICY
) -> AsyncIterator[tuple[Pilot[None], SqlConsoleScreen, Services, list[Any]]]:
    services, events = console_services(tmp_path / "state", server, policy)
    app = GatehouseApp(services, FakeChannel(principal=ALICE))  # type: ignore[arg-type]
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press(*"shop")
            await pilot.press("enter")
            screen = await async_wait_until(
                lambda: isinstance(app.screen, SqlConsoleScreen) and app.screen, 10, "the pane"
            )
            await async_wait_until(lambda: screen.console is not None, 10, "the connection")
            await run(pilot, screen, "create temp table held_t as select 1 as n")
            yield pilot, screen, services, events.events
            await pilot.press("escape")
            await async_wait_until(
                lambda: not isinstance(app.screen, SqlConsoleScreen), 10, "the picker"
            )
    finally:
        await services.settle()
        await services.recorders.stop()


def type_in(screen: SqlConsoleScreen, text: str) -> None:
    editor = screen.query_one(SqlEditor)
    editor.text = text
    editor.cursor_location = editor.document.end


async def run(pilot: Pilot[None], screen: SqlConsoleScreen, text: str) -> None:
    type_in(screen, text)
    before = screen.result
    await pilot.press("f5")
    await async_wait_until(
        lambda: screen.result is not before and not screen.running, 15, f"result of {text!r}"
    )
    await pilot.pause()


async def ask(pilot: Pilot[None], screen: SqlConsoleScreen, reason: str) -> Request:
    """F5 on a held statement, a justification, then the wait."""
    await pilot.press("f5")
    await async_wait_until(lambda: isinstance(pilot.app.screen, CommentModal), 10, "the question")
    await pilot.press(*reason, "enter")
    request = await async_wait_until(lambda: screen.waiting, 15, "the wait")
    await async_wait_until(lambda: screen.query(ApprovalWait), 5, "the waiting panel")
    await pilot.pause()
    return request


async def finished(pilot: Pilot[None], screen: SqlConsoleScreen) -> None:
    await async_wait_until(lambda: not screen.running, 15, "the outcome")
    await pilot.pause()


def status(screen: SqlConsoleScreen) -> str:
    return str(screen.query_one("#sql-status").render())


def waiting_panel(screen: SqlConsoleScreen) -> str:
    panel = screen.query_one(ApprovalWait)
    return "\n".join(str(s.render()) for s in panel.query("Static"))


async def decide(services: Services, request: Request, *, approved: bool, comment: str) -> None:
    await services.approvals.decide(
        "bob", ("approvers",), request.id, approved=approved, comment=comment
    )


async def test_held_update_waits_then_runs_as_approved(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, services, events):
        type_in(screen, UPDATE)
        request = await ask(pilot, screen, "INC-1")
        shown = waiting_panel(screen)
        assert f"Waiting for approval · {request.id}" in shown
        assert "needs 1 approval from approvers (rule update-needs-approval)" in shown
        assert "justification: INC-1" in shown
        assert f"shop -- {UPDATE}" in shown
        assert status(screen) == f"Waiting for approval {request.id}…"
        # the editor stays usable; a second run is refused while the first waits
        type_in(screen, "select 42")
        await pilot.press("x")
        assert screen.query_one(SqlEditor).text == "select 42x"
        await pilot.press("f5")
        await pilot.pause()
        assert f"{request.id} is waiting for approval: one statement at a time" in status(screen)
        await decide(services, request, approved=True, comment="ok")
        await finished(pilot, screen)
        assert not screen.query(ApprovalWait)
        assert screen.waiting is None
        assert status(screen).startswith("UPDATE 1 · ")
        assert f"approved as {request.id}" in status(screen)
        await run(pilot, screen, "select n from held_t")
        assert status(screen).startswith("1 rows")
        assert screen.result is not None
        assert screen.result.first is not None
        assert screen.result.first.rows == [("2",)]  # the approved UPDATE ran, once
    [ran] = [d for _, a, _, d in events if a == "sql.statement" and d["statement"] == UPDATE]
    assert ran["decision"] == "approval"
    assert ran["approval"] == request.id


async def test_denied_update_shows_why(tmp_path: Path, postgres_server: PostgresServer) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, services, _):
        type_in(screen, UPDATE)
        request = await ask(pilot, screen, "INC-2")
        await decide(services, request, approved=False, comment="change freeze")
        await finished(pilot, screen)
        assert not screen.query(ApprovalWait)
        assert status(screen) == f"Not approved: {request.id} was denied by bob: change freeze"


async def test_esc_withdraws_the_request_and_the_pane_stays(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, services, events):
        type_in(screen, UPDATE)
        request = await ask(pilot, screen, "INC-3")
        await pilot.press("escape")
        await finished(pilot, screen)
        assert status(screen) == f"Not approved: {request.id} was cancelled"
        assert isinstance(pilot.app.screen, SqlConsoleScreen)  # Esc withdrew; it did not close
        stored = await services.approvals.get(request.id)
        assert stored is not None
        assert stored.status == "cancelled"
        await run(pilot, screen, "select n from held_t")
        assert screen.result is not None
        assert screen.result.first is not None
        assert screen.result.first.rows == [("1",)]
    [cancelled] = [d for _, a, _, d in events if a == "approval.cancelled"]
    assert cancelled["why"] == "withdrawn in the SQL console"


async def test_no_justification_no_request(tmp_path: Path, postgres_server: PostgresServer) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _, events):
        type_in(screen, UPDATE)
        await pilot.press("f5")
        await async_wait_until(
            lambda: isinstance(pilot.app.screen, CommentModal), 10, "the question"
        )
        await pilot.press("escape")
        await finished(pilot, screen)
        assert status(screen) == "No request made: the statement did not run."
    assert not [a for _, a, _, _ in events if a.startswith("approval.")]


async def test_a_rule_without_justification_asks_at_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    policy = APPROVAL_POLICY.replace("grant: 1h}", "grant: 1h, reason_required: false}")
    async with pane(tmp_path, postgres_server, policy) as (pilot, screen, services, _):
        type_in(screen, UPDATE)
        await pilot.press("f5")
        request = await async_wait_until(lambda: screen.waiting, 15, "the wait")
        assert not isinstance(pilot.app.screen, CommentModal)
        assert request.reason == ""
        await decide(services, request, approved=True, comment="")
        await finished(pilot, screen)
        assert status(screen).startswith("UPDATE 1 · ")
