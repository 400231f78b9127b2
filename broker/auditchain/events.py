"""The audit event kinds: one table, one line per kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Action(StrEnum):
    """Every kind of event the audit log records; add a kind with one line here."""

    LOGIN_SUCCESS = "login.success"
    LOGIN_FAILURE = "login.failure"
    IDP_LOGIN = "login.idp"
    """A person signed in at the IdP (device flow) or a service presented an IdP token."""
    IDP_LOGIN_FAILED = "login.idp_failed"
    """An IdP sign-in or token was refused: the details name the reason."""
    KEY_ENROLLED = "login.key_enrolled"
    KEY_REVOKED = "login.key_revoked"
    SESSION_START = "session.start"
    SESSION_END = "session.end"
    SESSION_FAILED = "session.failed"
    COMMAND_RUN = "command.run"
    COMMAND_LINE = "command.line"
    POLICY_DENIED = "policy.denied"
    MASKING_SUMMARY = "masking.summary"
    MASKING_ERROR = "masking.error"
    MASKING_BYPASSED = "masking.bypassed"
    SECRET_SET = "secret.set"  # noqa: S105 (an event name, not a secret)
    SECRET_ROTATED = "secret.rotated"  # noqa: S105
    CONFIG_LOAD = "config.load"
    BROKER_START = "broker.start"
    BROKER_RESTART = "broker.restart"
    BROKER_STOP = "broker.stop"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_APPROVED = "approval.approved"
    APPROVAL_VOTED = "approval.voted"
    APPROVAL_DISCARDED = "approval.discarded"
    APPROVAL_DENIED = "approval.denied"
    APPROVAL_EXPIRED = "approval.expired"
    APPROVAL_CANCELLED = "approval.cancelled"
    GRANT_CREATED = "grant.created"
    GRANT_USED = "grant.used"
    GRANT_EXPIRED = "grant.expired"
    GRANT_REVOKED = "grant.revoked"
    SQL_STATEMENT = "sql.statement"
    SQL_RESULT = "sql.result"
    RECORDING_CLOSED = "recording.closed"
    RECORDING_VIEWED = "recording.viewed"
    RECORDING_EXPORTED = "recording.exported"
    RECORDING_DELETED = "recording.deleted"
    HOST_KEY_MISMATCH = "upstream.host_key_mismatch"
    TRANSFER_REFUSED = "transfer.refused"
    """scp, sftp or another subsystem asked for at the front door."""
    FORWARDING_REFUSED = "forwarding.refused"
    """Port (-L/-R/-D), Unix socket, agent or X11 forwarding asked for at the front door."""
    AUDIT_SEGMENT = "audit.segment"
    AUDIT_CHECKPOINT = "audit.checkpoint"


# The evidence table each action prefix feeds; an exact action overrides its prefix.
_TABLE_BY_PREFIX: Final[dict[str, str]] = {
    "login": "logins",
    "session": "sessions",
    "command": "commands",
    "policy.denied": "denials",
    "upstream.host_key_mismatch": "denials",
    "transfer.refused": "denials",
    "forwarding.refused": "denials",
    "masking": "masking",
    "approval": "approvals",
    "grant": "grants",
    "sql": "statements",
    "recording": "recordings",
}

TABLES: Final[tuple[str, ...]] = (
    "logins",
    "sessions",
    "commands",
    "denials",
    "masking",
    "approvals",
    "grants",
    "statements",
    "recordings",
    "system",
)
"""Names of the evidence tables, in the order a bundle lists them."""


def table_for(action: str) -> str:
    """Name the evidence table a record with ``action`` belongs to.

    Args:
        action: The record's action, e.g. ``"command.run"`` (unknown kinds are allowed).

    Returns:
        One of :data:`TABLES`; ``"system"`` for anything not about access.
    """
    if action in _TABLE_BY_PREFIX:
        return _TABLE_BY_PREFIX[action]
    return _TABLE_BY_PREFIX.get(action.split(".", 1)[0], "system")
