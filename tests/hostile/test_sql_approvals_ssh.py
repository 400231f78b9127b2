"""Hostile: a statement an `approval` SQL rule holds cannot be changed once approved, used by
someone else, moved to another connection, or approved by its own requester (real ssh)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import PostgresServer
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers, approvers], connections: ["*"], action: allow}
sql:
  - {name: create-needs-approval, statements: [create], action: approval,
     approvers: [approvers], approvals: 1, grant: 1h}
"""
STATEMENT = "create temp table approved_one (id int)"


@pytest.fixture(scope="module")
def broker(postgres_server: PostgresServer) -> Iterator[BrokerProcess]:
    conn = postgres_server.connection()
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["approvers"], "carol": ["engineers", "approvers"]},
        {"shop": conn, "shop-2": conn},
        POLICY,
    )
    proc.set_secret("shop", postgres_server.password.encode())
    with proc:
        yield proc


@pytest.fixture(scope="module")
def approved(broker: BrokerProcess) -> str:
    asked = broker.run_ssh(
        "alice", "sql", "shop", "--no-wait", "--reason", "CHG-7", "--", STATEMENT
    )
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    assert broker.run_ssh("bob", "approve", request_id).returncode == 0
    return request_id


@pytest.mark.parametrize(
    "altered",
    [
        STATEMENT + ";",
        STATEMENT + " -- ok",
        STATEMENT.upper(),
        STATEMENT + "; drop table customers",
        STATEMENT + "; select email from customers",
        "/* */" + STATEMENT,
        STATEMENT.replace("approved_one", "approved_onе"),  # a Cyrillic e
    ],
)
def test_an_altered_statement_is_refused_under_the_approval(
    broker: BrokerProcess, approved: str, altered: str
) -> None:
    result = broker.run_ssh("alice", "sql", "shop", "--request", approved, "--", altered)
    assert result.returncode == 1
    assert f"{approved} approves exactly".encode() in result.stderr, result.stderr
    assert result.stdout == b""


def test_an_altered_statement_without_the_id_is_a_new_request(
    broker: BrokerProcess, approved: str
) -> None:
    result = broker.run_ssh(
        "alice", "sql", "shop", "--no-wait", "--reason", "x", "--", STATEMENT + "; select 1"
    )
    assert result.returncode == 75
    assert result.stdout.decode().strip() != approved


def test_someone_else_cannot_use_the_approval(broker: BrokerProcess, approved: str) -> None:
    result = broker.run_ssh("carol", "sql", "shop", "--request", approved, "--", STATEMENT)
    assert result.returncode == 1
    assert b"no request" in result.stderr, result.stderr


def test_the_approval_does_not_move_to_another_connection(
    broker: BrokerProcess, approved: str
) -> None:
    result = broker.run_ssh("alice", "sql", "shop-2", "--request", approved, "--", STATEMENT)
    assert result.returncode == 1
    assert b"is for 'shop'" in result.stderr, result.stderr
    again = broker.run_ssh("alice", "sql", "shop-2", "--no-wait", "--reason", "x", "--", STATEMENT)
    assert again.returncode == 75, again.stderr  # no grant there: a request of its own


def test_a_requester_cannot_approve_her_own_statement(broker: BrokerProcess) -> None:
    asked = broker.run_ssh(
        "carol", "sql", "shop", "--no-wait", "--reason", "mine", "--", "create temp table c (i int)"
    )
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    vote = broker.run_ssh("carol", "approve", request_id)
    assert vote.returncode != 0
    ran = broker.run_ssh(
        "carol",
        "sql",
        "shop",
        "--request",
        request_id,
        "--no-wait",
        "--",
        "create temp table c (i int)",
    )
    assert ran.returncode == 75, ran.stderr


def test_the_exact_statement_runs(broker: BrokerProcess, approved: str) -> None:
    ran = broker.run_ssh("alice", "sql", "shop", "--request", approved, "--", STATEMENT)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == b"CREATE TABLE\n"
