"""One brokered session's life: relay, masking, recording, command capture, and its audit trail."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from broker.common.errors import GatehouseError
from broker.config.model import Connection
from broker.frontdoor.channel import Principal, TerminalChannel
from broker.policy.access import decide_command
from broker.recording.recorder import SessionRecorder, build_index_detached, new_session_id
from broker.session.relay import Relay
from broker.upstream.base import OutputFilter, Upstream
from recordings.asciicast import SessionMeta

if TYPE_CHECKING:
    from broker.services import Services


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
    """Target output → maskers → recorder → user; user input → command capture → target."""

    def __init__(
        self,
        services: Services,
        principal: Principal,
        conn: Connection,
        channel: TerminalChannel,
        kind: str,
        *,
        record: bool = True,
    ) -> None:
        self.services = services
        self.principal = principal
        self.conn = conn
        self.kind = kind
        self.session_id = new_session_id()
        self.commands: list[str] = []
        self.recorder: SessionRecorder | None = None
        if record:
            meta = SessionMeta(
                session_id=self.session_id,
                user=principal.name,
                connection=conn.name,
                client_addr=principal.client_addr,
                kind=kind,
            )
            self.recorder = SessionRecorder(
                services.recorders,
                services.review.store,
                meta,
                cols=channel.cols,
                rows=channel.rows,
                term=channel.term_type,
            )
        self.maskers = services.maskers_for(principal, conn, pty=kind == "terminal")
        stages: list[OutputFilter] = [*self.maskers]
        if self.recorder is not None:
            stages.append(self.recorder)
        self.relay = Relay(
            channel,
            stages,
            on_command=self._on_command if kind == "terminal" else None,
            check_command=self._check_command if kind == "terminal" else None,
            split_stderr=kind == "run",
            on_resize=self.recorder.resize if self.recorder is not None else None,
            flow=[self.recorder] if self.recorder is not None else [],
        )
        if self.recorder is not None:
            self.recorder.on_failure = self.relay.abort
        self.upstream: Upstream | None = None
        self.started_at = time.monotonic()

    async def _emit(self, action: str, details: dict[str, Any]) -> None:
        await self.services.events.emit(self.principal.name, action, self.conn.name, details)

    async def started(self, upstream: Upstream, details: dict[str, Any]) -> None:
        """The upstream is open: record the start (its output waits for :meth:`run`)."""
        self.upstream = upstream
        self.relay.attach(upstream)
        await self._emit(
            "session.start",
            {**details, "session": self.session_id, "client": self.principal.client_addr},
        )
        if self.kind == "run":
            for line in self.commands:
                await self._emit("command.run", {"command": line, "session": self.session_id})

    def note_command(self, line: str) -> None:
        """A command is about to run (`run`): mark it in the recording."""
        self.commands.append(line)
        if self.recorder is not None:
            self.recorder.marker(line)

    def _on_command(self, line: str) -> None:
        """The target echoed an entered command line: audit it and mark the recording."""
        self.note_command(line)
        details: dict[str, Any] = {"command": line, "session": self.session_id}
        self.services.emit_soon(self.principal.name, "command.line", self.conn.name, details)

    def _check_command(self, line: str) -> str | None:
        """Enter was pressed on ``line``: a refusal if a command rule forbids it.

        ``line`` may hold input the target never echoed, so it is judged, never stored.
        """
        services, who = self.services, self.principal
        verdict = decide_command(services.policies.commands, who.groups, self.conn.name, line)
        if verdict.action == "allow":
            return None
        details: dict[str, Any] = {
            "rule": verdict.rule,
            "reason": f"command line {verdict.action}",
            "session": self.session_id,
        }
        services.emit_soon(who.name, "policy.denied", self.conn.name, details)
        what = "needs an approval" if verdict.action == "approval" else "denied"
        return f"command {what} by rule {verdict.rule!r}"

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
        await self._emit("recording.closed", details)
        self.services.spawn(build_index_detached(self.recorder.path), essential=False)
        return sha

    async def run(self) -> SessionResult:
        """Relay until the target ends; then close the recording and audit the outcome."""
        assert self.upstream is not None, "the upstream is opened first"
        relay = self.relay
        status = await relay.run(self.upstream)
        sha = await self._close_recording()
        masked = []
        for stage in self.maskers:
            report = stage.summary()
            if report:
                await self._emit("masking.summary", {"session": self.session_id, **report})
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
            "session.end",
            {
                "session": self.session_id,
                "exit_status": status,
                "bytes_in": relay.bytes_in,
                "bytes_out": relay.bytes_out,
                "seconds": round(result.seconds, 3),
                "recording_sha256": sha,
                "commands": len(self.commands),
            },
        )
        if relay.failure is not None:
            raise GatehouseError(f"session ended: {relay.failure}")
        return result
