"""File transfer and forwarding through the front door, with the real OpenSSH clients: each is
refused with a message that says what the broker allows, and each refusal is an audit record."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.process import LOOPBACK, free_port, port_accepts, wait_until
from tests.support.broker import BrokerProcess, shell_broker

CLIENT_OPTIONS = [
    *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
    *("-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"),
    # INFO, OpenSSH's default: it prints a refused channel's reason at that level
    *("-o", "LogLevel=INFO"),
]
TRANSFER = "file transfer (scp, sftp) is not available through the broker; use `run CONN -- cat"
FORWARDING = "port forwarding (ssh -L, -D) is not available through the broker; open a session"


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    with shell_broker() as proc:
        yield proc


def refusals(broker: BrokerProcess, action: str) -> list[dict[str, Any]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return [r for r in out if r["action"] == action]


def wait_for_refusal(broker: BrokerProcess, action: str, kind: str, seen: int) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = [r for r in refusals(broker, action) if r["details"]["kind"] == kind]
        return found[-1] if len(found) > seen else None

    return wait_until(probe, timeout=10, what=f"{action} {kind}", detail=broker.log)


def count(broker: BrokerProcess, action: str, kind: str) -> int:
    return sum(1 for r in refusals(broker, action) if r["details"]["kind"] == kind)


def client(broker: BrokerProcess, program: str, *args: str) -> subprocess.CompletedProcess[str]:
    port_flag = "-p" if program == "ssh" else "-P"
    argv = [program, *CLIENT_OPTIONS, "-i", str(broker.keys["alice"]), port_flag, str(broker.port)]
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_sftp_is_refused_with_what_to_use_and_audited(broker: BrokerProcess) -> None:
    before = count(broker, "transfer.refused", "sftp")
    result = client(broker, "sftp", "-b", "/dev/null", f"alice@{LOOPBACK}")
    assert result.returncode != 0
    assert TRANSFER in result.stderr
    record = wait_for_refusal(broker, "transfer.refused", "sftp", before)
    assert record["actor"] == "alice"
    assert record["details"]["request"] == "sftp"


def test_scp_is_refused_with_what_to_use_and_audited(broker: BrokerProcess, tmp_path: Path) -> None:
    before = count(broker, "transfer.refused", "sftp")
    result = client(broker, "scp", f"alice@{LOOPBACK}:/etc/hostname", str(tmp_path / "got"))
    assert result.returncode != 0
    assert TRANSFER in result.stderr
    assert not (tmp_path / "got").exists()
    wait_for_refusal(broker, "transfer.refused", "sftp", before)


def test_legacy_scp_protocol_is_refused_and_audited(broker: BrokerProcess, tmp_path: Path) -> None:
    """`scp -O` asks for `scp -f FILE` as a command, not the sftp subsystem."""
    before = count(broker, "transfer.refused", "scp")
    result = client(broker, "scp", "-O", f"alice@{LOOPBACK}:/etc/hostname", str(tmp_path / "got"))
    assert result.returncode != 0
    assert TRANSFER in result.stderr
    assert not (tmp_path / "got").exists()
    wait_for_refusal(broker, "transfer.refused", "scp", before)


def test_local_forwarding_is_refused_with_what_to_use_and_audited(broker: BrokerProcess) -> None:
    before = count(broker, "forwarding.refused", "local")
    local = free_port()
    argv = [
        "ssh",
        *CLIENT_OPTIONS,
        *("-i", str(broker.keys["alice"]), "-p", str(broker.port), "-N"),
        *("-L", f"{LOOPBACK}:{local}:{LOOPBACK}:22", f"alice@{LOOPBACK}"),
    ]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: port_accepts(local) or None, timeout=10, what="ssh -L listening")
        with socket.create_connection((LOOPBACK, local), timeout=10) as sock:
            assert sock.recv(64) == b""  # the broker refused the channel: nothing comes through
        record = wait_for_refusal(broker, "forwarding.refused", "local", before)
        assert record["details"]["request"] == f"{LOOPBACK}:22"
    finally:
        proc.kill()  # as below: SIGTERM may wait for the client's next wake-up
        _, err = proc.communicate(timeout=10)
    assert "administratively prohibited" in err
    assert FORWARDING in err


def test_stdio_forwarding_is_refused_with_the_message(broker: BrokerProcess) -> None:
    """`ssh -W` (what ProxyJump uses) is the same direct-tcpip request."""
    before = count(broker, "forwarding.refused", "local")
    result = client(broker, "ssh", "-W", f"{LOOPBACK}:22", f"alice@{LOOPBACK}")
    assert result.returncode != 0
    assert FORWARDING in result.stderr
    wait_for_refusal(broker, "forwarding.refused", "local", before)


def test_remote_forwarding_is_refused_and_audited(broker: BrokerProcess) -> None:
    before = count(broker, "forwarding.refused", "remote")
    result = client(broker, "ssh", "-R", f"{LOOPBACK}:0:{LOOPBACK}:9", f"alice@{LOOPBACK}", "list")
    assert result.returncode == 0, result.stderr  # the command still runs
    assert "shell" in result.stdout
    record = wait_for_refusal(broker, "forwarding.refused", "remote", before)
    assert record["details"]["request"] == f"{LOOPBACK}:0"


def test_agent_forwarding_is_refused_with_the_message_and_audited(
    broker: BrokerProcess, tmp_path: Path
) -> None:
    before = count(broker, "forwarding.refused", "agent")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: sock.exists() or None, timeout=10, what="ssh-agent socket")
        argv = ["ssh", *CLIENT_OPTIONS, "-i", str(broker.keys["alice"]), "-p", str(broker.port)]
        result = subprocess.run(
            [*argv, "-A", f"alice@{LOOPBACK}", "list"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "SSH_AUTH_SOCK": str(sock)},
        )
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "agent forwarding (ssh -A) is not available through the broker" in result.stderr
    wait_for_refusal(broker, "forwarding.refused", "agent", before)


def test_x11_forwarding_is_refused_with_the_message_and_audited(broker: BrokerProcess) -> None:
    before = count(broker, "forwarding.refused", "x11")
    argv = ["ssh", *CLIENT_OPTIONS, "-i", str(broker.keys["alice"]), "-p", str(broker.port)]
    result = subprocess.run(
        [*argv, "-X", f"alice@{LOOPBACK}", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "DISPLAY": ":99"},  # no X server is needed to ask for forwarding
    )
    assert result.returncode == 0, result.stderr
    assert "X11 forwarding (ssh -X) is not available through the broker" in result.stderr
    wait_for_refusal(broker, "forwarding.refused", "x11", before)


def test_any_other_subsystem_is_refused_and_audited(broker: BrokerProcess) -> None:
    before = count(broker, "transfer.refused", "subsystem")
    result = client(broker, "ssh", "-s", f"alice@{LOOPBACK}", "netconf")
    assert result.returncode == 1
    assert "gatehouse: subsystems are not available through the broker; open a session" in (
        result.stderr
    )
    record = wait_for_refusal(broker, "transfer.refused", "subsystem", before)
    assert record["details"]["request"] == "netconf"


def test_dynamic_forwarding_is_refused_and_audited(broker: BrokerProcess) -> None:
    """`ssh -D`: a SOCKS request through it becomes a refused direct-tcpip channel."""
    before = count(broker, "forwarding.refused", "local")
    local = free_port()
    argv = ["ssh", *CLIENT_OPTIONS, "-i", str(broker.keys["alice"]), "-p", str(broker.port)]
    proc = subprocess.Popen(
        [*argv, "-N", "-D", f"{LOOPBACK}:{local}", f"alice@{LOOPBACK}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: port_accepts(local) or None, timeout=10, what="ssh -D listening")
        with socket.create_connection((LOOPBACK, local), timeout=10) as sock:
            sock.sendall(b"\x05\x01\x00")  # SOCKS5, one method: no authentication
            assert sock.recv(2) == b"\x05\x00"
            sock.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x16")  # CONNECT 127.0.0.1:22
            assert sock.recv(64) in (b"", b"\x05\x01")  # refused: closed, or a SOCKS failure
        record = wait_for_refusal(broker, "forwarding.refused", "local", before)
        assert record["details"]["request"] == f"{LOOPBACK}:22"
    finally:
        # SIGKILL, not SIGTERM: an `ssh -N` client that takes SIGTERM between two polls acts on
        # it only at its next wake-up (seen: 10 s later). What it printed is in the pipe either way.
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert FORWARDING in err
