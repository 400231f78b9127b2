"""Command rules in a terminal session through a real ssh client: the same parse, input-layer only."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator

import pytest

from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess
from tests.support.bypasses import POLICY

SECRET = f"planted-{secrets.token_hex(8)}"
PROMPT = re.compile(r"gh-target@\S+:~\$\s*$", re.M)


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    sshd_target.write_home_file("secret.txt", SECRET + "\n", mode=0o600)
    conn = sshd_target.connection("web-1")
    proc = BrokerProcess({"alice": ["engineers"]}, {"web-1": conn}, POLICY)
    proc.set_secret("web-1", sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def test_terminal_line_is_judged_after_quote_removal(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", "connect", "web-1", tty=True))
    client.wait_for(PROMPT, timeout=15)
    client.send_text('cat ~/"secret".txt\n')
    screen = client.wait_for("[gatehouse: command denied by rule 'no-secret']")
    client.send_text("echo after-$((6*7))\n")  # undecidable, yet a terminal is not refused for it
    screen = client.wait_for("after-42")
    client.send_text("exit\n")
    client.wait_exit(timeout=15)
    assert SECRET not in screen
