"""Builds one brokered session: its stages (maskers, recorder), its relay, then its upstream."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from broker.common.errors import GatehouseError, RecordingError
from broker.masking.lines import LineMask, unmasked
from broker.recording.recorder import RecorderLink, SessionRecorder, new_session_id
from broker.session.brokered import BrokeredSession, SessionKind
from broker.session.ports import (
    CommandPolicy,
    MaskingStage,
    Recording,
    SessionEvents,
    Spawner,
)
from broker.session.recording import StreamMaskers
from broker.session.terminal import Principal, Terminal
from broker.upstream.base import OutputCallback, Upstream
from recordings.asciicast import SessionMeta
from recordings.store import RecordingStore

log = logging.getLogger(__name__)

DEFAULT_TERM = "xterm-256color"
"""The TERM a terminal session's target gets when the client sent none."""


class UpstreamOpener(Protocol):
    """Opens the session on its target, sending its output to ``on_output``.

    Raises:
        UpstreamError, VaultError, GatehouseError: the target could not be opened.
    """

    async def __call__(
        self,
        on_output: OutputCallback,
        *,
        command: str | None,
        term_type: str | None,
        size: tuple[int, int],
    ) -> Upstream: ...


class RecorderStarter(Protocol):
    """Starts one session's recording.

    Raises:
        RecordingError: the session cannot be recorded.
    """

    async def __call__(
        self, meta: SessionMeta, *, cols: int, rows: int, term: str
    ) -> Recording: ...


def recorder_starter(link: RecorderLink, store: RecordingStore) -> RecorderStarter:
    """Recordings written by the recorder process behind ``link`` into ``store``."""

    async def start(meta: SessionMeta, *, cols: int, rows: int, term: str) -> Recording:
        await link.start()
        return SessionRecorder(link, store, meta, cols=cols, rows=rows, term=term)

    return start


@dataclass(frozen=True)
class SessionFactory:
    """Builds every session of a broker from the collaborators it is handed once.

    Authorization stays with the caller (the service facade): by the time :meth:`open`
    runs, the principal may open the connection and the command is allowed.
    """

    events: SessionEvents
    """Where sessions report (the audit log), now or from synchronous code."""
    spawn: Spawner
    """Runs background work (indexing a recording, events from synchronous code)."""
    start_recorder: RecorderStarter | None
    """Starts a session's recording; None records nothing."""
    strict_recording: bool = True
    """A session that cannot be recorded is refused; when false it runs unrecorded (logged)."""

    async def open(
        self,
        principal: Principal,
        connection: str,
        terminal: Terminal,
        kind: SessionKind,
        *,
        open_upstream: UpstreamOpener,
        command_policy: CommandPolicy,
        maskers: Callable[[], Sequence[MaskingStage]] = tuple,
        command: str | None = None,
        mask_line: LineMask = unmasked,
        record_maskers: StreamMaskers | None = None,
    ) -> BrokeredSession:
        """Build the stages and the relay, open the upstream, and record the start.

        The returned session's output waits for :meth:`BrokeredSession.run`.

        Args:
            principal: Who opens the session.
            connection: The connection's name.
            terminal: The user's terminal.
            kind: ``terminal`` (a shell in a pty) or ``run`` (``command``, no pty).
            open_upstream: Opens the target (bound to the connection by the caller).
            command_policy: Judges command lines typed in a terminal session.
            maskers: Builds the masking stages for this user on this connection (once the
                session is known to be recordable).
            command: The command of a ``run`` session.
            mask_line: Masks what the session writes (audit details, markers, command lines).
            record_maskers: Masks the recording line by line (None: it gets what the user does).

        Raises:
            GatehouseError: the session cannot be recorded (strict), or the upstream's
                own errors (UpstreamError, VaultError, ...); the recording is then closed.
        """
        session_id = new_session_id()
        meta = SessionMeta(
            session_id=session_id,
            user=principal.name,
            connection=connection,
            client_addr=principal.client_addr,
            kind=kind,
        )
        recorder = await self._recorder(meta, terminal)
        session = BrokeredSession(
            principal,
            connection,
            terminal,
            kind,
            events=self.events,
            spawn=self.spawn,
            command_policy=command_policy,
            maskers=maskers(),
            recorder=recorder,
            session_id=session_id,
            mask_line=mask_line,
            record_maskers=record_maskers,
        )
        try:
            if command is not None:
                await session.command_starting(command)  # durable before the target runs it
            upstream = await open_upstream(
                session.relay.on_output,
                command=command,
                term_type=terminal.term_type or DEFAULT_TERM if kind == "terminal" else None,
                size=(terminal.cols, terminal.rows),
            )
        except BaseException:
            await session.abandon()
            raise
        details: dict[str, Any] = {"kind": kind}
        if command is not None:
            details["command"] = command
        await session.started(upstream, details)
        return session

    async def _recorder(self, meta: SessionMeta, terminal: Terminal) -> Recording | None:
        if self.start_recorder is None:
            return None
        try:
            return await self.start_recorder(
                meta, cols=terminal.cols, rows=terminal.rows, term=terminal.term_type
            )
        except RecordingError as exc:
            if self.strict_recording:
                raise GatehouseError(f"session refused: it cannot be recorded ({exc})") from None
            log.error("recording unavailable, strict mode off: %s", exc)
            return None
