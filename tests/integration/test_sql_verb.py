"""`ssh … sql CONN` through a real broker to a real PostgreSQL: masking, psql CSV, rules, audit."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import PostgresServer
from tests.harness.postgres import PG_BIN
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers, dba], connections: ["*"], action: allow}
sql:
  - {name: ddl-needs-approval, statements: [alter, truncate], action: approval}
  - {name: no-drop, statements: [drop], action: deny}
  - {name: no-unbounded-delete, statements: [delete, update], without_where: true, action: deny}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
  columns: [{match: "(?i)^ssn$", strategy: redact}]
roles: {unmasked: [dba]}
"""


@pytest.fixture(scope="module")
def broker(postgres_server: PostgresServer) -> Iterator[BrokerProcess]:
    conn = postgres_server.connection()
    proc = BrokerProcess(
        {"alice": ["engineers"], "dora": ["dba"]},
        {
            "shop": conn,
            "shop-ro": {**conn, "read_only": True},
            "shop-quick": {**conn, "read_only": True, "statement_timeout": 1},
        },
        POLICY,
    )
    proc.set_secret("shop", postgres_server.password.encode())
    with proc:
        yield proc


def sql(
    broker: BrokerProcess, *args: str, user: str = "alice", stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return broker.run_ssh(user, "sql", *args, stdin=stdin)


def psql_csv(server: PostgresServer, statement: str) -> bytes:
    argv = [str(PG_BIN / "psql"), "-X", "--csv", "-h", server.host, "-p", str(server.port)]
    argv += ["-U", server.user, "-d", server.database, "-c", statement]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = server.password
    return subprocess.run(argv, capture_output=True, timeout=30, env=env, check=True).stdout


def audit(broker: BrokerProcess, action: str = "sql.statement") -> list[dict[str, Any]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return [r for r in out if r.get("action") == action]


def test_csv_equals_psql_for_a_plain_table(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    statement = "select id, customer_id, item, amount, created_at from orders order by id"
    result = sql(broker, "shop-ro", "--csv", "--", statement)
    assert result.returncode == 0, result.stderr
    assert result.stdout == psql_csv(postgres_server, statement)


def test_csv_quoting_and_types_equal_psql(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    statement = (
        "select * from (values (1, 'a,b', 'quo\"te', null, '', E'two\\nlines', true,"
        " 1.5::float8, '{1,2}'::int[], '\\.', ' pad ', '10.1.2.3/32'::inet, 'x'::char(3),"
        " '2026-01-02'::date, interval '1 day 2 hours', '\\x00ff'::bytea, '{\"k\": [1]}'::jsonb))"
        " v(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q)"
    )
    result = sql(broker, "shop-ro", "--csv", "--", statement)
    assert result.returncode == 0, result.stderr
    assert result.stdout == psql_csv(postgres_server, statement)


def test_rows_come_back_masked(broker: BrokerProcess, postgres_server: PostgresServer) -> None:
    result = sql(
        broker,
        "shop-ro",
        "--json",
        "--",
        "select id, email, ssn, card_number, iban from customers order by id",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(rows) == len(postgres_server.customers)
    output = result.stdout.decode()
    for customer in postgres_server.customers:
        for value in (customer.email, customer.ssn, customer.card_number, customer.iban):
            assert value not in output
    assert rows[0]["ssn"] == "[MASKED:column]"
    assert rows[0]["email"].startswith("[MASKED:")
    assert rows[0]["id"] == "1"
    assert b"values masked (" in result.stderr
    assert b"column 25" in result.stderr


def test_arrays_and_json_are_scanned_as_text(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    statement = "select array_agg(email) as a, json_agg(iban) as j from (select email, iban from customers limit 2) c"
    result = sql(broker, "shop-ro", "--csv", "--", statement)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "[MASKED:" in text
    for customer in postgres_server.customers[:2]:
        assert customer.email not in text
        assert customer.iban not in text


def test_aligned_table_is_psql_like(broker: BrokerProcess) -> None:
    result = sql(broker, "shop-ro", "--", "select id, item from orders where id <= 2 order by id")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split("|")[0].strip() == "id"
    assert set(lines[1]) == {"-", "+"}
    assert lines[2].startswith("  1 | ")
    assert lines[-2:] == ["(2 rows)", ""]


def test_copy_to_stdout_is_refused_with_a_hint(broker: BrokerProcess) -> None:
    result = sql(broker, "shop-ro", "--", "copy customers to stdout")
    assert result.returncode == 1
    assert b"use SELECT with --csv" in result.stderr
    assert result.stdout == b""


def test_statement_from_stdin(broker: BrokerProcess) -> None:
    result = sql(broker, "shop-ro", "--csv", stdin=b"select 41 + 1 as answer\n")
    assert (result.returncode, result.stdout) == (0, b"answer\n42\n")


def test_unmasked_role_sees_values_but_the_audit_log_does_not(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    email = postgres_server.customers[0].email
    statement = f"select email from customers where email = '{email}'"
    result = sql(broker, "shop-ro", "--csv", "--", statement, user="dora")
    assert result.stdout == f"email\n{email}\n".encode()
    record = audit(broker)[-1]
    assert record["actor"] == "dora"
    assert email not in json.dumps(record)


def test_drop_refused_by_rule(broker: BrokerProcess, postgres_server: PostgresServer) -> None:
    result = sql(broker, "shop", "--", "drop table orders")
    assert result.returncode == 1
    assert b"rule 'no-drop'" in result.stderr
    assert postgres_server.app_psql("select count(*) from orders").strip() == str(
        len(postgres_server.orders)
    )
    record = audit(broker)[-1]
    assert record["details"]["decision"] == "deny"
    assert record["details"]["rule"] == "no-drop"
    assert record["details"]["classification"] == "drop:ddl"


def test_approval_rule_asks_for_a_justification(broker: BrokerProcess) -> None:
    """An approval SQL rule makes a request (tests/integration/test_sql_approvals.py); it
    needs a justification, and nothing runs without one."""
    result = sql(broker, "shop", "--", "truncate orders")
    assert result.returncode == 1
    assert b"justification" in result.stderr
    assert result.stdout == b""


@pytest.mark.parametrize(
    "lift",
    [
        "set default_transaction_read_only = off",
        "begin read write",
        "select set_config('default_transaction_read_only', 'off', false)",
    ],
)
def test_read_only_cannot_be_lifted(
    broker: BrokerProcess, postgres_server: PostgresServer, lift: str
) -> None:
    statement = f"{lift}; delete from orders where id = 1"
    result = sql(broker, "shop-ro", "--", statement)
    assert result.returncode == 1
    assert b"read-only connection" in result.stderr
    assert postgres_server.app_psql("select count(*) from orders where id = 1").strip() == "1"


def test_bad_statement_gives_the_parser_error(broker: BrokerProcess) -> None:
    result = sql(broker, "shop-ro", "--", "selec * from orders")
    assert result.returncode == 1
    assert b'syntax error at or near "selec"' in result.stderr


def test_database_error_exits_non_zero(broker: BrokerProcess) -> None:
    result = sql(broker, "shop-ro", "--", "select nosuch from orders")
    assert result.returncode == 1
    assert b'ERROR:  column "nosuch" does not exist (at character 8)' in result.stderr


def test_each_statement_is_audited_before_and_after(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    email = postgres_server.customers[2].email
    statement = f"select email, ssn from customers where email = '{email}'"
    result = sql(broker, "shop-ro", "--csv", "--", statement)
    assert result.returncode == 0, result.stderr
    before, after = audit(broker)[-1], audit(broker, "sql.result")[-1]
    assert before["seq"] < after["seq"]
    assert (before["actor"], before["target"]) == ("alice", "shop-ro")
    details = before["details"]
    assert email not in details["statement"]
    assert "[MASKED:email]" in details["statement"]
    assert list(details["masked"]) == ["email"]  # the proof an auditor can check a value against
    assert (details["classification"], details["decision"]) == ("select:read", "allow")
    result_details = after["details"]
    assert (result_details["request"], result_details["index"]) == (details["request"], 0)
    assert (result_details["rows"], result_details["status"]) == (1, "SELECT 1")
    assert result_details["masked"] == 2
    assert result_details["masked_by"] == {"column": 1, "email": 1}
    assert result_details["duration_ms"] > 0


def test_a_transaction_in_one_string_behaves_as_in_psql(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    statement = "begin; update orders set item = 'gone' where id = 2; rollback"
    result = sql(broker, "shop", "--", statement)
    assert (result.returncode, result.stdout) == (0, b"BEGIN\nUPDATE 1\nROLLBACK\n")
    assert postgres_server.app_psql("select item from orders where id = 2").strip() != "gone"


def test_sql_on_an_unknown_connection_is_refused(broker: BrokerProcess) -> None:
    result = sql(broker, "nosuch", "--", "select 1")
    assert result.returncode == 1
    assert b"unknown connection" in result.stderr


def test_statement_timeout_of_the_connection(broker: BrokerProcess) -> None:
    result = sql(broker, "shop-quick", "--", "select pg_sleep(30)")
    assert result.returncode == 1
    assert b"canceling statement due to statement timeout" in result.stderr


def test_returning_rows_print_as_postgres_text(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    statement = (
        "update orders set note = note where id <= 3 returning id, created_at, amount, id > 1"
    )
    result = sql(broker, "shop", "--csv", "--", statement)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "id,created_at,amount,?column?"
    expected = postgres_server.app_psql(
        "select id, created_at, amount, id > 1 from orders where id <= 3 order by id"
    )
    assert sorted(lines[1:]) == [line.replace("|", ",") for line in expected.splitlines()]


def test_writes_on_a_writable_connection(broker: BrokerProcess) -> None:
    result = sql(broker, "shop", "--", "update orders set note = note where id = 1")
    assert (result.returncode, result.stdout) == (0, b"UPDATE 1\n")


def test_client_gone_stops_the_result_and_is_audited(broker: BrokerProcess) -> None:
    statement = "select g, repeat('x', 200) from generate_series(1, 5000000) g"
    before = len(audit(broker, "sql.result"))
    proc = subprocess.Popen(
        broker.ssh("alice", "sql", "shop-ro", "--csv", "--", statement), stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdout.read(64 * 1024)  # the result is streaming
    proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()
    deadline = time.monotonic() + 60
    records = audit(broker, "sql.result")[before:]
    while not records and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the audit file for the record, bounded by the deadline
        records = audit(broker, "sql.result")[before:]
    assert records, "no sql.result record"
    details = records[-1]["details"]
    assert details.get("error") == "the client went away", str(details)
    assert 0 < details["rows"] < 5_000_000


def test_client_gone_cancels_a_running_statement(
    broker: BrokerProcess, postgres_server: PostgresServer
) -> None:
    probe = "select count(*) from pg_stat_activity where query like '%pg_sleep(120)%' and pid <> pg_backend_pid()"
    proc = subprocess.Popen(
        broker.ssh("alice", "sql", "shop-ro", "--", "select pg_sleep(120)"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while postgres_server.superuser_psql(probe).strip() != "1":
            assert time.monotonic() < deadline, "the statement never started"
            time.sleep(0.1)  # polling the server's activity view, bounded by the deadline
    finally:
        proc.kill()
        proc.wait(timeout=10)
    started = time.monotonic()
    while postgres_server.superuser_psql(probe).strip() != "0":
        assert time.monotonic() - started < 20, "the statement kept running after the client left"
        time.sleep(0.1)  # polling, bounded as above
    record = audit(broker, "sql.result")[-1]
    assert record["details"]["error"] == "the client went away"
