"""End to end: a real OpenSSH client in tmux uses the TUI, picks the sshd target, works, returns."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from tests.harness.accounts import local_connection
from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: ["web-*", shell], action: allow}
  - {name: eng-prod, groups: [engineers], connections: ["prod-*"], action: approval,
     approvers: [approvers]}
"""


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    base = {"type": "ssh", "host": "127.0.0.1", "port": sshd_target.port, "user": sshd_target.user}
    connections = {
        "web-1": {
            **base,
            "credential": "web-1",
            "host_key": sshd_target.host_key_line,
            "description": "the test sshd",
        },
        "web-down": {
            **base,
            "port": 1,
            "credential": "web-1",
            "host_key": sshd_target.host_key_line,
        },
        "prod-1": {**base, "credential": "web-1", "host_key": sshd_target.host_key_line},
        "db-hidden": {**base, "credential": "web-1", "host_key": sshd_target.host_key_line},
        "shell": local_connection(["bash", "--norc", "-i"]),
    }
    proc = BrokerProcess({"alice": ["engineers"]}, connections, POLICY)
    proc.set_secret("web-1", sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def open_tui(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient], **kw: int
) -> TmuxClient:
    client = tmux_client(broker.ssh("alice", tty=True), **kw)
    client.wait_for("type to filter connections", timeout=15)
    return client


def test_picker_to_target_and_back(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = open_tui(broker, tmux_client, cols=120, rows=40)
    screen = client.capture()
    assert "alice · engineers" in screen
    assert "web-1" in screen
    assert "⏳ approval" in screen  # prod-1 is visible but marked
    assert "db-hidden" not in screen  # no rule allows it: not listed
    client.send_text("web-1")
    screen = client.wait_for("1 of 4 connections")
    assert "shell" not in screen.split("connection  type")[1]
    client.send_keys("Enter")
    client.wait_for(re.compile(r"gh-target@\S+:~\$\s*$", re.M), timeout=15)
    client.send_text("echo brokered-$((6*7))\n")
    client.wait_for("brokered-42")
    client.send_text("tput cols\n")
    client.wait_for(re.compile(r"^120$", re.M))
    client.resize(100, 30)
    client.send_text("clear; tput cols; tput lines\n")
    client.wait_for(re.compile(r"^100\n30$", re.M))
    client.send_text("exit\n")
    client.wait_for("Session on web-1 ended (exit status 0) · 0 values masked", timeout=15)
    screen = client.wait_for("Connections — alice")  # back in the picker, at the new size
    assert "web-1" in screen
    client.send_keys("Escape")
    client.wait_for("4 of 4 connections")
    client.send_keys("q")
    assert client.wait_exit(timeout=10) == 0


def test_keys_typed_while_connecting_reach_the_target(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = open_tui(broker, tmux_client, cols=120, rows=40)
    client.send_text("web-1")
    client.wait_for(re.compile(r"1 of \d+ connections"))
    client.send_keys("Enter")
    # typed at once, before the target has answered: held for it, not read by the picker
    client.send_text("echo typed-ahead-$((6*7))")
    client.send_keys("Enter")
    client.wait_for("typed-ahead-42", timeout=15)
    client.send_text("exit")
    client.send_keys("Enter")
    client.wait_for("Session on web-1 ended (exit status 0)", timeout=15)
    client.send_keys("C-q")
    assert client.wait_exit(timeout=10) == 0


def test_unreachable_target_shows_error_and_stays(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = open_tui(broker, tmux_client)
    client.send_text("web-down")
    client.wait_for("1 of 4 connections")
    client.send_keys("Enter")
    screen = client.wait_for("cannot connect to 127.0.0.1:1", timeout=15)
    assert "Connections — alice" in screen
    client.send_keys("Escape")
    client.wait_for("4 of 4 connections")  # Esc then letters at once would read as Alt+letter
    client.send_text("prod")
    client.wait_for("1 of 4 connections")
    client.send_keys("Enter")
    client.wait_for("needs an approval", timeout=10)
    client.send_keys("C-q")
    assert client.wait_exit(timeout=10) == 0


def test_connect_goes_straight_in(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", "connect", "web-1", tty=True))
    client.wait_for(re.compile(r"gh-target@\S+:~\$\s*$", re.M), timeout=15)
    client.send_text("exit 5\n")
    assert client.wait_exit(timeout=10) == 5


def test_help_overlay(broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]) -> None:
    client = open_tui(broker, tmux_client)
    client.send_keys("?")
    client.wait_for("Connection picker")
    client.send_keys("Escape")
    screen = client.wait_for("4 of 4 connections")
    assert "Connection picker" not in screen
    client.send_keys("q")
    assert client.wait_exit(timeout=10) == 0


def test_command_palette_connects(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = open_tui(broker, tmux_client, cols=120, rows=50)
    client.send_keys("C-p")
    screen = client.wait_for("Connect to shell")  # all it offers, before anything is typed
    assert "Recordings" in screen
    assert "Audit log" not in screen  # alice is no auditor
    assert "db-hidden" not in screen  # policy does not open it to her
    client.send_text("web-1")
    client.wait_for(re.compile(r"Connect to web-1\s*\n\s*ssh"))
    client.send_keys("Enter")
    client.wait_for(re.compile(r"gh-target@\S+:~\$\s*$", re.M), timeout=15)
    client.send_text("exit\n")
    client.wait_for("Session on web-1 ended (exit status 0)", timeout=15)
    client.send_keys("C-q")
    assert client.wait_exit(timeout=10) == 0
