"""Pilot tests of the SQL console pane against a real PostgreSQL through the real facade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Tree

from broker.frontdoor.channel import Principal
from tests.harness import PostgresServer
from tests.support.sql_console import console_services
from tests.support.waiting import async_wait_until
from tests.tui.fakes import FakeChannel
from tui.app import GatehouseApp
from tui.screens.sql_console import SqlConsoleScreen
from tui.widgets.results_table import ResultsTable
from tui.widgets.sql_editor import SqlEditor

ALICE = Principal("alice", ("engineers",), client_addr="127.0.0.1:5000")


@pytest.fixture(scope="module")
def big_table(postgres_server: PostgresServer) -> str:
    postgres_server.app_psql(
        "create table if not exists pane_big as"
        " select n, 'row ' || n as label from generate_series(1, 3000) n"
    )
    return "pane_big"


@asynccontextmanager
async def pane(
    tmp_path: Path, server: PostgresServer, name: str = "shop", principal: Principal = ALICE
) -> AsyncIterator[tuple[Pilot[None], SqlConsoleScreen, list[Any]]]:
    services, events = console_services(tmp_path / "state", server)
    app = GatehouseApp(services, FakeChannel(principal=principal))  # type: ignore[arg-type]
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press(*name)
            await pilot.press("enter")
            screen = await async_wait_until(
                lambda: isinstance(app.screen, SqlConsoleScreen) and app.screen, 10, "the pane"
            )
            await async_wait_until(lambda: screen.console is not None, 10, "the connection")
            yield pilot, screen, events.events
            await pilot.press("escape")
            await async_wait_until(
                lambda: not isinstance(app.screen, SqlConsoleScreen), 10, "the picker"
            )
    finally:
        await services.settle()
        await services.recorders.stop()


async def run(pilot: Pilot[None], screen: SqlConsoleScreen, text: str) -> None:
    editor = screen.query_one(SqlEditor)
    editor.text = text
    editor.cursor_location = editor.document.end
    before = screen.result
    await pilot.press("f5")
    await async_wait_until(
        lambda: screen.result is not before and not screen.running, 15, f"result of {text!r}"
    )
    await pilot.pause()


def status(screen: SqlConsoleScreen) -> str:
    return str(screen.query_one("#sql-status").render())


def shown(screen: SqlConsoleScreen) -> str:
    table = screen.query_one(ResultsTable)
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


async def test_run_shows_rows_count_and_timing(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _):
        await run(pilot, screen, "select id, item from orders where id <= 3 order by id")
        assert "3 rows" in status(screen)
        assert " ms" in status(screen)
        text = shown(screen)
        assert "id" in text.splitlines()[0]
        assert "item" in text.splitlines()[0]
        assert len([line for line in text.splitlines() if "│" in line]) == 4


async def test_statement_under_the_cursor_runs(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _):
        editor = screen.query_one(SqlEditor)
        editor.text = "select 'first' as a;\nselect 'second' as b;\n"
        editor.cursor_location = (0, 3)
        await pilot.press("f5")
        await async_wait_until(lambda: screen.result is not None, 15, "a result")
        await pilot.pause()
        assert "first" in shown(screen)
        assert "second" not in shown(screen)


async def test_error_position_moves_the_cursor(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _):
        await run(pilot, screen, "select id,\n  nosuch from orders")
        assert "line 2, column 3" in status(screen)
        assert 'column "nosuch" does not exist' in status(screen)
        assert screen.query_one(SqlEditor).cursor_location == (1, 2)


async def test_cancel_stops_a_running_query(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _):
        editor = screen.query_one(SqlEditor)
        editor.text = "select pg_sleep(60)"
        await pilot.press("f5")
        await async_wait_until(lambda: screen.running, 5, "the query to start")
        await async_wait_until(
            lambda: (
                postgres_server.app_psql(
                    "select count(*) from pg_stat_activity where wait_event = 'PgSleep'"
                    " and application_name = 'gatehouse'"
                ).strip()
                == "1"
            ),
            10,
            "the query on the server",
        )
        await pilot.press("f8")
        await async_wait_until(lambda: not screen.running, 10, "the cancel")
        await pilot.pause()
        assert "canceling statement due to user request" in status(screen)


async def test_paging_keeps_a_few_pages(
    tmp_path: Path, postgres_server: PostgresServer, big_table: str
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _):
        await run(pilot, screen, f"select n, label from {big_table} order by n")
        table = screen.query_one(ResultsTable)
        assert "200+ rows" in status(screen)
        table.focus()
        for _ in range(200):  # page down past 2,000 rows: the table reads on as it goes
            if table.loaded >= 2000:
                break
            await pilot.press("pagedown")
            await pilot.pause()
        assert table.loaded >= 2000
        assert table.held_rows <= 6 * 200
        await pilot.press("f7")
        await async_wait_until(lambda: "3,000 rows" in status(screen), 15, "the row count")


async def test_schema_browser_lists_tables_and_columns(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (_pilot, screen, _):
        tree = screen.query_one("#sql-schema", Tree)
        await async_wait_until(lambda: tree.root.children, 10, "the schema")
        [public] = [n for n in tree.root.children if str(n.label) == "public"]
        tables = {str(n.label): n for n in public.children}
        assert "customers" in tables
        columns = [str(c.label) for c in tables["customers"].children]
        assert any(c.startswith("email ") for c in columns)
        assert any(c.startswith("id integer") for c in columns)


async def test_transaction_states_are_shown(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _):
        await run(pilot, screen, "begin")
        assert "transaction open" in status(screen)
        await run(pilot, screen, "select 1/0")
        assert "transaction ABORTED" in status(screen)
        await run(pilot, screen, "rollback")
        assert "transaction" not in status(screen)


async def test_denied_statement_is_refused_and_audited(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, events):
        await run(pilot, screen, "drop table orders")
        assert "Refused" in status(screen)
        assert "no-drop" in status(screen)
    [statement] = [d for _, a, _, d in events if a == "sql.statement"]
    assert statement["decision"] == "deny"
    assert statement["rule"] == "no-drop"
    assert postgres_server.app_psql("select count(*) > 0 from orders").strip() == "t"


async def test_masked_cells_are_marked(tmp_path: Path, postgres_server: PostgresServer) -> None:
    customer = postgres_server.customers[0]
    async with pane(tmp_path, postgres_server, name="shop-ro") as (pilot, screen, events):
        await run(pilot, screen, "select id, email, ssn from customers order by id")
        table = screen.query_one(ResultsTable)
        assert table.cell(0, 0) == ("1", False)
        email, masked = table.cell(0, 1) or (None, False)
        assert masked
        assert email
        assert email.startswith("[MASKED:")
        assert table.cell(0, 2) == ("[MASKED:column]", True)
        assert customer.email not in shown(screen)
        assert "masked" in status(screen)
        line = table.render_line(1)
        styles = [seg.style for seg in line if seg.text.startswith("[MASKED")]
        assert styles
        assert all(s is not None and s.bgcolor is not None for s in styles)
    assert customer.email not in repr(events)


async def test_the_unmasked_role_sees_values(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    dora = Principal("dora", ("dba",), client_addr="127.0.0.1:5001")
    customer = postgres_server.customers[0]
    async with pane(tmp_path, postgres_server, principal=dora) as (pilot, screen, _):
        await run(pilot, screen, "select email from customers order by id limit 1")
        assert screen.query_one(ResultsTable).cell(0, 0) == (customer.email, False)


async def test_history_and_selection(tmp_path: Path, postgres_server: PostgresServer) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _):
        await run(pilot, screen, "select 'one' as h")
        await run(pilot, screen, "select 'two' as h")
        editor = screen.query_one(SqlEditor)
        editor.text = ""
        await pilot.press("up")
        assert editor.text == "select 'two' as h"
        await pilot.press("up")
        assert editor.text == "select 'one' as h"
        await pilot.press("down")
        assert editor.text == "select 'two' as h"
        editor.text = "select 'a' as x, 'b' as y; select 'c'"
        editor.selection = type(editor.selection)((0, 0), (0, 25))  # "select 'a' as x, 'b' as y"
        before = screen.result
        await pilot.press("f5")
        await async_wait_until(lambda: screen.result is not before, 15, "the selection's result")
        await pilot.pause()
        assert screen.result is not None
        assert screen.result.columns == ("x", "y")


async def test_cells_with_markup_and_escapes_show_as_text(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with pane(tmp_path, postgres_server) as (pilot, screen, _):
        await run(pilot, screen, "select '[@click=app.quit]x[/]' as a, E'\\x1b[31mred' as b")
        text = shown(screen)
        assert "[@click=app.quit]x[/]" in text
        assert "\\x1b[31mred" in text
        assert "\x1b" not in text
