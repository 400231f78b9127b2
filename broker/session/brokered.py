"""One brokered session's life: relay, masking, recording, command capture, and its audit trail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from broker.auditchain.events import Action
from broker.common.errors import GatehouseError
from broker.common.text import escape_controls
from broker.masking.events import MaskFailure
from broker.masking.lines import LineMask, mask_details, unmasked
from broker.policy.commands import describe
from broker.recording.recorder import build_index_detached, new_session_id
from broker.session.ports import CommandPolicy, MaskingStage, Recording, SessionEvents, Spawner
from broker.session.recording import LineRecording, StreamMaskers
from broker.session.relay import Relay
from broker.session.terminal import Principal, Terminal
from broker.upstream.base import OutputFilter, Upstream

GRANT_CHECK = 1.0
"""Seconds between two looks at whether a session's grant was revoked (any process may)."""
GRANT_WARNING = 60.0
"""Seconds before a session's end (its grant's) that the user is warned."""

SessionKind = Literal["terminal", "run"]
"""An interactive terminal session, or one command (`run`)."""


@dataclass(frozen=True)
class SessionResult:
    """How a relayed session ended."""

    exit_status: int
    bytes_in: int
    bytes_out: int
    seconds: float
    session_id: str = ""
    recording_sha256: str = ""
    masked: str = ""
    """`N values masked (…)` when masking ran."""


