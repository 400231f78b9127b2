"""An `approval` SQL rule in the SQL console, through real `ssh` clients in tmux: alice runs a
held UPDATE in the pane and waits; bob approves with `ssh … approve`, or denies in his queue
pane; or alice withdraws. The statement runs only once approved; the audit log says so."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.harness import PostgresServer
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess
from tests.support.waiting import wait_until

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
sql:
  - {name: update-needs-approval, statements: [update], action: approval,
     approvers: [approvers], approvals: 1, grant: 1h}
"""
WAITING = re.compile(r"Waiting for approval · (REQ-[A-Z0-9]{10})")


@pytest.fixture(scope="module")
def broker(postgres_server: PostgresServer) -> Iterator[BrokerProcess]:
    conn = postgres_server.connection()
    proc = BrokerProcess({"alice": ["engineers"], "bob": ["approvers"]}, {"shop": conn}, POLICY)
    proc.set_secret("shop", postgres_server.password.encode())
    with proc:
        yield proc


def run(client: TmuxClient, text: str) -> None:
    """A fresh editor, ``text`` typed (all of it in before F5), F5."""
    client.send_keys("C-l")
    client.wait_for(re.compile(r"^.*│ 1\s+│\s*$", re.M))  # the editor is empty again
    client.send_text(text)
    client.wait_for(text)
    client.send_keys("F5")


def open_console(tmux_client: Callable[..., TmuxClient], broker: BrokerProcess) -> TmuxClient:
    """alice in the console on `shop`, with a table of one row, n = 1, of her session's own."""
    alice = tmux_client(broker.ssh("alice", tty=True), cols=120, rows=40)
    alice.wait_for("type to filter connections", timeout=15)
    alice.send_text("shop")
    alice.wait_for(re.compile(r"1 of 1 connections"))
    alice.send_keys("Enter")
    alice.wait_for("F5 or Ctrl+Enter runs", timeout=15)
    run(alice, "create temp table held_t as select 1 as n")
    alice.wait_for(re.compile(r"SELECT 1 · \d+ ms"), timeout=15)
    return alice


def ask(alice: TmuxClient, statement: str, reason: str) -> str:
    """Run a held UPDATE, justify it; the request's id once the pane shows the wait.

    Each test runs its own text: an approved one runs again without asking while its grant
    lasts (an hour here).
    """
    run(alice, statement)
    alice.wait_for("This statement needs an approval", timeout=15)
    alice.send_text(reason)
    alice.send_keys("Enter")
    screen = alice.wait_for(WAITING, timeout=15)
    assert "needs 1 approval from approvers (rule update-needs-approval)" in screen
    assert f"justification: {reason}" in screen
    found = WAITING.search(screen)
    assert found is not None
    return found[1]


def records(broker: BrokerProcess, action: str) -> list[dict[str, Any]]:
    return [r["details"] for r in broker.audit_records() if r["action"] == action]


def quit_console(alice: TmuxClient) -> None:
    alice.send_keys("Escape")
    alice.wait_for("SQL console on shop closed.", timeout=10)
    alice.send_keys("C-q")
    assert alice.wait_exit(timeout=10) == 0


def test_held_update_runs_once_bob_approves_over_ssh(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    alice = open_console(tmux_client, broker)
    request_id = ask(alice, "update held_t set n = n + 41", "INC-42 fix the counter")
    listed = broker.run_ssh("bob", "approvals").stdout.decode()
    assert f"{request_id}\talice\tshop -- update held_t set n = n + 41\t0/1" in listed
    # a second statement while the first waits is refused, and the editor still takes keys
    run(alice, "select n from held_t")
    alice.wait_for(f"{request_id} is waiting for approval: one statement at a time")
    approved = broker.run_ssh("bob", "approve", request_id, "--comment", "ok")
    assert approved.returncode == 0, approved.stderr
    alice.wait_for(re.compile(rf"UPDATE 1 · \d+ ms · approved as {request_id}"), timeout=15)
    run(alice, "select n from held_t")
    screen = alice.wait_for(re.compile(r"1 rows · \d+ ms"), timeout=15)
    assert re.search(r"[│▕]\s*42\s*│", screen), screen  # it ran once, as approved
    quit_console(alice)
    [ran] = [d for d in records(broker, "sql.statement") if d.get("approval") == request_id]
    assert ran["statement"] == "update held_t set n = n + 41"
    assert ran["decision"] == "approval"
    assert ran["rule"] == "update-needs-approval"
    assert [d["status"] for d in records(broker, "sql.result") if d["request"] == ran["request"]]
    assert [d for d in records(broker, "approval.approved") if d["request"] == request_id]


def test_held_update_denied_in_bobs_queue_pane_does_not_run(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    bob = tmux_client(broker.ssh("bob", tty=True), cols=120, rows=40)
    bob.wait_for("No connection is open to you", timeout=15)
    alice = open_console(tmux_client, broker)
    statement = "update held_t set n = n + 42"
    request_id = ask(alice, statement, "INC-43")
    bob.wait_for("⏳ 1 pending (^o)", timeout=10)
    bob.send_keys("C-o")
    screen = bob.wait_for("justification: INC-43", timeout=10)
    assert statement in screen
    bob.send_keys("n")
    bob.wait_for(f"Deny {request_id}")
    bob.send_text("change freeze")
    bob.send_keys("Enter")
    bob.wait_for("No request is waiting for you.", timeout=10)
    alice.wait_for(f"Not approved: {request_id} was denied by bob: change freeze", timeout=15)
    assert "Waiting for approval" not in alice.capture()
    run(alice, "select n from held_t")
    screen = alice.wait_for(re.compile(r"1 rows · \d+ ms"), timeout=15)
    assert re.search(r"[│▕]\s*1\s*│", screen), screen  # the UPDATE did not run
    quit_console(alice)
    bob.send_keys("Escape")
    bob.send_keys("C-q")
    assert bob.wait_exit(timeout=10) == 0
    [denied] = [d for d in records(broker, "approval.denied") if d["request"] == request_id]
    assert denied["comment"] == "change freeze"
    refused = [d for d in records(broker, "sql.statement") if d["statement"] == statement]
    assert refused
    assert all(d["decision"] == "approval" and "approval" not in d for d in refused)


def test_esc_withdraws_the_request(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    alice = open_console(tmux_client, broker)
    request_id = ask(alice, "update held_t set n = n + 43", "INC-44")
    alice.send_keys("Escape")  # withdraws the request; the console stays open
    alice.wait_for(f"Not approved: {request_id} was cancelled", timeout=15)
    assert "SQL console — shop" in alice.capture()  # still in the console
    cancelled = wait_until(
        lambda: [d for d in records(broker, "approval.cancelled") if d["request"] == request_id],
        10,
        "the cancellation in the audit log",
    )
    assert cancelled[0]["why"] == "withdrawn in the SQL console"
    assert request_id not in broker.run_ssh("bob", "approvals").stdout.decode()
    refused = broker.run_ssh("bob", "approve", request_id)
    assert refused.returncode != 0
    quit_console(alice)
