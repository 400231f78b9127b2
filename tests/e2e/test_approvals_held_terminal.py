"""A command line typed at a prompt that an approval rule holds: not run, a request made."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.harness.accounts import local_connection
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: dev-open, groups: [engineers], connections: [dev], action: allow}
commands:
  - {name: restart-needs-approval, argv: [[echo, restart, "**"]], action: approval}
"""
PROMPT = re.compile(r"^\S*\$ *$", re.M)
HELD = re.compile(r"held as (REQ-[A-Z0-9]+), needs 1 of approvers")


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["approvers"]},
        {"dev": local_connection(["bash", "--norc", "-i"], accepts="shell")},
        POLICY,
    )
    with proc:
        yield proc


def test_held_line_is_not_run_and_can_be_run_once_approved(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", "connect", "dev", tty=True))
    client.wait_for(PROMPT, timeout=15)
    client.send_text("echo restart app-ok\n")
    screen = client.wait_for(HELD, timeout=10)
    found = HELD.search(screen)
    assert found is not None
    request_id = found[1]
    assert not re.search(r"^restart app-ok$", screen, re.M)  # echoed as typed, never run
    client.send_text("exit\n")
    client.wait_exit(timeout=15)
    listed = broker.run_ssh("bob", "approvals").stdout.decode()
    assert request_id in listed
    assert "echo restart app-ok" in listed
    assert broker.run_ssh("bob", "approve", request_id).returncode == 0
    line = "echo restart app-ok"
    ran = broker.run_ssh("alice", "run", "--request", request_id, "dev", "--", line)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == b"restart app-ok"
    other = broker.run_ssh("alice", "run", "--request", request_id, "dev", "--", "echo restart x")
    assert other.returncode == 1  # exactly the held line, nothing else
    records: list[dict[str, Any]] = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        records += [json.loads(x) for x in seg.read_text().splitlines() if x.strip()]
    requested = [
        r
        for r in records
        if r["action"] == "approval.requested" and r["details"]["request"] == request_id
    ]
    assert requested[0]["details"]["held"] == "terminal"
