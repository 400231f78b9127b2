"""A read-only connection cannot be made writable: each way of trying is refused by the broker,
and does not work at the database either (tried there with the classifier bypassed)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest

from broker.upstream.postgres import PgSession, Row, SqlError
from broker.vault import Secret
from tests.harness import PostgresServer
from tests.integration.test_postgres_upstream import _conn
from tests.support.broker import BrokerProcess

SETUP = """\
CREATE TABLE IF NOT EXISTS lift_probe (n int);
CREATE OR REPLACE FUNCTION lift_probe_write() RETURNS int LANGUAGE sql
  AS $$ INSERT INTO lift_probe VALUES (1) RETURNING n $$;
CREATE OR REPLACE FUNCTION lift_probe_lift() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('default_transaction_read_only', 'off', false);
  RETURN current_setting('default_transaction_read_only');
END $$;
"""
WRITE = "insert into lift_probe values (2)"
LIFTS = [
    "set default_transaction_read_only = off",
    "set session characteristics as transaction read write",
    "reset all",
    "reset default_transaction_read_only",
    "begin read write",
    "start transaction read write",
    "set transaction read write",
    "commit",
    "select set_config('default_transaction_read_only', 'off', false)",
    "select pg_catalog.set_config('transaction_read_only', 'off', false)",
    "select lift_probe_lift()",
    "do $$ begin perform set_config('default_transaction_read_only', 'off', false); end $$",
]


@pytest.fixture(scope="module")
def probe(postgres_server: PostgresServer) -> PostgresServer:
    postgres_server.superuser_psql(
        f"\\connect {postgres_server.database} {postgres_server.user}\n{SETUP}"
    )
    return postgres_server


def probe_rows(server: PostgresServer) -> int:
    return int(server.app_psql("select count(*) from lift_probe").strip())


class Sink:
    async def on_columns(self, names: Sequence[str], types: Sequence[str]) -> None:
        pass

    async def on_rows(self, rows: Sequence[Row]) -> None:
        pass


@pytest.fixture
async def session(probe: PostgresServer) -> AsyncIterator[PgSession]:
    opened = await PgSession.open(_conn(probe), Secret(probe.password.encode()), read_only=True)
    yield opened
    await opened.close()


async def _run(session: PgSession, text: str, *, stream: bool = False) -> None:
    sink = Sink()
    await session.run(
        text, wrappable=stream, on_columns=sink.on_columns, on_rows=sink.on_rows, stream=stream
    )


@pytest.mark.parametrize("lift", LIFTS)
async def test_no_statement_lifts_read_only_at_the_database(
    session: PgSession, probe: PostgresServer, lift: str
) -> None:
    with contextlib.suppress(SqlError):
        await _run(session, lift)
    with pytest.raises(SqlError, match="read-only transaction"):
        await _run(session, WRITE)
    assert probe_rows(probe) == 0


@pytest.mark.parametrize("stream", [False, True])
async def test_a_function_that_writes_is_stopped_by_the_database(
    session: PgSession, probe: PostgresServer, stream: bool
) -> None:
    """The classifier cannot see into a user's function: it is a read to it; the database's
    read-only transaction stops the write (cursor and COPY paths alike)."""
    with pytest.raises(SqlError, match="read-only transaction"):
        await _run(session, "select lift_probe_write()", stream=stream)
    assert probe_rows(probe) == 0


async def test_a_string_of_several_statements_is_not_run_as_one(session: PgSession) -> None:
    with pytest.raises(SqlError, match="cannot insert multiple commands"):
        await _run(session, f"select 1; {WRITE}")


@pytest.fixture(scope="module")
def broker(probe: PostgresServer) -> Iterator[BrokerProcess]:
    conn = probe.connection(read_only=True)
    policy = "access:\n  - {name: all, groups: [engineers], connections: ['*'], action: allow}\n"
    proc = BrokerProcess({"alice": ["engineers"]}, {"shop-ro": conn}, policy)
    proc.set_secret("shop-ro", probe.password.encode())
    with proc:
        yield proc


@pytest.mark.parametrize("lift", [*LIFTS, "select lift_probe_write()"])
def test_through_the_broker_each_is_refused_or_fails(
    broker: BrokerProcess, probe: PostgresServer, lift: str
) -> None:
    both = broker.run_ssh("alice", "sql", "shop-ro", "--csv", "--", f"{lift}; {WRITE}")
    assert both.returncode == 1, both.stdout
    assert (
        b"read-only connection" in both.stderr
        or b"DO block" in both.stderr
        or b"read-only transaction" in both.stderr
    ), both.stderr
    broker.run_ssh("alice", "sql", "shop-ro", "--csv", "--", lift)  # refused, or runs (a function)
    after = broker.run_ssh("alice", "sql", "shop-ro", "--", WRITE)
    assert after.returncode == 1
    assert b"read-only connection" in after.stderr
    assert probe_rows(probe) == 0


def test_a_function_that_lifts_then_one_that_writes_in_one_request(
    broker: BrokerProcess, probe: PostgresServer
) -> None:
    """Both are reads to the classifier and run on one connection: the first one's lift dies
    with its rolled-back transaction, and the second is stopped by the database."""
    text = "select lift_probe_lift(); select lift_probe_write()"
    result = broker.run_ssh("alice", "sql", "shop-ro", "--csv", "--", text)
    assert result.returncode == 1
    assert result.stdout == b"lift_probe_lift\noff\n"
    assert b"cannot execute INSERT in a read-only transaction" in result.stderr
    assert probe_rows(probe) == 0
