"""The SQL console's broker side on a real PostgreSQL: paging, errors, cancel, transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from broker.frontdoor.channel import Principal
from broker.services import Services
from broker.session.sqlconsole import SqlConsole
from recordings.store import RecordingStore
from tests.harness import PostgresServer
from tests.support.sql_console import console_services

ALICE = Principal("alice", ("engineers",), client_addr="127.0.0.1:5000")


@pytest.fixture(scope="module")
def big_table(postgres_server: PostgresServer) -> str:
    postgres_server.app_psql(
        "create table if not exists console_big as"
        " select n, 'row ' || n as label from generate_series(1, 5000) n"
    )
    return "console_big"


def run_console(
    tmp_path: Path,
    server: PostgresServer,
    body: Callable[[SqlConsole, Services], Awaitable[None]],
    name: str = "shop",
) -> list[Any]:
    services, events = console_services(tmp_path / "state", server)

    async def go() -> None:
        console = await services.open_sql_console(ALICE, name)
        try:
            await body(console, services)
        finally:
            await console.close()
            await services.settle()
            await services.recorders.stop()

    asyncio.run(go())
    return events.events


def test_pages_come_from_a_scroll_cursor(
    tmp_path: Path, postgres_server: PostgresServer, big_table: str
) -> None:
    async def body(console: SqlConsole, _: Services) -> None:
        result = await console.execute(f"select n, label from {big_table} order by n")
        assert result.error == ""
        assert result.columns == ("n", "label")
        assert result.first is not None
        assert result.first.rows[0] == ("1", "row 1")
        assert len(result.first.rows) == 200
        assert result.total is None  # more on scroll
        page = await console.page(4800)
        assert page is not None
        assert page.rows[0] == ("4801", "row 4801")
        back = await console.page(200)
        assert back is not None
        assert back.rows[0][0] == "201"
        assert await console.count() == 5000
        assert result.transaction == "idle"

    events = run_console(tmp_path, postgres_server, body)
    [result] = [d for _, a, _, d in events if a == "sql.result"]
    assert result["rows"] == 5000 or result["rows"] >= 5000 - 200


def test_error_position_points_into_the_text(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async def body(console: SqlConsole, _: Services) -> None:
        text = "select 1;\nselect nosuchcolumn from customers"
        result = await console.execute(text)
        assert "nosuchcolumn" in result.error
        assert result.position == text.index("nosuchcolumn")

    run_console(tmp_path, postgres_server, body)


def test_cancel_sends_a_cancel_request(tmp_path: Path, postgres_server: PostgresServer) -> None:
    async def body(console: SqlConsole, _: Services) -> None:
        running = asyncio.ensure_future(console.execute("select pg_sleep(30)"))
        for _ in range(200):
            rows = postgres_server.app_psql(
                "select count(*) from pg_stat_activity where wait_event = 'PgSleep'"
                " and application_name = 'gatehouse'"
            )
            if rows.strip() == "1":
                break
            await asyncio.sleep(0.05)
        assert console.cancel()
        result = await asyncio.wait_for(running, 10)
        assert result.error == "canceling statement due to user request"
        after = await console.execute("select 42")
        assert after.first is not None
        assert after.first.rows == [("42",)]

    run_console(tmp_path, postgres_server, body)


def test_transactions_as_in_psql(tmp_path: Path, postgres_server: PostgresServer) -> None:
    async def body(console: SqlConsole, _: Services) -> None:
        assert (await console.execute("begin")).transaction == "open"
        assert (await console.execute("select 1")).transaction == "open"
        failed = await console.execute("select 1/0")
        assert failed.error
        assert failed.transaction == "aborted"
        assert (await console.execute("rollback")).transaction == "idle"
        assert (await console.execute("select 2")).transaction == "idle"

    run_console(tmp_path, postgres_server, body)


def test_refused_and_masked(tmp_path: Path, postgres_server: PostgresServer) -> None:
    customer = postgres_server.customers[0]

    async def body(console: SqlConsole, _: Services) -> None:
        refused = await console.execute("drop table customers")
        assert refused.refused
        assert "read-only-connection" in refused.error
        result = await console.execute("select id, email, ssn from customers order by id")
        assert result.first is not None
        row, marks = result.first.rows[0], result.first.marks[0]
        assert row[0] == "1"
        assert row[2] == "[MASKED:column]"
        assert row[1] is not None
        assert row[1].startswith("[MASKED:")
        assert marks == (False, True, True)
        assert customer.email not in repr(result)

    events = run_console(tmp_path, postgres_server, body, name="shop-ro")
    actions = [a for _, a, _, _ in events]
    assert actions[0] == "session.start"
    assert "policy.denied" not in actions
    assert actions.count("sql.statement") == 2
    assert "recording.closed" in actions
    assert actions[-1] == "session.end"
    assert customer.email not in repr(events)


def test_replay_shows_statements_and_masked_results(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    customer = postgres_server.customers[0]
    statement = f"select id, email, ssn from customers where email <> '{customer.email}'"

    async def body(console: SqlConsole, _: Services) -> None:
        console.mark(statement)
        result = await console.execute(statement + " order by id")
        assert result.first is not None
        await console.execute("select nosuch from customers")

    events = run_console(tmp_path, postgres_server, body, name="shop-ro")
    [start] = [d for _, a, _, d in events if a == "session.start"]
    [closed] = [d for _, a, _, d in events if a == "recording.closed"]
    store = RecordingStore(tmp_path / "state" / "state" / "recordings")
    assert store.sha256(start["session"]) == closed["sha256"]
    player = store.open(start["session"])
    assert player.header.meta.kind == "sql"
    [marker] = player.commands()
    assert "[MASKED:email]" in marker.label
    assert customer.email not in marker.label
    seen = player.scrollback(player.duration)
    text = "\n".join((*seen.history, *seen.shown))
    assert "shop-ro=> select id, email, ssn from customers where email <> '[MASKED:email]'" in text
    assert "id | email" in text
    assert "[MASKED:column]" in text
    assert "(SELECT 24 in " in text
    assert 'ERROR:  column "nosuch" does not exist' in text
    assert "LINE 1: select nosuch from customers" in text
    assert "               ^" in text
    assert customer.email not in text
    assert customer.ssn not in text
