"""Both sides of an approval in two real ssh clients under tmux: alice asks, bob approves."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.harness.accounts import local_connection
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess
from tests.support.waiting import wait_until

POLICY = """\
access:
  - {name: prod-needs-approval, groups: [engineers], connections: ["prod-*"], action: approval}
"""


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["approvers"]},
        {
            "prod-shell": local_connection(["bash", "--norc", "-i"]),
            "prod-spare": local_connection(["bash", "--norc", "-i"]),
        },
        POLICY,
    )
    with proc:
        yield proc


def test_alice_requests_bob_sees_the_badge_approves_and_her_session_starts(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    bob = tmux_client(broker.ssh("bob", tty=True), cols=120, rows=40)
    bob.wait_for("No connection is open to you", timeout=15)
    alice = tmux_client(broker.ssh("alice", tty=True), cols=120, rows=40)
    alice.wait_for("type to filter connections", timeout=15)
    alice.send_text("prod-shell")
    alice.wait_for("1 of 2 connections")
    alice.send_keys("Enter")
    alice.wait_for("why do you need access?")
    alice.send_text("INC-42 disk full")
    alice.send_keys("Enter")
    screen = alice.wait_for("Waiting for approval · REQ-", timeout=15)
    assert "needs 1 approval from approvers (rule prod-needs-approval)" in screen
    bob.wait_for("⏳ 1 pending (^o)", timeout=10)  # the badge rises on bob's screen
    bob.send_keys("C-o")
    screen = bob.wait_for("justification: INC-42 disk full", timeout=10)
    assert "requester: alice" in screen
    bob.send_keys("y")
    bob.wait_for("Approve REQ-")
    bob.send_text("ok for 1h")
    bob.send_keys("Enter")
    bob.wait_for("No request is waiting for you.", timeout=10)
    # the session starts by itself (keys typed before that went to the waiting screen)
    alice.wait_for(re.compile(r"^\S*\$ *$", re.M), timeout=15)
    alice.send_text("echo approved-$((6*7))\n")
    alice.wait_for("approved-42", timeout=15)
    alice.send_text("exit\n")
    alice.wait_for("Session on prod-shell ended (exit status 0)", timeout=15)
    alice.send_keys("C-q")
    assert alice.wait_exit(timeout=10) == 0
    bob.send_keys("Escape")
    bob.send_keys("C-q")
    assert bob.wait_exit(timeout=10) == 0


def _audit(broker: BrokerProcess) -> list[dict[str, Any]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return out


def test_a_requester_who_closes_the_tui_while_waiting_cancels_and_the_badge_drops(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    bob = tmux_client(broker.ssh("bob", tty=True), cols=120, rows=40)
    bob.wait_for("No connection is open to you", timeout=15)
    alice = tmux_client(broker.ssh("alice", tty=True), cols=120, rows=40)
    alice.wait_for("type to filter connections", timeout=15)
    alice.send_text("prod-spare")
    alice.wait_for("1 of 2 connections")
    alice.send_keys("Enter")
    alice.wait_for("why do you need access?")
    alice.send_text("INC-43")
    alice.send_keys("Enter")
    screen = alice.wait_for(re.compile(r"Waiting for approval · (REQ-\w+)"), timeout=15)
    found = re.search(r"Waiting for approval · (REQ-\w+)", screen)
    assert found is not None
    bob.wait_for("⏳ 1 pending", timeout=10)
    alice.kill()  # her ssh client goes away while she waits
    cancelled = wait_until(
        lambda: [
            r
            for r in _audit(broker)
            if r["action"] == "approval.cancelled" and r["details"]["request"] == found[1]
        ],
        20,
        "the request to be cancelled",
    )
    assert cancelled[0]["details"]["why"] == "requester left"
    wait_until(lambda: "⏳ 1 pending" not in bob.capture(), 10, "bob's badge to drop")
    assert found[1] not in broker.run_ssh("bob", "approvals").stdout.decode()
    bob.send_keys("C-q")
    assert bob.wait_exit(timeout=10) == 0
