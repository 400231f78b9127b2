"""Approvals end to end through a real broker and OpenSSH clients: wait, approve, deny, restart."""

from __future__ import annotations

import csv
import io
import os
import re
import selectors
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.accounts import local_connection
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: prod-needs-approval, groups: [engineers], connections: ["prod-*"], action: approval,
     approvers: [approvers], approvals: 1, grant: 1h}
  - {name: dev-open, groups: [engineers], connections: [dev], action: allow}
commands:
  - {name: restart-needs-approval, argv: [[echo, restart, "**"]], action: approval,
     connections: [dev]}
"""
WAITING = re.compile(rb"waiting for approval (REQ-[A-Z0-9]+) \(needs 1 of approvers\)")


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    shell = local_connection(["bash", "--norc"], accepts="shell")
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["approvers"], "carol": ["approvers", "engineers"]},
        {"prod-a": shell, "prod-b": shell, "prod-c": shell, "prod-d": shell, "dev": shell},
        POLICY,
    )
    with proc:
        yield proc


def read_until(proc: subprocess.Popen[bytes], pattern: re.Pattern[bytes], timeout: float) -> bytes:
    """Read the process's stderr until ``pattern`` matches (bounded by ``timeout``)."""
    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while not pattern.search(buf):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; stderr so far: {buf!r}"
            if sel.select(min(left, 0.5)):
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, f"stderr closed: {buf!r}"
                buf += chunk
    finally:
        sel.close()
    return buf


