"""`command.run` is durable before the command starts: if it cannot be written, nothing runs."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from broker.common.errors import AuditWriteError
from broker.config.load import load_all
from broker.config.state import StatePaths
from broker.frontdoor.channel import Principal
from broker.runtime.provision import ensure_keys
from broker.services import Services
from tests.harness.accounts import ensure_local_account
from tests.tui.fakes import FakeChannel


class AuditFailingAt:
    """Appends every event in memory, but fails to write the given action."""

    healthy = True

    def __init__(self, action: str) -> None:
        self.action = action
        self.records: list[str] = []

    async def emit(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        if action == self.action:
            raise AuditWriteError("disk full")
        self.records.append(action)


def services(tmp_path: Path, audit: AuditFailingAt) -> Services:
    (tmp_path / "p.yaml").write_text(
        "access: [{name: all, groups: [eng], connections: ['*'], action: allow}]\n"
    )
    (tmp_path / "gatehouse.yaml").write_text(
        "policies: [p.yaml]\nrecording: {strict: false}\n"
        "connections: {shell: {type: local, command: [bash, --norc], accepts: shell, "
        f"run_as: {ensure_local_account()}}}}}\n"
    )
    config, policies = load_all(tmp_path / "gatehouse.yaml")
    ensure_keys(StatePaths(config.state_dir))
    return Services(config, policies, StatePaths(config.state_dir).vault(), audit)  # type: ignore[arg-type]


def test_command_does_not_start_when_its_record_cannot_be_written(tmp_path: Path) -> None:
    # where the local connection's account could write the marker (pytest's tmp is root's)
    drop = Path(tempfile.mkdtemp(prefix="gh-drop-", dir="/tmp"))
    account = pwd.getpwnam(ensure_local_account())
    os.chown(drop, account.pw_uid, account.pw_gid)
    marker = drop / "ran"
    audit = AuditFailingAt("command.run")
    broker = services(tmp_path, audit)
    principal = Principal("alice", ("eng",))

    async def attempt() -> None:
        try:
            channel = FakeChannel(principal=principal)
            await broker.run(principal, "shell", f"touch {marker}", channel)  # type: ignore[arg-type]
        finally:
            await broker.settle()
            await broker.recorders.stop()

    try:
        with pytest.raises(AuditWriteError):
            asyncio.run(attempt())
        assert not marker.exists()
    finally:
        shutil.rmtree(drop)
    assert "session.start" not in audit.records
