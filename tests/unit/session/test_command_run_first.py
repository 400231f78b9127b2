"""A `run` command is audited before the target is asked to run it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from broker.common.errors import AuditWriteError
from tests.support.session_fakes import ListEvents, Rig


@dataclass
class CommandRunFails(ListEvents):
    async def emit(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        if action == "command.run":
            raise AuditWriteError("disk full")
        await super().emit(actor, action, target, details)


async def test_the_target_is_not_asked_when_command_run_cannot_be_written() -> None:
    rig = Rig(events=CommandRunFails())
    with pytest.raises(AuditWriteError):
        await rig.open("run", command="rm -rf /srv/data")
    assert rig.target.requests == []
    assert rig.events.actions() == ["recording.closed"]  # no command.run, no session.start
    assert rig.recorders.recorder.closed  # the (empty) recording is closed


async def test_command_run_precedes_the_target_and_the_start() -> None:
    rig = Rig()
    session = await rig.open("run", command="uptime")
    assert rig.events.actions() == ["command.run", "session.start"]
    assert rig.events.events[0][3] == {"command": "uptime", "session": session.session_id}