class BrokeredSession:
    """Target output → maskers → recorder → user; user input → command capture → target.

    Everything the session reports or starts goes through what it is handed: it never
    reaches back to the service facade. Built by :class:`~broker.session.factory.SessionFactory`.
    """

    def __init__(
        self,
        principal: Principal,
        connection: str,
        terminal: Terminal,
        kind: SessionKind,
        *,
        events: SessionEvents,
        spawn: Spawner,
        command_policy: CommandPolicy,
        maskers: Sequence[MaskingStage] = (),
        recorder: Recording | None = None,
        session_id: str = "",
        mask_line: LineMask = unmasked,
        record_maskers: StreamMaskers | None = None,
    ) -> None:
        """Wire the stages into a relay; nothing runs until :meth:`started` and :meth:`run`.

        Args:
            principal: Who runs the session (the actor of every event).
            connection: The connection's name (the target of every event).
            terminal: The user's terminal.
            kind: ``terminal`` (commands captured at Enter and judged) or ``run``.
            events: Where the session's audit events go.
            spawn: Runs background work (the recording's index).
            command_policy: Judges command lines entered in a terminal session.
            maskers: Masking stages, in pipeline order; their failures are audited here.
            recorder: The recording stage (after masking), or None when not recorded.
            session_id: The session's id (the recording's name); a new one if empty.
            mask_line: Masks every text the session writes (audit details, markers) with
                the session's policy; the proofs go into the same audit record.
            record_maskers: Masks the recording with whole lines as context (the recording
                then comes first in the pipeline, see :class:`LineRecording`); None records
                what the user receives.
        """
        self.principal = principal
        self.connection = connection
        self.kind = kind
        self.session_id = session_id or new_session_id()
        self.events = events
        self.spawn = spawn
        self.command_policy = command_policy
        self.commands: list[str] = []
        self.recorder = recorder
        self.mask_line = mask_line
        self.maskers = tuple(maskers)
        for masker in self.maskers:
            masker.on_failure = self._masking_failed
        stages: list[OutputFilter] = [*self.maskers]
        self.line_recording: LineRecording | None = None
        # A terminal session's output is shown on the user's terminal, whose width is known
        # (values drawn with cursor moves are found on its rows); a `run`'s is not.
        self._width = terminal.cols if kind == "terminal" else 0
        for masker in self.maskers:
            masker.resize(self._width, terminal.rows)
        if recorder is not None and record_maskers is not None:
            self.line_recording = LineRecording(
                recorder, record_maskers, binary_sticky=kind == "run", width=self._width
            )
            self.line_recording.on_failure = self._masking_failed
            stages.insert(0, self.line_recording)
            if self.maskers:  # the stage right after it sees the same raw output
                self.maskers[0].premasks = self.line_recording.premasks
        elif recorder is not None:
            stages.append(recorder)
        terminal_kind = kind == "terminal"
        self.relay = Relay(
            terminal,
            stages,
            on_command=self._on_command if terminal_kind else None,
            check_command=self._check_command if terminal_kind else None,
            split_stderr=kind == "run",
            # A line still held for the recording (a value being typed, maybe) is recorded
            # after a window change rather than released in part before it.
            on_resize=self._resized,
            flow=[recorder] if recorder is not None else [],
        )
        if recorder is not None:
            recorder.on_failure = self.relay.abort
        self.upstream: Upstream | None = None
        self.started_at = time.monotonic()
        self.terminal = terminal
        self.ends_at: float | None = None
        """When (epoch seconds) the session must end, e.g. its access grant's end; None: never."""
        self.grant_revoked: Callable[[], Awaitable[str | None]] | None = None
        """Asked every GRANT_CHECK seconds: why the session's grant was revoked (None: it stands)."""
        self.end_what = "access grant"
        """What ``ends_at`` is the end of, in the user's warning."""
        self.ended_by = ""
        """Why the broker ended the session, if it did."""

    def _resized(self, cols: int, rows: int) -> None:
        """The user's terminal changed size: tell the maskers (terminal sessions) and the
        recorder."""
        if self._width:
            self._width = cols
            for masker in self.maskers:
                masker.resize(cols, rows)
            if self.line_recording is not None:
                self.line_recording.resize(cols)
        if self.recorder is not None:
            self.recorder.resize(cols, rows)

    async def _emit(self, action: Action, details: Mapping[str, Any]) -> None:
        details = mask_details(details, self.mask_line)
        await self.events.emit(self.principal.name, action, self.connection, details)

    def _emit_soon(self, action: Action, details: Mapping[str, Any]) -> None:
        details = mask_details(details, self.mask_line)
        self.events.emit_soon(self.principal.name, action, self.connection, details)

    def _masking_failed(self, failure: MaskFailure) -> None:
        """A chunk could not be masked (the stage withheld it): audit that it happened."""
        self._emit_soon(Action.MASKING_ERROR, asdict(failure))

    async def started(self, upstream: Upstream, details: dict[str, Any]) -> None:
        """The upstream is open: record the start (its output waits for :meth:`run`)."""
        self.upstream = upstream
        self.relay.attach(upstream)
        await self._emit(
            Action.SESSION_START,
            {**details, "session": self.session_id, "client": self.principal.client_addr},
        )

    async def command_starting(self, command: str) -> None:
        """``command`` is about to be sent (`run`): audit it, awaited, and mark the recording."""
        await self._emit(Action.COMMAND_RUN, {"command": command, "session": self.session_id})
        self.note_command(command)

    def note_command(self, line: str) -> None:
        """A command is about to run: mark it in the recording, masked."""
        masked = self.mask_line(line).text
        self.commands.append(masked)
        if self.recorder is not None:
            if self.line_recording is not None:
                self.line_recording.settle()
            self.recorder.marker(masked)

    def _on_command(self, line: str) -> None:
        """The target echoed an entered command line: audit it and mark the recording.

        The audit record and the marker hold the line masked as a whole (a value typed key
        by key is seen whole here), with the proofs of what was masked.
        """
        self.note_command(line)
        details: dict[str, Any] = {"command": line, "session": self.session_id}
        self._emit_soon(Action.COMMAND_LINE, details)

    def _check_command(self, line: str) -> str | None:
        """Enter was pressed on ``line``: a refusal if a command rule forbids it.

        ``line`` may hold input the target never echoed, so it is judged, never stored.
        """
        verdict = self.command_policy(line)
        if verdict.action == "allow":
            return None
        details: dict[str, Any] = {
            "rule": verdict.rule,
            "reason": f"command line {verdict.action}"
            + (f": {verdict.reason}" if verdict.reason else ""),
            "session": self.session_id,
        }
        self._emit_soon(Action.POLICY_DENIED, details)
        return describe(verdict)

    async def abandon(self) -> None:
        """The upstream never opened: close and keep the (empty) recording."""
        await self._close_recording()

    async def _close_recording(self) -> str:
        if self.recorder is None:
            return ""
        sha = await self.recorder.close()
        details: dict[str, Any] = {"session": self.session_id, "sha256": sha}
        if self.recorder.error:
            details["error"] = self.recorder.error
        if self.recorder.nul_bytes:
            details["nul_bytes_not_recorded"] = self.recorder.nul_bytes
        await self._emit(Action.RECORDING_CLOSED, details)
        self.spawn(build_index_detached(self.recorder.path), essential=False)
        return sha

    async def _end_at(self, ends_at: float) -> None:
        """Warn the user before ``ends_at``, then end the session at it; end it at once (with
        a word why) when its grant is revoked."""
        warned = False
        while True:
            if self.grant_revoked is not None and (why := await self.grant_revoked()):
                self._end_session(f"your access grant {why}; the session is ended", "grant revoked")
                return
            left = ends_at - time.time()
            if left <= 0:
                what = self.end_what
                self._end_session(
                    f"your {what} has ended; the session is ended",
                    "grant expired" if what == "access grant" else "access window closed",
                )
                return
            if left <= GRANT_WARNING and not warned:
                warned = True
                self.terminal.write_stderr(
                    f"\r\ngatehouse: your {escape_controls(self.end_what)} ends in "
                    f"{round(left)} s; the session will be ended then\r\n".encode()
                )
            pause = left if warned else left - GRANT_WARNING
            if self.grant_revoked is not None:
                pause = min(pause, GRANT_CHECK)
            await asyncio.sleep(max(pause, 0.0))

    def _end_session(self, message: str, why: str) -> None:
        self.terminal.write_stderr(f"\r\ngatehouse: {escape_controls(message)}\r\n".encode())
        self.ended_by = why
        if self.upstream is not None:
            self.upstream.close()

    async def run(self) -> SessionResult:
        """Relay until the target ends; then close the recording and audit the outcome."""
        assert self.upstream is not None, "the upstream is opened first"
        relay = self.relay
        deadline = None
        if self.ends_at is not None:
            deadline = asyncio.get_running_loop().create_task(self._end_at(self.ends_at))
        try:
            status = await relay.run(self.upstream)
        finally:
            if deadline is not None:
                deadline.cancel()
        sha = await self._close_recording()
        masked = []
        for stage in self.maskers:
            report = stage.summary()
            if self.line_recording is not None and self.line_recording.summary():
                report = {**report, "recording": self.line_recording.summary()}
            if report:
                await self._emit(Action.MASKING_SUMMARY, {"session": self.session_id, **report})
            masked.append(stage.describe())
        result = SessionResult(
            status,
            relay.bytes_in,
            relay.bytes_out,
            time.monotonic() - self.started_at,
            self.session_id,
            sha,
            "; ".join(masked),
        )
        await self._emit(
            Action.SESSION_END,
            {
                "session": self.session_id,
                "exit_status": status,
                "bytes_in": relay.bytes_in,
                "bytes_out": relay.bytes_out,
                "seconds": round(result.seconds, 3),
                "recording_sha256": sha,
                "commands": len(self.commands),
                **({"ended_by": self.ended_by} if self.ended_by else {}),
            },
        )
        if relay.failure is not None:
            raise GatehouseError(f"session ended: {relay.failure}")
        return result
