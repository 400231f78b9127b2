"""Opens a SQL console session: its recording, its database connection, its start and end."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from broker.auditchain.events import Action
from broker.common.errors import GatehouseError, RecordingError
from broker.config.model import Connection
from broker.masking.engine import MaskingEngine
from broker.masking.lines import LineMask, mask_details
from broker.policy.sql import SqlRule
from broker.recording.recorder import build_index_detached, new_session_id
from broker.session.factory import RecorderStarter
from broker.session.ports import EventSink, Recording, Spawner
from broker.session.sqlconsole import SqlConsole
from broker.session.sqlheld import StatementApprovals
from broker.session.terminal import Principal
from broker.upstream.postgres import PgSession
from broker.vault import Secret
from recordings.asciicast import SessionMeta

log = logging.getLogger(__name__)


async def open_console(
    principal: Principal,
    conn: Connection,
    *,
    secret: Secret,
    rules: Sequence[SqlRule],
    engine: MaskingEngine | None,
    audit_mask: LineMask,
    events: EventSink,
    spawn: Spawner,
    start_recorder: RecorderStarter | None,
    strict_recording: bool,
    size: tuple[int, int],
    approvals: StatementApprovals | None = None,
) -> SqlConsole:
    """Start the recording, connect with the vault credential, audit the start.

    Raises:
        GatehouseError: the session cannot be recorded (strict mode).
        UpstreamError: the database cannot be reached (audited as `session.failed`).
    """
    session_id = new_session_id()

    async def emit(action: Action, details: dict[str, Any]) -> None:
        await events.emit(principal.name, action, conn.name, mask_details(details, audit_mask))

    recorder = await _recorder(start_recorder, strict_recording, principal, conn, session_id, size)
    try:
        db = await PgSession.open(
            conn, secret, read_only=conn.read_only, statement_timeout=conn.statement_timeout
        )
    except GatehouseError as exc:
        await emit(Action.SESSION_FAILED, {"reason": str(exc), "client": principal.client_addr})
        if recorder is not None:
            await _close_recording(recorder, session_id, emit, spawn)
        raise
    console = SqlConsole(
        principal,
        conn,
        db,
        rules=rules,
        engine=engine,
        audit_mask=audit_mask,
        events=events,
        recorder=recorder,
        session_id=session_id,
    )
    console.approvals = approvals
    started = time.monotonic()

    async def finished() -> None:
        sha = await _close_recording(recorder, session_id, emit, spawn) if recorder else ""
        details = {
            "session": session_id,
            "seconds": round(time.monotonic() - started, 3),
            "statements": console.statements,
            "recording_sha256": sha,
        }
        await emit(Action.SESSION_END, details)

    console.after_close = finished
    await emit(
        Action.SESSION_START,
        {
            "kind": "sql",
            "session": session_id,
            "client": principal.client_addr,
            "read_only": conn.read_only,
        },
    )
    return console


async def _recorder(
    start: RecorderStarter | None,
    strict: bool,
    principal: Principal,
    conn: Connection,
    session_id: str,
    size: tuple[int, int],
) -> Recording | None:
    if start is None:
        return None
    meta = SessionMeta(
        session_id=session_id,
        user=principal.name,
        connection=conn.name,
        client_addr=principal.client_addr,
        kind="sql",
    )
    try:
        return await start(meta, cols=size[0], rows=size[1], term="xterm-256color")
    except RecordingError as exc:
        if strict:
            raise GatehouseError(f"session refused: it cannot be recorded ({exc})") from None
        log.error("recording unavailable, strict mode off: %s", exc)
        return None


async def _close_recording(recorder: Recording, session_id: str, emit: Any, spawn: Spawner) -> str:
    sha = await recorder.close()
    details: dict[str, Any] = {"session": session_id, "sha256": sha}
    if recorder.error:
        details["error"] = recorder.error
    await emit(Action.RECORDING_CLOSED, details)
    spawn(build_index_detached(recorder.path), essential=False)
    return sha
