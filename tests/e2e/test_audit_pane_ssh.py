"""End to end: an auditor's ssh client in tmux opens the audit pane, filters, reads a record."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from tests.harness.accounts import local_connection
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: [shell], action: allow}
"""


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"alice": ["engineers"], "carol": ["auditors"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
    )
    with proc:
        result = proc.run_ssh("alice", "run", "shell", "--", "echo hi")
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == b"hi\n"
        yield proc


RUN = r"alice\s+command\.run"
"""How a `run` shows in the audit log."""


def table_part(screen: str) -> str:
    """The screen between the table header and the status line."""
    return screen.split("time (UTC)", 1)[1].split(" records ·", 1)[0]


def test_auditor_tails_filters_and_reads_a_record(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("carol", tty=True), cols=140, rows=40)
    client.wait_for("No connection is open to you", timeout=15)
    client.send_keys("a")
    screen = client.wait_for(re.compile(r"carol\s+login\.success.*✓"), timeout=15)
    rows = table_part(screen)
    assert re.search(RUN + r"\s+shell\s+.*command=echo hi", rows), screen
    assert "✗" not in rows
    assert "✓ chain verified" in screen

    # A record written while the pane is open appears, then verifies.
    result = broker.run_ssh("alice", "run", "shell", "--", "echo live-$((40+2))")
    assert result.stdout == b"live-42\n"
    client.wait_for(re.compile(RUN + r".*command=echo live-\$\(\(40\+2\)\).*✓"), timeout=15)
    client.wait_for(re.compile(r"session\.end\s+shell\s+.*exit_status=0.*✓"), timeout=15)
    client.wait_for("✓ chain verified", timeout=15)

    # Filter by user; Enter applies and returns to the table.
    client.send_keys("/")
    client.send_text("alice")
    client.send_keys("Enter")
    screen = client.wait_for(
        re.compile(r"\d+ records · ✓ chain verified · user alice ·"), timeout=15
    )
    rows = table_part(screen)
    assert "carol" not in rows
    assert "broker" not in rows
    assert len(re.findall(r"alice\s+login\.success", rows)) == 2, screen
    assert len(re.findall(RUN, rows)) == 2, screen
    assert len(re.findall(r"alice\s+session\.end\s+shell\s+.*exit_status=0", rows)) == 2, screen

    # Enter opens the newest match (the live run's end) in full; Esc goes back.
    client.send_keys("Enter")
    screen = client.wait_for("✓ verified: signature and chain link check out", timeout=10)
    assert re.search(r"Audit record \d+ · session\.end", screen)
    for text in ('"actor": "alice"', '"exit_status": 0', '"target": "shell"', '"sig": "'):
        assert text in screen, screen
    client.send_keys("Escape")
    client.wait_for("user alice ·", timeout=15)
    screen = client.capture()
    assert "✓ verified: signature" not in screen
    client.send_keys("Escape")
    client.wait_for(
        "No connection is open to you", timeout=15
    )  # Esc then letters at once read as Alt+letter
    client.send_keys("q")
    assert client.wait_exit(timeout=10) == 0


def test_non_auditor_is_told_no(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", tty=True), cols=120, rows=40)
    client.wait_for("type to filter connections", timeout=15)
    client.send_keys("a")
    screen = client.wait_for("Not allowed", timeout=10)
    assert "members of the auditors" in " ".join(re.sub(r"[▌▐│┃]", " ", screen).split()), screen
    assert "time (UTC)" not in screen
    client.send_keys("C-q")
    assert client.wait_exit(timeout=10) == 0
