"""Strict mode: with the audit log failing, no session starts and running ones end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from broker.common.errors import AuditWriteError, GatehouseError
from broker.config.load import load_all
from broker.config.state import StatePaths
from broker.runtime.provision import ensure_keys
from broker.services import Services
from broker.session.terminal import Principal
from tests.harness.accounts import ensure_local_account, local_connection
from tests.support.broker import BrokerProcess


class BrokenAudit:
    healthy = False

    async def emit(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        raise AuditWriteError("disk full")


def test_no_new_session_without_audit(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "access: [{name: all, groups: [eng], connections: ['*'], action: allow}]\n"
    )
    (tmp_path / "gatehouse.yaml").write_text(
        f"policies: [p.yaml]\nconnections: {{shell: {{type: local, command: [bash], "
        f"run_as: {ensure_local_account()}}}}}\n"
    )
    config, policies = load_all(tmp_path / "gatehouse.yaml")
    ensure_keys(StatePaths(config.state_dir))
    services = Services(config, policies, StatePaths(config.state_dir).vault(), BrokenAudit())
    with pytest.raises(GatehouseError, match="audit log cannot be written"):
        asyncio.run(services.authorize(Principal("alice", ("eng",)), "shell"))


def test_running_session_ends_when_audit_fails() -> None:
    """The broker process gets a file-size limit; once the audit log hits it, writes fail."""
    proc = BrokerProcess(
        {"alice": ["eng"]},
        {"shell": local_connection(["bash", "--norc"])},
        "access: [{name: all, groups: [eng], connections: ['*'], action: allow}]\n",
        extra={"recording": {"strict": False}},
    )
    proc.start()
    audit = proc.dir / "state" / "audit" / "audit-000001.jsonl"
    try:
        # a session that starts while the log is fine
        session = subprocess.Popen(
            proc.ssh("alice", "run", "shell", "--", "sleep 30; echo finished"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while b"session.start" not in audit.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        # make the audit log unwritable for the running broker (as a full disk would)
        os.chmod(audit, 0o400)
        subprocess.run(["chattr", "+a", str(audit)], check=False, capture_output=True)
        limit = audit.stat().st_size
        # the limit is the process's, for every file it writes: its log must stay below it
        assert proc.log_path.stat().st_size < limit - 1024, (proc.log(), limit)
        assert proc.proc is not None
        subprocess.run(
            ["prlimit", f"--pid={proc.proc.pid}", f"--fsize={limit}:{limit}"], check=True
        )
        os.kill(proc.proc.pid, 0)
        # the next audited event (a new login) fails to write …
        refused = proc.run_ssh("alice", "run", "shell", "--", "echo should-not-run", timeout=30)
        assert b"should-not-run" not in refused.stdout
        assert refused.returncode != 0
        # … and the running session is ended with a reason
        out, err = session.communicate(timeout=30)
        assert b"finished" not in out
        assert b"audit log cannot be written" in err
        deadline = time.monotonic() + 10
        while "audit log cannot be written" not in proc.log():
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.05)
    finally:
        subprocess.run(["chattr", "-a", str(audit)], check=False, capture_output=True)
        proc.stop()
