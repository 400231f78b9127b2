"""Masking rules per connection through a real `ssh` client, the broker and a real sshd target.

Two connections to the same target get different masking rules; `run` tells the user on stderr
how many values were masked; a terminal session shows the live count in the window title.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from tests.harness.sshd import SshdTarget
from tests.harness.tmux import SESSION, TmuxClient
from tests.support.broker import BrokerProcess
from tests.support.waiting import wait_until

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: ["*"], action: allow}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
  overrides:
    - name: prod-readers
      connections: ["prod-*"]
      groups: [engineers]
      detectors: {disable: [email]}
      strategies: {credit_card: partial}
    - {name: lab-network, connections: ["lab-*"], detectors: {enable: [ipv4]}}
"""

CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"
IP = "10.20.30.40"
PLANTED = f"card: {CARD}\nmail: {EMAIL}\nhost: {IP}\nplain tail\n"
TITLE_OSC = re.compile(rb"\x1b\]2;")


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    sshd_target.write_home_file("rules.txt", PLANTED)

    def conn(name: str) -> dict[str, object]:
        return {
            "type": "ssh",
            "host": "127.0.0.1",
            "port": sshd_target.port,
            "user": sshd_target.user,
            "credential": name,
            "host_key": sshd_target.host_key_line,
        }

    names = ("prod-web", "lab-web")
    proc = BrokerProcess({"alice": ["engineers"]}, {n: conn(n) for n in names}, POLICY)
    for name in names:
        proc.set_secret(name, sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def test_two_connections_mask_by_their_own_rules(broker: BrokerProcess) -> None:
    prod = broker.run_ssh("alice", "run", "prod-web", "--", "cat rules.txt")
    lab = broker.run_ssh("alice", "run", "lab-web", "--", "cat rules.txt")
    assert prod.returncode == 0, prod.stderr
    assert lab.returncode == 0, lab.stderr
    # prod: e-mail not masked there, the card kept to its last four, IPs off as in the base.
    assert EMAIL.encode() in prod.stdout
    assert IP.encode() in prod.stdout
    assert CARD.encode() not in prod.stdout
    assert b"1111" in prod.stdout
    # lab: the base's e-mail masking plus IPv4; cards redacted.
    for value in (CARD, EMAIL, IP):
        assert value.encode() not in lab.stdout
    assert b"[MASKED:ipv4]" in lab.stdout
    assert b"[MASKED:credit_card]" in lab.stdout
    assert b"plain tail" in lab.stdout


def test_run_notice_is_on_stderr_and_stdout_carries_only_masked_output(
    broker: BrokerProcess,
) -> None:
    result = broker.run_ssh("alice", "run", "lab-web", "--", "cat rules.txt")
    assert result.returncode == 0
    assert result.stderr.endswith(
        b"gatehouse: 3 values masked (credit_card 1, email 1, ipv4 1)\n"
    ), result.stderr
    assert result.stderr.count(b"gatehouse:") == 1
    assert b"gatehouse" not in result.stdout
    assert b"\x1b" not in result.stdout  # no title sequence without a pty
    assert result.stdout.endswith(b"plain tail\n")
    clean = broker.run_ssh("alice", "run", "lab-web", "--", "echo nothing to hide")
    assert clean.stdout == b"nothing to hide\n"
    assert clean.stderr == b""


def _pane_title(client: TmuxClient) -> str:
    return client._tmux("display-message", "-p", "-t", SESSION, "#{pane_title}").strip()


def _wait_title(client: TmuxClient, expected: str, timeout: float = 10.0) -> str:
    def shown() -> str:
        title = _pane_title(client)
        return title if expected in title else ""

    return wait_until(shown, timeout, f"a window title with {expected!r}")


def test_terminal_session_shows_the_live_count_in_the_window_title(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", "connect", "lab-web", tty=True))
    prompt = re.compile(r"gh-target@\S+:~\$\s*$", re.M)
    client.wait_for(prompt, timeout=15)
    assert "masked" not in _pane_title(client)
    client.send_text("cat rules.txt\n")
    screen = client.wait_for("plain tail")
    title = _wait_title(client, "gatehouse: 3 values masked")
    assert title == "gatehouse: 3 values masked (credit_card 1, email 1, ipv4 1)"
    for value in (CARD, EMAIL, IP):
        assert value not in screen
        assert value not in title
    # Counts that arrive within a second of the last title are held back by the throttle
    # (right after the first one, here); the end of the session still shows the total.
    client.send_text("cat rules.txt; sleep 0.2; cat rules.txt; exit\n")
    assert client.wait_exit(timeout=15) == 0
    final = _wait_title(client, "9 values", timeout=5)
    assert final == "gatehouse: 9 values masked (credit_card 3, email 3, ipv4 3)"


def test_audit_names_the_policy_each_session_ran_under(broker: BrokerProcess) -> None:
    audit = b"".join(
        p.read_bytes() for p in sorted((broker.dir / "state" / "audit").glob("*.jsonl"))
    )
    assert b'"policy":"prod-readers"' in audit
    assert b'"policy":"lab-network"' in audit
    casts = {p: p.read_bytes() for p in (broker.dir / "state" / "recordings").glob("*.cast")}
    # The recording holds the target's output masked line by line, not the broker's own
    # indicator (decision 021).
    assert not any(TITLE_OSC.search(c.replace(b"\\u001b", b"\x1b")) for c in casts.values())
    lab = [c for c in casts.values() if b'"connection": "lab-web"' in c.split(b"\n", 1)[0]]
    assert lab, "lab sessions were recorded"
    for cast in casts.values():
        assert CARD.encode() not in cast
    for cast in lab:
        for value in (EMAIL, IP):
            assert value.encode() not in cast
