"""End to end: a reviewer's real ssh client in tmux finds a recording, replays, seeks, searches."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from recordings.store import RecordingStore
from tests.harness.accounts import local_connection
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess
from tests.tui.replay_fakes import write_session

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: [shell], action: allow}
"""


DAY = 86_400
NOW = int(time.time())


def started(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def term(screen: str) -> str:
    """The replayed terminal: the left part of the screen, without the command list."""
    return "\n".join(line[:80] for line in screen.splitlines())


def wait_gone(client: TmuxClient, text: str, timeout: float = 10.0) -> str:
    """Wait until ``text`` is no longer on the screen; return the screen."""
    deadline = time.monotonic() + timeout
    while text in (screen := client.capture()):
        assert time.monotonic() < deadline, f"still showing {text!r}:\n{screen}"
        time.sleep(0.05)
    return screen


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"rita": ["reviewers"], "alice": ["engineers"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
    )
    store = RecordingStore(proc.dir / "state" / "recordings")
    # Recent starts: the broker deletes recordings older than its retention (365 days).
    write_session(store, "s-alice", user="alice", connection="shell", ts=NOW - 2 * DAY)
    write_session(store, "s-bob", user="bob", connection="web-1", ts=NOW - DAY)
    with proc:
        yield proc


def test_reviewer_searches_replays_seeks_and_searches_inside(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("rita", tty=True), cols=120, rows=36)
    client.wait_for("No connection is open to you", timeout=15)
    client.send_keys("r")
    client.wait_for("2 of 2 recordings", timeout=15)
    # The table sizes its columns when idle, a frame after the status line: wait for the rows.
    screen = client.wait_for(re.compile(r"\s+alice\s+shell\s+terminal"), timeout=10)
    assert re.search(started(NOW - DAY) + r"\s+bob\s+web-1\s+terminal", screen), screen
    assert re.search(started(NOW - 2 * DAY) + r"\s+alice\s+shell\s+terminal", screen), screen

    # Search across recordings: sessions and moments; Enter opens the player there.
    client.send_text("needle")
    client.send_keys("Enter")
    client.wait_for("6 moments in 2 sessions", timeout=10)
    row = re.compile(r"s-alice\s+0:40\s+alice\s+shell\s+ran\s+echo needle-42")
    client.wait_for(row, timeout=10)  # the columns are sized a frame after the status line
    client.send_keys("Enter")
    screen = client.wait_for("/ 0:45", timeout=10)
    assert "Replay s-bob" in screen  # the first row: the newest session
    assert "needle-42" in term(screen)
    assert "0:40 / 0:45" in screen

    # Seek: to the start (empty screen), then forward by 5 s steps, then to the end.
    client.send_keys("Home")
    screen = client.wait_for("0:00 / 0:45")
    assert "needle-42" not in term(screen)
    client.send_keys("Right")
    screen = client.wait_for("0:05 / 0:45")
    assert "docs  notes.txt" in term(screen)
    client.send_keys("End")
    screen = client.wait_for("0:45 / 0:45")
    assert "log line 19" in term(screen)

    # Search inside the recording, next and previous match.
    client.send_keys("Home")
    client.wait_for("0:00 / 0:45")
    client.send_keys("/")
    client.wait_for("│  needle")  # the search box, holding the search that found this recording
    client.send_text("log line 17")  # replaces it (the box selects its text on focus)
    client.send_keys("Enter")
    screen = client.wait_for(re.compile(r"match 1/\d+ at 0:32: log line 17"), timeout=10)
    assert "log line 17" in term(screen.split("match 1/")[0])  # on the replayed screen
    client.send_keys("]")  # next command after the match: `echo needle-42`
    screen = client.wait_for("command 3/3 at 0:40: echo needle-42")
    assert "0:40 / 0:45" in screen

    # Scrollback: text that scrolled off the top.
    client.send_keys("End")
    client.wait_for("0:45 / 0:45")
    client.send_keys("b")
    screen = client.wait_for("lines scrolled off before 0:45", timeout=10)
    assert "on screen at 0:45" in screen
    client.send_keys("b")
    screen = wait_gone(client, "scrolled off")  # the replayed screen is back
    assert "needle-42" in term(screen)
    assert "log line 00" not in screen

    # Close the player: back to the results; the viewing is in the audit log.
    client.send_keys("q")
    client.wait_for("6 moments in 2 sessions")
    client.send_keys("C-q")
    assert client.wait_exit(timeout=10) == 0
    tail = broker.cli("audit", "tail", "-n", "50")
    assert re.search(r"rita\s+recording\.viewed\s+s-bob", tail.stdout.decode()), tail


def test_engineer_sees_only_their_own(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", tty=True), cols=120, rows=36)
    client.wait_for("type to filter connections", timeout=15)
    client.send_keys("r")
    client.wait_for("1 of 1 recordings", timeout=15)
    screen = client.wait_for(re.compile(r"terminal\s+\d+ B\s+s-alice"), timeout=10)
    assert "s-bob" not in screen
    client.send_keys("Enter")
    client.wait_for("0:00 / 0:45", timeout=10)
    client.send_keys("]")
    client.wait_for("command 1/3 at 0:01: ls")
    client.send_keys("Escape")
    client.wait_for("1 of 1 recordings")
    client.send_keys("Escape")
    client.wait_for("type to filter connections")
    client.send_keys("q")
    assert client.wait_exit(timeout=10) == 0
