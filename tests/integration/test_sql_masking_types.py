"""Result masking of every type through `sql` and a real PostgreSQL: bytea, arrays, JSON, JSONB,
composite rows, int8, text, in each output format; masked cells carry a visible mark."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.harness import PostgresServer
from tests.harness.pii import fake_customers
from tests.integration.test_sql_verb import psql_csv
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
"""
A, B = fake_customers(40)[30:32]
SETUP = f"""\
CREATE SCHEMA pii_types;
CREATE TYPE pii_types.contact AS (name text, email text);
CREATE TABLE pii_types.cells (
  id int, raw bytea, tags text[], doc json, docb jsonb, who pii_types.contact, card int8,
  cards varchar[], note text);
INSERT INTO pii_types.cells VALUES
  (1, convert_to('mail {A.email} now', 'UTF8'), ARRAY['vip', '{A.email}'],
   '{{"email": "{A.email}", "n": 1}}', '{{"card": "{A.card_number}"}}',
   ROW('{A.name}', '{A.email}'), {A.card_number}, ARRAY['{A.card_number}', '{B.card_number}'],
   'iban {A.iban}'),
  (2, convert_to('{B.card_number}', 'UTF8'), ARRAY['{B.iban}'], '["{B.phone}"]',
   '{{"ssn": "{B.ssn}"}}', ROW('{B.name}', '{B.email}'), {B.card_number},
   ARRAY['{B.email}'], '{B.phone}');
"""
STATEMENT = "select * from pii_types.cells order by id"
SECRETS = (A.email, A.card_number, A.iban, B.email, B.card_number, B.iban, B.phone, B.ssn)
COLUMNS = ("raw", "tags", "doc", "docb", "who", "card", "cards", "note")


@pytest.fixture(scope="module")
def table(postgres_server: PostgresServer) -> PostgresServer:
    postgres_server.superuser_psql(
        f"\\connect {postgres_server.database} {postgres_server.user}\n{SETUP}"
    )
    return postgres_server


@pytest.fixture(scope="module")
def broker(table: PostgresServer) -> Iterator[BrokerProcess]:
    postgres_server = table
    conn = postgres_server.connection(read_only=True)
    proc = BrokerProcess({"alice": ["engineers"]}, {"shop": conn}, POLICY)
    proc.set_secret("shop", postgres_server.password.encode())
    with proc:
        yield proc


def hidden(secret: str) -> list[str]:
    """The ways a value could show: as text, and as the hex of its bytes (bytea)."""
    return [secret, secret.encode().hex()]


def test_the_table_holds_every_value_in_clear(table: PostgresServer) -> None:
    """Direct psql shows the values (so the masked outputs below have something to hide)."""
    direct = psql_csv(table, STATEMENT).decode()
    for secret in SECRETS:
        assert any(form in direct for form in hidden(secret)), secret


@pytest.mark.parametrize("fmt", ["--csv", "--json", "aligned"])
def test_every_type_is_masked_with_a_visible_mark(broker: BrokerProcess, fmt: str) -> None:
    args = ["sql", "shop", *([fmt] if fmt != "aligned" else []), "--", STATEMENT]
    result = broker.run_ssh("alice", *args)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    for secret in SECRETS:
        for form in hidden(secret):
            assert form not in out, (fmt, secret)
    assert b"values masked" in result.stderr
    if fmt == "--json":
        rows = [json.loads(line) for line in out.splitlines()]
        assert [r["id"] for r in rows] == ["1", "2"]
        for row in rows:
            for column in COLUMNS:
                assert "[MASKED:" in row[column], (column, row[column])
    else:
        assert out.count("[MASKED:") >= 2 * len(COLUMNS)


def test_bytea_with_nothing_to_mask_keeps_its_hex_form(broker: BrokerProcess) -> None:
    result = broker.run_ssh(
        "alice", "sql", "shop", "--csv", "--", "select convert_to('hello', 'UTF8') as b"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"b\n\\x68656c6c6f\n"
