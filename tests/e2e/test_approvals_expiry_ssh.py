"""A request nobody decides expires on the broker's own timer, seen in two real ssh clients."""

from __future__ import annotations

import json
import re
import time
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
EXPIRE_AFTER = 6
"""Seconds a request stays pending (`approvals: {expire_after}`): time enough for bob to see it."""


@pytest.fixture
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["approvers"]},
        {"prod-shell": local_connection(["bash", "--norc", "-i"])},
        POLICY,
        extra={"approvals": {"expire_after": f"{EXPIRE_AFTER}s"}},
    )
    with proc:
        yield proc


def _audit(broker: BrokerProcess) -> list[dict[str, Any]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return out


def _expired(broker: BrokerProcess, request_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in _audit(broker)
        if r["action"] == "approval.expired" and r["details"]["request"] == request_id
    ]


def test_an_undecided_request_expires_for_requester_and_approver_and_cannot_be_approved(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    bob = tmux_client(broker.ssh("bob", tty=True), cols=120, rows=40)
    bob.wait_for("No connection is open to you", timeout=15)
    bob.send_keys("C-o")  # bob watches the queue and decides nothing
    bob.wait_for("No request is waiting for you.", timeout=10)
    alice = tmux_client(broker.ssh("alice", tty=True), cols=120, rows=40)
    alice.wait_for("type to filter connections", timeout=15)
    alice.send_keys("Enter")
    alice.wait_for("why do you need access?")
    alice.send_text("INC-77 nobody around")
    alice.send_keys("Enter")
    screen = alice.wait_for(re.compile(r"Waiting for approval · REQ-\w+"), timeout=15)
    found = re.search(r"Waiting for approval · (REQ-\w+)", screen)
    assert found is not None
    request_id = found[1]
    bob.wait_for("justification: INC-77 nobody around", timeout=10)
    assert "⏳ 1 pending" in bob.capture()

    # nobody decides: the broker's timer expires it, nobody has to look
    screen = alice.wait_for(f"{request_id} expired: nobody decided it in time", timeout=30)
    assert "Waiting for approval" not in screen  # back in the picker
    assert "prod-shell" in screen
    screen = bob.wait_for("No request is waiting for you.", timeout=10)
    assert request_id not in screen
    wait_until(lambda: "⏳ 1 pending" not in bob.capture(), 10, "bob's badge to drop")
    bob.send_keys("h")  # the history shows it expired
    screen = bob.wait_for(re.compile(rf"{request_id}\s+alice\s+prod-shell\s+expired"), timeout=10)

    [record] = _expired(broker, request_id)
    assert record["actor"] == "gatehouse"
    assert record["details"]["why"] == "not decided in time"
    requested = next(r for r in _audit(broker) if r["action"] == "approval.requested")
    assert record["time"] >= requested["time"]

    late = broker.run_ssh("bob", "approve", request_id, "--comment", "'sorry, late'")
    assert late.returncode != 0
    assert b"expired before it was decided; nothing is granted" in late.stderr
    actions = [r["action"] for r in _audit(broker)]
    assert "approval.approved" not in actions
    assert "grant.created" not in actions

    alice.send_keys("C-q")
    assert alice.wait_exit(timeout=10) == 0
    bob.send_keys("Escape")
    bob.send_keys("C-q")
    assert bob.wait_exit(timeout=10) == 0


def test_a_request_that_expired_while_the_broker_was_down_is_expired_at_startup(
    broker: BrokerProcess,
) -> None:
    made = broker.run_ssh(
        "alice", "run", "prod-shell", "--no-wait", "--reason", "INC-78", "--", "id"
    )
    assert made.returncode == 75, made.stderr
    request_id = made.stdout.decode().strip()
    broker.stop()
    asked = next(r for r in _audit(broker) if r["action"] == "approval.requested")
    expires = time.mktime(time.strptime(asked["details"]["expires"], "%Y-%m-%dT%H:%M:%SZ"))
    expires -= time.timezone  # the record's time is UTC
    wait_until(lambda: time.time() > expires + 1, 2 * EXPIRE_AFTER, "the request's expiry")
    assert _expired(broker, request_id) == []  # nobody ran while it expired
    broker.start()
    # written before the broker listens, with nobody connected
    [record] = _expired(broker, request_id)
    assert record["details"]["why"] == "not decided in time"
    shown = broker.run_ssh("alice", "run", "--request", request_id, "prod-shell", "--", "id")
    assert shown.returncode != 0
    assert f"{request_id} expired".encode() in shown.stderr
