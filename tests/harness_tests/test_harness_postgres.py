"""The private PostgreSQL answers with the password only, on loopback, with the PII rows."""

from __future__ import annotations

import os
import subprocess

import asyncpg
import pytest

from tests.harness import HarnessError, PostgresServer
from tests.harness.pii import iban_valid, luhn_valid
from tests.harness.postgres import PG_BIN
from tests.harness.process import pid_alive, port_accepts


def psql(server: PostgresServer, sql: str, **env: str) -> subprocess.CompletedProcess[str]:
    argv = [str(PG_BIN / "psql"), "-X", "-At", "-h", "127.0.0.1", "-p", str(server.port)]
    argv += ["-U", server.user, "-d", server.database, "-c", sql]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    full_env.update(env, PGCONNECT_TIMEOUT="5")
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, env=full_env)


def test_psql_with_password_sees_pii(postgres_server: PostgresServer) -> None:
    result = psql(
        postgres_server,
        "select count(*), count(distinct email) from customers",
        PGPASSWORD=postgres_server.password,
    )
    assert (result.returncode, result.stdout) == (0, "25|25\n")


def test_rows_are_the_generated_ones(postgres_server: PostgresServer) -> None:
    out = postgres_server.app_psql(
        "select id, email, ssn, card_number, iban from customers order by id"
    )
    rows = [line.split("|") for line in out.splitlines()]
    expected = [
        [str(c.id), c.email, c.ssn, c.card_number, c.iban] for c in postgres_server.customers
    ]
    assert rows == expected
    assert all(luhn_valid(row[3]) and iban_valid(row[4]) for row in rows)
    orders = postgres_server.app_psql(
        "select count(*) from orders o join customers c on c.id = o.customer_id"
    )
    assert orders.strip() == str(len(postgres_server.orders))


def test_wrong_password_is_refused(postgres_server: PostgresServer) -> None:
    result = psql(postgres_server, "select 1", PGPASSWORD=postgres_server.password + "x")
    assert result.returncode == 2
    assert "password authentication failed" in result.stderr


def test_no_password_is_refused(postgres_server: PostgresServer) -> None:
    result = subprocess.run(
        [str(PG_BIN / "psql"), "-X", "-w", "-h", "127.0.0.1", "-p", str(postgres_server.port),
         "-U", postgres_server.user, "-d", postgres_server.database, "-c", "select 1"],
        capture_output=True, text=True, timeout=20,
        env={"PATH": os.environ["PATH"], "PGCONNECT_TIMEOUT": "5"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "password" in result.stderr


def test_superuser_over_tcp_is_refused(postgres_server: PostgresServer) -> None:
    result = subprocess.run(
        [str(PG_BIN / "psql"), "-X", "-h", "127.0.0.1", "-p", str(postgres_server.port),
         "-U", "postgres", "-d", "postgres", "-c", "select 1"],
        capture_output=True, text=True, timeout=20,
        env={"PATH": os.environ["PATH"], "PGPASSWORD": postgres_server.password},
    )  # fmt: skip
    assert result.returncode == 2


def test_failing_sql_raises_with_the_error(postgres_server: PostgresServer) -> None:
    with pytest.raises(HarnessError, match="no_such_table"):
        postgres_server.app_psql("select * from no_such_table")


def test_server_settings_are_for_tests(postgres_server: PostgresServer) -> None:
    out = postgres_server.superuser_psql(
        "show listen_addresses; show fsync; show password_encryption"
    )
    assert out.split() == ["127.0.0.1", "off", "scram-sha-256"]


async def test_asyncpg_connects_with_the_dsn(postgres_server: PostgresServer) -> None:
    conn = await asyncpg.connect(postgres_server.dsn, timeout=10)
    try:
        first = await conn.fetchrow("select name, card_number from customers where id = 1")
    finally:
        await conn.close()
    assert first is not None
    assert (first["name"], first["card_number"]) == (
        postgres_server.customers[0].name,
        postgres_server.customers[0].card_number,
    )


async def test_asyncpg_with_a_wrong_password_is_refused(postgres_server: PostgresServer) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user=postgres_server.user,
            password="wrong",
            database=postgres_server.database,
            timeout=10,
        )


def test_stop_ends_the_postmaster_and_removes_the_cluster() -> None:
    server = PostgresServer(customers=2).start()
    port, pid, workdir = server.port, server.pid, server.workdir
    assert port_accepts(port)
    assert pid_alive(pid)
    server.stop()
    assert not port_accepts(port)
    assert not pid_alive(pid)
    assert not workdir.exists()
    assert server.pid == 0
