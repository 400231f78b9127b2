"""`command.run` is durable before the command starts: if it cannot be written, nothing runs."""

from __future__ import annotations

import asyncio
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
        "connections: {shell: {type: local, command: [bash, --norc]}}\n"
    )
    config, policies = load_all(tmp_path / "gatehouse.yaml")
    ensure_keys(StatePaths(config.state_dir))
    return Services(config, policies, StatePaths(config.state_dir).vault(), audit)  # type: ignore[arg-type]


def test_command_does_not_start_when_its_record_cannot_be_written(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
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

    with pytest.raises(AuditWriteError):
        asyncio.run(attempt())
    assert not marker.exists()
    assert "session.start" not in audit.records
