"""The broker's console: one log line per login, session start and session end.

The lines are written from the audit records as they are appended, so the console says
nothing the audit log does not. They name the user, the connection, the client, the byte
counts and the exit status; never a command line (it may hold a password) or a key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from broker.auditchain.events import Action

log = logging.getLogger("gatehouse.sessions")


def _size(count: object) -> str:
    n = float(count) if isinstance(count, int | float) else 0.0
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"


def console_line(actor: str, action: str, target: str, details: Mapping[str, Any]) -> str | None:
    """The console line for an audit record, or None for the records the console leaves out."""
    if action == Action.LOGIN_SUCCESS:
        return f"login: {actor} from {details.get('client', '?')}"
    if action == Action.SESSION_START:
        kind = details.get("kind", "session")
        return (
            f"session start: {actor} -> {target} ({kind}, session {details.get('session', '?')}, "
            f"from {details.get('client', '?')})"
        )
    if action == Action.SESSION_END:
        return (
            f"session end: {actor} -> {target}: exit status {details.get('exit_status', '?')}, "
            f"{_size(details.get('bytes_in'))} in, {_size(details.get('bytes_out'))} out, "
            f"{details.get('seconds', 0)} s (session {details.get('session', '?')})"
        )
    return None


def log_console(actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
    """Log the record's console line, if it has one."""
    line = console_line(actor, action, target, details)
    if line is not None:
        log.info("%s", line)
