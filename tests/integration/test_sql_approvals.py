"""`sql` statements that an `approval` SQL rule holds, through a real broker, ssh and PostgreSQL."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.harness import PostgresServer
from tests.integration.test_approvals_ssh import WAITING, read_until
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers, approvers], connections: ["*"], action: allow}
sql:
  - {name: create-needs-approval, statements: [create], action: approval,
     approvers: [approvers], approvals: 1, grant: 1h}
"""


@pytest.fixture(scope="module")
def broker(postgres_server: PostgresServer) -> Iterator[BrokerProcess]:
    conn = postgres_server.connection()
    proc = BrokerProcess({"alice": ["engineers"], "bob": ["approvers"]}, {"shop": conn}, POLICY)
    proc.set_secret("shop", postgres_server.password.encode())
    with proc:
        yield proc


def test_sql_waits_until_bob_approves(broker: BrokerProcess) -> None:
    statement = "create temp table waited (id int); select 'created' as done"
    alice = subprocess.Popen(
        broker.ssh("alice", "sql", "shop", "--csv", "--reason", "INC-9", "--", statement),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        request_id = WAITING.search(read_until(alice, WAITING, 30))[1].decode()  # type: ignore[index]
        listed = broker.run_ssh("bob", "approvals").stdout.decode()
        assert f"shop -- {statement}" in listed
        ok = broker.run_ssh("bob", "approve", request_id, "--comment", "fine")
        assert ok.returncode == 0, ok.stderr
        out, err = alice.communicate(timeout=30)
    finally:
        if alice.poll() is None:
            alice.kill()
            alice.wait()
    assert alice.returncode == 0, err
    assert out == b"CREATE TABLE\ndone\ncreated\n"
    records = [r for r in broker.audit_records() if r["action"] == "sql.statement"]
    mine = [r["details"] for r in records if r["details"].get("approval") == request_id]
    assert [d["classification"] for d in mine] == ["create:ddl", "select:read"]
    assert all(d["decision"] == "approval" for d in mine)


def test_no_wait_then_request_runs_exactly_the_approved_statement(broker: BrokerProcess) -> None:
    statement = "create temp table asked (id int)"
    asked = broker.run_ssh(
        "alice", "sql", "shop", "--no-wait", "--reason", "CHG-1", "--", statement
    )
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    assert re.fullmatch(r"REQ-[A-Z0-9]{10}", request_id)
    assert b"approval requested" in asked.stderr
    refused = [
        r["details"]
        for r in broker.audit_records()
        if r["action"] == "sql.statement" and r["details"]["statement"] == statement
    ]
    assert refused[-1]["decision"] == "approval"
    early = broker.run_ssh(
        "alice", "sql", "shop", "--request", request_id, "--no-wait", "--", statement
    )
    assert early.returncode == 75
    assert broker.run_ssh("bob", "approve", request_id).returncode == 0
    other = broker.run_ssh(
        "alice", "sql", "shop", "--request", request_id, "--", "create temp table other (id int)"
    )
    assert other.returncode == 1
    assert f"{request_id} approves exactly `{statement}`".encode() in other.stderr
    assert other.stdout == b""
    ran = broker.run_ssh("alice", "sql", "shop", "--request", request_id, "--", statement)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == b"CREATE TABLE\n"
    kinds = [
        r["action"] for r in broker.audit_records() if r["details"].get("request") == request_id
    ]
    assert kinds[:3] == ["approval.requested", "approval.approved", "grant.created"]
    assert "grant.used" in kinds


def test_a_statement_needing_approval_needs_a_justification(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "sql", "shop", "--", "create temp table x (id int)")
    assert result.returncode == 1
    assert b"justification" in result.stderr
