"""The PostgreSQL edge against a real cluster: text rows, pages, read-only that cannot be lifted."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest

from broker.common.errors import UpstreamError
from broker.config.model import Connection
from broker.upstream.postgres import PgSession, Row, SqlError
from broker.vault import Secret
from tests.harness import PostgresServer

INSERT = (
    "insert into customers (id, name, email, ssn, card_number, iban, phone)"
    " values (990, 'n', 'e', 's', 'c', 'i', 'p')"
)


def _conn(server: PostgresServer) -> Connection:
    return Connection(
        name="shop",
        type="postgres",
        host=server.host,
        port=server.port,
        user=server.user,
        credential="shop",
        database=server.database,
    )


class Sink:
    def __init__(self) -> None:
        self.columns: list[str] = []
        self.pages: list[Sequence[Row]] = []

    async def on_columns(self, names: Sequence[str], types: Sequence[str]) -> None:
        self.columns = list(names)

    async def on_rows(self, rows: Sequence[Row]) -> None:
        self.pages.append(rows)


@pytest.fixture
async def read_only(postgres_server: PostgresServer) -> AsyncIterator[PgSession]:
    session = await PgSession.open(
        _conn(postgres_server), Secret(postgres_server.password.encode()), read_only=True
    )
    yield session
    await session.close()


async def _run(
    session: PgSession, sql: str, *, wrappable: bool = True, page: int = 1000
) -> tuple[Sink, str]:
    sink = Sink()
    outcome = await session.run(
        sql, wrappable=wrappable, on_columns=sink.on_columns, on_rows=sink.on_rows, page_rows=page
    )
    return sink, outcome.status


async def test_rows_arrive_in_pages_as_postgres_text(read_only: PgSession) -> None:
    sink, status = await _run(
        read_only, "select id, id > 3 as big from customers order by id", page=10
    )
    assert sink.columns == ["id", "big"]
    assert [len(p) for p in sink.pages] == [10, 10, 5]
    assert sink.pages[0][0] == ("1", "f")
    assert status == "SELECT 25"


async def test_arrays_json_bytea_ranges_keep_their_text_form(read_only: PgSession) -> None:
    sql = (
        "select array['a b', null, 'c'] as arr, '{\"k\": [1, 2]}'::jsonb as j,"
        " '\\x0102'::bytea as b, int4range(1, 3) as r, null::text as n, 1.50::numeric as x"
    )
    sink, _ = await _run(read_only, sql)
    assert sink.pages == [[('{"a b",NULL,c}', '{"k": [1, 2]}', "\\x0102", "[1,3)", None, "1.50")]]


async def test_types_whose_text_cast_differs_print_as_psql_does(read_only: PgSession) -> None:
    sql = "select true as b, '10.0.0.1'::inet as i, 'ab'::char(3) as c, row(1, null) as r"
    sink, _ = await _run(read_only, sql)
    assert sink.pages == [[("t", "10.0.0.1", "ab ", "(1,)")]]


async def test_unwrappable_rows_are_converted_to_the_same_text(read_only: PgSession) -> None:
    sink, _ = await _run(
        read_only, "select array['a b', null] as arr, true as t, 7 as n", wrappable=False
    )
    assert sink.pages == [[('{"a b",NULL}', "t", "7")]]


@pytest.mark.parametrize(
    "lift",
    [
        "set default_transaction_read_only = off",
        "begin read write",
        "set transaction read write",
        "select set_config('default_transaction_read_only', 'off', false)",
        "commit",
    ],
)
async def test_read_only_cannot_be_lifted_at_the_database(read_only: PgSession, lift: str) -> None:
    # the broker's classifier refuses these first; the database must hold even so
    with contextlib.suppress(SqlError):
        await _run(read_only, lift, wrappable=False)
    with pytest.raises(SqlError, match="read-only transaction"):
        await _run(read_only, INSERT, wrappable=False)


async def test_set_config_cannot_lift_the_running_transaction(read_only: PgSession) -> None:
    with pytest.raises(SqlError, match="read-write mode must be set before any query"):
        await _run(
            read_only, "select set_config('transaction_read_only', 'off', true)", wrappable=False
        )


async def test_server_error_keeps_message_and_position(read_only: PgSession) -> None:
    with pytest.raises(SqlError) as info:
        await _run(read_only, "select nosuchcolumn from customers")
    assert 'column "nosuchcolumn" does not exist' in str(info.value)
    assert info.value.position == 8


async def test_statement_timeout_cancels(postgres_server: PostgresServer) -> None:
    session = await PgSession.open(
        _conn(postgres_server),
        Secret(postgres_server.password.encode()),
        read_only=False,
        statement_timeout=0.2,
    )
    try:
        with pytest.raises(SqlError, match="statement timeout"):
            await _run(session, "select pg_sleep(5)")
    finally:
        await session.close()


async def test_writable_connection_reports_affected_rows(postgres_server: PostgresServer) -> None:
    session = await PgSession.open(
        _conn(postgres_server), Secret(postgres_server.password.encode()), read_only=False
    )
    try:
        sink, status = await _run(
            session, "update orders set note = note where id <= 3", wrappable=False
        )
        assert (sink.pages, status) == ([], "UPDATE 3")
    finally:
        await session.close()


async def test_wrong_password_is_an_upstream_error(postgres_server: PostgresServer) -> None:
    with pytest.raises(UpstreamError, match="password authentication failed"):
        await PgSession.open(_conn(postgres_server), Secret(b"wrong"), read_only=True)
