"""Command rules against a real broker and a real sshd: no way around them reads the planted file."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.policy.commands import decide_command
from broker.policy.loader import load_policies
from tests.harness.sshd import SshdTarget
from tests.support.broker import BrokerProcess
from tests.support.bypasses import BYPASSES, POLICY, Attempt

SECRET = f"planted-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    sshd_target.write_home_file("secret.txt", SECRET + "\n", mode=0o600)
    conn = sshd_target.connection("web-1")
    proc = BrokerProcess({"alice": ["engineers"]}, {"web-1": conn}, POLICY)
    proc.set_secret("web-1", sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def audit_records(broker: BrokerProcess) -> list[dict[str, Any]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return out


def test_control_reads_the_file_without_rules(sshd_target: SshdTarget, tmp_path: Path) -> None:
    """Without command rules the same broker setup hands the file over: the plant works."""
    sshd_target.write_home_file("secret.txt", SECRET + "\n", mode=0o600)
    policy = "access:\n  - {name: all, groups: [engineers], connections: ['*'], action: allow}\n"
    conn = sshd_target.connection("web-1")
    proc = BrokerProcess({"alice": ["engineers"]}, {"web-1": conn}, policy)
    proc.set_secret("web-1", sshd_target.client_key.read_bytes())
    with proc:
        result = proc.run_ssh("alice", "run", "web-1", "--", "cat ~/secret.tx?")
    assert result.returncode == 0, result.stderr
    assert SECRET.encode() in result.stdout


@pytest.mark.parametrize("attempt", BYPASSES, ids=[repr(a.command) for a in BYPASSES])
def test_bypass_is_refused_through_real_sshd(broker: BrokerProcess, attempt: Attempt) -> None:
    # The broker would send an allowed command to the target: never send an attack the pure
    # core lets through (some delete files).
    policies = load_policies([broker.dir / "policies" / "test.yaml"])
    verdict = decide_command(
        policies.commands, ("engineers",), "web-1", attempt.command, policies.interpreters
    )
    assert verdict.action != "allow", verdict
    result = broker.run_ssh(
        "alice", "run", "web-1", "--", attempt.command, stdin=b"cat ~/secret.txt\n"
    )
    assert result.returncode == 1, result
    assert SECRET.encode() not in result.stdout + result.stderr
    assert result.stdout == b""
    # an approval rule over ssh first asks why (approvals: a request needs a justification)
    says = "needs a justification" if attempt.says == "needs an approval" else attempt.says
    assert says.encode() in result.stderr, result.stderr
    assert f"'{attempt.rule}'".encode() in result.stderr or attempt.rule == "undecidable"


def test_refusals_are_audited_with_reason_and_nothing_ran(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web-1", "--", "bash", stdin=b"cat ~/secret.txt\n")
    assert result.returncode == 1
    records = audit_records(broker)
    denied = [r for r in records if r["action"] == "policy.denied"]
    assert any(
        "`bash` would read commands from stdin" in r["details"].get("reason", "") for r in denied
    )
    ran = {r["details"]["command"] for r in records if r["action"] == "command.run"}
    assert not ran & {a.command for a in BYPASSES}
    assert SECRET not in json.dumps(records)


def test_allowed_command_is_audited_before_it_starts(broker: BrokerProcess) -> None:
    command = f"echo started-{secrets.token_hex(4)} | tr a-z A-Z"
    result = broker.run_ssh("alice", "run", "web-1", "--", command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"STARTED-")
    records = audit_records(broker)
    run = next(
        r for r in records if r["action"] == "command.run" and r["details"]["command"] == command
    )
    start = next(
        r
        for r in records
        if r["action"] == "session.start" and r["details"]["session"] == run["details"]["session"]
    )
    assert run["seq"] < start["seq"]


@pytest.mark.parametrize("command", ["bash -c 'id -un'", "LANG=C id -un", "id -un; true"])
def test_ordinary_commands_run(
    broker: BrokerProcess, sshd_target: SshdTarget, command: str
) -> None:
    result = broker.run_ssh("alice", "run", "web-1", "--", command)
    assert (result.returncode, result.stdout) == (0, f"{sshd_target.user}\n".encode())
