"""Hostile: deleting the whole audit log (segments and local checkpoints) reads as "intact"."""

from __future__ import annotations

from tests.harness.accounts import local_connection
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
"""


def test_verify_fails_when_the_audit_log_was_deleted() -> None:
    proc = BrokerProcess(
        {"alice": ["engineers"]}, {"shell": local_connection(["bash", "--norc"])}, POLICY
    )
    with proc:
        result = proc.run_ssh("alice", "run", "shell", "--", "id")
        assert result.returncode == 0, result.stderr
    audit = proc.dir / "state" / "audit"
    control = proc.cli("audit", "verify")
    assert control.returncode == 0, control.stdout + control.stderr
    for path in [*audit.glob("audit-*.jsonl"), audit / "checkpoints.jsonl"]:
        path.unlink(missing_ok=True)
    result = proc.cli("audit", "verify")
    # a broker ran here (broker.start, logins, a command): an empty log is not intact
    assert result.returncode != 0, result.stdout.decode()
