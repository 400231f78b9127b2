"""The SQL console through a real `ssh` client in tmux: pick the postgres connection, run a
query, see masked results; the session's recording is in the audit chain."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest

from tests.harness import PostgresServer
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
sql:
  - {name: no-drop, statements: [drop], action: deny}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
  columns: [{match: "(?i)^ssn$", strategy: redact}]
"""


@pytest.fixture(scope="module")
def broker(postgres_server: PostgresServer) -> Iterator[BrokerProcess]:
    conn = postgres_server.connection(read_only=True)
    proc = BrokerProcess({"alice": ["engineers"]}, {"shop-db": conn}, POLICY)
    proc.set_secret("shop-db", postgres_server.password.encode())
    with proc:
        yield proc


def test_pick_postgres_run_a_query_see_masked_rows(
    broker: BrokerProcess,
    postgres_server: PostgresServer,
    tmux_client: Callable[..., TmuxClient],
) -> None:
    customer = postgres_server.customers[0]
    client = tmux_client(broker.ssh("alice", tty=True), cols=120, rows=40)
    client.wait_for("type to filter connections", timeout=15)
    client.send_text("shop-db")
    client.wait_for(re.compile(r"1 of 1 connections"))
    client.send_keys("Enter")
    client.wait_for("F5 or Ctrl+Enter runs", timeout=15)
    client.wait_for("customers")  # the schema browser
    client.send_text("select id, email, ssn from customers order by id")
    client.send_keys("F5")
    screen = client.wait_for(re.compile(r"25 rows · \d+ ms · 50 masked"), timeout=15)
    assert "[MASKED:email]" in screen
    assert "[MASKED:column]" in screen
    assert customer.email not in screen
    assert customer.ssn not in screen
    coloured = client.capture(escapes=True)
    marked = re.compile(r"\x1b\[(?:4[0-7]|48;[0-9;]+)m\[MASKED:")  # a background of its own
    assert len(marked.findall(coloured)) == len(re.findall(r"\[MASKED:", coloured))
    client.send_keys("C-l")  # a fresh editor
    client.wait_for(re.compile(r"^.*│ 1\s+│", re.M))  # the editor's first line is empty again
    client.send_text("drop table customersselect id, email, ssn from customers")  # glued
    client.wait_for("drop table customersselect")  # every key is in before F5
    client.send_keys("F5")
    client.wait_for("Refused (line 1, column 28): the statement does not parse")
    client.send_keys("C-l")  # a fresh editor
    client.send_text("drop table customers")
    client.send_keys("F5")
    client.wait_for("Refused: DROP (ddl) on a read-only connection")
    client.send_keys("Escape")
    client.wait_for("SQL console on shop-db closed.", timeout=10)  # back in the picker
    client.send_keys("C-q")
    assert client.wait_exit(timeout=10) == 0
    records = broker.audit_records()
    actions = [r["action"] for r in records]
    assert actions.count("sql.statement") == 3
    assert "recording.closed" in actions
    [end] = [r for r in records if r["action"] == "session.end" and r["target"] == "shop-db"]
    assert end["details"]["statements"] == 1
    assert customer.email not in json.dumps(records)
