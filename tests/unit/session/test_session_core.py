"""The session core with fakes at its edges: start, command capture and the end of a session."""

from __future__ import annotations

import asyncio
import time

import pytest

from broker.common.errors import UpstreamError
from broker.policy.access import Decision
from broker.session import brokered
from broker.session.factory import DEFAULT_TERM
from tests.support.session_fakes import ALICE, WAIT, FakeTerminal, Rig, allow_all


async def test_start_opens_the_target_at_the_users_size_and_audits_the_start() -> None:
    rig = Rig(terminal=FakeTerminal(ALICE, term_type="screen", cols=132))
    session = await rig.open()

    assert rig.target.requests == [{"command": None, "term_type": "screen", "size": (132, 24)}]
    assert rig.events.events == [
        (
            "alice",
            "session.start",
            "web-1",
            {"kind": "terminal", "session": session.session_id, "client": "127.0.0.1:40022"},
        )
    ]
    meta = rig.recorders.recorder.meta
    assert (meta.session_id, meta.user, meta.connection, meta.kind) == (
        session.session_id,
        "alice",
        "web-1",
        "terminal",
    )
    assert rig.recorders.recorder.size == (132, 24)
    assert rig.recorders.recorder.term == "screen"


async def test_a_terminal_without_term_type_gets_the_default_on_the_target() -> None:
    rig = Rig(terminal=FakeTerminal(ALICE, term_type=""))
    await rig.open()
    assert rig.target.requests[0]["term_type"] == DEFAULT_TERM


async def test_output_before_the_relay_runs_waits_then_reaches_user_and_recording() -> None:
    rig = Rig()
    session = await rig.open()
    rig.target.upstream.prints(b"motd\r\n$ ")
    assert rig.terminal.screen == b""  # the TUI may still own the screen

    task = await rig.running(session)
    assert rig.terminal.screen == b"motd\r\n$ "
    assert rig.recorders.recorder.output == b"motd\r\n$ "
    rig.target.upstream.exits(0)
    await asyncio.wait_for(task, WAIT)


async def test_a_run_session_marks_and_audits_its_command_and_keeps_stderr_apart() -> None:
    rig = Rig(terminal=FakeTerminal(ALICE, term_type=""))
    session = await rig.open("run", command="uptime")

    assert rig.target.requests == [{"command": "uptime", "term_type": None, "size": (80, 24)}]
    assert rig.events.actions() == ["command.run", "session.start"]  # durable before it runs
    assert rig.events.only("session.start")["command"] == "uptime"
    assert rig.events.only("command.run") == {"command": "uptime", "session": session.session_id}
    assert rig.recorders.recorder.markers == ["uptime"]

    task = await rig.running(session)
    rig.target.upstream.prints(b"up 3 days\n")
    rig.target.upstream.prints(b"warning\n", stderr=True)
    rig.target.upstream.exits(0)
    await asyncio.wait_for(task, WAIT)
    assert bytes(rig.terminal.screen) == b"up 3 days\n"
    assert bytes(rig.terminal.stderr) == b"warning\n"


async def test_an_entered_command_is_audited_and_marked_when_its_echo_completes() -> None:
    judged: list[str] = []
    rig = Rig()

    def policy(line: str) -> Decision:
        judged.append(line)
        return allow_all(line)

    session = await rig.open(policy=policy)
    upstream = rig.target.upstream
    upstream.prints(b"$ ")
    task = await rig.running(session)

    rig.terminal.type(b"ls -l\r")
    assert upstream.input == b"ls -l\r"
    assert judged == ["ls -l"]
    assert "command.line" not in rig.events.actions()  # not echoed yet: nothing stored

    upstream.prints(b"ls -l\r\n")
    assert rig.events.only("command.line") == {"command": "ls -l", "session": session.session_id}
    assert rig.recorders.recorder.markers == ["ls -l"]

    upstream.exits(0)
    result = await asyncio.wait_for(task, WAIT)
    assert rig.events.only("session.end")["commands"] == 1
    assert result.exit_status == 0