def test_run_waits_until_bob_approves_over_ssh(broker: BrokerProcess) -> None:
    alice = subprocess.Popen(
        broker.ssh("alice", "run", "prod-a", "--reason", "INC-7", "--", "echo", "hello-prod"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        request_id = WAITING.search(read_until(alice, WAITING, 30))[1].decode()  # type: ignore[index]
        listed = broker.run_ssh("bob", "approvals")
        assert listed.returncode == 0, listed.stderr
        row = next(ln for ln in listed.stdout.decode().splitlines() if ln.startswith(request_id))
        assert row.split("\t")[1:4] == ["alice", "prod-a", "0/1"]
        assert row.endswith("INC-7")
        assert request_id not in broker.run_ssh("alice", "approvals").stdout.decode()
        mine = broker.run_ssh("alice", "approve", request_id)
        assert mine.returncode == 1
        assert b"own request" in mine.stderr or b"only members" in mine.stderr
        ok = broker.run_ssh("bob", "approve", request_id, "--comment", "go-ahead")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.decode().strip() == f"{request_id}: approved"
        out, _ = alice.communicate(timeout=30)
    finally:
        if alice.poll() is None:
            alice.kill()
            alice.wait()
    assert alice.returncode == 0
    assert out.strip() == b"hello-prod"
    # the grant lets the next session start without a new request
    again = broker.run_ssh("alice", "run", "prod-a", "--", "echo", "second")
    assert again.returncode == 0, again.stderr
    assert b"waiting" not in again.stderr
    twice = broker.run_ssh("bob", "approve", request_id)
    assert twice.returncode == 1
    assert b"already approved" in twice.stderr
    records = broker.audit_records()
    approved = [r for r in records if r["action"] == "approval.approved"]
    assert approved[-1]["actor"] == "bob"
    assert approved[-1]["details"]["comment"] == "go-ahead"
    assert approved[-1]["details"]["justification"] == "INC-7"
    kinds = [r["action"] for r in records if r["details"].get("request") == request_id]
    assert kinds[:3] == ["approval.requested", "approval.approved", "grant.created"]
    assert kinds.count("grant.used") == 2


def test_no_wait_exits_75_and_a_denied_request_refuses_with_the_reason(
    broker: BrokerProcess,
) -> None:
    asked = broker.run_ssh("alice", "run", "prod-b", "--no-wait", "--reason", "x", "--", "id")
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    assert re.fullmatch(r"REQ-[A-Z0-9]{10}", request_id)
    nocomment = broker.run_ssh("bob", "deny", request_id)
    assert nocomment.returncode == 2
    assert b"--comment" in nocomment.stderr
    denied = broker.run_ssh("bob", "deny", request_id, "--comment", "change-freeze")
    assert denied.returncode == 0, denied.stderr
    run = broker.run_ssh("alice", "run", "--request", request_id, "prod-b", "--", "id")
    assert run.returncode == 1
    assert f"{request_id} was denied by bob: change-freeze".encode() in run.stderr
    assert run.stdout == b""


def test_justification_is_required(broker: BrokerProcess) -> None:
    run = broker.run_ssh("alice", "run", "prod-b", "--", "id")
    assert run.returncode == 1
    assert b"justification" in run.stderr


def test_request_runs_exactly_the_approved_command(broker: BrokerProcess) -> None:
    asked = broker.run_ssh(
        "alice", "run", "dev", "--no-wait", "--reason", "deploy", "--", "echo restart app"
    )
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    assert broker.run_ssh("carol", "approve", request_id).returncode == 0
    other = broker.run_ssh("alice", "run", "--request", request_id, "dev", "--", "echo restart db")
    assert other.returncode == 1
    assert b"approves exactly `echo restart app`" in other.stderr
    assert other.stdout == b""
    ok = broker.run_ssh("alice", "run", "--request", request_id, "dev", "--", "echo restart app")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == b"restart app"


def test_a_restart_keeps_the_pending_request(broker: BrokerProcess) -> None:
    asked = broker.run_ssh("alice", "run", "prod-c", "--no-wait", "--reason", "r", "--", "id -un")
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    broker.stop()
    broker.start()
    assert request_id in broker.run_ssh("bob", "approvals").stdout.decode()
    assert broker.run_ssh("bob", "approve", request_id).returncode == 0
    run = broker.run_ssh("alice", "run", "--request", request_id, "prod-c", "--", "id -un")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()


def test_justification_from_gatehouse_reason_env(broker: BrokerProcess) -> None:
    argv = broker.ssh("alice", "run", "prod-b", "--no-wait", "--", "id")
    argv[1:1] = ["-o", "SendEnv=GATEHOUSE_REASON"]
    asked = subprocess.run(
        argv,
        capture_output=True,
        timeout=30,
        check=False,
        env={**os.environ, "GATEHOUSE_REASON": "from-the-env"},
    )
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    row = next(
        ln
        for ln in broker.run_ssh("bob", "approvals").stdout.decode().splitlines()
        if ln.startswith(request_id)
    )
    assert row.endswith("from-the-env")


def test_evidence_bundle_has_the_approvals_table(broker: BrokerProcess, tmp_path: Path) -> None:
    asked = broker.run_ssh("alice", "run", "prod-b", "--no-wait", "--reason", "INC-77", "--", "id")
    request_id = asked.stdout.decode().strip()
    assert broker.run_ssh("bob", "deny", request_id, "--comment", "not-now").returncode == 0
    bundle = tmp_path / "evidence.zip"
    result = broker.cli("evidence", "export", "--since", "2000-01-01", "-o", str(bundle))
    assert result.returncode == 0, result.stderr.decode()
    with zipfile.ZipFile(bundle) as z:
        rows = list(csv.DictReader(io.StringIO(z.read("tables/approvals.csv").decode())))
        controls = z.read("controls.md").decode()
    mine = [r for r in rows if r["details.request"] == request_id]
    assert [(r["action"], r["actor"], r["details.decision"]) for r in mine] == [
        ("approval.requested", "alice", "requested"),
        ("approval.denied", "bob", "deny"),
    ]
    assert mine[0]["details.justification"] == "INC-77"
    assert mine[1]["details.comment"] == "not-now"
    assert all(r["time"] for r in mine)
    assert "tables/approvals.csv" in controls


def test_workers_share_requests_and_decisions() -> None:
    """With --workers 2 a request waited on in one process is decided from either."""
    shell = local_connection(["bash", "--norc"], accepts="shell")
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["approvers"]},
        {f"prod-{n}": shell for n in range(4)},
        POLICY,
        workers=2,
    )
    with proc:
        for n in range(4):
            alice = subprocess.Popen(
                proc.ssh("alice", "run", f"prod-{n}", "--reason", "w", "--", "echo", f"ran-{n}"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                found = WAITING.search(read_until(alice, WAITING, 30))
                assert found is not None
                request_id = found[1].decode()
                assert request_id in proc.run_ssh("bob", "approvals").stdout.decode()
                assert proc.run_ssh("bob", "approve", request_id).returncode == 0
                out, _ = alice.communicate(timeout=30)
            finally:
                if alice.poll() is None:
                    alice.kill()
                    alice.wait()
            assert alice.returncode == 0
            assert out.strip() == f"ran-{n}".encode()
        records = [r for r in proc.audit_records() if r["action"] == "approval.approved"]
        assert len(records) == 4


def test_a_session_is_warned_and_ended_when_its_grant_ends() -> None:
    policy = POLICY.replace("grant: 1h", "grant: 4s")
    proc = BrokerProcess(
        {"alice": ["engineers"], "bob": ["approvers"]},
        {"prod-a": local_connection(["bash", "--norc"], accepts="shell")},
        policy,
    )
    with proc:
        asked = proc.run_ssh("alice", "run", "prod-a", "--no-wait", "--reason", "r", "--", "x")
        request_id = asked.stdout.decode().strip()
        assert proc.run_ssh("bob", "approve", request_id).returncode == 0
        started = time.monotonic()
        run = proc.run_ssh("alice", "run", "prod-a", "--", "echo started; sleep 60; echo late")
        took = time.monotonic() - started
        assert b"started" in run.stdout
        assert b"late" not in run.stdout
        assert took < 30
        assert b"your access grant ends in" in run.stderr
        assert b"your access grant has ended; the session is ended" in run.stderr
        assert run.returncode != 0
        ends = [r for r in proc.audit_records() if r["action"] == "session.end"]
        assert ends[-1]["details"]["ended_by"] == "grant expired"


def test_a_requester_who_disconnects_while_waiting_cancels_the_request(
    broker: BrokerProcess,
) -> None:
    alice = subprocess.Popen(
        broker.ssh("alice", "run", "prod-b", "--reason", "bye", "--", "id"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        found = WAITING.search(read_until(alice, WAITING, 30))
        assert found is not None
        request_id = found[1].decode()
    finally:
        alice.kill()
        alice.wait()
    deadline = time.monotonic() + 20
    while True:
        cancelled = [
            r
            for r in broker.audit_records()
            if r["action"] == "approval.cancelled" and r["details"]["request"] == request_id
        ]
        if cancelled:
            break
        assert time.monotonic() < deadline, "the request was not cancelled"
        time.sleep(0.1)
    assert cancelled[0]["details"]["why"] == "requester left"
    assert request_id not in broker.run_ssh("bob", "approvals").stdout.decode()


def test_a_justification_with_spaces_quoted_for_the_remote_side(broker: BrokerProcess) -> None:
    asked = broker.run_ssh(
        "alice", "run", "prod-b", "--no-wait", "--reason", "'INC-42 disk full'", "--", "id"
    )
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    row = next(
        ln
        for ln in broker.run_ssh("bob", "approvals").stdout.decode().splitlines()
        if ln.startswith(request_id)
    )
    assert row.endswith("\tINC-42 disk full")


def test_an_approver_revokes_a_grant_and_the_session_under_it_is_warned_and_ended(
    broker: BrokerProcess,
) -> None:
    asked = broker.run_ssh("alice", "run", "prod-d", "--no-wait", "--reason", "r", "--", "x")
    request_id = asked.stdout.decode().strip()
    assert broker.run_ssh("bob", "approve", request_id).returncode == 0
    alice = subprocess.Popen(
        broker.ssh("alice", "run", "prod-d", "--", "echo started >&2; sleep 60; echo late"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        read_until(alice, re.compile(rb"started"), 30)
        listed = broker.run_ssh("bob", "grants").stdout.decode()
        row = next(ln for ln in listed.splitlines() if ln.startswith(request_id))
        assert row.split("\t")[1:3] == ["alice", "prod-d"]
        # alice (engineers) approves nothing; she may give up her own grant, not others'
        assert request_id in broker.run_ssh("alice", "grants").stdout.decode()
        refused = broker.run_ssh("alice", "revoke", "REQ-UNKNOWN", "--comment", "x")
        assert refused.returncode == 1
        assert b"no grant REQ-UNKNOWN that you may revoke" in refused.stderr
        assert broker.run_ssh("bob", "revoke", request_id).returncode != 0  # comment required
        revoked = broker.run_ssh("bob", "revoke", request_id, "--comment", "incident-over")
        assert revoked.returncode == 0, revoked.stderr
        out, err = alice.communicate(timeout=20)
    finally:
        if alice.poll() is None:
            alice.kill()
            alice.wait()
    assert b"late" not in out
    assert f"your access grant {request_id} was revoked by bob: incident-over".encode() in err
    assert alice.returncode != 0
    records = broker.audit_records()
    revoked_rec = [r for r in records if r["action"] == "grant.revoked"]
    assert revoked_rec[-1]["actor"] == "bob"
    assert revoked_rec[-1]["details"]["request"] == request_id
    assert revoked_rec[-1]["details"]["comment"] == "incident-over"
    ends = [r for r in records if r["action"] == "session.end"]
    assert ends[-1]["details"]["ended_by"] == "grant revoked"
    # the grant is gone: a new session needs a new approval; revoking twice is refused
    again = broker.run_ssh("alice", "run", "prod-d", "--no-wait", "--reason", "r2", "--", "x")
    assert again.returncode == 75
    twice = broker.run_ssh("bob", "revoke", request_id, "--comment", "again")
    assert twice.returncode == 1
    assert b"grants nothing now" in twice.stderr
    assert request_id not in broker.run_ssh("bob", "grants").stdout.decode()


def test_insiders_cannot_decide_what_they_must_not(broker: BrokerProcess) -> None:
    """A non-approver, the requester herself (an approver too), and a closed request."""
    asked = broker.run_ssh("carol", "run", "prod-a", "--no-wait", "--reason", "mine", "--", "id")
    assert asked.returncode == 75, asked.stderr
    request_id = asked.stdout.decode().strip()
    own = broker.run_ssh("carol", "approve", request_id)
    assert own.returncode == 1
    assert b"you cannot approve or deny your own request" in own.stderr
    outsider = broker.run_ssh("alice", "approve", request_id)
    assert outsider.returncode == 1
    assert b"only members of approvers may decide it" in outsider.stderr
    assert request_id not in broker.run_ssh("carol", "approvals").stdout.decode()
    assert broker.run_ssh("bob", "deny", request_id, "--comment", "no").returncode == 0
    again = broker.run_ssh("bob", "approve", request_id)
    assert again.returncode == 1
    assert b"is already denied" in again.stderr
    hostile = broker.run_ssh("bob", "approve", "REQ-\x1b[2J")
    assert hostile.returncode != 0
    assert b"\x1b" not in hostile.stderr


def test_a_postgres_store_is_not_silently_taken_for_a_shared_one() -> None:
    dsn = "postgresql://gatehouse@127.0.0.1:1/gatehouse"
    with BrokerProcess(
        {"alice": ["engineers"]},
        {"prod-b": local_connection(["true"], accepts="shell")},
        POLICY,
        extra={"store": {"postgres": dsn}},
    ) as proc:
        made = proc.run_ssh("alice", "run", "prod-b", "--no-wait", "--reason", "x", "--", "id")
        assert made.returncode == 75, made.stderr
        assert "store: postgres is not implemented yet" in proc.log()
        assert (proc.dir / "state" / "approvals.sqlite3").exists()
