"""End to end: hostile text reaches operators' screens only as text.

An engineer runs ``echo '[@click=app.screenshot("x.svg","DIR")]click[/]'`` on a real sshd
target through the broker. A reviewer's real OpenSSH client (in tmux) finds it in the
recordings search, sees the brackets, and clicks the word: no file appears in DIR. And an
engineer names a connection that would forge a line of ``gatehouse audit tail``: the
auditor sees it escaped.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: ["*"], action: allow}
"""
COLS, ROWS = 220, 40


@pytest.fixture(scope="module")
def drop() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="gh-drop-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    conn = sshd_target.connection()
    proc = BrokerProcess({"alice": ["engineers"], "rita": ["reviewers"]}, {"web": conn}, POLICY)
    proc.set_secret("web", sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def click(client: TmuxClient, x: int, y: int) -> None:
    """Press and release the left button at column ``x``, row ``y`` (0-based), as xterm reports it.

    Textual turns on SGR mouse reporting; the bytes go through ssh to the broker's TUI.
    """
    for final in ("M", "m"):
        client.send_text(f"\x1b[<0;{x + 1};{y + 1}{final}")


def test_planted_click_markup_is_shown_literally_and_runs_nothing(
    broker: BrokerProcess, drop: Path, tmux_client: Callable[..., TmuxClient]
) -> None:
    planted = f'[@click=app.screenshot("x.svg","{drop}")]click[/]'
    result = broker.run_ssh("alice", "run", "web", "--", f"echo '{planted}'")
    assert result.returncode == 0, result.stderr
    assert planted.encode() in result.stdout
    recordings = broker.dir / "state" / "recordings"
    deadline = time.monotonic() + 15
    while not list(recordings.glob("*.txt")):  # search reads the text index, built after the run
        assert time.monotonic() < deadline, sorted(p.name for p in recordings.iterdir())
        time.sleep(0.05)

    client = tmux_client(broker.ssh("rita", tty=True), cols=COLS, rows=ROWS)
    client.wait_for("No connection is open to you", timeout=15)
    client.send_keys("r")
    client.wait_for("1 of 1 recordings", timeout=15)
    client.send_text("screenshot")
    client.send_keys("Enter")
    client.wait_for(re.compile(r"\d+ moments in 1 sessions"), timeout=15)
    # The table sizes its columns when idle, a frame after the status line: wait for the rows.
    text = re.escape(planted)
    shown = re.compile(rf"(?s)(?=.*\bran\s+echo '{text}')(?=.*\bshown\s+{text})")
    screen = client.wait_for(shown, timeout=15)
    rows = [line for line in screen.splitlines() if planted in line]
    assert len(rows) == 2, screen  # brackets, action and all, exactly as the target printed them

    # The reviewer clicks the word a link would have been made of, on every row showing it.
    lines = screen.splitlines()
    for y, line in enumerate(lines):
        if planted in line:
            click(client, line.index(planted) + planted.index("click[/]"), y)
    client.send_keys("Escape")  # leaves the pane only if the TUI still reads its keys
    client.wait_for("No connection is open to you", timeout=10)
    client.send_keys("C-q")
    assert client.wait_exit(timeout=10) == 0
    assert list(drop.iterdir()) == []


def test_the_recording_of_that_run_is_private(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web", "--", "echo private")
    assert result.returncode == 0, result.stderr
    recordings = broker.dir / "state" / "recordings"
    deadline = time.monotonic() + 15
    while not (casts := list(recordings.glob("*.cast"))) or not all(
        c.with_suffix(".idx").exists() for c in casts
    ):  # the index is finished in the background once the session ends
        assert time.monotonic() < deadline, sorted(p.name for p in recordings.iterdir())
        time.sleep(0.05)
    assert stat.S_IMODE(recordings.stat().st_mode) == 0o700
    files = sorted(p for p in recordings.iterdir() if p.suffix in (".cast", ".idx", ".txt"))
    assert len(files) == 3 * len(casts)
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {
        p.name: "0o600" for p in files
    }


FORGED = "\r\x1b[2K     9 2026-01-01T00:00:00.000000Z root login.success"
"""A connection name: on a raw terminal it erases the tail's line and prints a record of its own."""


def test_a_forged_connection_name_is_shown_escaped_by_audit_tail(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", shlex.quote(FORGED), "--", "id")
    assert result.returncode == 1, result.stderr
    assert b"\x1b" not in result.stderr  # the refusal quotes it with repr()
    tail = broker.cli("audit", "tail", "-n", "50", "--action", "policy.denied")
    assert tail.returncode == 0, tail
    out = tail.stdout.decode()
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", out), repr(out)
    [line] = out.splitlines()  # one record, one line: nothing forged a second one
    assert re.search(
        r"Z alice policy\.denied \\r\\x1b\[2K     9 2026-01-01T00:00:00\.000000Z root"
        r" login\.success \{.*\} ok$",
        line,
    ), line
    as_json = broker.cli("audit", "tail", "-n", "50", "--action", "policy.denied", "--json")
    assert b"\x1b" not in as_json.stdout
    assert json.loads(as_json.stdout)["target"] == FORGED