async def test_a_window_change_reaches_the_target_and_the_recording() -> None:
    rig = Rig()
    session = await rig.open()
    task = await rig.running(session)
    consumer = rig.terminal.consumer
    assert consumer is not None
    consumer.size_changed(100, 30)
    assert rig.target.upstream.sizes == [(100, 30)]
    assert rig.recorders.recorder.resizes == [(100, 30)]
    rig.target.upstream.exits(0)
    await asyncio.wait_for(task, WAIT)


async def test_the_end_audits_status_bytes_and_the_recordings_hash() -> None:
    rig = Rig()
    session = await rig.open()
    task = await rig.running(session)
    rig.terminal.type(b"echo hi\r")
    rig.target.upstream.prints(b"echo hi\r\nhi\r\n")
    rig.target.upstream.exits(3)

    result = await asyncio.wait_for(task, WAIT)
    sha = "sha-of-13-bytes"
    assert (result.exit_status, result.bytes_in, result.bytes_out) == (3, 8, 13)
    assert (result.session_id, result.recording_sha256) == (session.session_id, sha)
    assert rig.events.actions()[-2:] == ["recording.closed", "session.end"]
    assert rig.events.only("recording.closed") == {"session": session.session_id, "sha256": sha}
    end = rig.events.only("session.end")
    assert isinstance(end.pop("seconds"), float)
    assert end == {
        "session": session.session_id,
        "exit_status": 3,
        "bytes_in": 8,
        "bytes_out": 13,
        "recording_sha256": sha,
        "commands": 1,
    }
    assert rig.recorders.recorder.closed
    assert rig.spawned.jobs == [("build_index_detached", False)]  # the index, non-essential
    assert rig.terminal.consumer is None  # the user's input goes back to whoever is next


async def test_the_user_hanging_up_ends_the_target_session() -> None:
    rig = Rig()
    session = await rig.open()
    task = await rig.running(session)
    rig.terminal.hang_up()
    result = await asyncio.wait_for(task, WAIT)
    assert rig.target.upstream.closed
    assert result.exit_status == 255
    assert rig.events.only("session.end")["exit_status"] == 255


async def test_a_target_that_cannot_be_opened_keeps_the_empty_recording() -> None:
    rig = Rig()
    rig.target.fails_with = UpstreamError("web-1: connection refused")
    with pytest.raises(UpstreamError, match="connection refused"):
        await rig.open()
    assert rig.recorders.recorder.closed
    assert rig.events.actions() == ["recording.closed"]
    assert rig.spawned.jobs == [("build_index_detached", False)]


async def test_a_session_is_warned_then_ended_when_its_access_window_closes() -> None:
    rig = Rig()
    session = await rig.open()
    session.ends_at = time.time() + 0.3
    session.end_what = "access window of rule 'prod-office'"
    task = await rig.running(session)
    await asyncio.wait_for(task, WAIT)
    said = bytes(rig.terminal.stderr)
    assert b"your access window of rule 'prod-office' ends in 0 s" in said
    assert b"your access window of rule 'prod-office' has ended; the session is ended" in said
    assert rig.events.only("session.end")["ended_by"] == "access window closed"


async def test_a_revoked_grant_ends_the_session_with_who_and_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(brokered, "GRANT_CHECK", 0.01)
    asked: list[int] = []

    async def revoked() -> str | None:
        asked.append(1)
        return "REQ-1 was revoked by bob: \x1b[2Jdone" if len(asked) > 2 else None

    rig = Rig()
    session = await rig.open()
    session.ends_at = time.time() + 3600
    session.grant_revoked = revoked
    task = await rig.running(session)
    await asyncio.wait_for(task, WAIT)
    said = bytes(rig.terminal.stderr)
    assert b"your access grant REQ-1 was revoked by bob: " in said
    assert b"\x1b[2J" not in said  # the comment is data, not a screen clear
    assert rig.events.only("session.end")["ended_by"] == "grant revoked"
