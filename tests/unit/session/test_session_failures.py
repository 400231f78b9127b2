"""The session core failing closed: command rules, recordings that fail, masking that fails."""

from __future__ import annotations

import asyncio
import re

import pytest

from broker.common.errors import GatehouseError
from broker.masking import Detector, MaskingEngine, MaskingPolicy
from broker.masking.filter import MaskingFilter
from broker.masking.stream import NOTICE
from broker.policy.access import Action, Decision
from broker.session.ports import CommandPolicy
from tests.support.session_fakes import WAIT, FakeRecorders, Rig, allow_all

# -- command rules ------------------------------------------------------------


def no_rm_root(action: Action) -> CommandPolicy:
    def policy(line: str) -> Decision:
        if re.search(r"rm\s+-rf\s+/(\s|$)", line):
            return Decision(action=action, rule="no-rm-root")
        return allow_all(line)

    return policy


@pytest.mark.parametrize(
    ("action", "told"),
    [("deny", "command denied"), ("approval", "command needs an approval")],
)
async def test_a_command_rule_wipes_the_entered_line_and_tells_the_user(
    action: Action, told: str
) -> None:
    rig = Rig()
    session = await rig.open(policy=no_rm_root(action))
    upstream = rig.target.upstream
    upstream.prints(b"$ ")
    task = await rig.running(session)

    rig.terminal.type(b"rm -rf /\r")
    # the line is cleared on the target (Ctrl-E Ctrl-U) before Enter: it never runs
    assert upstream.input == b"rm -rf /\x05\x15\r"
    assert f"[gatehouse: {told} by rule 'no-rm-root']".encode() in rig.terminal.screen
    assert rig.events.only("policy.denied") == {
        "rule": "no-rm-root",
        "reason": f"command line {action}",
        "session": session.session_id,
    }

    upstream.prints(b"\r\n$ ")  # the target answers the wiped line with a fresh prompt
    rig.terminal.type(b"ls\r")
    upstream.prints(b"ls\r\n")
    assert rig.events.only("command.line")["command"] == "ls"  # the refused line is not stored
    assert rig.recorders.recorder.markers == ["ls"]
    upstream.exits(0)
    await asyncio.wait_for(task, WAIT)


async def test_command_rules_are_not_asked_in_a_run_session() -> None:
    """`run` is judged once, before the session opens (by the service facade)."""
    asked: list[str] = []

    def policy(line: str) -> Decision:
        asked.append(line)
        return Decision(action="deny", rule="everything")

    rig = Rig()
    session = await rig.open("run", command="cat", policy=policy)
    task = await rig.running(session)
    rig.terminal.type(b"rm -rf /\r")
    assert rig.target.upstream.input == b"rm -rf /\r"  # stdin of the command, not a command
    rig.target.upstream.exits(0)
    await asyncio.wait_for(task, WAIT)
    assert asked == []
    assert "policy.denied" not in rig.events.actions()


# -- recording failures ---------------------------------------------------------


async def test_strict_mode_refuses_a_session_that_cannot_be_recorded() -> None:
    rig = Rig(recorders=FakeRecorders(fails_with="the recorder process is not running"))
    with pytest.raises(GatehouseError, match="session refused: it cannot be recorded"):
        await rig.open()
    assert rig.target.requests == []  # the target is never opened
    assert rig.events.events == []


async def test_without_strict_mode_an_unrecordable_session_runs_unrecorded() -> None:
    rig = Rig(strict=False, recorders=FakeRecorders(fails_with="the recorder process is gone"))
    session = await rig.open()
    task = await rig.running(session)
    rig.target.upstream.prints(b"hello\r\n")
    rig.target.upstream.exits(0)
    result = await asyncio.wait_for(task, WAIT)
    assert rig.terminal.screen == b"hello\r\n"
    assert result.recording_sha256 == ""
    assert rig.events.actions() == ["session.start", "session.end"]
    assert rig.spawned.jobs == []


async def test_a_recording_that_fails_mid_session_ends_it_and_says_why() -> None:
    rig = Rig()
    session = await rig.open()
    upstream = rig.target.upstream
    task = await rig.running(session)
    upstream.prints(b"before\r\n")

    rig.recorders.recorder.fail("No space left on device")
    assert upstream.closed  # the target is closed at once
    upstream.prints(b"after\r\n")  # what was in flight is not forwarded unrecorded
    with pytest.raises(GatehouseError) as ended:
        await asyncio.wait_for(task, WAIT)

    assert str(ended.value) == "session ended: recording failed: No space left on device"
    assert rig.terminal.screen == b"before\r\n"
    assert rig.recorders.recorder.output == b"before\r\n"
    assert rig.events.only("recording.closed") == {
        "session": session.session_id,
        "sha256": "",
        "error": "recording failed: No space left on device",
    }
    end = rig.events.only("session.end")
    assert (end["exit_status"], end["recording_sha256"]) == (255, "")


# -- masking failures -------------------------------------------------------------


def _explode(value: bytes) -> bool:
    raise RuntimeError("validator bug")


def broken_masker(*, pty: bool = True) -> MaskingFilter:
    """A real masking stage whose one detector raises on every candidate (a bug in it)."""
    broken = Detector("broken", "secret", re.compile(rb"tok_\w+"), _explode)
    policy = MaskingPolicy(detectors=(broken,))
    return MaskingFilter(MaskingEngine(policy, key=b"test-key-0123456789abcdef"), pty=pty)


async def test_a_chunk_that_cannot_be_masked_is_withheld_and_audited() -> None:
    rig = Rig()
    session = await rig.open(maskers=[broken_masker()])
    upstream = rig.target.upstream
    task = await rig.running(session)

    upstream.prints(b"key tok_s3cr3tvalue here\r\n")
    assert b"tok_s3cr3tvalue" not in rig.terminal.screen
    assert NOTICE in rig.terminal.screen  # the user is told output was withheld
    assert b"tok_s3cr3tvalue" not in rig.recorders.recorder.output
    failure = rig.events.only("masking.error")
    assert failure == {
        "stream": "stdout",
        "offset": 0,
        "length": len(b"key tok_s3cr3tvalue here\r\n"),
        "error": "RuntimeError",
        "withheld": True,
    }

    upstream.prints(b"plain text\r\n")  # the session goes on with the next chunk
    assert rig.terminal.screen.endswith(b"plain text\r\n")
    upstream.exits(0)
    await asyncio.wait_for(task, WAIT)
    assert rig.events.only("masking.summary")["failures"] == [failure]
