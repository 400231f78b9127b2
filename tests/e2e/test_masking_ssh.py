"""Planted secrets on a real sshd target never reach the user, the recording or any broker file."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: ["*"], action: allow}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
  custom: [{name: internal-token, regex: "tok_[A-Za-z0-9]{24}", strategy: redact}]
"""

SECRETS = {
    "credit_card": "4111 1111 1111 1111",
    "email": "jane.doe@example.com",
    "aws": "AKIAQ7XJ2RDJ6NNDE4PL",
    "github": "ghp_R2mWq8Lz4Xc9Vb1Nk7Hd3Fg6Js0Ta5Ye8Ui2",
    "iban": "DE89370400440532013000",
    "ssn": "219-09-9999",
    "url_password": "postgres://app:Sup3rS3cretPw@db.internal:5432/shop",
    "custom": "tok_AbCdEfGhIjKlMnOpQrStUvWx",
}
VALUES = {
    "credit_card": "4111 1111 1111 1111",
    "email": "jane.doe@example.com",
    "aws": "AKIAQ7XJ2RDJ6NNDE4PL",
    "github": "ghp_R2mWq8Lz4Xc9Vb1Nk7Hd3Fg6Js0Ta5Ye8Ui2",
    "iban": "DE89370400440532013000",
    "ssn": "219-09-9999",
    "url_password": "Sup3rS3cretPw",
    "custom": "tok_AbCdEfGhIjKlMnOpQrStUvWx",
}
TYPED_PASSWORD = "no-echo-Pa55word-77"


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    body = "".join(f"{name}: {value}\n" for name, value in SECRETS.items())
    sshd_target.write_home_file("planted.txt", "some log line\n" + body + "plain tail\n")
    conn = sshd_target.connection()
    proc = BrokerProcess({"alice": ["engineers"]}, {"web": conn}, POLICY)
    proc.set_secret("web", sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def broker_files(broker: BrokerProcess) -> bytes:
    seen = b""
    for path in broker.dir.rglob("*"):
        if path.is_file() and "_ed25519" not in path.name:
            seen += path.read_bytes()
    return seen


def assert_clean(blob: bytes, where: str) -> None:
    for name, value in VALUES.items():
        assert value.encode() not in blob, f"{name} leaked in {where}"


def test_run_output_is_masked(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web", "--", "cat planted.txt; cat planted.txt >&2")
    assert result.returncode == 0
    assert_clean(result.stdout, "stdout")
    assert_clean(result.stderr, "stderr")
    assert b"some log line" in result.stdout
    assert b"plain tail" in result.stdout
    assert b"[MASKED:" in result.stdout
    assert b"[MASKED:" in result.stderr


def test_terminal_session_is_masked_and_no_echo_input_is_not_recorded(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", "connect", "web", tty=True))
    prompt = re.compile(r"gh-target@\S+:~\$\s*$", re.M)
    client.wait_for(prompt, timeout=15)
    client.send_text("cat planted.txt\n")
    screen = client.wait_for("plain tail")
    assert_clean(screen.encode(), "the user's screen")
    client.send_text("read -s -p 'Password: ' pw; echo; echo got-${#pw}\n")
    client.wait_for("Password:")
    client.send_text(TYPED_PASSWORD + "\n")
    client.wait_for(f"got-{len(TYPED_PASSWORD)}")
    client.send_text("exit\n")
    assert client.wait_exit(timeout=10) == 0


def test_nothing_on_disk_holds_a_secret(broker: BrokerProcess) -> None:
    blob = broker_files(broker)
    assert_clean(blob, "the broker's files (recordings, audit log, logs)")
    assert TYPED_PASSWORD.encode() not in blob
    recordings = list((broker.dir / "state" / "recordings").glob("*.cast"))
    assert recordings, "sessions were recorded"
    assert any(b"[MASKED:" in p.read_bytes() for p in recordings)
    audit = b"".join(p.read_bytes() for p in (broker.dir / "state" / "audit").glob("*.jsonl"))
    assert b'"masking.summary"' in audit
    assert b"value_hmacs" in audit


def test_recorded_commands_are_the_echoed_lines(broker: BrokerProcess) -> None:
    audit = b"".join(
        p.read_bytes() for p in sorted((broker.dir / "state" / "audit").glob("*.jsonl"))
    )
    assert b'"command":"cat planted.txt"' in audit
    assert TYPED_PASSWORD.encode() not in audit


def test_local_file_fixture_exists(sshd_target: SshdTarget) -> None:
    assert Path(sshd_target.home, "planted.txt").exists()
