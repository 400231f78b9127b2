"""Hostile: an ordinary user tries to write through a read-only PostgreSQL connection, or to
reach outside the database, through a real ssh client (`ssh … sql`).

Each attempt is sent alone and then together with a write in one string; afterwards a plain
write must still be refused and the database must hold no trace (probe table empty, sequence
not advanced, no large object, no file written), and the broker must still answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import PostgresServer
from tests.support.broker import BrokerProcess

SETUP = """\
DROP SCHEMA IF EXISTS hostile_ro CASCADE;
CREATE SCHEMA hostile_ro;
CREATE TABLE hostile_ro.probe (n int);
CREATE SEQUENCE hostile_ro.seq;
CREATE PROCEDURE hostile_ro.writer() LANGUAGE sql AS $$ INSERT INTO hostile_ro.probe VALUES (9) $$;
CREATE FUNCTION hostile_ro.lift() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('default_transaction_read_only', 'off', false);
  PERFORM set_config('transaction_read_only', 'off', true);
  RETURN current_setting('transaction_read_only');
END $$;
"""
WRITE = "insert into hostile_ro.probe values (1)"
ATTEMPTS = [
    "set transaction_read_only = off",
    "set local transaction_read_only = off",
    "set session characteristics as transaction read write",
    "begin read write",
    "start transaction read write",
    "start transaction isolation level serializable, read write",
    "commit and chain",
    "rollback and chain",
    "end",
    "abort",
    "savepoint s",
    "reset all",
    "discard all",
    "prepare p as insert into hostile_ro.probe values (5)",
    "execute p",
    "call hostile_ro.writer()",
    "select set_config('default_transaction_read_only', 'off', false)",
    "select * from pg_catalog.set_config('default_transaction_read_only', 'off', false)",
    "with x as (select set_config('default_transaction_read_only', 'off', false)) select * from x",
    "select length(set_config('default_transaction_read_only', 'off', false))",
    "select 1 where exists (select set_config('default_transaction_read_only', 'off', false))",
    "select U&\"set_\\0063onfig\"('default_transaction_read_only', 'off', false)",
    "select U&\"set_!0063onfig\" UESCAPE '!' ('default_transaction_read_only', 'off', false)",
    "select \"set_config\"('default_transaction_read_only', 'off', false)",
    "select hostile_ro.lift()",
    "select nextval('hostile_ro.seq')",
    "select setval('hostile_ro.seq', 100)",
    "select pg_advisory_lock(42)",
    "select pg_try_advisory_lock(42)",
    "select pg_advisory_lock_shared(42)",
    "select lo_create(4242)",
    "select lo_from_bytea(4243, 'x')",
    "select lo_import('/etc/hostname')",
    "select lo_export(1, '/tmp/gh-hostile-lo')",
    "select pg_read_file('/etc/hostname')",
    "select pg_read_binary_file('/etc/hostname')",
    "select * from pg_ls_dir('.')",
    "select pg_stat_file('/etc/hostname')",
    "select dblink('dbname=shop', 'insert into hostile_ro.probe values (3)')",
    "select query_to_xml('insert into hostile_ro.probe values (4) returning n', true, false, '')",
    "select ts_stat('select to_tsvector(''a'')')",
    "select pg_terminate_backend(pg_backend_pid())",
    "select pg_cancel_backend(pg_backend_pid())",
    "select pg_reload_conf()",
    "select pg_notify('ch', 'x')",
    "select txid_current()",
    "select * from hostile_ro.probe for update",
    "select * from hostile_ro.probe for share",
    "select * from (select * from hostile_ro.probe for no key update) s",
    "select into hostile_ro.copy from hostile_ro.probe",
    "create temp table t (n int)",
    "copy (select 1) to stdout",
    "copy hostile_ro.probe to stdout",
    "copy (select 1) to '/tmp/gh-hostile-copy'",
    "copy hostile_ro.probe from '/etc/hostname'",
    "copy hostile_ro.probe from program 'id > /tmp/gh-hostile-prog'",
    "copy hostile_ro.probe from stdin",
    "do $$ begin insert into hostile_ro.probe values (6); end $$",
    "explain analyze insert into hostile_ro.probe values (7)",
    "explain analyze select nextval('hostile_ro.seq')",
    "load 'plpgsql'",
    "lock table hostile_ro.probe",
    "listen ch",
    "notify ch",
    "vacuum hostile_ro.probe",
    "truncate hostile_ro.probe",
    "with d as (insert into hostile_ro.probe values (8) returning n) select * from d",
    "select 1; insert into hostile_ro.probe values (10)",
    "select 1 /* ; */ ; insert into hostile_ro.probe values (11)",
    "select 1 -- \n; insert into hostile_ro.probe values (12)",
    "select ';' ; insert into hostile_ro.probe values (13)",
    "select $q$;$q$ ; insert into hostile_ro.probe values (14)",
    "select $$ $$ insert into hostile_ro.probe values (15) $$",
    "select 1 \\; insert into hostile_ro.probe values (16)",
    "\\! id",
    "\\copy hostile_ro.probe from '/etc/hostname'",
    "selec 1",
    "select (",
]


@pytest.fixture(scope="module")
def database(postgres_server: PostgresServer) -> PostgresServer:
    server = postgres_server
    server.superuser_psql(f"\\connect {server.database} {server.user}\n{SETUP}")
    return server


@pytest.fixture(scope="module")
def broker(database: PostgresServer) -> Iterator[BrokerProcess]:
    conn = database.connection(read_only=True)
    policy = "access:\n  - {name: all, groups: [engineers], connections: ['*'], action: allow}\n"
    proc = BrokerProcess({"alice": ["engineers"]}, {"shop-ro": conn}, policy)
    proc.set_secret("shop-ro", database.password.encode())
    with proc:
        yield proc


def untouched(server: PostgresServer) -> None:
    """Nothing the attempts could have written is there."""
    state = server.app_psql(
        "select (select count(*) from hostile_ro.probe),"
        " (select last_value || ':' || is_called from hostile_ro.seq),"
        " (select count(*) from pg_largeobject_metadata),"
        " (select count(*) from pg_class where relname = 'copy')"
    ).strip()
    assert state == "0|1:false|0|0", state


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_nothing_lifts_read_only_or_leaves_the_database(
    broker: BrokerProcess, database: PostgresServer, attempt: str
) -> None:
    alone = broker.run_ssh("alice", "sql", "shop-ro", "--csv", "--", attempt)
    assert b"gatehouse: internal" not in alone.stderr
    both = broker.run_ssh("alice", "sql", "shop-ro", "--csv", "--", f"{attempt};\n{WRITE}")
    assert both.returncode == 1, both.stdout
    after = broker.run_ssh("alice", "sql", "shop-ro", "--", WRITE)
    assert after.returncode == 1
    assert b"read-only connection" in after.stderr, after.stderr
    untouched(database)
    assert broker.proc is not None
    assert broker.proc.poll() is None, broker.log()


@pytest.mark.parametrize(
    "attempt",
    [
        "select pg_try_advisory_lock(42)",
        "select pg_advisory_lock_shared(42)",
        "select pg_notify('ch', 'x')",
        "select ts_stat('select to_tsvector(''a'')')",
        "select lowrite(lo_open(1, 131072), 'x')",
    ],
)
def test_state_changing_and_hidden_sql_functions_are_refused_by_the_broker(
    broker: BrokerProcess, attempt: str
) -> None:
    """Not left to the database: the broker names the function, before anything runs."""
    result = broker.run_ssh("alice", "sql", "shop-ro", "--", attempt)
    assert result.returncode == 1
    assert b"refused" in result.stderr, result.stderr


def test_no_file_was_written_on_the_server() -> None:
    from pathlib import Path

    for name in ("gh-hostile-lo", "gh-hostile-copy", "gh-hostile-prog"):
        assert not (Path("/tmp") / name).exists()


@pytest.mark.parametrize(
    "statement",
    [
        "select 1\0; insert into hostile_ro.probe values (20)",
        "select '\0' ; insert into hostile_ro.probe values (21)",
    ],
)
def test_a_nul_byte_cannot_hide_a_second_statement(
    broker: BrokerProcess, database: PostgresServer, statement: str
) -> None:
    result = broker.run_ssh("alice", "sql", "shop-ro", "--csv", stdin=statement.encode())
    assert result.returncode == 1
    untouched(database)


@pytest.mark.parametrize(
    ("what", "statement"),
    [
        ("nested calls", "select " + "abs(" * 20000 + "1" + ")" * 20000),
        ("nested parentheses", "select " + "(" * 50000 + "1" + ")" * 50000),
        ("nested arrays", "select " + "array[" * 20000 + "1" + "]" * 20000),
        ("nested subqueries", "select " + "(select " * 5000 + "1" + ")" * 5000),
        ("a long chain of +", "select " + "+".join(["1"] * 60000)),
        ("a long chain of unions", " union ".join(["select 1"] * 20000)),
        ("nested casts", "select 1" + "::int" * 30000),
        ("nested json paths", "select '{}'::jsonb" + "->'a'" * 30000),
    ],
)
def test_parser_depth_attacks_are_refused_and_the_broker_survives(
    broker: BrokerProcess, what: str, statement: str
) -> None:
    result = broker.run_ssh(
        "alice", "sql", "shop-ro", "--csv", stdin=statement.encode(), timeout=120
    )
    assert result.returncode != 0 or result.stdout, what
    assert broker.proc is not None
    assert broker.proc.poll() is None, broker.log()[-2000:]
    alive = broker.run_ssh("alice", "sql", "shop-ro", "--csv", "--", "select 41 + 1 as n")
    assert alive.stdout == b"n\n42\n", alive.stderr


def test_a_statement_of_megabytes_is_refused_with_a_message(broker: BrokerProcess) -> None:
    huge = "select '" + "x" * (8 * 1024 * 1024) + "'"
    result = broker.run_ssh("alice", "sql", "shop-ro", "--csv", stdin=huge.encode(), timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip(), "refused without a word"
    alive = broker.run_ssh("alice", "sql", "shop-ro", "--csv", "--", "select 1 as n")
    assert alive.stdout == b"n\n1\n"
