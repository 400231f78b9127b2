"""The SQL console's broker side with an `approval` SQL rule, on a real PostgreSQL: a held
statement is asked for, waited for, run exactly as approved (or not), audited and recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from broker.approvals.asks import Ask
from broker.approvals.core import Request
from broker.frontdoor.channel import Principal
from broker.services import Services
from broker.session.sqlconsole import SqlConsole
from recordings.store import RecordingStore
from tests.harness import PostgresServer
from tests.support.sql_console import POLICY, console_services
from tests.support.waiting import async_wait_until

ALICE = Principal("alice", ("engineers",), client_addr="127.0.0.1:5000")
APPROVAL_POLICY = POLICY.replace(
    "sql:\n",
    "sql:\n  - {name: update-needs-approval, statements: [update], action: approval,"
    " approvers: [approvers], approvals: 1, grant: 1h}\n",
)
UPDATE = "update held_t set n = n + 1"


def run_console(
    tmp_path: Path,
    server: PostgresServer,
    body: Callable[[SqlConsole, Services], Awaitable[None]],
) -> list[Any]:
    services, events = console_services(tmp_path / "state", server, APPROVAL_POLICY)

    async def go() -> None:
        console = await services.open_sql_console(ALICE, "shop")
        try:
            result = await console.execute("create temp table held_t as select 1 as n")
            assert result.error == ""
            await body(console, services)
        finally:
            await console.close()
            await services.settle()
            await services.recorders.stop()

    asyncio.run(go())
    return events.events


async def pending(console: SqlConsole) -> Request:
    assert console.approvals is not None
    approvals = console.approvals
    return await async_wait_until(lambda: approvals.waiting, 15, "the request")


async def decide(services: Services, request: Request, *, approved: bool, comment: str) -> None:
    await services.approvals.decide(
        "bob", ("approvers",), request.id, approved=approved, comment=comment
    )


async def value(console: SqlConsole) -> str:
    result = await console.execute("select n from held_t")
    assert result.first is not None
    return str(result.first.rows[0][0])


def transcript(tmp_path: Path, events: list[Any]) -> str:
    [start] = [d for _, a, _, d in events if a == "session.start"]
    store = RecordingStore(tmp_path / "state" / "state" / "recordings")
    seen = store.open(start["session"]).scrollback(10_000)
    return "\n".join((*seen.history, *seen.shown))


def statements(events: list[Any], text: str) -> list[dict[str, Any]]:
    return [d for _, a, _, d in events if a == "sql.statement" and d["statement"] == text]


def test_held_update_runs_once_approved_and_its_grant_runs_it_again(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    seen: list[str] = []

    async def body(console: SqlConsole, services: Services) -> None:
        held = await console.execute(UPDATE)
        assert held.held is not None
        assert (held.held.rule, held.held.needed, held.held.reason_required) == (
            "update-needs-approval",
            1,
            True,
        )
        assert await value(console) == "1"  # nothing ran
        ask = Ask(reason="INC-7", waiting=lambda r: seen.append(f"waiting {r.id}"))
        running = asyncio.ensure_future(console.execute(UPDATE, ask))
        request = await pending(console)
        assert seen == [f"waiting {request.id}"]
        assert request.command == UPDATE
        assert request.connection == "shop"
        # the console is not locked while it waits: other statements' pages still read
        assert await console.page(0) is not None
        await decide(services, request, approved=True, comment="ok")
        result = await asyncio.wait_for(running, 15)
        assert result.status == "UPDATE 1"
        assert result.approval == request.id
        assert await value(console) == "2"
        again = await console.execute(UPDATE)  # the grant runs exactly this text again
        assert again.status == "UPDATE 1"
        assert again.approval == request.id
        other = await console.execute(UPDATE + " where n > 0")  # another text: ask again
        assert other.held is not None
        seen.append(request.id)

    events = run_console(tmp_path, postgres_server, body)
    request_id = seen[-1]
    ran = statements(events, UPDATE)
    assert len(ran) == 2
    assert all(d["decision"] == "approval" and d["approval"] == request_id for d in ran)
    assert statements(events, UPDATE + " where n > 0") == []  # held, not asked: not audited
    results = [d for _, a, _, d in events if a == "sql.result" and d["status"] == "UPDATE 1"]
    assert len(results) == 2
    actions = [a for _, a, _, d in events if d.get("request") == request_id]
    assert actions[:3] == ["approval.requested", "approval.approved", "grant.created"]
    assert actions.count("grant.used") == 2
    text = transcript(tmp_path, events)
    assert f"shop=> {UPDATE};" in text
    assert (
        f"-- waiting for approval {request_id} (needs 1 of approvers, rule update-needs-approval)"
        in text
    )
    assert f"-- {request_id} approved by bob" in text
    assert "(UPDATE 1 in " in text


def test_denied_update_does_not_run(tmp_path: Path, postgres_server: PostgresServer) -> None:
    async def body(console: SqlConsole, services: Services) -> None:
        running = asyncio.ensure_future(console.execute(UPDATE, Ask(reason="INC-8")))
        request = await pending(console)
        await decide(services, request, approved=False, comment="change freeze")
        result = await asyncio.wait_for(running, 15)
        assert result.refused
        assert result.status == "NOT APPROVED"
        assert result.error == f"{request.id} was denied by bob: change freeze"
        assert result.approval == request.id
        assert await value(console) == "1"

    events = run_console(tmp_path, postgres_server, body)
    [refused] = statements(events, UPDATE)
    assert refused["decision"] == "approval"
    assert "approval" not in refused
    assert not [d for _, a, _, d in events if a == "sql.result" and d["status"].startswith("UPD")]
    assert [a for _, a, _, _ in events if a.startswith("approval.")] == [
        "approval.requested",
        "approval.denied",
    ]
    assert "was denied by bob: change freeze" in transcript(tmp_path, events)


def test_withdrawn_request_is_cancelled_and_audited(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async def body(console: SqlConsole, _: Services) -> None:
        assert console.approvals is not None
        running = asyncio.ensure_future(console.execute(UPDATE, Ask(reason="INC-9")))
        request = await pending(console)
        assert await console.approvals.withdraw()
        result = await asyncio.wait_for(running, 15)
        assert result.error == f"{request.id} was cancelled"
        assert console.approvals.waiting is None
        assert not await console.approvals.withdraw()  # nothing left to withdraw
        assert await value(console) == "1"

    events = run_console(tmp_path, postgres_server, body)
    [cancelled] = [d for _, a, _, d in events if a == "approval.cancelled"]
    assert cancelled["why"] == "withdrawn in the SQL console"
    assert statements(events, UPDATE)[0]["decision"] == "approval"
    assert "-- not run: REQ-" in transcript(tmp_path, events)


def test_closing_the_console_while_waiting_cancels_the_request(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async def body(console: SqlConsole, services: Services) -> None:
        running = asyncio.ensure_future(console.execute(UPDATE, Ask(reason="INC-10")))
        request = await pending(console)
        running.cancel()  # the pane went away
        await asyncio.gather(running, return_exceptions=True)
        stored = await services.approvals.get(request.id)
        assert stored is not None
        assert stored.status == "cancelled"

    events = run_console(tmp_path, postgres_server, body)
    [cancelled] = [d for _, a, _, d in events if a == "approval.cancelled"]
    assert cancelled["why"] == "requester left"
    assert statements(events, UPDATE)[0]["decision"] == "approval"


def test_a_statement_with_a_masked_value_is_refused_not_asked(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    customer = postgres_server.customers[0]
    text = f"update held_t set n = 3 where '{customer.email}' <> ''"

    async def body(console: SqlConsole, _: Services) -> None:
        result = await console.execute(text, Ask(reason="INC-11"))
        assert result.status == "NOT APPROVED"
        assert "holds a value the broker masks" in result.error
        assert result.approval == ""
        assert await value(console) == "1"

    events = run_console(tmp_path, postgres_server, body)
    assert not [a for _, a, _, _ in events if a.startswith("approval.")]
    assert customer.email not in repr(events)
